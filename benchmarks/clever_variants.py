"""Which CLEVER variant are the paper's Table 1 lambdas consistent with? Two scored folders compared.

    python -m benchmarks.clever_variants [--target env1_cifar10] [--images 30]
        [--variant NAME=FOLDER ...] [--out results/bench/clever_variants_<target>.json]

Each folder holds the clever stage's per-image tables (``<set>_eval.csv``) of one variant, on
the same images: the committed probability-based run (``results/clever/<target>``) and a run
with CLEVER's own definition on the logits, made by the stage with overrides::

    python -m stages.clever --target env1_cifar10 ... clever.output=logits \\
        clever.sampling=scaled clever.radius=3 clever.cap_at_radius=false clever.n_images=30

For the first ``--images`` images of every set, writes each variant's mean scores and the
benign/adversarial ratios (lambda) beside the paper's (from results/tables/table1.csv), over
all adversarial images and over the successful ones only, and counts the lambdas within a
factor of two of the paper's. A measurement to read, not a selection rule.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from a2d.config import PROJECT_ROOT
from a2d.utils.io import write_json_atomic

TARGETS = {"Untarget": "untargeted", "Target-2": "target2", "Target-5": "target5", "LLC": "llc"}
ATTACKS = {"FGSM": "fgsm", "BIM": "bim-a", "JSMA": "jsma", "C&W": "cw"}


def compare(folder: Path, paper: pd.DataFrame, images: int, successful: bool) -> dict[str, Any]:
    """Means and lambdas of one variant's tables, each lambda beside the paper's."""
    cells: dict[str, Any] = {}
    within = 0
    for label, column in TARGETS.items():
        benign = pd.read_csv(folder / "benign_eval.csv").head(images)[column].mean()
        row: dict[str, Any] = {"benign_mean": round(float(benign), 6)}
        for attack, kind in ATTACKS.items():
            frame = pd.read_csv(folder / f"{kind}_eval.csv").head(images)
            if successful:
                frame = frame[frame["crafted_success"].astype(bool)]
            ours = float(benign / frame[column].mean())
            theirs = float(
                paper[(paper.label == label) & (paper.column == f"lambda {attack}")].paper.iloc[0]
            )
            close = 0.5 <= ours / theirs <= 2.0
            within += close
            row[attack] = {
                "mean": round(float(frame[column].mean()), 6),
                "n": len(frame),
                "lambda": round(ours, 3),
                "paper_lambda": theirs,
                "within_2x": close,
            }
        cells[label] = row
    return {"lambdas_within_2x": within, "of": 4 * len(ATTACKS), "cells": cells}


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.clever_variants", description=__doc__.splitlines()[0]
    )
    p.add_argument("--target", default="env1_cifar10")
    p.add_argument("--images", type=int, default=30)
    p.add_argument("--variant", action="append", default=None, metavar="NAME=FOLDER")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    variants = (
        dict(v.split("=", 1) for v in args.variant)
        if args.variant
        else {
            "probabilities_r5_uniform_capped": f"results/clever/{args.target}",
            "logits_r3_scaled_uncapped": f"results/clever_variants/{args.target}_logits",
        }
    )
    table1 = pd.read_csv(PROJECT_ROOT / "results" / "tables" / "table1.csv")
    dataset = "CIFAR10" if "cifar10" in args.target else "MNIST"
    paper = table1[table1.dataset == dataset]
    report = {
        "target": args.target,
        "images_per_set": args.images,
        "variants": {
            name: {
                "folder": folder,
                "all": compare(PROJECT_ROOT / folder, paper, args.images, successful=False),
                "successful_only": compare(PROJECT_ROOT / folder, paper, args.images, True),
            }
            for name, folder in variants.items()
        },
    }
    out = args.out or PROJECT_ROOT / "results" / "bench" / f"clever_variants_{args.target}.json"
    write_json_atomic(out, report)
    for name, result in report["variants"].items():
        print(
            f"{name}: {result['all']['lambdas_within_2x']}/16 lambdas within 2x of the paper "
            f"(successful adversarials only: {result['successful_only']['lambdas_within_2x']}/16)"
        )


if __name__ == "__main__":
    main()
