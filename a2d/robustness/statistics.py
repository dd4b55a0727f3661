"""Statistics of CLEVER scores: Table 1's means, intervals and ratios, and the timing correlations.

Table 1 compares the robustness of benign and adversarial images: per label type and set, the
mean score with a 90% interval, and lambda = benign mean / adversarial mean (Avg. lambda: over
every adversarial image of the sets present). Figures 2 and 10 say how the time an attack takes
follows the score and the iteration count (Spearman rank correlations). Everything here is
keyed by our names (set kinds, label types); :mod:`a2d.reporting.table1` lays it out beside the
paper's values.

Notes:
    Failed adversarials are kept in the means (BL1's Env1 sets keep them); the ``*_successful``
    values are the same statistics over the images whose attack succeeded (column
    ``crafted_success``; benign sets are unchanged). The two differ where a few failed images
    keep benign-like scores at the radius cap. Non-finite scores (an uncapped score is inf
    where the gradient is 0) are left out and counted in ``n_dropped``. The scores are
    heavy-tailed (a few images at the radius cap carry much of a mean), hence the ``median``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from a2d.robustness.clever import TARGETS

TABLE1_SETS = ("benign", "fgsm", "bim-a", "jsma", "cw")
"""The sets of the paper's Table 1, in its column order; other sets are not part of it."""


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.90) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation confidence interval.

    half-width = z * sd / sqrt(n), z = the (1 + confidence) / 2 normal quantile (1.645 for 90%),
    sd with n - 1 degrees of freedom: the paper's "confidence interval of 90% significance level"
    for 100 images (it gives no formula; for n = 100 the t quantile differs by 1%).
    """
    sample = np.asarray(values, dtype=np.float64)
    if sample.size == 0 or not np.isfinite(sample).all():
        raise ValueError(
            f"need finite scores, got {sample.size} values ({np.isfinite(sample).sum()} finite)"
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}; expected a level in (0, 1), e.g. 0.9")
    mean = float(sample.mean())
    if sample.size < 2:
        return mean, math.nan
    z = float(scipy.stats.norm.ppf((1 + confidence) / 2))
    return mean, z * float(sample.std(ddof=1)) / math.sqrt(sample.size)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``; None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def _finite_scores(frame: pd.DataFrame, target: str, successful_only: bool) -> np.ndarray:
    """The finite scores of one label type; with ``successful_only`` those of successful attacks."""
    values = frame[target].astype(float).to_numpy()
    if successful_only and "crafted_success" in frame:
        values = values[frame["crafted_success"].astype(bool).to_numpy()]
    return values[np.isfinite(values)]


def table1_statistics(
    scores: Mapping[str, pd.DataFrame],
    *,
    targets: Sequence[str],
    confidence: float = 0.90,
) -> dict[str, dict[str, Any]]:
    """Table 1's statistics of one dataset: per label type, per set and over all adversarials.

    Args:
        scores: set kind -> per-image CLEVER table with one score column per label type (the
            ``clever`` stage's ``<kind>_eval.csv``). ``benign`` is required; kinds outside
            :data:`TABLE1_SETS` are ignored.
        targets: label types, in this order (some of ``untargeted``, ``target2``,
            ``target5``, ``llc``).
        confidence: of the intervals, default 0.90.

    Returns:
        label type -> ``{"sets": {kind: cell}, "average": pooled or None}``. A cell has
        ``mean``, ``ci`` (half-width), ``n``, ``n_dropped``, ``median``, ``mean_successful``,
        ``n_successful`` and, for adversarial sets, ``ratio`` and ``ratio_successful`` (lambda:
        benign mean / this mean). ``average`` (None without adversarial sets) holds ``ratio``
        and ``ratio_successful`` of the benign mean to the mean over every adversarial image.

    Raises:
        ValueError: no benign scores, or an unknown label type.
    """
    if "benign" not in scores:
        raise ValueError(
            f"Table 1 needs the benign scores; got sets {sorted(scores)}. Add 'benign' to clever.sets"
        )
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ValueError(f"unknown label type(s) {unknown}; expected some of {list(TARGETS)}")
    kinds = [kind for kind in TABLE1_SETS if kind in scores]
    return {target: _target_statistics(scores, kinds, target, confidence) for target in targets}


def _target_statistics(
    scores: Mapping[str, pd.DataFrame], kinds: Sequence[str], target: str, confidence: float
) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = {}
    pooled: list[np.ndarray] = []
    pooled_successful: list[np.ndarray] = []
    for kind in kinds:
        values = scores[kind][target].astype(float).to_numpy()
        finite = _finite_scores(scores[kind], target, successful_only=False)
        kept = finite if kind == "benign" else _finite_scores(scores[kind], target, True)
        mean, half = mean_ci(finite, confidence)
        cell: dict[str, Any] = {
            "mean": mean,
            "ci": half,
            "n": int(finite.size),
            "n_dropped": int(values.size - finite.size),
            "median": float(np.median(finite)),
            "mean_successful": float(kept.mean()) if kept.size else math.nan,
            "n_successful": int(kept.size),
        }
        if kind != "benign":
            benign = cells["benign"]["mean"]
            cell["ratio"] = ratio(benign, mean)
            cell["ratio_successful"] = ratio(benign, cell["mean_successful"])
            pooled.append(finite)
            pooled_successful.append(kept)
        cells[kind] = cell
    average = None
    if pooled:
        benign = cells["benign"]["mean"]
        average = {
            "ratio": ratio(benign, float(np.concatenate(pooled).mean())),
            "ratio_successful": ratio(benign, float(np.concatenate(pooled_successful).mean())),
        }
    return {"sets": cells, "average": average}


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman rank correlation (NaN for fewer than 3 points or a constant series)."""
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return float("nan")
    return float(scipy.stats.spearmanr(x, y).statistic)


def timing_statistics(times: pd.DataFrame) -> dict[str, float | int | None]:
    """How attack time follows robustness (Figures 2 and 10), rounded to 4 places.

    ``times``: one row per timed example with ``score`` (CLEVER), ``cost`` (iterations) and
    ``seconds``. Returns ``n``, the Spearman correlations of score and of iterations with
    seconds, and the mean seconds; None where undefined (no rows, or a NaN correlation).
    """
    if not len(times):
        return {
            "n": 0,
            "spearman_score_seconds": None,
            "spearman_iterations_seconds": None,
            "mean_seconds": None,
        }
    return {
        "n": int(len(times)),
        "spearman_score_seconds": _rounded(spearman(times["score"], times["seconds"])),
        "spearman_iterations_seconds": _rounded(spearman(times["cost"], times["seconds"])),
        "mean_seconds": _rounded(float(times["seconds"].mean())),
    }


def _rounded(value: float) -> float | None:
    return None if value != value else round(value, 4)  # NaN -> null in JSON
