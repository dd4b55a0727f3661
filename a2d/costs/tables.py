"""Run a cost attack over an example set and tabulate the result: the library call of the ``costs`` stage."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from a2d.costs.base import CostAttack
from a2d.data.sets import ExampleSet

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
