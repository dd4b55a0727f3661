"""Load MNIST / CIFAR-10 / ImageNet-val with torchvision's dataset classes, never downloading.

The data root comes from config (``data.root``) or, when set, the ``A2D_DATA_ROOT``
environment variable. Relative roots are taken from the project root, so stages behave the same
whatever the working directory. Missing or unreadable data raises :class:`~a2d.errors.DataError`
with the root that was searched and how to point elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from a2d.errors import ConfigError, DataError

DATA_ROOT_ENV = "A2D_DATA_ROOT"

# What torchvision needs under the root, for the error message and an early check.
_EXPECTED = {
    "MNIST": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "CIFAR10": "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}",
    "ImageNet": "ILSVRC2012_devkit_t12.tar.gz and ILSVRC2012_img_val.tar, or the meta.bin and "
    "val/<wnid>/ torchvision unpacks them into (torchvision.datasets.ImageNet layout)",
}


@dataclass(frozen=True)
class DatasetSplit:
    """Images in [0, 1] as float32 (N, C, H, W), integer labels, and their indices in the split."""

    x: torch.Tensor
    y: torch.Tensor
    indices: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def resolve_data_root(
    config_root: str | os.PathLike[str], base: str | os.PathLike[str] | None = None
) -> Path:
    """``A2D_DATA_ROOT`` if set, else ``config_root``; relative paths are taken from ``base``."""
    raw = os.environ.get(DATA_ROOT_ENV) or os.fspath(config_root)
    root = Path(raw).expanduser()
    if not root.is_absolute() and base is not None:
        root = Path(base) / root
    return root


def _not_found(name: str, root: Path, reason: str = "") -> DataError:
    why = f" ({reason})" if reason else ""
    return DataError(
        f"data root '{root}' has no readable {name} (expected {_EXPECTED[name]}){why}; "
        f"set {DATA_ROOT_ENV}=/path/to/data or data.root=/path/to/data"
    )


def _open(name: str, root: Path, train: bool):  # noqa: ANN202 - torchvision dataset
    from torchvision import datasets

    if not root.is_dir():
        raise _not_found(name, root, "no such folder")
    try:
        if name == "MNIST":
            return datasets.MNIST(str(root), train=train, download=False)
        if name == "CIFAR10":
            return datasets.CIFAR10(str(root), train=train, download=False)
        if name == "ImageNet":
            from torchvision import transforms

            tf = transforms.Compose(
                [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]
            )
            return datasets.ImageNet(str(root), split="train" if train else "val", transform=tf)
    except (RuntimeError, OSError, ValueError, EOFError) as exc:
        raise _not_found(
            name, root, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ) from None
    except Exception as exc:  # unpickling a damaged CIFAR batch raises several types
        raise _not_found(name, root, f"unreadable: {type(exc).__name__}") from None
    raise ConfigError(f"unknown torchvision_class {name!r}; valid: {', '.join(_EXPECTED)}")


def load_split(
    torchvision_class: str, root: str | os.PathLike[str], *, train: bool, limit: int | None = None
) -> DatasetSplit:
    """Load a split as tensors: the first ``limit`` images (all when ``None``), original order.

    Args:
        torchvision_class: ``MNIST``, ``CIFAR10`` or ``ImageNet`` (config ``datasets.*.torchvision_class``).
        root: the data root (see :func:`resolve_data_root`).
        train: training split if True, else test (ImageNet: val).
        limit: keep only the first ``limit`` images.

    ImageNet's ``x`` is decoded when sliced, and val is listed in the challenge's order
    (:func:`a2d.data.imagenet.imagenet_split`).
    """
    root = Path(root)
    dataset = _open(torchvision_class, root, train)
    if torchvision_class == "ImageNet":
        # decoded lazily and listed in the challenge's order: a2d/data/imagenet.py
        from a2d.data.imagenet import imagenet_split

        return imagenet_split(dataset, limit=limit, challenge_order=not train)
    pixels = dataset.data[:limit] if limit is not None else dataset.data
    pixels = torch.as_tensor(np.asarray(pixels))
    # MNIST stores (N, H, W), CIFAR-10 (N, H, W, C): bring both to (N, C, H, W).
    pixels = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
    x = pixels.contiguous().float().div_(255.0)
    y = torch.as_tensor(np.asarray(dataset.targets))[: len(x)].long()
    return DatasetSplit(x=x, y=y, indices=torch.arange(len(y)))
