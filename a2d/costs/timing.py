"""Wall-clock attack time per example (the paper's Figures 2 and 10): each example attacked alone.

The costs stage batches examples, which makes per-example time meaningless; here every example
is a batch of one, timed with :func:`time.perf_counter` (after a CUDA synchronise on a GPU), as
the authors' one-input-at-a-time loop did. The iteration count is the same as in a batched run.
"""

from __future__ import annotations

import time

import pandas as pd
import torch
from torch import Tensor, nn

from a2d.costs.base import CostAttack

TIME_COLUMNS = ["cost", "queries", "success", "seconds"]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_costs(
    attack: CostAttack,
    model: nn.Module,
    x: Tensor,
    *,
    ids: Tensor | None = None,
    warmup: bool = True,
) -> pd.DataFrame:
    """Attack each input of ``x`` on its own (batch size 1) and time it.

    Args:
        attack: any cost attack (e.g. ``make_cost_attack("jsma", ...)``).
        model: logits model on ``x``'s device.
        x: (N, C, H, W) inputs in the attack's bounds.
        ids: (N,) source indices for seeded attacks; default ``arange(N)``.
        warmup: attack the first input once, untimed, before timing (the first call pays for
            one-off kernel selection and allocation). Default True.

    Returns:
        One row per input, in order: ``cost``, ``queries``, ``success``, ``seconds``, then the
        attack's :attr:`~a2d.costs.base.CostAttack.recorded` counters (C&W_d: ``search_step``).
    """
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected a non-empty batch (N, C, H, W)")
    ids = torch.arange(len(x)) if ids is None else torch.as_tensor(ids)
    if warmup:
        attack(model, x[:1], batch_size=1, ids=ids[:1])
    rows = []
    for position in range(len(x)):
        _synchronize(x.device)
        began = time.perf_counter()
        result = attack(
            model, x[position : position + 1], batch_size=1, ids=ids[position : position + 1]
        )
        _synchronize(x.device)
        seconds = time.perf_counter() - began
        rows.append(
            {
                "cost": int(result.cost[0]),
                "queries": int(result.queries[0]),
                "success": bool(result.success[0]),
                "seconds": seconds,
                **{key: int(values[0]) for key, values in result.extras.items()},
            }
        )
    return pd.DataFrame.from_records(rows, columns=[*TIME_COLUMNS, *attack.recorded])
