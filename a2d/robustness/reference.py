"""Plain, slow CLEVER batch maxima: one sample and one target class at a time, plain autograd.

This is the yardstick for :func:`a2d.robustness.clever.batch_maxima` (tests, benchmarks): it
reads the same sample stream (same seed, chunk size, sampling law and device) and computes each
gradient of z_c - z_j with its own forward and backward pass, as huanzhang12/CLEVER does per
target class. It is far too slow for real use.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from a2d.robustness.clever import (
    Sampling,
    _check_counts,
    _check_inputs,
    _EvalMode,
    _make_generator,
    _model_device,
    _resolve_bounds,
    _sample_chunks,
)


def reference_batch_maxima(
    model: nn.Module,
    x: torch.Tensor,
    *,
    nb_batches: int = 500,
    batch_size: int = 1024,
    radius: float = 5.0,
    bounds: tuple[float, float] | None = None,
    sampling: Sampling = "uniform",
    chunk_size: int = 1024,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-batch maxima of ||grad (z_c - z_j)||_2, one point and one class j at a time.

    Args:
        model: logits network, run in eval mode on its own device.
        x: (N, C, H, W) inputs in ``bounds``.
        nb_batches, batch_size, radius, bounds, sampling, seed, generator: as
            :func:`a2d.robustness.clever.batch_maxima`, with the same defaults (500, 1024, 5.0,
            ``model.bounds`` or (0, 1), ``"uniform"``, 0, None).
        chunk_size: default 1024; here it only fixes the sample stream (to match
            :func:`~a2d.robustness.clever.batch_maxima`), gradients are taken one at a time.

    Returns:
        (N, Nb, K) float tensor on the model's device, NaN at each input's predicted class.
    """
    bounds = _resolve_bounds(model, bounds)
    _check_counts(nb_batches, batch_size, radius, chunk_size)
    _check_inputs(x, bounds)
    device = _model_device(model, x)
    x = x.to(device)
    generator = _make_generator(device, seed, generator)
    total = nb_batches * batch_size
    out = []
    with _EvalMode(model):
        for center in x:
            with torch.no_grad():
                logits = model(center.unsqueeze(0))[0]
            c = int(logits.argmax())
            n_classes = len(logits)
            maxima = torch.full((nb_batches, n_classes), -math.inf, device=device)
            for start, points in _sample_chunks(
                center,
                total,
                chunk_size=chunk_size,
                radius=radius,
                bounds=bounds,
                sampling=sampling,
                generator=generator,
            ):
                for offset, point in enumerate(points):
                    batch = (start + offset) // batch_size
                    for j in range(n_classes):
                        if j == c:
                            continue
                        inputs = point.detach().unsqueeze(0).requires_grad_(True)
                        with torch.enable_grad():
                            z = model(inputs)[0]
                            (grad,) = torch.autograd.grad(z[c] - z[j], inputs)
                        maxima[batch, j] = torch.maximum(maxima[batch, j], grad.norm())
            maxima[:, c] = math.nan
            out.append(maxima)
    return torch.stack(out)
