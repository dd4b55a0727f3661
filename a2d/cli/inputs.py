"""Reading the inputs of the command line: a tensor file, an a2d example set or a folder of images.

Whatever the source, the result is one (N, C, H, W) float tensor with one id per input: the
example set's source indices (the ids the pipeline seeds random attacks_d with), else the
position in the file or in the sorted folder, so a cost never depends on which other inputs
were given beside it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from a2d.data.sets import XZ_MAGIC, ExampleSet, load_set
from a2d.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
"""The files of an image folder that are read (any case); other files are ignored."""


@dataclass(frozen=True)
class Inputs:
    """What the command line attacks: the tensor, one id per input and where each came from.

    Attributes:
        x: (N, C, H, W) float tensor.
        ids: (N,) int64 non-negative ids (seeds of random attacks_d).
        names: (N,) file names for an image folder, else ``None``.
        source: the path as given, for messages.
    """

    x: torch.Tensor
    ids: torch.Tensor
    names: list[str] | None
    source: str


def load_inputs(
    path: str | os.PathLike[str],
    *,
    bounds: tuple[float, float],
    channels: int | None = None,
) -> Inputs:
    """Read ``path``: a ``.pt`` tensor or example set, a ``.npy`` array, or a folder of images.

    Args:
        path: a ``torch.save`` file of one (N, C, H, W) float tensor, an a2d example set
            (:func:`a2d.data.sets.save_set`), a ``.npy`` array, or a folder of images.
        bounds: the model's input box; images (8-bit pixels) are scaled into it. Tensors are
            taken as they are (the detector checks that they lie inside the bounds).
        channels: images only: 1 (grey) or 3 (RGB); ``None`` = 1 if every image is grey, else 3.

    Raises:
        DataError: a missing, unreadable, empty or wrongly shaped input.
    """
    source = os.fspath(path)
    if os.path.isdir(source):
        return _load_images(Path(source), bounds=bounds, channels=channels)
    if not os.path.isfile(source):
        raise DataError(
            f"no inputs at '{source}'; give a .pt tensor file, an a2d example set, a .npy file "
            "or a folder of images"
        )
    if source.endswith(".npy"):
        try:
            array = np.load(source, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"'{source}' is not a readable .npy array ({exc})") from None
        return _checked(torch.from_numpy(np.ascontiguousarray(array)), None, None, source)
    raw = Path(source).read_bytes()
    if raw.startswith(XZ_MAGIC):  # a2d's own example-set format
        example_set = load_set(source)
        return _checked(example_set.x, example_set.indices, None, source)
    try:
        loaded = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file that is not its archive
        raise DataError(
            f"'{source}' is not a readable torch file ({type(exc).__name__}); save the inputs "
            "with torch.save(x, path), x an (N, C, H, W) float tensor"
        ) from None
    if isinstance(loaded, dict) and {"x", "indices", "labels", "kind", "split"} <= set(loaded):
        example_set = ExampleSet(**loaded)
        return _checked(example_set.x, example_set.indices, None, source)
    return _checked(loaded, None, None, source)


def _checked(x: object, ids: torch.Tensor | None, names: list[str] | None, source: str) -> Inputs:
    """The same checks for every source, naming the file: rank, dtype, size, ids."""
    if not isinstance(x, torch.Tensor):
        raise DataError(
            f"'{source}' holds a {type(x).__name__}, not a tensor; save one (N, C, H, W) float "
            "tensor with torch.save(x, path) (or an a2d example set)"
        )
    if x.dim() != 4:
        hint = " (one image? add the batch axis: x.unsqueeze(0))" if x.dim() == 3 else ""
        raise DataError(
            f"'{source}' holds a {x.dim()}-D tensor of shape {tuple(x.shape)}; a2d needs "
            f"(N, C, H, W){hint}"
        )
    if not x.is_floating_point():
        raise DataError(
            f"'{source}' holds a {x.dtype} tensor; a2d needs floats inside the model's bounds, "
            "e.g. x.float() / 255 with --bounds 0 1"
        )
    if x.shape[0] == 0:
        raise DataError(f"'{source}' holds no inputs (N = 0); give at least one")
    finite = torch.isfinite(x).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten()
        raise DataError(
            f"'{source}' has {bad.numel()} of {len(x)} input(s) with NaN or inf (first at "
            f"position {int(bad[0])}); drop or repair them"
        )
    if ids is None:
        ids = torch.arange(x.shape[0])
    return Inputs(x=x.float(), ids=ids.long(), names=names, source=source)


def _load_images(folder: Path, *, bounds: tuple[float, float], channels: int | None) -> Inputs:
    """Every image of ``folder`` (sorted by name), 8-bit pixels scaled into ``bounds``."""
    from PIL import Image, UnidentifiedImageError  # Pillow comes with torchvision

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(
            f"folder '{folder}' has no images ({', '.join(IMAGE_SUFFIXES)}); give a folder of "
            "images or a tensor file"
        )
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                images.append(image.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"image '{file}' is unreadable ({exc}); remove or repair it") from None
    if channels is None:
        channels = 1 if all(image.mode in ("1", "L", "I;16", "I", "F") for image in images) else 3
    mode = "L" if channels == 1 else "RGB"
    arrays = [np.asarray(image.convert(mode), dtype=np.float32) for image in images]
    first = images[0].size
    odd = next((i for i, image in enumerate(images) if image.size != first), None)
    if odd is not None:
        raise DataError(
            f"images in '{folder}' differ in size: '{files[0].name}' is {first[0]}x{first[1]}, "
            f"'{files[odd].name}' is {images[odd].size[0]}x{images[odd].size[1]}; resize them "
            "to the model's input size"
        )
    stacked = np.stack(arrays)  # (N, H, W) or (N, H, W, 3), values 0..255
    x = torch.from_numpy(stacked)
    x = x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2)
    lo, hi = bounds
    x = lo + (hi - lo) * (x / 255.0)
    return _checked(x.contiguous(), None, [f.name for f in files], os.fspath(folder))
