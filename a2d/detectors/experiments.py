"""The paper's detector experiments on cost tables: Figure 6, Table 3 and the Table 7 sweeps.

Protocol (spec/protocol.md "Detectors"; paper Section 5.3 and Appendix C): every detector is
fitted on the ``_train`` sets (the disjoint training pool) and evaluated on the ``_eval`` sets.
Every detector here is an :class:`~a2d.detectors.AttackAsDefense` fitted on precomputed costs,
the same object users run on raw inputs.

- K-NN, one attack_d: one detector per crafting attack c, fitted on the benign and the c
  training costs, evaluated on c's evaluation set and on the benign one (the benign accuracy
  reported is the mean over the c's). END: one K-NN on the cost vectors of all attacks_d,
  fitted on the benign training costs and as many adversarial ones, split evenly over the
  crafting attacks (:func:`mixed_adversarial`).
- Z-score: one detector per attack_d fitted on the benign training costs; END = the k-of-n
  ensemble.
- Accuracy on benign inputs = 1 - false-positive rate; on adversarial inputs = detection rate.

Frames carry our keys (attack_d ``bim``, input ``bim-a``, detector ``knn``, classifier ``rfc``);
:mod:`a2d.reporting.names` turns them into the paper's names, and nothing here imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from a2d.costs.tables import cost_table_damage
from a2d.detectors.attack_as_defense import AttackAsDefense, AttackSpec
from a2d.errors import DataError

PAPER_ORDER = ("jsma", "bim", "bim2", "dba")
"""The attacks_d in the paper's order (Figure 6, Table 3)."""

END = "END"
"""The ``attack_d`` of the ensemble rows (END detectors), beside the single attacks_d."""

BENIGN = "benign"
"""The ``input`` of the benign rows, beside the crafting attacks (``fgsm``, ``bim-a``, ...)."""

KNN, ZSCORE = "knn", "zscore"
"""The ``detector`` families of the accuracy frames: K-NN and Z-score."""


def paper_order(attacks: Sequence[str]) -> list[str]:
    """The attacks_d in the paper's order (jsma, bim, bim2, dba), others after."""
    rank = {name: i for i, name in enumerate(PAPER_ORDER)}
    return sorted(attacks, key=lambda a: (rank.get(a, len(rank)), a))


@dataclass(frozen=True)
class CostSets:
    """Costs and queries of every example set of one target, one column per attack_d.

    Attributes:
        attacks: the attacks_d, in column order.
        crafted: the crafting attacks (adversarial kinds), e.g. ``("fgsm", "bim-a", ...)``.
        cost: set name (``benign_eval``, ``fgsm_train``, ...) -> (n, A) costs.
        queries: set name -> (n, A) queries.
    """

    attacks: tuple[str, ...]
    crafted: tuple[str, ...]
    cost: dict[str, np.ndarray]
    queries: dict[str, np.ndarray]

    def costs(self, kind: str, split: str) -> np.ndarray:
        """(n, A) costs of the set ``<kind>_<split>``."""
        return self.cost[f"{kind}_{split}"]

    def select(self, attacks: Sequence[str]) -> CostSets:
        """The same sets restricted to some attacks_d (columns in the given order)."""
        cols = [self.attacks.index(a) for a in attacks]
        return CostSets(
            attacks=tuple(attacks),
            crafted=self.crafted,
            cost={k: v[:, cols] for k, v in self.cost.items()},
            queries={k: v[:, cols] for k, v in self.queries.items()},
        )

    def adversarial(self, split: str) -> np.ndarray:
        """All adversarial costs of a split, stacked in ``crafted`` order."""
        return np.vstack([self.costs(kind, split) for kind in self.crafted])


def set_names(crafted: Sequence[str]) -> list[str]:
    """The set names the detectors read: benign then each crafting attack, eval and train."""
    kinds = ["benign", *crafted]
    return [f"{kind}_{split}" for kind in kinds for split in ("eval", "train")]


def read_cost_sets(
    folder: str | os.PathLike[str],
    *,
    attacks: Sequence[str],
    crafted: Sequence[str],
    successful_only: bool = False,
    target: str | None = None,
) -> CostSets:
    """Read ``<folder>/<attack>/<set>.csv`` (the ``costs`` stage's tables) into :class:`CostSets`.

    Args:
        folder: a target's cost folder, e.g. ``results/costs/env1_mnist``.
        attacks: the attacks_d to read.
        crafted: the crafting attacks whose ``<c>_eval`` / ``<c>_train`` sets to read.
        successful_only: drop adversarial rows whose crafting attack failed
            (``crafted_success`` false): the Env2 (BL3) protocol; Env1 keeps them.
        target: the target name used in error messages (default: the folder's name).

    Raises:
        DataError: a table is missing (naming the file and the stage to run), lacks a column,
            the attacks_d disagree on which inputs a set holds, or ``successful_only`` leaves
            a set empty.
    """
    root = Path(folder)
    target = target or root.name
    cost, queries = {}, {}
    for name in set_names(crafted):
        frames = [_read_table(root / a / f"{name}.csv", target, a) for a in attacks]
        _check_same_inputs(frames, attacks, name)
        keep = np.ones(len(frames[0]), dtype=bool)
        if successful_only and not name.startswith("benign_"):
            keep = frames[0]["crafted_success"].astype(bool).to_numpy()
            if not keep.any():
                raise DataError(
                    f"{name} has no successful adversarial input (crafted_success) to keep; "
                    "set detector.successful_only=false"
                )
        cost[name] = np.column_stack([f["cost"].to_numpy(np.float64)[keep] for f in frames])
        queries[name] = np.column_stack([f["queries"].to_numpy(np.float64)[keep] for f in frames])
    return CostSets(attacks=tuple(attacks), crafted=tuple(crafted), cost=cost, queries=queries)


def _read_table(path: Path, target: str, attack: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"no cost table '{path}'; run `dvc repro costs@{target}-{attack}` first")
    frame = pd.read_csv(path)
    damage = cost_table_damage(frame, path)
    if damage:
        raise DataError(f"cost table '{path}' {damage}; rerun `dvc repro costs@{target}-{attack}`")
    return frame


def _check_same_inputs(frames: list[pd.DataFrame], attacks: Sequence[str], name: str) -> None:
    first = frames[0]["index"].to_numpy()
    for attack, frame in zip(attacks[1:], frames[1:], strict=True):
        if not np.array_equal(frame["index"].to_numpy(), first):
            raise DataError(
                f"the {name} cost tables of {attacks[0]} and {attack} hold different inputs; "
                "rerun the costs stage of both on the same crafted sets"
            )


def mixed_adversarial(sets: CostSets, n: int, split: str = "train") -> np.ndarray:
    """``n`` adversarial cost rows split evenly over the crafting attacks (END's training set).

    Crafting attack i contributes ``n // N`` rows (the first ``n % N`` one more) from
    consecutive, non-overlapping source positions (attack 0 takes rows 0.., attack 1 the rows
    after them, ...), wrapping around its set only when ``n`` exceeds one set's size. The sets
    are paired by source image, so every source appears once for ``n`` up to a set's size, as in
    the authors' training data. Deterministic.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 adversarial rows, got {n}")
    count = len(sets.crafted)
    sizes = [n // count + (1 if i < n % count else 0) for i in range(count)]
    parts, start = [], 0
    for kind, size in zip(sets.crafted, sizes, strict=True):
        pool = sets.costs(kind, split)
        parts.append(pool[(start + np.arange(size)) % len(pool)])
        start += size
    return np.vstack(parts)


def _flag_rate(detector: AttackAsDefense, costs: np.ndarray) -> float:
    return float(np.mean(detector.predict_costs(costs)))


def _knn(attacks: AttackSpec, n_neighbors: int, **settings: Any) -> AttackAsDefense:
    return AttackAsDefense(attacks=attacks, detector="knn", n_neighbors=n_neighbors, **settings)


def _zscore(attacks: AttackSpec, threshold: float, k: int, **settings: Any) -> AttackAsDefense:
    return AttackAsDefense(attacks=attacks, detector="zscore", threshold=threshold, k=k, **settings)


def _fit(
    detector: AttackAsDefense, what: str, benign: np.ndarray, adv: Any = None
) -> AttackAsDefense:
    """Fit, turning a detector's complaint about the data into a one-line DataError."""
    try:
        return detector.fit_costs(benign, adv)
    except ValueError as err:
        raise DataError(f"{what}: {err}") from err


def _end_knn(
    sets: CostSets,
    n_neighbors: int,
    ratio: float = 1.0,
    attacks: AttackSpec | None = None,
    **settings: Any,
) -> AttackAsDefense:
    benign = sets.costs("benign", "train")
    n_adv = max(1, round(ratio * len(benign)))
    return _fit(
        _knn(list(sets.attacks) if attacks is None else attacks, n_neighbors, **settings),
        f"K-NN END (K={n_neighbors}, 1:{ratio:g})",
        benign,
        mixed_adversarial(sets, n_adv),
    )


def _end_zscore(
    sets: CostSets, threshold: float, k: int, attacks: AttackSpec | None = None, **settings: Any
) -> AttackAsDefense:
    return _fit(
        _zscore(list(sets.attacks) if attacks is None else attacks, threshold, k, **settings),
        f"Z-score END (k={k})",
        sets.costs("benign", "train"),
    )


def end_detectors(
    sets: CostSets,
    attacks: Mapping[str, Mapping[str, Any]],
    *,
    n_neighbors: int,
    threshold: float,
    k: int,
    **settings: Any,
) -> dict[str, AttackAsDefense]:
    """The paper's END detectors of Figure 6 (K-NN and Z-score), fitted on the training costs.

    Fitted exactly as in :func:`knn_accuracies` / :func:`zscore_accuracies`, but carrying what a
    user needs to apply them to new inputs: ``attacks`` maps each attack_d (in the column order
    of ``sets``) to the hyperparameters that produced the costs, and ``settings`` (the model, or
    its bounds) go to :class:`AttackAsDefense`, so a saved detector attacks new inputs the way
    the pipeline attacked the training inputs.
    """
    if tuple(attacks) != sets.attacks:
        raise ValueError(
            f"attacks {list(attacks)} must name the cost columns {list(sets.attacks)} in order"
        )
    return {
        "knn": _end_knn(sets, n_neighbors, attacks=attacks, **settings),
        "zscore": _end_zscore(sets, threshold, k, attacks=attacks, **settings),
    }


def _rows(family: str, attack_d: str, accuracy: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"detector": family, "attack_d": attack_d, "input": name, "accuracy": value}
        for name, value in accuracy.items()
    ]


def knn_accuracies(sets: CostSets, *, n_neighbors: int) -> pd.DataFrame:
    """Figure 6 (a/c/e): K-NN accuracy per attack_d (+ END) on each adversarial type and benign.

    Returns a long frame: detector (``knn``), attack_d (``bim``, ..., ``END``), input (crafting
    attack, e.g. ``bim-a``, or ``benign``), accuracy.
    """
    rows: list[dict[str, Any]] = []
    for attack in paper_order(sets.attacks):
        column = sets.select([attack])
        accuracy, benign = {}, []
        for kind in sets.crafted:
            adversarial = column.costs(kind, "train")
            det = _fit(
                _knn([attack], n_neighbors),
                f"K-NN {attack} on {kind}",
                # 1:1 as the paper; a training set crafted on fewer sources (craft.train_subset)
                # meets the benign inputs of those same sources
                column.costs("benign", "train")[: len(adversarial)],
                adversarial,
            )
            accuracy[kind] = _flag_rate(det, column.costs(kind, "eval"))
            benign.append(1.0 - _flag_rate(det, column.costs("benign", "eval")))
        accuracy[BENIGN] = float(np.mean(benign))
        rows += _rows(KNN, attack, accuracy)
    end = _end_knn(sets, n_neighbors)
    rows += _rows(KNN, END, _accuracy_by_input(end, sets))
    return pd.DataFrame(rows)


def zscore_accuracies(sets: CostSets, *, threshold: float, k: int) -> pd.DataFrame:
    """Figure 6 (b/d/f): Z-score accuracy per attack_d and of the k-of-n END ensemble.

    Same long frame as :func:`knn_accuracies`, with detector ``zscore``.
    """
    rows: list[dict[str, Any]] = []
    for attack in paper_order(sets.attacks):
        column = sets.select([attack])
        det = _fit(
            _zscore([attack], threshold, 1),
            f"Z-score {attack}",
            column.costs("benign", "train"),
        )
        rows += _rows(ZSCORE, attack, _accuracy_by_input(det, column))
    end = _end_zscore(sets, threshold, k)
    rows += _rows(ZSCORE, END, _accuracy_by_input(end, sets))
    return pd.DataFrame(rows)


def _accuracy_by_input(detector: AttackAsDefense, sets: CostSets) -> dict[str, float]:
    accuracy = {k: _flag_rate(detector, sets.costs(k, "eval")) for k in sets.crafted}
    accuracy[BENIGN] = 1.0 - _flag_rate(detector, sets.costs("benign", "eval"))
    return accuracy


def average_accuracy(accuracies: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over the inputs (each adversarial type and benign, unweighted) per detector.

    This is how we read the paper's "on average, the accuracies of detectors ... are" (5.3.1).
    """
    means = accuracies.groupby(["detector", "attack_d"], sort=False)["accuracy"].mean()
    return means.reset_index()


def cost_analysis(sets: CostSets, *, threshold: float, k: int) -> pd.DataFrame:
    """Table 3: queries and accuracy of the Z-score detectors, per attack_d and for END.

    Columns: attack_d (``bim``, ..., ``END``), adv_q and benign_q (mean queries per adversarial / benign evaluation
    input, all adversarial types pooled; END: summed over its attacks_d), threshold (the cost
    threshold h gives, in the attack_d's cost units; none for END), acc_adv (pooled detection
    rate), acc_benign (1 - false-positive rate).
    """
    rows = []
    adv_q = np.vstack([sets.queries[f"{c}_eval"] for c in sets.crafted])
    benign_q = sets.queries["benign_eval"]
    for attack in paper_order(sets.attacks):
        j = sets.attacks.index(attack)
        column = sets.select([attack])
        det = _fit(
            _zscore([attack], threshold, 1),
            f"Z-score {attack}",
            column.costs("benign", "train"),
        )
        rows.append(
            _cost_row(attack, det, column, adv_q[:, j], benign_q[:, j])
            | {"threshold": det.cost_thresholds_[attack]}
        )
    end = _fit(
        _zscore(sets.attacks, threshold, k), f"Z-score END (k={k})", sets.costs("benign", "train")
    )
    rows.append(
        _cost_row(END, end, sets, adv_q.sum(axis=1), benign_q.sum(axis=1)) | {"threshold": None}
    )
    order = ["attack_d", "adv_q", "acc_adv", "benign_q", "threshold", "acc_benign"]
    return pd.DataFrame(rows)[order]


def _cost_row(
    name: str, det: AttackAsDefense, sets: CostSets, adv_q: np.ndarray, benign_q: np.ndarray
) -> dict[str, Any]:
    return {
        "attack_d": name,
        "adv_q": float(np.mean(adv_q)),
        "acc_adv": _flag_rate(det, sets.adversarial("eval")),
        "benign_q": float(np.mean(benign_q)),
        "acc_benign": 1.0 - _flag_rate(det, sets.costs("benign", "eval")),
    }


# ---------------------------------------------------------------------------------------------
# Table 7 (Appendix C): each parameter swept with the others at their defaults


def _sweep_row(parameter: str, value: Any, det: AttackAsDefense, sets: CostSets) -> dict[str, Any]:
    return {
        "parameter": parameter,
        "value": value,
        "acc_benign": 1.0 - _flag_rate(det, sets.costs("benign", "eval")),
        "acc_adv": _flag_rate(det, sets.adversarial("eval")),
    }


def sweep_n_neighbors(sets: CostSets, values: Sequence[int]) -> list[dict[str, Any]]:
    """K-NN END with K in ``values`` (benign:adversarial 1:1)."""
    return [_sweep_row("K", int(v), _end_knn(sets, int(v)), sets) for v in values]


def sweep_ratio(
    sets: CostSets, values: Sequence[float], *, n_neighbors: int
) -> list[dict[str, Any]]:
    """K-NN END with benign:adversarial training ratio 1:r for r in ``values``."""
    return [
        _sweep_row("ratio", f"1:{v:g}", _end_knn(sets, n_neighbors, float(v)), sets) for v in values
    ]


def sweep_threshold(sets: CostSets, values: Sequence[float], *, k: int) -> list[dict[str, Any]]:
    """Z-score END (k of n) with h in ``values``."""
    benign = sets.costs("benign", "train")
    return [
        _sweep_row(
            "h",
            float(h),
            _fit(_zscore(sets.attacks, float(h), k), f"Z-score END h={h}", benign),
            sets,
        )
        for h in values
    ]


def sweep_k(sets: CostSets, values: Sequence[int], *, threshold: float) -> list[dict[str, Any]]:
    """Z-score END with k in ``values`` (benign if at least k of the n detectors say benign)."""
    benign = sets.costs("benign", "train")
    return [
        _sweep_row(
            "k",
            int(k),
            _fit(_zscore(sets.attacks, threshold, int(k)), f"Z-score END k={k}", benign),
            sets,
        )
        for k in values
    ]


CLASSIFIERS: dict[str, Callable[[int, int], Any]] = {
    "knn": lambda n_neighbors, seed: "knn",
    "svm": lambda n_neighbors, seed: SVC(),
    "dtc": lambda n_neighbors, seed: DecisionTreeClassifier(random_state=seed),
    "rfc": lambda n_neighbors, seed: RandomForestClassifier(random_state=seed),
}
"""Table 7's classifiers on the END cost vectors: scikit-learn defaults, seeded where random."""


def compare_classifiers(
    sets: CostSets, names: Sequence[str], *, n_neighbors: int, seed: int
) -> list[dict[str, Any]]:
    """K-NN vs SVM / decision tree / random forest on the END cost vectors (1:1 training mix)."""
    benign = sets.costs("benign", "train")
    adversarial = mixed_adversarial(sets, len(benign))
    rows = []
    for name in names:
        if name not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {name!r}; valid: {', '.join(CLASSIFIERS)}")
        det = AttackAsDefense(
            attacks=list(sets.attacks),
            detector=CLASSIFIERS[name](n_neighbors, seed),
            n_neighbors=n_neighbors,
        )
        det = _fit(det, f"classifier {name}", benign, adversarial)
        rows.append(_sweep_row("classifier", name, det, sets))
    return rows


def parameter_sweeps(
    sets: CostSets,
    *,
    n_neighbors: Sequence[int],
    ratios: Sequence[float],
    thresholds: Sequence[float],
    k: Sequence[int],
    classifiers: Sequence[str],
    default_n_neighbors: int,
    default_threshold: float,
    default_k: int,
    seed: int,
) -> pd.DataFrame:
    """All of Table 7: columns parameter, value, acc_benign, acc_adv (adversarial types pooled)."""
    rows = (
        sweep_n_neighbors(sets, n_neighbors)
        + sweep_ratio(sets, ratios, n_neighbors=default_n_neighbors)
        + sweep_threshold(sets, thresholds, k=default_k)
        + sweep_k(sets, k, threshold=default_threshold)
        + compare_classifiers(sets, classifiers, n_neighbors=default_n_neighbors, seed=seed)
    )
    return pd.DataFrame(rows, columns=["parameter", "value", "acc_benign", "acc_adv"])
