"""Table 2: AUROC of each detector on each (environment, dataset, crafting attack), beside the paper's.

Lays out what the ``auroc`` stage measured (:func:`a2d.detectors.roc.cost_auroc_report`: score
= -cost on the evaluation split, with bootstrap intervals and TPR at low FPR, unfiltered as the
paper and on successful adversarials only) and the baselines' AUROCs, for every target, in the
paper's row and column order.

Notes:
    Attacks are named by their ``paper_values.yaml`` keys ("CW" for the paper's "C&W", see
    :func:`a2d.reporting.names.value_key`), which are also the headline rows' DVC metric
    columns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from a2d.errors import DataError
from a2d.reporting.names import ATTACKS_D, BASELINES, SETS, display_name, value_key
from a2d.reporting.paper import paper_value
from a2d.reporting.tables import comparison_frame

DATASET_ORDER = ["mnist", "cifar10", "imagenet"]
DETECTOR_ORDER = [*ATTACKS_D.values(), *BASELINES.values()]
"""Table 2's column order in the paper."""

ATTACK_ORDER = [value_key(name) for kind, name in SETS.items() if kind != "benign"]
"""Table 2's row order of crafting attacks (by their ``paper_values.yaml`` keys)."""

TITLE = "Table 2: AUROC, ours (paper)"

TIES_NOTE = (
    "Score = -cost (cheaper to attack = more adversarial). Costs are integers and tie often; "
    "scikit-learn's roc_auc_score counts a tied benign/adversarial pair as one half."
)

NOTES = (
    TIES_NOTE,
    "Unfiltered (the Env1 protocol): failed adversarials stay in the adversarial set; "
    "auroc_success_only drops them. ci_low/ci_high: seeded percentile bootstrap interval.",
    "tpr@fprX: the largest true-positive rate of a cost threshold whose false-positive rate on "
    "the benign evaluation set is at most X.",
    "BL1/BL2 (Env1): auroc is the baseline's own evaluation, auroc_heldout trained on the "
    "training pool. BL3 (Env2): the LCR AUROC of the reported mutation operator "
    "(baselines.bl3.report_operator, NAI as the paper's) on successful adversarials only; every "
    "operator's numbers are in results/baselines/bl3_<target>.json.",
    "Differences from the paper's setting: results/DEVIATIONS.md.",
)
"""The notes under Table 2: what the numbers are and where the deviations are listed."""


def table2_frame(
    reports: Sequence[Mapping[str, Any]],
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Table 2 in long form: one row per (env, dataset, attack, detector), paper / ours / diff.

    ``reports`` are the JSON documents of the ``auroc`` stage (``env``, ``dataset``,
    ``target``, ``aurocs``); ``baselines`` maps a target to its baselines document
    (:func:`load_baselines`: ``bl1``/``bl2``/``bl3`` -> crafting attack -> ``auroc``, and
    ``auroc_heldout`` where the baseline has one). BL3's cells are its reported operator's
    (``baselines.bl3.report_operator``, NAI as the paper), on successful adversarials only
    (the Env2 protocol, BL3's own evaluation).
    """
    rows = []
    for report in reports:
        env, dataset, target = report["env"], report["dataset"], report["target"]
        for attack_d, by_kind in report["aurocs"].items():
            for kind, cell in by_kind.items():
                rows.append(_a2d_row(env, dataset, kind, attack_d, cell))
        for baseline, by_kind in (baselines or {}).get(target, {}).items():
            if baseline not in BASELINES:
                continue
            for kind, cell in by_kind.items():
                rows.append(_baseline_row(env, dataset, kind, baseline, cell))
    frame = comparison_frame(rows, keys=["env", "dataset", "attack", "detector"])
    return _paper_order(frame)


def _attack(kind: str) -> str:
    """Table 2's name of a crafting attack: its ``paper_values.yaml`` key."""
    return value_key(display_name(kind, SETS))


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
    attack, detector = _attack(kind), display_name(attack_d, ATTACKS_D)
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
    attack, detector = _attack(kind), display_name(baseline, BASELINES)
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

    def rank(values: pd.Series, order: list[str]) -> pd.Series:
        return values.map(lambda v: order.index(v) if v in order else len(order))

    keys = pd.DataFrame(
        {
            "env": frame["env"],
            "dataset": rank(frame["dataset"], DATASET_ORDER),
            "attack": rank(frame["attack"], ATTACK_ORDER),
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


def load_baselines(folder: str | os.PathLike[str] | None) -> dict[str, dict[str, Any]]:
    """target -> its baselines documents in ``folder``, merged; empty if there is none.

    A target may have several documents: the ``baselines`` stage's (``<target>.json``: BL1,
    BL2) and the ``bl3`` stage's (``bl3_<target>.json``: its ``bl3`` key). Their baseline keys
    (``bl1``, ``bl2``, ``bl3``, ...) are merged; other keys come from the first document.

    Raises:
        DataError: two documents of one target report the same baseline.
    """
    if not folder or not Path(folder).is_dir():
        return {}
    merged: dict[str, dict[str, Any]] = {}
    source: dict[tuple[str, str], str] = {}
    for path in sorted(Path(folder).glob("*.json")):
        doc = json.loads(path.read_text())
        target = doc["target"]
        into = merged.setdefault(target, {})
        for key, value in doc.items():
            if key in BASELINES:
                if (target, key) in source:
                    raise DataError(
                        f"both '{source[target, key]}' and '{path}' report {key} of {target}; "
                        "delete the stale one"
                    )
                source[target, key] = str(path)
                into[key] = value
            else:
                into.setdefault(key, value)
    return merged
