"""Robustness of single inputs: CLEVER scores (Weng et al., ICLR'18) for A2D's Table 1.

:func:`clever` gives untargeted, Target-2, Target-5 and LLC scores from one set of samples per
input; :func:`batch_maxima` and :func:`fit_reverse_weibull` are its two halves, and
:func:`reference_batch_maxima` is the slow one-gradient-at-a-time yardstick.

- :mod:`a2d.robustness.tables`: per-image CLEVER tables of an example set.
- :mod:`a2d.robustness.run`: one target's run (every set scored, an attack timed), resumable.
- :mod:`a2d.robustness.statistics`: Table 1's means, intervals and ratios; timing correlations.
"""

from a2d.robustness.clever import (
    REFERENCE_C_INITS,
    TARGETS,
    CleverResult,
    WeibullFit,
    batch_maxima,
    clever,
    fit_reverse_weibull,
    margin_gradient_norms,
    sample_l2_ball,
)
from a2d.robustness.reference import reference_batch_maxima

__all__ = [
    "REFERENCE_C_INITS",
    "TARGETS",
    "CleverResult",
    "WeibullFit",
    "batch_maxima",
    "clever",
    "fit_reverse_weibull",
    "margin_gradient_norms",
    "reference_batch_maxima",
    "sample_l2_ball",
]
