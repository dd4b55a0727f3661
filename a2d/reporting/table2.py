"""Table 2: AUROC of each detector on each (environment, dataset, crafting attack).

Two steps, each a stage: :func:`cost_auroc_report` turns one target's cost tables into AUROCs
(score = -cost, on the evaluation split, with bootstrap intervals and TPR at low FPR, both
unfiltered as the paper and on successful adversarials only), and :func:`table2_frame` lays the
reports of all targets (plus the baselines' AUROCs) beside the paper's Table 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from a2d.costs.tables import read_cost_tables
from a2d.detectors.roc import cost_scores, roc_summary
from a2d.reporting.paper import (
    BASELINE_NAMES,
    COST_NAMES,
    CRAFT_NAMES,
    paper_name,
    paper_value,
)
from a2d.reporting.tables import comparison_frame

DATASET_ORDER = ["mnist", "cifar10", "imagenet"]
DETECTOR_ORDER = ["JSMA_d", "BIM_d", "BIM2_d", "DBA_d", *BASELINE_NAMES.values()]
"""Table 2's column order in the paper."""

TIES_NOTE = (
    "Score = -cost (cheaper to attack = more adversarial). Costs are integers and tie often; "
    "scikit-learn's roc_auc_score counts a tied benign/adversarial pair as one half."
)


def cost_auroc_report(
    cost_folders: Mapping[str, str | os.PathLike[str]],
    *,
    split: str = "eval",
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    fpr_levels: Sequence[float] = (0.01, 0.05, 0.1),
    seed: int = 0,
) -> dict[str, dict[str, dict[str, Any]]]:
    """attack_d -> crafting attack -> AUROC summary, for one target.

    ``cost_folders`` maps each attack_d (``bim``, ...) to the folder the ``costs`` stage wrote.
    Every adversarial set is compared with the benign set of the same split, unfiltered (failed
    adversarials kept, the Env1 protocol) and, as ``auroc_success_only``, on the successful
    adversarials alone (the Env2 protocol).
    """
    report: dict[str, dict[str, dict[str, Any]]] = {}
    for attack, folder in cost_folders.items():
        tables = read_cost_tables(folder, split=split)
        benign = tables["benign"]["cost"]
        report[attack] = {}
        for kind, frame in tables.items():
            if kind == "benign":
                continue
            summary = roc_summary(
                cost_scores(benign),
                cost_scores(frame["cost"]),
                n_bootstrap=n_bootstrap,
                confidence=confidence,
                fpr_levels=fpr_levels,
                seed=seed,
            ).to_dict()
            successful = frame.loc[frame["crafted_success"].astype(bool), "cost"]
            summary["n_success"] = int(len(successful))
            summary["auroc_success_only"] = (
                round(
                    roc_summary(cost_scores(benign), cost_scores(successful), n_bootstrap=0).auroc,
                    4,
                )
                if len(successful)
                else None
            )
            summary["mean_cost_benign"] = round(float(benign.mean()), 2)
            summary["mean_cost_adversarial"] = round(float(frame["cost"].mean()), 2)
            report[attack][kind] = summary
    return report


def table2_frame(
    reports: Sequence[Mapping[str, Any]],
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Table 2 in long form: one row per (env, dataset, attack, detector), paper / ours / diff.

    ``reports`` are the JSON documents of the ``auroc`` stage (``env``, ``dataset``,
    ``target``, ``aurocs``); ``baselines`` maps a target to its baselines document
    (``bl1``/``bl2`` -> crafting attack -> ``auroc``, ``auroc_heldout``).
    """
    rows = []
    for report in reports:
        env, dataset, target = report["env"], report["dataset"], report["target"]
        for attack_d, by_kind in report["aurocs"].items():
            for kind, cell in by_kind.items():
                rows.append(_a2d_row(env, dataset, kind, attack_d, cell))
        for baseline, by_kind in (baselines or {}).get(target, {}).items():
            if baseline not in BASELINE_NAMES:
                continue
            for kind, cell in by_kind.items():
                rows.append(_baseline_row(env, dataset, kind, baseline, cell))
    frame = comparison_frame(rows, keys=["env", "dataset", "attack", "detector"])
    return _paper_order(frame)


def _cell_key(env: str, dataset: str, attack: str, detector: str) -> dict:
    """The columns that name a Table 2 cell, with the paper's value for it."""
    return {
        "env": env,
        "dataset": dataset,
        "attack": attack,
        "detector": detector,
        "paper": paper_value("table2", env, dataset, attack, detector),
    }


def _a2d_row(env: str, dataset: str, kind: str, attack_d: str, cell: Mapping[str, Any]) -> dict:
    attack, detector = paper_name(kind, CRAFT_NAMES), paper_name(attack_d, COST_NAMES)
    tpr = cell.get("tpr_at_fpr", {})
    return {
        **_cell_key(env, dataset, attack, detector),
        "ours": cell["auroc"],
        "ci_low": cell.get("ci_low"),
        "ci_high": cell.get("ci_high"),
        **{f"tpr@fpr{level}": value for level, value in tpr.items()},
        "auroc_success_only": cell.get("auroc_success_only"),
        "auroc_heldout": None,
        "n_adversarial": cell.get("n_adversarial"),
        "n_success": cell.get("n_success"),
    }


def _baseline_row(
    env: str, dataset: str, kind: str, baseline: str, cell: Mapping[str, Any]
) -> dict:
    attack, detector = paper_name(kind, CRAFT_NAMES), paper_name(baseline, BASELINE_NAMES)
    return {
        **_cell_key(env, dataset, attack, detector),
        "ours": cell.get("auroc"),
        "auroc_heldout": cell.get("auroc_heldout"),
        "n_adversarial": cell.get("n"),
    }


def _paper_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the paper's order: environment, dataset, attack, then detector columns."""
    if frame.empty:
        return frame
    attacks = list(CRAFT_NAMES.values())

    def rank(values: pd.Series, order: list[str]) -> pd.Series:
        return values.map(lambda v: order.index(v) if v in order else len(order))

    keys = pd.DataFrame(
        {
            "env": frame["env"],
            "dataset": rank(frame["dataset"], DATASET_ORDER),
            "attack": rank(frame["attack"], attacks),
            "detector": rank(frame["detector"], DETECTOR_ORDER),
        }
    )
    order = keys.sort_values(["env", "dataset", "attack", "detector"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def table2_glance(frame: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: one row per (env, dataset, attack), one column per detector, "ours (paper)"."""
    if frame.empty:
        return frame

    def cell(row: pd.Series) -> str:
        ours = "-" if pd.isna(row["ours"]) else f"{row['ours']:.4f}"
        paper = "-" if pd.isna(row["paper"]) else f"{row['paper']:.4f}"
        return f"{ours} ({paper})"

    shown = frame.assign(cell=frame.apply(cell, axis=1))
    wide = shown.pivot_table(
        index=["env", "dataset", "attack"],
        columns="detector",
        values="cell",
        aggfunc="first",
        sort=False,
    )
    detectors = [d for d in DETECTOR_ORDER if d in wide.columns]
    return wide[detectors].reset_index().fillna("")


def load_reports(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The ``auroc`` stage's JSON documents in ``folder``, one per target, sorted by target."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
