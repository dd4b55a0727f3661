"""One seed for everything random: torch (CPU and CUDA), numpy and Python's ``random``."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed every global generator and return a fresh CPU ``torch.Generator`` seeded with ``seed``.

    The returned generator is meant for data order (shuffling, subsets), so that it does not
    share a stream with dropout and a change in one does not shift the other.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
