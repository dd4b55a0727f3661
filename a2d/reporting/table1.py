"""Table 1: CLEVER scores of benign and adversarial images, mean +- 90% CI, and the ratios lambda.

One row per cell of the paper's table (dataset, label type, column), with the paper's value,
ours and the difference side by side (:func:`a2d.reporting.comparison_frame`). Score cells
carry our confidence half-width and the number of images; lambda cells are ratios of means:
lambda = benign mean / adversarial mean, and Avg. lambda = benign mean / the mean over every
adversarial image of the sets present. The paper's lambdas are recomputed from its printed
means (its printed ratios are those: 3.5572 / 0.1093 = 32.55), its Avg. lambda over the same
sets as ours.

Failed adversarials are kept in ``ours`` (BL1's Env1 sets keep them); ``ours_successful`` is the
same cell over the images whose attack succeeded (column ``crafted_success``; benign cells are
unchanged). The two differ where a few failed images keep benign-like scores at the radius cap:
on CIFAR-10 a handful of failed JSMA images carry most of the JSMA mean. Score cells also
carry the ``median``: the scores are heavy-tailed (a few images at the radius cap carry much of a
mean), which the paper's wide intervals show too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from a2d.reporting.paper import paper_value
from a2d.reporting.tables import comparison_frame

SET_COLUMNS = {"benign": "Benign", "fgsm": "FGSM", "bim-a": "BIM", "jsma": "JSMA", "cw": "C&W"}
"""Our set kinds -> the paper's column names, in the paper's column order."""

LABELS = {
    "untargeted": ("Untarget", "untarget"),
    "target2": ("Target-2", "target2"),
    "target5": ("Target-5", "target5"),
    "llc": ("LLC", "llc"),
}
"""Our target names -> (the paper's row name, the key in paper_values.yaml)."""

DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR10"}


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


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def _finite_scores(frame: pd.DataFrame, target: str, successful_only: bool) -> np.ndarray:
    """The finite scores of one target; with ``successful_only`` those of successful attacks."""
    values = frame[target].astype(float).to_numpy()
    if successful_only and "crafted_success" in frame:
        values = values[frame["crafted_success"].astype(bool).to_numpy()]
    return values[np.isfinite(values)]


def _paper_means(dataset: str, label: str) -> dict[str, float] | None:
    values = paper_value("table1", dataset, LABELS[label][1])
    if values is None:
        return None
    return dict(zip(SET_COLUMNS, values, strict=True))


def table1_rows(
    scores: Mapping[str, pd.DataFrame],
    *,
    dataset: str,
    targets: Sequence[str],
    confidence: float = 0.90,
) -> list[dict[str, object]]:
    """The rows of one dataset's block of Table 1.

    Args:
        scores: set kind (``benign``, ``fgsm``, ``bim-a``, ``jsma``, ``cw``; others are
            ignored) -> per-image table with one score column per target (non-finite scores,
            uncapped infinities, are left out and counted in ``n_dropped``).
        dataset: ``mnist`` or ``cifar10`` (picks the paper's values; others have none).
        targets: label types, rows in this order.
        confidence: of the intervals, default 0.90.

    Returns:
        Dicts with ``dataset``, ``label``, ``column``, ``paper``, ``ours``, ``ci``, ``n``,
        ``n_dropped``, ``median``, ``ours_successful`` and ``n_successful`` (for
        :func:`a2d.reporting.comparison_frame`).
    """
    if "benign" not in scores:
        raise ValueError(
            f"Table 1 needs the benign scores; got sets {sorted(scores)}. Add 'benign' to clever.sets"
        )
    unknown = [t for t in targets if t not in LABELS]
    if unknown:
        raise ValueError(f"unknown label type(s) {unknown}; expected some of {list(LABELS)}")
    kinds = [kind for kind in SET_COLUMNS if kind in scores]
    rows: list[dict[str, object]] = []
    for target in targets:
        paper = _paper_means(dataset, target) or {}
        means: dict[str, float] = {}
        successful: dict[str, float] = {}
        pooled: list[np.ndarray] = []
        pooled_successful: list[np.ndarray] = []
        base = {"dataset": DATASET_NAMES.get(dataset, dataset), "label": LABELS[target][0]}
        for kind in kinds:
            values = scores[kind][target].astype(float).to_numpy()
            finite = _finite_scores(scores[kind], target, successful_only=False)
            kept = finite if kind == "benign" else _finite_scores(scores[kind], target, True)
            mean, half = mean_ci(finite, confidence)
            means[kind] = mean
            successful[kind] = float(kept.mean()) if kept.size else math.nan
            if kind != "benign":
                pooled.append(finite)
                pooled_successful.append(kept)
            rows.append(
                base
                | {
                    "column": SET_COLUMNS[kind],
                    "paper": paper.get(kind),
                    "ours": mean,
                    "ci": half,
                    "n": int(finite.size),
                    "n_dropped": int(values.size - finite.size),
                    "median": float(np.median(finite)),
                    "ours_successful": successful[kind],
                    "n_successful": int(kept.size),
                }
            )
            if kind != "benign":
                rows.append(
                    base
                    | {
                        "column": f"lambda {SET_COLUMNS[kind]}",
                        "paper": _ratio(paper.get("benign"), paper.get(kind)),
                        "ours": _ratio(means["benign"], mean),
                        "ours_successful": _ratio(means["benign"], successful[kind]),
                    }
                )
        if pooled:
            # the paper's Avg. lambda over the same adversarial sets as ours
            adversarial = [k for k in kinds if k != "benign"]
            paper_adv = (
                float(np.mean([paper[k] for k in adversarial]))
                if all(k in paper for k in adversarial)
                else None
            )
            rows.append(
                base
                | {
                    "column": "Avg. lambda",
                    "paper": _ratio(paper.get("benign"), paper_adv),
                    "ours": _ratio(means["benign"], float(np.concatenate(pooled).mean())),
                    "ours_successful": _ratio(
                        means["benign"], float(np.concatenate(pooled_successful).mean())
                    ),
                }
            )
    return rows


def table1_frame(
    per_dataset: Mapping[str, Mapping[str, pd.DataFrame]],
    *,
    targets: Sequence[str],
    confidence: float = 0.90,
) -> pd.DataFrame:
    """Table 1 for every dataset in ``per_dataset`` (dataset -> set kind -> per-image scores)."""
    rows = [
        row
        for dataset, scores in per_dataset.items()
        for row in table1_rows(scores, dataset=dataset, targets=targets, confidence=confidence)
    ]
    frame = comparison_frame(rows, keys=["dataset", "label", "column"], digits=4)
    for column in ("n", "n_dropped", "n_successful"):  # counts, empty on ratio rows (not 100.0000)
        frame[column] = pd.Series(
            [int(v) if v == v else None for v in frame[column]], dtype=object, index=frame.index
        )
    return frame
