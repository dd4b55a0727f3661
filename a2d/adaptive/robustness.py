"""Table 4: how robust C&W-kappa examples are: CLEVER score, BIM_d iterations and L2, per kappa.

The paper's claim (Section 6.1.2): the larger kappa, the more robust the adversarial example
(higher CLEVER score, more BIM_d iterations to attack it again) and the larger its distortion.
:func:`confidence_robustness` measures every example of a kappa sweep (:func:`run_robustness`,
the ``adaptive_robustness`` stage's call, with the configured CLEVER sampling);
:func:`table4_statistics` gives the per-kappa means that Table 4 prints (reporting lays them
beside the paper's: :mod:`a2d.reporting.adaptive`). Only ``table4_statistics`` is needed by the
``table4`` stage, so the torch-side imports sit inside the functions that use them.

CLEVER comes from :func:`a2d.robustness.tables.clever_table` (the ``clever`` stage's scores,
same settings and per-image seeds); BIM_d iterations from the project's one cost path
(:class:`a2d.costs.suite.CostSuite`, or a fitted :class:`a2d.AttackAsDefense`, which runs it).

Notes:
    The paper does not say over which examples its means run; ours are over the successful
    ones (a failed C&W example is the benign source, whose CLEVER score and cost are a benign
    input's). ``n_success`` is reported beside every mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the table4 stage imports table4_statistics alone: pandas, no torch
    from torch import nn

    from a2d.adaptive.examples import AdaptiveExamples
    from a2d.config import CleverConfig
    from a2d.costs.suite import AttackCosts, CostSuite
    from a2d.detectors.attack_as_defense import AttackAsDefense
    from a2d.models.wrapper import ClassifierWrapper
    from a2d.robustness.tables import CleverSettings

EXAMPLE_COLUMNS = ("kappa", "index", "label", "target", "prediction", "success", "l2", "margin")
"""The leading columns of :func:`confidence_robustness`'s frame; ``clever`` and ``cost_<attack_d>``
follow."""


def attack_costs(costs: CostSuite | AttackAsDefense, examples: AdaptiveExamples) -> AttackCosts:
    """The attacks_d costs of ``examples.adversarial`` through ``costs`` (ids = source indices)."""
    from a2d.costs.suite import CostSuite

    if isinstance(costs, CostSuite):
        return costs.costs(examples.adversarial, ids=examples.indices)
    return costs.attack_costs(examples.adversarial, ids=examples.indices)


def confidence_robustness(
    model: nn.Module,
    examples: Mapping[float, AdaptiveExamples],
    *,
    costs: CostSuite | AttackAsDefense,
    clever: CleverSettings | None,
    seed: int,
    score: str = "untargeted",
) -> pd.DataFrame:
    """One row per example and kappa: its L2, reached margin, CLEVER score and attack_d costs.

    Args:
        model: the attacked logits model (wrapped, eval mode).
        examples: kappa -> the examples of :func:`a2d.adaptive.confidence.confidence_sweep`.
        costs: the attacks_d (e.g. ``CostSuite(model, {"bim": ...})`` with the dataset's
            configured settings, :func:`a2d.costs.settings.cost_attack_specs`), or a fitted
            :class:`a2d.AttackAsDefense`; one ``cost_<name>`` column per attack_d.
        clever: CLEVER settings (the ``clever`` stage's, :func:`a2d.robustness.run.settings_from`),
            or ``None`` to skip CLEVER (the column is then NaN).
        seed: the run's seed; each image's CLEVER stream is seeded from it and its index.
        score: the CLEVER label type reported; default ``"untargeted"``.

    Returns:
        A frame with :data:`EXAMPLE_COLUMNS`, ``clever`` and ``cost_<attack_d>`` columns. CLEVER
        and the costs are measured on successful examples only (NaN elsewhere).
    """
    from a2d.robustness.tables import clever_table

    frames = []
    for kappa, found in examples.items():
        frame = pd.DataFrame(
            {
                "kappa": float(kappa),
                "index": found.indices.numpy(),
                "label": found.label.numpy(),
                "target": -1 if found.target is None else found.target.numpy(),
                "prediction": found.prediction.numpy(),
                "success": found.success.numpy(),
                "l2": found.l2.numpy(),
                "margin": found.margin.numpy(),
                "clever": np.nan,
            }
        )
        ok = found.success.numpy()
        if ok.any():
            chosen = found.take(ok)
            if clever is not None:
                table = clever_table(
                    model, chosen.to_set(), settings=clever, n_images=int(ok.sum()), seed=seed
                )
                frame.loc[ok, "clever"] = table.frame[score].to_numpy()
            measured = attack_costs(costs, chosen)
            for j, name in enumerate(measured.attacks):
                frame[f"cost_{name}"] = np.nan
                frame.loc[ok, f"cost_{name}"] = measured.cost[:, j]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXAMPLE_COLUMNS)


def table4_statistics(frame: pd.DataFrame, *, attack: str = "bim") -> pd.DataFrame:
    """Per kappa: examples, successes, and the means over successful ones of CLEVER, iterations, L2.

    Args:
        frame: :func:`confidence_robustness`'s rows.
        attack: the attack_d whose cost is Table 4's "No. of iterations"; default ``"bim"``.

    Returns:
        Columns ``kappa``, ``n``, ``n_success``, ``success_rate``, ``clever``, ``iterations``,
        ``l2``, ``margin`` (one row per kappa, ascending).
    """
    column = f"cost_{attack}"
    rows = []
    for kappa, group in frame.groupby("kappa", sort=True):
        ok = group[group["success"].astype(bool)]
        rows.append(
            {
                "kappa": float(kappa),
                "n": len(group),
                "n_success": len(ok),
                "success_rate": float(len(ok) / len(group)) if len(group) else float("nan"),
                "clever": _mean(ok["clever"]),
                "iterations": _mean(ok[column]) if column in ok else float("nan"),
                "l2": _mean(ok["l2"]),
                "margin": _mean(ok["margin"]),
            }
        )
    return pd.DataFrame.from_records(rows)


def _mean(values: pd.Series) -> float:
    finite = values.astype(float).dropna()
    return float(finite.mean()) if len(finite) else float("nan")


def run_robustness(
    model: ClassifierWrapper,
    sweep: Mapping[float, AdaptiveExamples],
    *,
    attack_specs: Mapping[str, Mapping[str, Any]],
    clever: CleverConfig,
    seed: int,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """The ``adaptive_robustness`` stage: Table 4's numbers for every example of a sweep.

    :func:`a2d.adaptive.robustness.confidence_robustness` with the ``clever`` stage's sampling
    (untargeted scores only, Table 4's) and the attacks_d of ``attack_specs`` through
    :class:`~a2d.costs.suite.CostSuite` (one ``cost_<attack_d>`` column each); ``batch_size``
    as :func:`a2d.adaptive.run.cost_batch_size`.
    """
    from a2d.adaptive.run import cost_batch_size
    from a2d.costs.suite import CostSuite
    from a2d.robustness.run import settings_from

    settings = replace(settings_from(clever), targets=("untargeted",))
    largest = max(sweep.values(), key=len, default=None)
    batch = None if largest is None else cost_batch_size(model, largest.x, batch_size)
    suite = CostSuite(model, {k: dict(v) for k, v in attack_specs.items()}, batch_size=batch)
    return confidence_robustness(model, sweep, costs=suite, clever=settings, seed=seed)
