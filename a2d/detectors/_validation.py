"""Input checks shared by the detectors: attack costs and 0/1 labels."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def _check_cost_array(
    costs: Any, *, name: str = "costs", max_columns: int | None = None
) -> np.ndarray:
    """Validate attack costs and return them as a float64 array of shape (n, d).

    Args:
        costs: a 1-D array of n costs (read as one column) or an (n, d) array, one column per
            attack_d.
        name: what to call the array in error messages.
        max_columns: if given, the largest number of columns accepted.

    Raises:
        ValueError: the array is empty, not 1-D/2-D, has too many columns, contains NaN/inf,
            or contains a negative cost.
    """
    try:
        arr = np.asarray(costs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be a numeric array of attack costs, got {costs!r:.80}"
        ) from err
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 1-D array (n,) or a 2-D array (n, d), got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one cost")
    if max_columns is not None and arr.shape[1] > max_columns:
        raise ValueError(
            f"{name} must have at most {max_columns} column(s), got shape {arr.shape}; "
            "use ZScoreEnsemble for one Z-score detector per cost column"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        raise ValueError(
            f"{name} must be finite; found NaN or inf in {int(bad.sum())} of {arr.size} values "
            f"(first at row {row}); drop or re-run those inputs (failed attacks are recorded as "
            "the cap, never as NaN)"
        )
    if (arr < 0).any():
        row, col = (int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(
            f"{name} must be >= 0 (attack costs are counts or times); found {arr[row, col]!r} at "
            f"row {row}; a negative cost is usually a failure sentinel: record failures as the "
            "attack's cap instead"
        )
    return arr


def _is_real(value: Any) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _check_labels(y: Any, n_rows: int) -> np.ndarray:
    """Validate 0/1 labels, one per row of costs; return them as int64."""
    labels = np.asarray(y)
    if labels.shape != (n_rows,):
        raise ValueError(
            f"y must be a 1-D array with one label per row of costs ({n_rows}), "
            f"got shape {labels.shape}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"y must contain only 0 (benign) and 1 (adversarial), got values {np.unique(labels)[:10]}"
        )
    return labels.astype(np.int64)


def _benign_rows(costs: np.ndarray, y: Any) -> np.ndarray:
    """Keep only the rows labelled benign (0) when labels are given."""
    if y is None:
        return costs
    benign = costs[_check_labels(y, costs.shape[0]) == 0]
    if benign.shape[0] == 0:
        raise ValueError("y has no benign (0) rows; the Z-score detector is fitted on benign costs")
    return benign
