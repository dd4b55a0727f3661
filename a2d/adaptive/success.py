"""Figure 7 and the A2D-aware attack's report: how often an adaptive attack gets through defences.

An adaptive example *gets through* a defence when it is adversarial, its L2 distortion is
within the cap (8.4 MNIST, 1.6 CIFAR-10: the L2 counterparts of Madry's L-inf 0.3 and 0.03) and
the defence does not flag it. A defence is anything that flags inputs (:data:`Defence`): A2D
(a fitted :class:`a2d.AttackAsDefense`, :func:`a2d_defence`), MagNet's autoencoder detector
(:func:`magnet_defence`), or none. Combined defences flag what any member flags ("A2D+AE").
Adversarial training is not a detector: Figure 7b attacks the adversarially trained model, and
its "AT" curve is the ``none`` defence on that model.

- :func:`configured_defences`: the defences named in config, built from their detectors.
- :func:`defence_flags`: every defence's (and combination's) flags on one set of inputs.
- :func:`attack_success`: per kappa and defence, the attack success rate (ASR) and mean L2
  (Figure 7's two axes).
- :func:`detector_under_attack`: a calibrated detector against one attack's examples: ASR at the
  calibrated false-positive rate, AUROC and TPR against held-out benign inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import Tensor

from a2d.adaptive.examples import AdaptiveExamples
from a2d.detectors import roc

if TYPE_CHECKING:
    from a2d.baselines.magnet import MagNetDetector
    from a2d.detectors.attack_as_defense import AttackAsDefense

Defence = Callable[[AdaptiveExamples], np.ndarray]
"""A defence: the examples -> (N,) bool flags on their adversarial inputs (True = detected)."""

NO_DEFENCE = "none"
"""The name of the defence that flags nothing (the bare model; "AT" on an adversarially trained one)."""

MAGNET_CAP, CIFAR10_CAP = 8.4, 1.6
"""The paper's L2 caps (Section 6.2): MNIST against AE, CIFAR-10 against AT."""


def a2d_defence(detector: AttackAsDefense) -> Defence:
    """A2D as a defence: the fitted detector's flags (its attacks_d run on the inputs).

    Per-example randomness (DBA_d) is seeded by the examples' source indices.
    """

    def flags(examples: AdaptiveExamples) -> np.ndarray:
        return np.asarray(detector.predict(examples.adversarial, ids=examples.indices).flags)

    return flags


def magnet_defence(detector: MagNetDetector) -> Defence:
    """MagNet's autoencoder detector as a defence (flags = reconstruction error above threshold)."""

    def flags(examples: AdaptiveExamples) -> np.ndarray:
        return detector.predict(examples.adversarial).astype(bool)

    return flags


def configured_defences(
    names: Sequence[str],
    *,
    a2d: AttackAsDefense | None = None,
    magnet: MagNetDetector | None = None,
) -> tuple[dict[str, Defence], dict[str, list[str]]]:
    """Figure 7's defences by name (``adaptive.defences.<dataset>``), and their combination.

    Args:
        names: ``"a2d"`` and / or ``"ae"``.
        a2d: the fitted A2D detector (needed for ``"a2d"``).
        magnet: MagNet's fitted detector (needed for ``"ae"``).

    Returns:
        ``(defences, combined)``: name -> :data:`Defence`, and ``{"a2d+ae": ["a2d", "ae"]}``
        when both are named (Figure 7a's "A2D+AE"), else ``{}``.

    Raises:
        ValueError: an unknown name, or a named defence without its detector.
    """
    built: dict[str, Defence] = {}
    for name in names:
        if name == "a2d" and a2d is not None:
            built[name] = a2d_defence(a2d)
        elif name == "ae" and magnet is not None:
            built[name] = magnet_defence(magnet)
        else:
            raise ValueError(
                f"defence {name!r} needs its detector (a2d=... for 'a2d', magnet=... for 'ae'); "
                "known defences: a2d, ae"
            )
    combined = {"a2d+ae": ["a2d", "ae"]} if {"a2d", "ae"} <= set(built) else {}
    return built, combined


def defence_flags(
    examples: AdaptiveExamples,
    defences: Mapping[str, Defence],
    *,
    combined: Mapping[str, Sequence[str]] | None = None,
    only: Tensor | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """(N,) bool flags of every defence, the combinations, and ``none`` (all False).

    Args:
        examples: the adaptive examples.
        defences: name -> :data:`Defence` (e.g. ``{"a2d": a2d_defence(d), "ae": magnet_defence(m)}``).
        combined: name -> member names, flagged where any member flags (e.g.
            ``{"a2d+ae": ["a2d", "ae"]}``); default none.
        only: (N,) bool, the rows worth running the defences on (e.g. the examples that are
            adversarial within the cap: nothing else can get through); the others are False.
            Default: all rows.

    Raises:
        ValueError: a combination names an unknown defence, or a name is used twice.
    """
    combined = dict(combined or {})
    names = [NO_DEFENCE, *defences, *combined]
    if len(set(names)) != len(names):
        raise ValueError(f"defence names must be distinct (and not {NO_DEFENCE!r}), got {names}")
    unknown = sorted({m for members in combined.values() for m in members} - set(defences))
    if unknown:
        raise ValueError(
            f"combined defences name unknown defence(s) {unknown}; known: {sorted(defences)}"
        )
    n = len(examples)
    rows = np.ones(n, bool) if only is None else np.asarray(only, dtype=bool)
    if rows.shape != (n,):
        raise ValueError(f"only must be a ({n},) bool mask, got shape {rows.shape}")
    chosen = examples.take(rows)
    flags: dict[str, np.ndarray] = {NO_DEFENCE: np.zeros(n, bool)}
    for name, defence in defences.items():
        column = np.zeros(n, bool)
        if rows.any():
            column[rows] = np.asarray(defence(chosen), dtype=bool)
        flags[name] = column
    for name, members in combined.items():
        flags[name] = np.logical_or.reduce([flags[m] for m in members])
    return flags


def attack_success(
    examples: Mapping[float, AdaptiveExamples],
    defences: Mapping[str, Defence],
    *,
    cap: float,
    combined: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure 7's numbers: per kappa and defence, the attack success rate and the mean L2.

    Args:
        examples: kappa -> :class:`AdaptiveExamples` (a kappa sweep on one model).
        defences, combined: see :func:`defence_flags` (``none`` is always included).
        cap: the L2 cap (8.4 MNIST, 1.6 CIFAR-10).

    Returns:
        ``(summary, per_example)``. ``summary``: one row per (kappa, defence) with ``n``,
        ``asr`` (adversarial, L2 <= cap and not flagged, over all N examples), ``n_through``,
        ``detected`` (flagged among the adversarial-within-cap ones), ``mean_l2`` (over
        successful examples, capped or not: the paper's second axis) and ``within_cap``.
        ``per_example``: kappa, index, success, l2, within_cap and one ``flag_<defence>``
        column per defence (defences run only on the adversarial-within-cap examples).
    """
    summaries, details = [], []
    for kappa, found in examples.items():
        within = found.within(cap).numpy()
        flags = defence_flags(found, defences, combined=combined, only=within)
        n = len(found)
        success = found.success.numpy()
        mean_l2 = float(found.l2[found.success].mean()) if success.any() else float("nan")
        for name, flagged in flags.items():
            through = within & ~flagged
            summaries.append(
                {
                    "kappa": float(kappa),
                    "defence": name,
                    "n": n,
                    "asr": float(through.mean()) if n else float("nan"),
                    "n_through": int(through.sum()),
                    "detected": float(flagged[within].mean()) if within.any() else float("nan"),
                    "mean_l2": mean_l2,
                    "within_cap": float(within.mean()) if n else float("nan"),
                }
            )
        detail = pd.DataFrame(
            {
                "kappa": float(kappa),
                "index": found.indices.numpy(),
                "success": success,
                "l2": found.l2.numpy(),
                "within_cap": within,
            }
        )
        for name, flagged in flags.items():
            if name != NO_DEFENCE:
                detail[f"flag_{name}"] = flagged
        details.append(detail)
    summary = pd.DataFrame.from_records(summaries)
    per_example = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    return summary, per_example


def detector_under_attack(
    detector: AttackAsDefense,
    examples: AdaptiveExamples,
    *,
    benign_scores: Any,
    cap: float,
    fpr: float = 0.05,
) -> dict[str, float | int]:
    """A calibrated A2D detector against one attack's examples, at one benign FPR.

    Args:
        detector: a fitted :class:`a2d.AttackAsDefense` whose ``threshold_`` was calibrated on
            held-out benign inputs (``detector.calibrate(benign_holdout, fpr=fpr)``).
        examples: the attack's examples (a kappa of C&W, or the A2D-aware attack).
        benign_scores: (M,) the detector's scores of held-out benign inputs (e.g.
            ``detector.score(benign_holdout)``), the negatives of the AUROC.
        cap: the L2 cap.
        fpr: the false-positive rate the TPR is read at; default 0.05.

    Returns:
        ``n``; ``misclassified`` (the attack's own success rate); ``within_cap``; ``asr``
        (adversarial, within the cap, not flagged at the calibrated threshold); ``mean_l2``
        (successful examples); ``auroc`` and ``tpr`` (at ``fpr``) of the detector's scores of
        the successful examples against ``benign_scores``; ``n_scored``.
    """
    success = examples.success.numpy()
    within = examples.within(cap).numpy()
    n = len(examples)
    out: dict[str, float | int] = {
        "n": n,
        "misclassified": float(success.mean()) if n else float("nan"),
        "within_cap": float(within.mean()) if n else float("nan"),
        "mean_l2": float(examples.l2[examples.success].mean()) if success.any() else float("nan"),
        "asr": 0.0,
        "auroc": float("nan"),
        "tpr": float("nan"),
        "n_scored": int(success.sum()),
    }
    if not success.any():
        return out
    scored = examples.take(success)
    detection = detector.predict(scored.adversarial, ids=scored.indices)
    flags = np.zeros(n, bool)
    flags[success] = detection.flags
    out["asr"] = float((within & ~flags).mean())
    benign = np.asarray(benign_scores, dtype=float)
    out["auroc"] = roc.auroc(benign, detection.scores)
    out["tpr"] = roc.tpr_at_fpr(benign, detection.scores, [fpr])[float(fpr)]
    return out
