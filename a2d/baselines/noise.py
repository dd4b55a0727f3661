"""The noisy negatives of BL1 and BL2: benign inputs perturbed about as much as the adversarial ones.

Both detectors are trained to separate adversarial inputs from normal *and* noisy ones, so that
they learn the adversarial direction rather than "any perturbation". Feinman et al.'s rule
(``detect/util.py::get_noisy_samples``, reused by Ma et al.):

* L-inf attacks (FGSM, BIM): Gaussian noise with a preset std per (dataset, attack), tuned so
  that the mean L2 distance matches the adversarial set's, clipped to the input box.
* L0-like attacks (JSMA, C&W in BL1's list): count the features the attack changed and set as
  many random features (drawn *with replacement* among those below 0.99) to the maximum.

A third rule, ``"l2"``, applies the first rule's criterion directly: Gaussian noise whose std is
solved per set so that the mean L2 distance equals the adversarial set's. We use it for C&W-L2,
whose tanh change of variables moves almost every pixel a little: ``flip`` would saturate
nearly the whole image (and BL1's own ``flip`` asserts there are enough candidate pixels, which
fails for such sets), while the A2D authors' treatment of C&W is not published.
"""

from __future__ import annotations

import zlib
from typing import Literal

import numpy as np
import torch
from torch import Tensor

NoiseRule = float | Literal["flip", "l2"]

FLIP: Literal["flip"] = "flip"
MATCH_L2: Literal["l2"] = "l2"


def check_noise_rule(rule: object, *, what: str = "noise rule") -> NoiseRule:
    """A positive Gaussian std, ``"flip"`` or ``"l2"``; anything else is a ValueError naming ``what``."""
    if rule in (FLIP, MATCH_L2):
        return rule  # type: ignore[return-value]
    if isinstance(rule, int | float) and not isinstance(rule, bool) and rule > 0:
        return float(rule)
    raise ValueError(
        f"{what} must be a positive Gaussian std (e.g. 0.31), 'flip' (set as many pixels to the "
        f"maximum as the attack changed) or 'l2' (Gaussian matching the adversarial mean L2), got {rule!r}"
    )


def noise_rng(seed: int, name: str) -> np.random.Generator:
    """A generator for one noisy set: the run's seed mixed with the set's name (order-free)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def noisy_samples(
    benign: Tensor,
    adversarial: Tensor,
    rule: NoiseRule,
    *,
    rng: np.random.Generator,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Tensor:
    """Noisy versions of ``benign``, one per adversarial example, by Feinman's rule.

    Args:
        benign: (N, C, H, W) inputs in ``bounds``.
        adversarial: the (N, C, H, W) adversarial examples crafted from ``benign``, same order.
        rule: a Gaussian std (FGSM/BIM), ``"flip"`` (JSMA) or ``"l2"`` (C&W): Gaussian noise
            with the std that makes the mean L2 distance equal the adversarial set's.
        rng: the numpy generator the noise is drawn from (see :func:`noise_rng`).
        bounds: the input box; flipped features go to its maximum.

    Notes:
        Feinman's ``flip`` asserts that there are at least as many candidate features (< 0.99)
        as changed ones, although it draws with replacement; we draw with replacement without
        that check, so a C&W example that touched nearly every pixel still gets a noisy twin.
    """
    if benign.shape != adversarial.shape:
        raise ValueError(
            f"benign and adversarial inputs must have the same shape, got {tuple(benign.shape)} "
            f"and {tuple(adversarial.shape)}; pass the adversarial set crafted from these inputs"
        )
    rule = check_noise_rule(rule)
    low, high = bounds
    if rule == FLIP:
        return _flip(benign, adversarial, rng, high=high, threshold=low + 0.99 * (high - low))
    noise = torch.from_numpy(rng.standard_normal(size=tuple(benign.shape)).astype(np.float32))
    std = _matched_std(benign, adversarial, noise, bounds) if rule == MATCH_L2 else float(rule)
    return (benign + std * noise).clamp_(low, high)


def _mean_l2(a: Tensor, b: Tensor) -> float:
    return float((a - b).flatten(1).norm(dim=1).mean())


def _matched_std(
    benign: Tensor, adversarial: Tensor, noise: Tensor, bounds: tuple[float, float]
) -> float:
    """The std s with mean L2 of clip(benign + s * noise) - benign = that of the adversarials.

    Bisection: the clipped distance grows with s (until every feature hits a bound).
    """
    target = _mean_l2(adversarial, benign)
    low, high = 0.0, bounds[1] - bounds[0]
    for _ in range(20):  # grow the bracket; stops at the bound-saturated maximum
        if _mean_l2((benign + high * noise).clamp(*bounds), benign) >= target:
            break
        low, high = high, 2 * high
    for _ in range(40):
        mid = (low + high) / 2
        if _mean_l2((benign + mid * noise).clamp(*bounds), benign) < target:
            low = mid
        else:
            high = mid
    return high


def _flip(
    benign: Tensor, adversarial: Tensor, rng: np.random.Generator, *, high: float, threshold: float
) -> Tensor:
    flat = benign.reshape(len(benign), -1).clone()
    changed = (benign != adversarial).reshape(len(benign), -1).sum(1).tolist()
    for row, count in zip(flat, changed, strict=True):
        candidates = torch.nonzero(row < threshold).flatten().numpy()
        if count and len(candidates):
            row[torch.from_numpy(rng.choice(candidates, count))] = high
    return flat.reshape(benign.shape)
