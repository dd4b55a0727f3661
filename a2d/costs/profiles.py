"""Figure 3 (paper Section 3.2): how far apart the attack costs of benign and adversarial sets lie.

The paper draws 1000 random inputs of each of five sets (benign, FGSM, BIM, DeepFool, C&W),
splits each into two independent halves, attacks every input with JSMA_d and compares the
halves' average iteration counts: the normalised Euclidean distance between every pair of
halves is near 0 within a kind of input and near 1 between benign and adversarial ones.

Here a half's *profile* is the vector of its mean costs, one entry per attack_d given (the
paper: JSMA_d alone, so one number), and the distance between two halves is the Euclidean
distance of their profiles divided by the largest distance between any two halves.

Notes:
    The paper's matrix is consistent with exactly this: its entries satisfy
    d(a, c) = d(a, b) + d(b, c) for halves ordered by mean (e.g. Benign-1/FGSM-1 0.888 plus
    Benign-1/Benign-2 0.031 is Benign-2/FGSM-1 0.919), as distances between single numbers do.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from a2d.errors import DataError


def split_halves(
    costs: Mapping[str, pd.DataFrame], *, n_examples: int, seed: int
) -> dict[str, pd.DataFrame]:
    """Draw ``n_examples`` inputs of every set at random and split them into two halves.

    Args:
        costs: set kind -> one row per input, one cost column per attack_d (same columns in
            every set).
        n_examples: inputs drawn per set (all of them when a set is smaller; the paper: 1000).
        seed: the run's seed; each set's draw uses its own generator seeded from the seed and
            the set's name, so adding a set never changes another's halves.

    Returns:
        ``"<kind> 1"`` and ``"<kind> 2"`` -> the rows of each half (the first half gets the
        extra row of an odd draw), in the order of ``costs``.

    Raises:
        DataError: a set with fewer than 2 inputs, or sets with different columns.
    """
    columns = None
    halves: dict[str, pd.DataFrame] = {}
    for kind, frame in costs.items():
        if columns is None:
            columns = list(frame.columns)
        elif list(frame.columns) != columns:
            raise DataError(
                f"set {kind!r} has cost columns {list(frame.columns)}, expected {columns}"
            )
        if len(frame) < 2:
            raise DataError(f"set {kind!r} has {len(frame)} input(s); two halves need at least 2")
        rng = np.random.default_rng([int(seed), zlib.crc32(kind.encode())])
        drawn = rng.permutation(len(frame))[: min(n_examples, len(frame))]
        middle = (len(drawn) + 1) // 2
        halves[f"{kind} 1"] = frame.iloc[np.sort(drawn[:middle])].reset_index(drop=True)
        halves[f"{kind} 2"] = frame.iloc[np.sort(drawn[middle:])].reset_index(drop=True)
    return halves


def profile_distances(halves: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Normalised Euclidean distances between the mean-cost profiles of every pair of halves.

    Returns a symmetric frame indexed and labelled by the halves' names, zero on the diagonal,
    with the largest entry 1 (all zeros if every profile is the same).
    """
    if not halves:
        raise DataError("no halves to compare; give at least one set of costs")
    profiles = np.stack([frame.mean(axis=0).to_numpy(dtype=float) for frame in halves.values()])
    distances = np.linalg.norm(profiles[:, None, :] - profiles[None, :, :], axis=2)
    largest = distances.max()
    if largest > 0:
        distances = distances / largest
    names = list(halves)
    return pd.DataFrame(distances, index=names, columns=names)


def kind_of(half: str) -> str:
    """The set kind of a half's name (``"bim-a 2"`` -> ``"bim-a"``)."""
    return half.rsplit(" ", 1)[0]


def distance_summary(distances: pd.DataFrame, *, benign: str = "benign") -> dict[str, float]:
    """The three numbers the paper reads off Figure 3, as means over pairs of halves.

    ``same_kind``: between the two halves of one set (the paper: near 0); ``benign_vs_
    adversarial``: between a benign and an adversarial half (near 1); ``adversarial_vs_
    adversarial``: between halves of two different adversarial sets (small: "cognate").
    """
    groups: dict[str, list[float]] = {
        "same_kind": [],
        "benign_vs_adversarial": [],
        "adversarial_vs_adversarial": [],
    }
    names = list(distances.index)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ka, kb = kind_of(a), kind_of(b)
            if ka == kb:
                group = "same_kind"
            elif benign in (ka, kb):
                group = "benign_vs_adversarial"
            else:
                group = "adversarial_vs_adversarial"
            groups[group].append(float(distances.loc[a, b]))
    return {
        name: float(np.mean(values)) if values else float("nan") for name, values in groups.items()
    }


def read_profile_costs(
    folders: Sequence[str | os.PathLike[str]], kinds: Sequence[str], *, split: str = "eval"
) -> dict[str, pd.DataFrame]:
    """Set kind -> the ``cost`` column of its table, from the first folder that holds it.

    ``folders`` are cost folders of one attack_d as the ``costs`` stage writes them
    (``<folder>/<kind>_<split>.csv``), e.g. the craft stage's sets and the extra sets of
    Figure 3. The column is named after the folder (the attack_d).

    Raises:
        DataError: a kind has no table in any folder.
    """
    found: dict[str, pd.DataFrame] = {}
    for kind in kinds:
        paths = [Path(f) / f"{kind}_{split}.csv" for f in folders]
        path = next((p for p in paths if p.is_file()), None)
        if path is None:
            raise DataError(
                f"no {kind}_{split}.csv cost table in {[str(f) for f in folders]}; run the costs "
                "stage (craft-stage sets) or rq1_costs (Figure 3's extra sets) first"
            )
        found[kind] = pd.read_csv(path)[["cost"]].rename(columns={"cost": path.parent.name})
    return found
