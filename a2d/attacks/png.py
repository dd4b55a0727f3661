"""BL3's 8-bit PNG round trip: adversarial images saved as PNG and read back before detection."""

from __future__ import annotations

import torch
from torch import Tensor

from a2d.attacks.base import Bounds


def png_round_trip(x: Tensor, *, rescale: bool = True, bounds: Bounds = (0.0, 1.0)) -> Tensor:
    """What (N, C, H, W) images in ``bounds`` become after BL3 saved and reloaded them.

    BL3 wrote every adversarial image with ``scipy.misc.imsave``, which byte-scales it: the
    image's own minimum goes to 0 and its maximum to 255 (one min and max over all channels),
    values are rounded half up to integers; the loader divides by 255. So:

    * ``rescale=True`` (BL3): ``q = floor((x - min) / (max - min) * 255 + 0.5)`` per image
      (``max == min`` counts as a range of 1), back to ``lo + (hi - lo) * q / 255``;
    * ``rescale=False``: plain 8-bit quantisation, ``q = floor((x - lo) / (hi - lo) * 255 + 0.5)``.

    Returns a new tensor of the same shape, dtype and device, within ``bounds``.

    References:
        Wang et al. ICSE'19 (BL3): ``save_imgs_tensor`` and the loader ``MyDataset``
        (ToTensor, then Normalize); spec/baselines.md section 3.

    Notes:
        BL3 attacked normalised tensors without clipping, so its min-max rescale mapped an
        out-of-range image back into the pixel range (an attack given wider ``bounds`` than the
        model's reproduces that). An attack that clips to [0, 1] leaves an MNIST digit with
        both 0 and 1 pixels, so the rescale mostly leaves the range alone and the round trip is
        an 8-bit quantisation (at most 1/510 per pixel).
    """
    if not x.is_floating_point() or x.dim() < 2:
        raise ValueError(f"x must be floating (N, ...) images, got {x.dtype} {tuple(x.shape)}")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not lo < hi:
        raise ValueError(f"bounds must be (lo, hi) with lo < hi, got {bounds!r}")
    flat = x.detach().reshape(x.shape[0], -1).double()
    if rescale and flat.shape[1]:
        low = flat.amin(1, keepdim=True)
        span = flat.amax(1, keepdim=True) - low
        span = torch.where(span > 0, span, torch.ones_like(span))
    else:
        low = torch.full((flat.shape[0], 1), lo, dtype=flat.dtype, device=flat.device)
        span = torch.full_like(low, hi - lo)
    levels = torch.floor(((flat - low) / span * 255).clamp(0, 255) + 0.5)
    return (lo + (hi - lo) * levels / 255).to(x.dtype).reshape(x.shape)
