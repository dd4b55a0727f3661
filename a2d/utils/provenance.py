"""Provenance written beside outputs: versions, config slice, seed, device, git commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(*, config: dict[str, Any], seed: int, device: str, **extra: Any) -> dict[str, Any]:
    """Everything needed to tell how an output was made (not part of any DVC hash)."""
    import torchvision

    from a2d import __version__

    return {
        "a2d": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "device": device,
        "config": config,
        **extra,
    }
