"""Pick the batch size at which a model computes input gradients fastest on this device.

Why: throughput is not monotone in the batch size. On a 2-core CPU the Env1 MNIST CNN runs
forward+backward at about 2,500 examples/s at batch 64 but only about 1,000/s at batch 256+
(activations fall out of cache); on a GPU the best size is in the thousands. The cost attacks'
continuous batching keeps the batch at this size, and costs never depend on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

CPU_CANDIDATES = (16, 32, 64, 128, 256)
CUDA_CANDIDATES = (64, 256, 1024, 4096)


def gradient_throughput(
    model: nn.Module,
    shape: Sequence[int],
    batch_size: int,
    *,
    device: torch.device,
    seconds: float = 0.5,
) -> float:
    """Forward+backward (input gradient) evaluations per second at ``batch_size`` (after one warm-up)."""
    x = torch.rand(batch_size, *shape, device=device)
    label = torch.zeros(batch_size, dtype=torch.long, device=device)

    def once() -> None:
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xg), label, reduction="sum"), xg)

    once()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    done, began = 0, time.perf_counter()
    while done < 2 or time.perf_counter() - began < seconds:
        once()
        done += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batch_size * done / (time.perf_counter() - began)


def best_batch_size(
    model: nn.Module,
    shape: Sequence[int],
    *,
    device: torch.device,
    candidates: Sequence[int] | None = None,
    seconds: float = 0.5,
) -> int:
    """The candidate batch size with the highest gradient throughput for ``model`` on ``device``."""
    if candidates is None:
        candidates = CUDA_CANDIDATES if device.type == "cuda" else CPU_CANDIDATES
    was_training = model.training
    model.eval()
    try:
        rates = {
            bs: gradient_throughput(model, shape, bs, device=device, seconds=seconds)
            for bs in candidates
        }
    finally:
        model.train(was_training)
    best = max(rates, key=lambda bs: rates[bs])
    log.info("batch-size probe: %s -> %d", {bs: round(r) for bs, r in rates.items()}, best)
    return best
