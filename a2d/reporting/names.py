"""The paper's display names for our keys: example sets, attacks_d, baselines, datasets, label types.

The one table every table, figure and headline row takes its names from, so that "BIM" in
Table 1 and Figure 5 is the same word as in Table 2. Keys are ours (config names, file names);
values are what the paper prints (Tables 1 and 2, Figures 2, 5 and 6). Measurement code never
imports this module: it keeps our keys, and reporting turns them into these names.

Notes:
    Our crafting attack ``bim-a`` is the paper's "BIM" (BIM-A of Ma et al., stopped at the
    first misclassification); ``bim-b`` has no column in the paper and keeps its own name.
    The paper writes "C&W"; ``a2d/paper_values.yaml`` keys Table 2 by ASCII names ("CW"), and
    Table 2's CSV, Markdown and headline rows (DVC metric columns) use those keys
    (:func:`value_key`), so committed results and ``dvc metrics`` columns keep their spelling.
"""

from __future__ import annotations

from collections.abc import Mapping

SETS: dict[str, str] = {
    "benign": "Benign",
    "fgsm": "FGSM",
    "bim-a": "BIM",
    "bim-b": "BIM-B",
    "jsma": "JSMA",
    "cw": "C&W",
    "deepfool": "DeepFool",
    "bb": "BB",
}
"""Example-set kinds (benign and the crafting attacks) -> the paper's names, in the paper's order."""

ATTACKS_D: dict[str, str] = {"jsma": "JSMA_d", "bim": "BIM_d", "bim2": "BIM2_d", "dba": "DBA_d"}
"""Cost attacks (attacks_d) -> the paper's detector names, in the paper's order (Tables 2 and 3)."""

RQ1_ATTACKS_D: dict[str, str] = {
    "fgsm": "FGSM_d",
    "bim": "BIM_d",
    "bim2": "BIM2_d",
    "jsma": "JSMA_d",
    "cw": "C&W_d",
    "lbfgs": "L-BFGS_d",
    "lsa": "LSA_d",
    "dba": "DBA_d",
}
"""All eight attacks_d of RQ1 -> the paper's names, in Figure 4's panel order (a) to (h)."""

DETECTORS: dict[str, str] = {"knn": "K-NN", "zscore": "Z-score"}
"""Detector families (``AttackAsDefense(detector=...)``) -> the paper's names (Figure 6, Table 3)."""

CLASSIFIERS: dict[str, str] = {"knn": "K-NN", "svm": "SVM", "dtc": "DTC", "rfc": "RFC"}
"""Table 7's classifiers on the END cost vectors (``detector.sweeps.classifiers``) -> its rows."""

BASELINES: dict[str, str] = {"bl1": "BL1", "bl2": "BL2", "bl3": "BL3", "bl4": "BL4"}
"""Baseline keys -> the paper's columns of Table 2."""

DATASETS: dict[str, str] = {"mnist": "MNIST", "cifar10": "CIFAR10", "imagenet": "ImageNet"}
"""Dataset keys -> the paper's panel and block titles."""

LABEL_TYPES: dict[str, str] = {
    "untargeted": "Untarget",
    "target2": "Target-2",
    "target5": "Target-5",
    "llc": "LLC",
}
"""CLEVER label types (``clever.targets``) -> the paper's row names of Table 1."""


def display_name(key: str, names: Mapping[str, str]) -> str:
    """The paper's name for one of our keys; keys the paper never uses pass through unchanged."""
    return names.get(key, key)


def value_key(name: str) -> str:
    """The ASCII key of a display name in ``paper_values.yaml`` ("C&W" -> "CW")."""
    return name.replace("&", "")
