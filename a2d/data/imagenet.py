"""ImageNet (ILSVRC2012) val through torchvision's ``ImageNet`` class, decoded lazily.

Layout under the data root (torchvision's): ``ILSVRC2012_devkit_t12.tar.gz`` and
``ILSVRC2012_img_val.tar`` on first use, which torchvision unpacks once into ``meta.bin``
(the class names and val labels, parsed from the devkit) and ``val/<wnid>/*.JPEG``; from then on
``meta.bin`` and ``val/`` are all it reads. Class indices are the sorted wnids, the order of
torchvision's pretrained models.

Two departures from a plain ``ImageFolder`` walk, both because the split is large:

* Order: torchvision lists val by class folder, so "the first N images" would be a few
  classes. Here val is listed by file name, ``ILSVRC2012_val_00000001`` first: the
  challenge's own order, shuffled over the classes. ``indices`` count in that order.
* Memory: 50,000 decoded 224x224 images are 30 GB as float32, so ``x`` is an
  :class:`ImageNetImages`, decoded (Resize 256, CenterCrop 224, ToTensor: BL4's preprocessing
  without the normalisation, which sits inside the model) when sliced.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor

from a2d.data.datasets import DatasetSplit

IMAGE_SHAPE = (3, 224, 224)
"""(C, H, W) of every decoded image."""


class ImageNetImages:
    """(N, 3, 224, 224) float32 images in [0, 1], decoded when indexed.

    Indexing works as on a tensor's first dimension: ``x[i]`` gives one (3, 224, 224) image,
    ``x[i:j]``, ``x[index_tensor]`` and ``x[bool_mask]`` give a stacked (n, 3, 224, 224)
    tensor. ``len(x)`` and ``x.shape`` need no decoding.

    Args:
        dataset: a torchvision dataset whose items are ``(image tensor, label)``.
        order: the dataset positions of rows 0, 1, ..., in row order.
    """

    def __init__(self, dataset: Any, order: Sequence[int]) -> None:
        self._dataset = dataset
        self._order = list(order)

    def __len__(self) -> int:
        return len(self._order)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *IMAGE_SHAPE))

    def __getitem__(self, key: int | slice | Tensor | Sequence[int]) -> Tensor:
        if isinstance(key, int):
            return self._image(self._order[key])
        if isinstance(key, slice):
            rows: Sequence[int] = range(len(self))[key]
        else:
            index = torch.as_tensor(key)
            if index.dtype == torch.bool:
                index = index.nonzero().flatten()
            rows = [int(i) for i in index.flatten()]
        images = [self._image(self._order[row]) for row in rows]
        return torch.stack(images) if images else torch.empty(0, *IMAGE_SHAPE)

    def _image(self, position: int) -> Tensor:
        image, _ = self._dataset[position]
        return cast(Tensor, image)


def imagenet_split(dataset: Any, *, limit: int | None, challenge_order: bool) -> DatasetSplit:
    """A lazily decoded split of a torchvision ``ImageNet`` dataset (its ``samples`` list paths).

    Args:
        dataset: ``torchvision.datasets.ImageNet`` with a ToTensor-ending transform.
        limit: keep the first ``limit`` images (in the order below); ``None`` = all.
        challenge_order: list the images by file name (val: the ILSVRC order) instead of by
            class folder.

    ``x`` is an :class:`ImageNetImages`; it stands in for the tensor (stages and selection only
    slice it), so the split's ``x`` is typed as one.
    """
    samples: list[tuple[str, int]] = list(dataset.samples)
    order = list(range(len(samples)))
    if challenge_order:
        order.sort(key=lambda i: os.path.basename(samples[i][0]))
    if limit is not None:
        order = order[:limit]
    labels = torch.tensor([samples[i][1] for i in order], dtype=torch.long)
    images = ImageNetImages(dataset, order)
    return DatasetSplit(x=cast(Tensor, images), y=labels, indices=torch.arange(len(order)))
