"""The batch-size probe picks the fastest measured size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from a2d.utils import batching


def test_best_batch_size_takes_the_fastest(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = {16: 900.0, 64: 2500.0, 256: 1000.0}
    monkeypatch.setattr(batching, "gradient_throughput", lambda model, shape, bs, **kw: rates[bs])
    assert (
        batching.best_batch_size(
            nn.Linear(4, 2), (4,), device=torch.device("cpu"), candidates=(16, 64, 256)
        )
        == 64
    )


def test_probe_runs_on_a_tiny_model_and_restores_its_mode() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).train()
    best = batching.best_batch_size(
        model, (1, 2, 2), device=torch.device("cpu"), candidates=(1, 4), seconds=0.01
    )
    assert best in (1, 4) and model.training
    assert (
        batching.gradient_throughput(model, (1, 2, 2), 4, device=torch.device("cpu"), seconds=0.01)
        > 0
    )
