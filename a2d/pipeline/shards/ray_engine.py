"""The Ray backend of :mod:`a2d.pipeline.shards`: every shard a Ray task, anywhere on a cluster.

Imported only when ``shards.engine`` is ``ray`` (or the command line's ``--ray``); Ray is the
optional extra ``pip install 'a2d[ray]'``. The job is packed once (:func:`a2d.pipeline.shards.pack`)
and put in Ray's object store; each task loads it (once per worker process), runs its inputs on
the CPU, or on the GPU Ray gave it, and returns its rows to the driver, which keeps each
finished shard as it arrives. Ray retries a task whose worker died (``max_retries``), so a lost
worker costs its shard's time, nothing else.

Notes:
    ``address`` is what ``ray.init`` takes: ``null`` starts a local cluster in this process
    (``num_cpus`` CPUs, default all), ``auto`` joins the cluster this machine is part of
    (``ray start``), ``ray://HOST:10001`` reaches a remote one through Ray Client. A cluster
    that was already initialised in this process (e.g. by a test) is used as it is and left
    running.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from a2d.config import ShardsConfig
from a2d.errors import ConfigError
from a2d.pipeline.shards import Range, ShardRunner, Task, pack, shard_ranges, unpack
from a2d.utils.progress import set_progress

log = logging.getLogger(__name__)

MAX_RETRIES = 3
"""Times Ray reruns a shard whose worker process or node died."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "shards.engine=ray (or --ray) needs Ray, which is not installed here; "
            "pip install 'a2d[ray]' (on every node of the cluster), or use shards.engine=local"
        ) from None
    return ray


class RayRunner(ShardRunner):
    """Shards as Ray tasks: ``cpus_per_task`` CPUs each, and GPUs where the cluster has them.

    Args:
        cfg: the ``shards`` config: ``size`` (required), ``address``, ``num_cpus`` (a local
            cluster), ``cpus_per_task``, ``gpus_per_task`` (``None``: one when the cluster has
            GPUs and ``device`` is not ``cpu``).
        device: the run's device choice; ``cuda`` on a cluster without GPUs is an error.

    Raises:
        ConfigError: Ray missing, no shard size, an unreachable cluster, or GPUs asked for
            that the cluster does not have.
    """

    def __init__(self, cfg: ShardsConfig, *, device: str = "auto") -> None:
        if cfg.size is None:
            raise ConfigError(
                "shards.engine=ray needs shards.size (inputs per task), e.g. shards.size=256"
            )
        shard_ranges(0, cfg.size)
        self.size = cfg.size
        self.ray = ray = _import_ray()
        self.owned = not ray.is_initialized()
        if self.owned:
            options: dict[str, Any] = {"address": cfg.address, "logging_level": logging.WARNING}
            if cfg.address is None:  # a local cluster: this machine, no dashboard
                options.update(num_cpus=cfg.num_cpus, include_dashboard=False)
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(
                    f"cannot start or reach the Ray cluster at shards.address={cfg.address!r} "
                    f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); "
                    "start one with `ray start --head`, or set shards.address=null for a local one"
                ) from None
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        if cfg.gpus_per_task is not None:
            gpus = float(cfg.gpus_per_task)
        else:
            gpus = 1.0 if device != "cpu" and cluster_gpus >= 1 else 0.0
        if (device == "cuda" or device.startswith("cuda:")) and cluster_gpus == 0:
            self.close()
            raise ConfigError(
                f"device={device} but the Ray cluster has no GPU; use device=auto or device=cpu"
            )
        if gpus > cluster_gpus:
            self.close()
            raise ConfigError(
                f"shards.gpus_per_task={gpus:g} but the Ray cluster has {cluster_gpus:g} GPU(s); "
                "lower it, or leave it null (one GPU per task where there are GPUs)"
            )
        self.cpus = float(cfg.cpus_per_task)
        self.gpus = gpus
        log.info(
            "Ray: %s CPU(s), %s GPU(s); %g CPU(s) and %g GPU(s) per shard",
            ray.cluster_resources().get("CPU", 0),
            cluster_gpus,
            self.cpus,
            self.gpus,
        )

    def map(self, task: Task[Any], job: Any, ranges: Sequence[Range]) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        if not ranges:
            return
        blob, token = ray.put(pack(job, pickler=ray.cloudpickle.Pickler)), uuid.uuid4().hex
        remote = ray.remote(_run_shard).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=MAX_RETRIES
        )
        threads = max(1, int(self.cpus))
        pending = {
            remote.remote(task, blob, token, start, stop, threads): position
            for position, (start, stop) in enumerate(ranges)
        }
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    position = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        # the task's own error (e.g. a DataError), not Ray's wrapper of it
                        cause = getattr(exc, "cause", None)
                        if isinstance(cause, Exception):
                            raise cause from None
                        raise
                    yield position, result
        finally:
            for ref in pending:  # a failed shard or an interrupt: the others stop too
                ray.cancel(ref)

    def close(self) -> None:
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()
        self.owned = False


_JOBS: dict[str, Any] = {}
"""Jobs this worker process has loaded (the latest only): its shards share one copy."""


def _run_shard(
    task: Task[Any], blob: bytes, token: str, start: int, stop: int, threads: int
) -> Any:
    """One shard on a worker: load the job, pick the device Ray gave, run the inputs."""
    import ray

    if token not in _JOBS:
        _JOBS.clear()
        _JOBS[token] = unpack(blob)
    set_progress(False)  # bars from many workers would interleave on the driver's terminal
    torch.set_num_threads(threads)
    gpu = bool(ray.get_gpu_ids()) and torch.cuda.is_available()
    return task(_JOBS[token], start, stop, torch.device("cuda" if gpu else "cpu"))


__all__ = ["MAX_RETRIES", "RayRunner"]
