"""Run a cost attack over an example set and tabulate the result: the library call of the ``costs`` stage."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from a2d.costs.base import CostAttack
from a2d.data.sets import ExampleSet
from a2d.errors import DataError

COLUMNS = ["index", "cost", "queries", "success", "label", "crafted_success"]


@dataclass(frozen=True)
class CostTable:
    """One row per input of a set (source test index, cost, queries, success, attacked label)."""

    frame: pd.DataFrame
    seconds: float
    cap: int


def cost_table(
    attack: CostAttack,
    model: nn.Module,
    example_set: ExampleSet,
    *,
    batch_size: int,
    device: torch.device,
) -> CostTable:
    """Costs of every input of ``example_set``; ``crafted_success`` says whether the input is a successful adversarial.

    Example ids for seeded attacks (DBA_d) are the source test indices, so an input's cost does
    not depend on which other inputs share its set or batch.
    """
    began = time.perf_counter()
    result = attack(
        model, example_set.x.to(device), batch_size=batch_size, ids=example_set.indices
    ).to("cpu")
    seconds = time.perf_counter() - began
    crafted = (
        example_set.success
        if example_set.success is not None
        else torch.ones(len(example_set), dtype=torch.bool)
    )
    frame = pd.DataFrame(
        {
            "index": example_set.indices.numpy(),
            "cost": result.cost.numpy(),
            "queries": result.queries.numpy(),
            "success": result.success.numpy(),
            "label": result.label.numpy(),
            "crafted_success": crafted.numpy(),
        },
        columns=COLUMNS,
    )
    return CostTable(frame=frame, seconds=seconds, cap=result.cap)


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
