"""Explicit device choice: CUDA when present and asked for, CPU otherwise."""

from __future__ import annotations

import torch

from a2d.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """Map a config value (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) to a ``torch.device``.

    ``auto`` picks CUDA when available. Asking for CUDA on a machine without it is an error
    rather than a silent fall-back, so a run never reports GPU timings measured on a CPU.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={name!r} but this machine has no CUDA device; use device=auto or device=cpu"
            )
        return torch.device(name)
    raise ConfigError(f"device={name!r} is not one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
