"""Training-batch augmentation, batched and seeded: BL3's CIFAR-10 crop and flip.

BL3 trained its CIFAR-10 GoogLeNet on ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip``
images (torchvision, before ``ToTensor`` and ``Normalize``). :func:`crop_flip` does the same to a
batch of [0, 1] pixels: zero padding is black pixels, as torchvision's constant fill, and the
model's normalisation comes after, inside the wrapper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from a2d.training.config import AUGMENTATIONS


def crop_flip(x: Tensor, generator: torch.Generator, *, padding: int = 4) -> Tensor:
    """Each image zero-padded by ``padding``, cropped back to its size at a random offset, and
    mirrored left-right with probability 1/2.

    Args:
        x: (N, C, H, W) images (CPU, as ``generator``).
        generator: the source of every draw (offsets, then flips), so a seeded run repeats.
        padding: pixels added on each side; default 4 (BL3, torchvision's CIFAR recipe).
    """
    n, c, h, w = x.shape
    span = 2 * padding + 1
    dy = torch.randint(0, span, (n,), generator=generator)
    dx = torch.randint(0, span, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = (dy[:, None] + torch.arange(h)).view(n, 1, h, 1)
    cols = dx[:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols).view(n, 1, 1, w)
    batch = torch.arange(n).view(n, 1, 1, 1)
    channel = torch.arange(c).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def augment_batch(x: Tensor, kind: str, generator: torch.Generator) -> Tensor:
    """``x`` augmented as ``kind`` (a name of :data:`AUGMENTATIONS`) says; ``none`` returns it."""
    if kind == "none":
        return x
    if kind == "crop_flip":
        return crop_flip(x, generator)
    raise ValueError(f"unknown augment {kind!r}; expected one of {', '.join(AUGMENTATIONS)}")
