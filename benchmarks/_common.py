"""What every benchmark does first: log lines with times, the thread count, the frozen target model."""

from __future__ import annotations

import logging
from typing import Any

import torch

from a2d.config import PROJECT_ROOT
from a2d.models.wrapper import ClassifierWrapper
from stages._common import load_target_model


def start_bench(threads: int | None = None) -> None:
    """Timestamped INFO logging and, if given, the torch thread count (timings depend on it)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s bench: %(message)s", datefmt="%H:%M:%S"
    )
    if threads:
        torch.set_num_threads(threads)


def frozen_target(params: Any, target: str, device: torch.device) -> ClassifierWrapper:
    """The trained target model with no parameter gradients: benchmarks time input gradients only."""
    model = load_target_model(
        params, target, PROJECT_ROOT / "data" / "models" / f"{target}.pt", device
    )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model
