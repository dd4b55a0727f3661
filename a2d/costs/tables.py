"""Run a cost attack over an example set and tabulate the result: the library call of the ``costs`` stage."""

from __future__ import annotations

import json
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
from a2d.pipeline.shards import ShardRunner, ShardStore, ShardTable, run_shards
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


@dataclass(frozen=True)
class _CostJob:
    """What every shard of one set's cost table shares: the suite's parts and the set."""

    suite: CostSuite
    example_set: ExampleSet


def _cost_shard(job: _CostJob, start: int, stop: int, device: torch.device | None) -> ShardTable:
    table = cost_table(job.suite.on(device), job.example_set.select(torch.arange(start, stop)))
    return ShardTable(table.frame, {"seconds": table.seconds, "cap": table.cap})


def sharded_cost_table(
    suite: CostSuite,
    example_set: ExampleSet,
    runner: ShardRunner,
    *,
    store: ShardStore | None = None,
) -> CostTable:
    """:func:`cost_table` in ``runner``'s shards (by input index), finished shards kept in ``store``.

    Every input is attacked with its source index as its id, so its row is the one
    :func:`cost_table` gives; the rows come back in set order. ``seconds`` is the shards'
    summed attack time (the work, whatever the number of workers).
    """
    if len(example_set) == 0:
        return cost_table(suite, example_set)  # its one-line error for an empty set
    job = _CostJob(suite, example_set)
    (attack,) = suite.attacks
    parts = run_shards(
        _cost_shard,
        job,
        len(example_set),
        runner,
        store=store,
        what=f"{attack}_d {example_set.name}",
    )
    return CostTable(
        frame=pd.concat([part.frame for part in parts], ignore_index=True),
        seconds=sum(float(part.info["seconds"]) for part in parts),
        cap=int(parts[0].info["cap"]),
    )


def cost_table_damage(frame: pd.DataFrame, csv: str | os.PathLike[str]) -> str | None:
    """What is wrong with a cost table read back from ``csv``, or ``None`` if it is whole.

    A table cut short (a truncated copy, a half-finished download) still parses: rows go
    missing, or the last row loses cells. The costs stage's sidecar beside it
    (``<set>.json``) holds the table's summary, so a table whose rows do not give that summary
    back is damaged; without a sidecar the columns and their types are checked.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        return f"lacks column(s) {', '.join(missing)}"
    if frame.empty:
        return "has no rows"
    if frame[COLUMNS].isna().to_numpy().any():
        return "has empty cells (truncated?)"
    numeric = all(pd.api.types.is_integer_dtype(frame[c]) for c in ("index", "cost", "queries"))
    flags = all(pd.api.types.is_bool_dtype(frame[c]) for c in ("success", "crafted_success"))
    if not (numeric and flags):
        return "has cells that are not whole numbers or True/False (truncated?)"
    sidecar = Path(csv).with_suffix(".json")
    try:
        saved = json.loads(sidecar.read_text())["summary"]
        expected = summarize(frame, float(saved["seconds"]), int(saved["cap"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no readable sidecar: the checks above are all there is
    if expected != saved:
        return (
            f"does not match its sidecar {sidecar.name} ({len(frame)} rows, mean cost "
            f"{expected['mean_cost']}; the sidecar says {saved.get('n')} rows, mean cost "
            f"{saved.get('mean_cost')})"
        )
    return None


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
        damage = cost_table_damage(frame, file)
        if damage:
            raise DataError(
                f"cost table '{file}' {damage}; restore it (dvc checkout) or rerun the costs stage"
            )
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
    runner: ShardRunner | None = None,
) -> dict[str, tuple[pd.DataFrame, dict[str, Any]]]:
    """Write ``<out>/<set>.csv`` and its JSON sidecar for every set; keep finished ones.

    A set whose sidecar carries the fingerprint of its inputs (model weights, set file, attack_d
    and settings, ``head``) is read back instead of attacked again, so a killed run resumes at
    the first unfinished set and a config change redoes exactly the sets it changes. With a
    ``runner`` (:func:`a2d.pipeline.shards.open_runner`) each set runs in shards, each kept in
    ``<out>/<set>.shards/`` as it finishes (same fingerprint) until the set's table is written:
    a killed run resumes at the first unfinished shard, and the table is the same bytes.

    Returns:
        set name -> (cost table, summary), in the order of ``set_paths``.
    """
    (attack, hp), *_ = suite.specs.items()
    # a fixed model-call shape can move a row by a rounding (a2d.costs.base notes): keyed, so a
    # resumed run never mixes rows of both; the default's keys stay as they always were
    shape = [] if suite.fixed_rows is None else ["fixed_rows", suite.fixed_rows]
    measured = {}
    for path in set_paths:
        csv, sidecar = out / f"{path.stem}.csv", out / f"{path.stem}.json"
        key = fingerprint(
            model_hash, sha256_file(path), attack, hp, *([head] if head else []), *shape
        )
        finished = reuse_json(sidecar, key, needs=[csv])
        if finished is not None:
            frame = pd.read_csv(csv)
            damage = cost_table_damage(frame, csv)
            if damage is None:
                log.info("%s_d %s: %s is up to date, kept", attack, path.stem, csv.name)
                measured[path.stem] = (frame, finished["summary"])
                continue
            log.warning("%s_d %s: %s %s; measuring it again", attack, path.stem, csv.name, damage)
        example_set = load_set(path)
        if head:
            example_set = example_set.head(head)
        log.info("%s_d on %s (%d inputs)", attack, path.stem, len(example_set))
        store = ShardStore(out / f"{path.stem}.shards", key)
        table = (
            cost_table(suite, example_set)
            if runner is None
            else sharded_cost_table(suite, example_set, runner, store=store)
        )
        summary = summarize(table.frame, table.seconds, table.cap)
        write_text_atomic(csv, table.frame.to_csv(index=False))
        write_sidecar(sidecar, key, hyperparameters=hp, summary=summary)
        store.clear()
        measured[path.stem] = (table.frame, summary)
        log.info("%s_d %s: mean cost %.1f", attack, path.stem, summary["mean_cost"])
    return measured
