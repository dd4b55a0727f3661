"""Sharded runs: per-input work split by input index, run in this process or on a Ray cluster.

The cost attacks and CLEVER score every input on its own: an input's result depends on the
input and its source index only (random attacks_d and CLEVER seed a stream per index), never
on which other inputs share its batch. So their work splits into *shards* of consecutive
inputs, ``[0, size), [size, 2 size), ...``, that any worker may run in any order; putting the
shards' rows back in index order gives the table of a single-process run.

* :func:`shard_ranges`: the split, a function of the number of inputs and the size only.
* :func:`open_runner`: a :class:`ShardRunner` for the ``shards`` config: in this process
  (``engine: local``) or as Ray tasks (``engine: ray``: :mod:`a2d.pipeline.shards.ray_engine`,
  imported only then; Ray is an optional extra, ``pip install 'a2d[ray]'``).
* :func:`run_shards`: a task over the shards; with a :class:`ShardStore` every finished shard is
  written at once with the fingerprint of its inputs (:mod:`a2d.pipeline.resume`), so a killed
  run, or a lost worker, redoes only the shards that did not finish.
* :func:`pack` / :func:`unpack`: what travels to a worker (models on the CPU, TorchScript as
  TorchScript bytes); :func:`sharded`: a scope in which every
  :meth:`a2d.costs.suite.CostSuite.costs` call runs sharded (the command line's ``--ray``).

A task is a module-level function ``task(job, start, stop, device)``: ``job`` is the work
shared by all shards (models, inputs, settings), ``device`` the device the worker was given, or
``None`` in this process, where the job's models stay where they are.

Notes:
    Byte-identical tables need each row to be computed the same way in both runs: the same
    device type and kernels (Ray tasks run ``cpus_per_task`` torch threads). Rows are per-example deterministic, but a backend may round a
    row differently when it is computed in a batch of another size; where that matters, run
    the in-process job with the same ``shards.size`` (``engine: local``): every shard is then
    computed exactly as a worker computes it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import shutil
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch

from a2d.config import ShardsConfig
from a2d.pipeline.resume import reuse_json, write_sidecar
from a2d.utils.io import write_text_atomic

log = logging.getLogger(__name__)

R = TypeVar("R")
M = TypeVar("M", bound=torch.nn.Module)
Range = tuple[int, int]
Task = Callable[[Any, int, int, "torch.device | None"], R]
"""``task(job, start, stop, device)``: the result of the inputs ``start:stop`` of ``job``."""


def shard_ranges(n: int, size: int | None) -> list[Range]:
    """``[(0, size), (size, 2 size), ..., (k size, n)]``; one range of all ``n`` when ``size`` is None.

    Deterministic: the same ``n`` and ``size`` give the same shards on every machine, so a
    resumed run finds the shards an earlier one finished. ``n = 0`` gives no shard.
    """
    if size is not None and (isinstance(size, bool) or int(size) != size or size < 1):
        raise ValueError(f"shard size must be a positive integer or None, got {size!r}")
    step = n if size is None else int(size)
    return [(start, min(start + step, n)) for start in range(0, n, max(step, 1))]


class ShardRunner(ABC):
    """Runs a task over shards; results come back as they finish, with their shard's position.

    Attributes:
        size: inputs per shard (``None``: one shard of all inputs).
    """

    size: int | None

    def ranges(self, n: int) -> list[Range]:
        """The shards of ``n`` inputs (:func:`shard_ranges`)."""
        return shard_ranges(n, self.size)

    @abstractmethod
    def map(self, task: Task[R], job: Any, ranges: Sequence[Range]) -> Iterator[tuple[int, R]]:
        """``(position in ranges, task(job, *range, device))`` for every range, in finishing order."""

    def close(self) -> None:  # noqa: B027  # only engines that start something stop it
        """Release what the runner started (a local Ray cluster)."""


class LocalRunner(ShardRunner):
    """Shards one after another in this process, on the job's own device."""

    def __init__(self, size: int | None) -> None:
        shard_ranges(0, size)  # checks the size
        self.size = size

    def map(self, task: Task[R], job: Any, ranges: Sequence[Range]) -> Iterator[tuple[int, R]]:
        for position, (start, stop) in enumerate(ranges):
            token = _ACTIVE.set(None)  # a task runs its inputs itself, never sharded again
            try:
                result = task(job, start, stop, None)
            finally:
                _ACTIVE.reset(token)
            yield position, result


@contextmanager
def open_runner(cfg: ShardsConfig, *, device: str = "auto") -> Iterator[ShardRunner | None]:
    """The runner the ``shards`` config asks for, closed on exit; ``None`` for the plain in-process run.

    Args:
        cfg: the validated ``shards`` config (or one built by the command line).
        device: the run's device choice (``auto``, ``cpu``, ``cuda``): on Ray, ``auto`` and
            ``cuda`` give every task ``gpus_per_task`` GPUs (default one) when the cluster has
            GPUs, ``cpu`` none.

    Raises:
        ConfigError: ``engine: ray`` without Ray installed, or a cluster that cannot be reached.
    """
    if cfg.engine == "local" and cfg.size is None:
        yield None
        return
    runner: ShardRunner
    if cfg.engine == "ray":
        from a2d.pipeline.shards.ray_engine import RayRunner

        runner = RayRunner(cfg, device=device)
    else:
        runner = LocalRunner(cfg.size)
    try:
        yield runner
    finally:
        runner.close()


# ------------------------------------------------------------------------------------------------
# finished shards on disk


_EXACT_FLOATS: dict[str, Any] = (
    {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
)
"""read_csv reads back the very floats to_csv wrote (pandas 3 always does), so the rows of a
resumed shard are re-written into the whole table as the same bytes as those of a new one."""


@dataclass(frozen=True)
class ShardTable:
    """One shard's rows and what its run measured (JSON-able: seconds, counters)."""

    frame: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShardStore:
    """The finished shards of one table: ``<folder>/<start>-<stop>.csv`` with a JSON sidecar each.

    ``key`` is the fingerprint of everything the table depends on (model, inputs, settings),
    the same key its whole-table sidecar carries: a shard is kept only if it was made from the
    same inputs. The folder is removed (:meth:`clear`) once the whole table is written, so a
    finished output folder holds exactly what a single-process run writes.
    """

    folder: Path
    key: str

    def _paths(self, start: int, stop: int) -> tuple[Path, Path]:
        stem = self.folder / f"{start:09d}-{stop:09d}"
        return stem.with_suffix(".csv"), stem.with_suffix(".json")

    def finished(self, start: int, stop: int) -> ShardTable | None:
        """The shard's table if it was finished from the same inputs and is intact, else ``None``."""
        csv, sidecar = self._paths(start, stop)
        kept = reuse_json(sidecar, self.key, needs=[csv])
        if kept is None or (kept.get("start"), kept.get("stop")) != (start, stop):
            return None
        text = csv.read_bytes()
        if "sha256" in kept and hashlib.sha256(text).hexdigest() != kept["sha256"]:
            log.warning("ignoring %s: truncated or changed since it was finished; redoing it", csv)
            return None
        frame = pd.read_csv(io.BytesIO(text), **_EXACT_FLOATS)
        return ShardTable(frame, kept.get("info", {}))

    def keep(self, start: int, stop: int, table: ShardTable) -> None:
        """Write a finished shard: the table first, then the sidecar that vouches for it (and
        holds the table's sha256, so a damaged table is redone, never read)."""
        csv, sidecar = self._paths(start, stop)
        text = table.frame.to_csv(index=False)
        write_text_atomic(csv, text)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        write_sidecar(sidecar, self.key, start=start, stop=stop, info=table.info, sha256=digest)

    def clear(self) -> None:
        """Remove the shards (the whole table is written)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def run_shards(
    task: Task[R],
    job: Any,
    n: int,
    runner: ShardRunner,
    *,
    store: ShardStore | None = None,
    what: str = "shards",
) -> list[R]:
    """``task`` over the shards of ``n`` inputs, results in index order; finished ones kept.

    Args:
        task: a module-level function ``task(job, start, stop, device)``.
        job: the work the shards share; it travels to the workers once.
        n: the number of inputs.
        runner: where the shards run (:func:`open_runner`).
        store: where finished shards are kept; the task must then return a
            :class:`ShardTable`, and every result is the table read back from the store.
        what: names the work in log messages.
    """
    ranges = runner.ranges(n)
    results: dict[int, Any] = {}
    if store is not None:
        for position, (start, stop) in enumerate(ranges):
            kept = store.finished(start, stop)
            if kept is not None:
                results[position] = kept
    todo = [position for position in range(len(ranges)) if position not in results]
    if results:
        log.info("%s: %d of %d shard(s) finished earlier, kept", what, len(results), len(ranges))
    if todo:
        log.info("%s: %d shard(s) of up to %s inputs", what, len(todo), runner.size or n)
    for done, result in runner.map(task, job, [ranges[p] for p in todo]):
        position = todo[done]
        results[position] = result
        if store is not None:
            if not isinstance(result, ShardTable):
                raise TypeError(f"a stored shard task must return a ShardTable, got {type(result)}")
            store.keep(*ranges[position], result)
            results[position] = store.finished(*ranges[position])
    return [results[position] for position in range(len(ranges))]


# ------------------------------------------------------------------------------------------------
# what travels to a worker


def pack(job: Any, *, pickler: type[pickle.Pickler] = pickle.Pickler) -> bytes:
    """``job`` as bytes a worker on any machine can load: tensors on the CPU, TorchScript inlined.

    Models and tensors on a GPU are written as CPU copies (the job itself is not changed) and
    TorchScript modules, which do not pickle, as ``torch.jit.save`` bytes. The rest is up to
    ``pickler``: the standard one pickles classes by reference (a model's classes must then be
    importable on every worker: a2d, a user's ``module:factory`` module); the Ray backend
    passes Ray's cloudpickle, which also carries classes defined in a script or notebook.
    """
    buffer = io.BytesIO()
    _packer(pickler)(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(job)
    return buffer.getvalue()


def unpack(blob: bytes) -> Any:
    """The job :func:`pack` wrote, its tensors on the CPU."""
    return pickle.loads(blob)


def _packer(base: type[pickle.Pickler]) -> type[pickle.Pickler]:
    class Packer(base):  # type: ignore[valid-type,misc]
        def reducer_override(self, obj: Any) -> Any:
            special = _for_a_worker(obj)
            if special is not NotImplemented:
                return special
            inherited = getattr(super(), "reducer_override", None)
            return NotImplemented if inherited is None else inherited(obj)

    return Packer


def _for_a_worker(obj: Any) -> Any:
    """How a TorchScript module or a GPU tensor travels; ``NotImplemented`` for the rest."""
    if isinstance(obj, torch.jit.ScriptModule):
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # torch deprecates TorchScript; the user chose it
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(obj, buffer)
        return _load_script, (buffer.getvalue(),)
    if isinstance(obj, torch.Tensor) and obj.device.type != "cpu":
        if isinstance(obj, torch.nn.Parameter):
            return torch.nn.Parameter, (obj.detach().cpu(), obj.requires_grad)
        return _identity, (obj.detach().cpu(),)
    return NotImplemented


def _load_script(blob: bytes) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(io.BytesIO(blob), map_location="cpu")


def _identity(value: Any) -> Any:
    return value


def on_device(module: M, device: torch.device | None) -> M:
    """``module`` moved to a worker's ``device``; unchanged in this process (``None``)."""
    return module if device is None else module.to(device)


# ------------------------------------------------------------------------------------------------
# a scope for the cost path (the command line's --ray)

_ACTIVE: ContextVar[ShardRunner | None] = ContextVar("a2d_shard_runner", default=None)


@contextmanager
def sharded(runner: ShardRunner | None) -> Iterator[ShardRunner | None]:
    """Within the block, :meth:`CostSuite.costs` runs its inputs in ``runner``'s shards.

    What ``joblib.parallel_backend`` is to scikit-learn: the code inside (e.g.
    :class:`a2d.AttackAsDefense`) is unchanged, and ``None`` leaves it in-process. Nothing is
    stored: a killed run starts again (the stages keep finished shards, see :func:`run_shards`).
    """
    token = _ACTIVE.set(runner)
    try:
        yield runner
    finally:
        _ACTIVE.reset(token)


def active_runner() -> ShardRunner | None:
    """The runner of the innermost :func:`sharded` block, if any."""
    return _ACTIVE.get()


__all__ = [
    "LocalRunner",
    "ShardRunner",
    "ShardStore",
    "ShardTable",
    "active_runner",
    "on_device",
    "open_runner",
    "pack",
    "run_shards",
    "shard_ranges",
    "sharded",
    "unpack",
]
