"""Pretrained weights from the authors' repositories, imported into our networks (Env2: BL3's LeNet-5)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from a2d.errors import DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.utils.io import sha256_file

MIN_PREFIX = 8
"""The shortest sha256 prefix :func:`load_pretrained` accepts (torchvision's file-name hashes)."""


def load_pretrained(
    model: ClassifierWrapper, path: str | os.PathLike[str], *, sha256: str | None = None
) -> ClassifierWrapper:
    """Load a state dict saved by the authors into ``model.net``, in place; return ``model``.

    Args:
        model: the wrapped network the weights were made for.
        path: the authors' weights file.
        sha256: its expected hex sha256; checked first when given, so a wrong file never loads.
            A prefix of at least 8 hex digits is compared with the start of the hash (the
            form torchvision writes into its file names, e.g. ``resnet101-63fe2227.pth``).

    Raises:
        DataError: the file is missing or its hash differs.

    Notes:
        BL3 saved a Python-2-era pickle of an OrderedDict: it needs ``weights_only=False`` and
        ``encoding="latin1"``. Only load files whose hash you know.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"pretrained weights '{path}' not found; set models.<target>.pretrained or source=train"
        )
    if sha256 and len(sha256) < MIN_PREFIX:
        raise DataError(
            f"pretrained_sha256 {sha256!r} is too short; give the full hash or its first "
            f"{MIN_PREFIX} hex digits or more"
        )
    if sha256 and not sha256_file(path).startswith(sha256.lower()):
        raise DataError(
            f"pretrained weights '{path}' do not match pretrained_sha256; the file is not the expected one"
        )
    state = torch.load(path, map_location="cpu", weights_only=False, encoding="latin1")
    model.net.load_state_dict(state)
    return model
