"""Run a cost attack over an example set and tabulate the result: the library call of the ``costs`` stage."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from a2d.costs.suite import CostSuite
from a2d.data.sets import ExampleSet, load_set
from a2d.errors import DataError
from a2d.pipeline.resume import fingerprint, reuse_json, write_sidecar
from a2d.utils.io import sha256_file, write_text_atomic

log = logging.getLogger("a2d.costs")

COLUMNS = ["index", "cost", "queries", "success", "label", "crafted_success"]


@dataclass(frozen=True)
class CostTable:
    """One row per input of a set (source test index, cost, queries, success, attacked label)."""

    frame: pd.DataFrame
    seconds: float
    cap: int


def cost_table(suite: CostSuite, example_set: ExampleSet) -> CostTable:
    """Costs of every input of ``example_set`` under the suite's one attack_d.

    ``crafted_success`` says whether the input is a successful adversarial. Example ids for
    seeded attacks (DBA_d) are the source test indices, so an input's cost does not depend on
    which other inputs share its set or batch. The costs come from :class:`CostSuite`, the path
    the public detector takes too.
    """
    if len(suite.attacks) != 1:
        raise ValueError(
            f"a cost table holds one attack_d, the suite has {len(suite.attacks)}: "
            f"{', '.join(suite.attacks)}"
        )
    began = time.perf_counter()
    costs = suite.costs(example_set.x, ids=example_set.indices)
    seconds = time.perf_counter() - began
    crafted = (
        example_set.success
        if example_set.success is not None
        else torch.ones(len(example_set), dtype=torch.bool)
    )
    frame = pd.DataFrame(
        {
            "index": example_set.indices.numpy(),
            "cost": costs.cost[:, 0],
            "queries": costs.queries[:, 0],
            "success": costs.success[:, 0],
            "label": costs.label,
            "crafted_success": crafted.numpy(),
        },
        columns=COLUMNS,
    )
    return CostTable(frame=frame, seconds=seconds, cap=costs.caps[0])


def read_cost_tables(folder: str | os.PathLike[str], *, split: str) -> dict[str, pd.DataFrame]:
    """The cost CSVs of one attack_d for one split: set kind (``benign``, ``fgsm``, ...) -> frame.

    ``folder`` is what the ``costs`` stage wrote for one target and one attack_d
    (``results/costs/<target>/<attack>``). Missing folders or columns are one-line errors
    that name the stage to run.
    """
    path = Path(folder)
    files = sorted(path.glob(f"*_{split}.csv"))
    if not files:
        raise DataError(
            f"no *_{split}.csv cost tables in '{path}'; run the costs stage first "
            f"(dvc repro costs@<target>-<attack>)"
        )
    tables = {}
    for file in files:
        frame = pd.read_csv(file)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"'{file}' lacks column(s) {', '.join(missing)}; rerun the costs stage")
        tables[file.stem[: -len(f"_{split}")]] = frame
    if "benign" not in tables:
        raise DataError(f"'{path}' has no benign_{split}.csv to compare the adversarial sets with")
    return tables


def summarize(frame: pd.DataFrame, seconds: float, cap: int) -> dict[str, float]:
    """Mean / median cost, mean queries and failure rate of one cost table (the stage metrics)."""
    return {
        "n": int(len(frame)),
        "mean_cost": round(float(frame["cost"].mean()), 3),
        "median_cost": float(frame["cost"].median()),
        "mean_queries": round(float(frame["queries"].mean()), 3),
        "failure_rate": round(float((~frame["success"]).mean()), 4),
        "cap": cap,
        "seconds": round(seconds, 2),
    }


def measure_sets(
    suite: CostSuite,
    set_paths: Sequence[Path],
    out: Path,
    *,
    model_hash: str,
    head: int | None = None,
) -> dict[str, tuple[pd.DataFrame, dict[str, Any]]]:
    """Write ``<out>/<set>.csv`` and its JSON sidecar for every set; keep finished ones.

    A set whose sidecar carries the fingerprint of its inputs (model weights, set file, attack_d
    and settings, ``head``) is read back instead of attacked again, so a killed run resumes at
    the first unfinished set and a config change redoes exactly the sets it changes.

    Returns:
        set name -> (cost table, summary), in the order of ``set_paths``.
    """
    (attack, hp), *_ = suite.specs.items()
    measured = {}
    for path in set_paths:
        csv, sidecar = out / f"{path.stem}.csv", out / f"{path.stem}.json"
        key = fingerprint(model_hash, sha256_file(path), attack, hp, *([head] if head else []))
        finished = reuse_json(sidecar, key, needs=[csv])
        if finished is not None:
            log.info("%s_d %s: %s is up to date, kept", attack, path.stem, csv.name)
            measured[path.stem] = (pd.read_csv(csv), finished["summary"])
            continue
        example_set = load_set(path)
        if head:
            example_set = example_set.head(head)
        log.info("%s_d on %s (%d inputs)", attack, path.stem, len(example_set))
        table = cost_table(suite, example_set)
        summary = summarize(table.frame, table.seconds, table.cap)
        write_text_atomic(csv, table.frame.to_csv(index=False))
        write_sidecar(sidecar, key, hyperparameters=hp, summary=summary)
        measured[path.stem] = (table.frame, summary)
        log.info("%s_d %s: mean cost %.1f", attack, path.stem, summary["mean_cost"])
    return measured
