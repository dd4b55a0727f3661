"""Benchmark sharded runs: two local Ray workers against one on the same cost and CLEVER work.

    python -m benchmarks.shards [--target env1_mnist] [--work costs,clever] [--n 200]
                                [--shard-size 25] [--attack bim] [--clever-images 16]

Inputs: the first ``--n`` inputs of the target's evaluation sets from the craft stage (benign,
FGSM, BIM-A, taken in turn, so cheap adversarial and costly benign inputs mix), or without them
the first correctly classified test images. The model runs on the CPU with one torch thread
per worker, so "one worker" and "two workers" differ only in the number of processes.

* in-process: the plain single-process run (one torch thread): the reference result.
* costs run twice: with the default continuous batching (``costs``), whose short tail batches
  may round a row differently, and with ``fixed_rows`` (``costs_fixed_rows``: every model call
  has exactly ``--fixed-rows`` rows), which is what makes sharded costs the same bytes.
* Ray, 1 worker / 2 workers: a local cluster with ``num_cpus`` 1 or 2, shards of
  ``--shard-size`` inputs (:mod:`a2d.pipeline.shards`). Each cluster's workers are warmed up
  first (torch and a2d imported), so cluster start-up is not timed; packing the job and
  gathering the rows are.

Writes results/bench/shards.json: seconds per run, the speed-up of two workers over one,
Ray's overhead over the in-process run, and whether every sharded result equals the
in-process one (costs: every array; CLEVER: the CSV text).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from a2d.config import PROJECT_ROOT, ShardsConfig, load_params
from a2d.costs.suite import AttackCosts, CostSuite
from a2d.data import first_correct, load_split
from a2d.data.sets import ExampleSet, load_set
from a2d.pipeline.shards import ShardRunner, open_runner, sharded
from a2d.robustness.run import settings_from
from a2d.robustness.tables import clever_table, sharded_clever_table
from a2d.utils.io import write_json_atomic
from benchmarks._common import frozen_target, start_bench
from stages._common import data_root

log = logging.getLogger("a2d.bench.shards")

SETS = ("benign_eval", "fgsm_eval", "bim-a_eval")


def inputs(params: Any, target: str, model: nn.Module, sets: Path, n: int) -> ExampleSet:
    """The first ``n`` inputs of the crafted sets, taken in turn; else correct test images."""
    if all((sets / f"{name}.pt").is_file() for name in SETS):
        loaded = [load_set(sets / f"{name}.pt") for name in SETS]
        order = [(k, i) for i in range(max(map(len, loaded))) for k in range(len(loaded))]
        order = [(k, i) for k, i in order if i < len(loaded[k])][:n]
        x = torch.stack([loaded[k].x[i] for k, i in order])
        # ids: the source index, made unique per set (the same image in two sets)
        ids = torch.tensor([int(loaded[k].indices[i]) * len(SETS) + k for k, i in order])
        composition = {name: sum(k == j for k, _ in order) for j, name in enumerate(SETS)}
    else:
        log.warning("no crafted sets in %s: benchmarking on benign test images", sets)
        dataset = params.datasets[params.models[target].dataset]
        test = load_split(dataset.torchvision_class, data_root(params), train=False)
        chosen = first_correct(model, test, n)
        x, ids, composition = chosen.x, chosen.indices, {"benign_test": len(chosen)}
    log.info("inputs: %s", composition)
    return ExampleSet(
        x=x,
        indices=ids.long(),
        labels=torch.zeros(len(x), dtype=torch.long),
        kind="mixed",
        split="eval",
        meta={"composition": composition},
    )


def timed(run: Callable[[], Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    result = run()
    return result, time.perf_counter() - began


def same_costs(a: AttackCosts, b: AttackCosts) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("cost", "queries", "success", "label")
    )


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.shards", description=__doc__.splitlines()[0]
    )
    p.add_argument("--target", default="env1_mnist")
    p.add_argument(
        "--work",
        default="costs,costs_fixed_rows,clever",
        help="comma-separated: costs, costs_fixed_rows, clever",
    )
    p.add_argument("--n", type=int, default=200, help="inputs attacked (costs)")
    p.add_argument("--shard-size", type=int, default=25)
    p.add_argument("--attack", default="bim", help="the attack_d of the cost work")
    p.add_argument("--batch-size", type=int, default=64, help="cost attack batch per shard")
    p.add_argument("--fixed-rows", type=int, default=16, help="rows per model call (fixed_rows)")
    p.add_argument("--clever-images", type=int, default=16, help="images scored (CLEVER)")
    p.add_argument("--clever-shard-size", type=int, default=2)
    p.add_argument("--sets", default=None, help="crafted sets (default data/craft/<target>)")
    p.add_argument("--out", default=str(PROJECT_ROOT / "results" / "bench" / "shards.json"))
    args = p.parse_args()
    start_bench(threads=1)  # what each worker gets: the in-process run is "one worker"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    params = load_params()
    model = frozen_target(params, args.target, torch.device("cpu"))
    sets = Path(args.sets) if args.sets else PROJECT_ROOT / "data" / "craft" / args.target
    chosen = inputs(params, args.target, model, sets, args.n)
    dataset = params.models[args.target].dataset
    hp = dict(params.costs.params[dataset][args.attack])
    suites = {
        work: CostSuite(
            model,
            {args.attack: hp},
            batch_size=args.batch_size,
            fixed_rows=args.fixed_rows if work == "costs_fixed_rows" else None,
        )
        for work in ("costs", "costs_fixed_rows")
    }
    settings = settings_from(params.clever)
    works = [w.strip() for w in args.work.split(",") if w.strip()]

    def run_costs(work: str) -> AttackCosts:
        return suites[work].costs(chosen.x, ids=chosen.indices)

    def run_clever(runner: ShardRunner | None) -> str:
        n = args.clever_images
        table = (
            clever_table(model, chosen, settings=settings, n_images=n, seed=params.seed)
            if runner is None
            else sharded_clever_table(
                model, chosen, runner, settings=settings, n_images=n, seed=params.seed
            )
        )
        return table.frame.to_csv(index=False)

    report: dict[str, Any] = {
        "target": args.target,
        "inputs": chosen.meta["composition"],
        "device": "cpu",
        "torch_threads_per_worker": 1,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    reference: dict[str, Any] = {}
    seconds: dict[str, dict[str, float]] = {work: {} for work in works}
    for work in (w for w in works if w in suites):
        reference[work], seconds[work]["in_process"] = timed(partial(run_costs, work))
        log.info("%s in-process: %.1f s", work, seconds[work]["in_process"])
    if "clever" in works:
        reference["clever"], seconds["clever"]["in_process"] = timed(partial(run_clever, None))
        log.info("CLEVER in-process: %.1f s", seconds["clever"]["in_process"])
    equal: dict[str, dict[str, bool]] = {work: {} for work in works}
    import ray  # the optional extra: pip install 'a2d[ray]'

    for workers in (1, 2):
        ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
        try:
            for work in works:
                size = args.shard_size if work in suites else args.clever_shard_size
                cfg = ShardsConfig(engine="ray", size=size)
                with open_runner(cfg, device="cpu") as runner:
                    assert runner is not None  # engine ray always gives one
                    _warm_up(runner, workers)
                    if work in suites:
                        with sharded(runner):
                            result, took = timed(partial(run_costs, work))
                        equal[work][f"{workers}_workers"] = same_costs(result, reference[work])
                    else:
                        result, took = timed(partial(run_clever, runner))
                        equal[work][f"{workers}_workers"] = result == reference[work]
                seconds[work][f"ray_{workers}_workers"] = took
                log.info("%s on %d Ray worker(s): %.1f s", work, workers, took)
        finally:
            ray.shutdown()
    cost_work = {"attack": args.attack, **hp, "n": len(chosen), "shard_size": args.shard_size}
    report["work"] = {
        "costs": {**cost_work, "batch_size": args.batch_size, "fixed_rows": None},
        "costs_fixed_rows": {
            **cost_work,
            "batch_size": args.batch_size,
            "fixed_rows": args.fixed_rows,
        },
        "clever": {
            **settings.as_dict(),
            "n_images": args.clever_images,
            "shard_size": args.clever_shard_size,
        },
    }
    report["seconds"] = {w: {k: round(v, 2) for k, v in s.items()} for w, s in seconds.items()}
    report["speedup_2_over_1_worker"] = {
        w: round(s["ray_1_workers"] / s["ray_2_workers"], 2) for w, s in seconds.items()
    }
    report["ray_1_worker_over_in_process"] = {
        w: round(s["ray_1_workers"] / s["in_process"], 2) for w, s in seconds.items()
    }
    report["equal_to_in_process"] = equal
    write_json_atomic(args.out, report)
    print(
        json.dumps(
            {k: report[k] for k in ("seconds", "speedup_2_over_1_worker", "equal_to_in_process")},
            indent=2,
        )
    )


def _warm_up(runner: ShardRunner, workers: int) -> None:
    """One tiny shard per worker first: worker start-up and imports are not timed."""
    for _ in runner.map(_touch, None, [(i, i + 1) for i in range(workers)]):
        pass


def _touch(job: Any, start: int, stop: int, device: torch.device | None) -> int:
    """Import what a real shard imports, then wait a little so that each worker gets one."""
    import a2d.costs.tables  # noqa: F401
    import a2d.robustness.tables  # noqa: F401

    time.sleep(1.0)
    return start


if __name__ == "__main__":
    main()
