"""Stage `auroc`: benign-vs-adversarial AUROC of every attack_d of one target (score = -cost).

Reads the cost tables of the evaluation split (``results/costs/<target>/<attack>/*_eval.csv``)
and writes one JSON (a DVC metric): per attack_d and crafting attack the AUROC, its seeded
bootstrap interval, the TPR at low FPRs, and the AUROC on successful adversarials only
(:func:`a2d.detectors.roc.cost_auroc_report`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from a2d.config import Params, target_config
from a2d.costs.tables import read_cost_tables
from a2d.detectors.roc import cost_auroc_report
from a2d.errors import DataError
from a2d.utils.io import write_json_atomic
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.auroc")


def main(args: argparse.Namespace, params: Params) -> None:
    cfg, costs = target_config(params, args.target), Path(args.costs)
    attacks = [a for a in params.costs.attacks if (costs / a).is_dir()]
    if not attacks:
        raise DataError(
            f"no cost tables under '{costs}' for {', '.join(params.costs.attacks)}; "
            f"run `dvc repro costs` first"
        )
    report = cost_auroc_report(
        {a: read_cost_tables(costs / a, split="eval") for a in attacks},
        n_bootstrap=params.report.n_bootstrap,
        confidence=params.report.confidence,
        fpr_levels=params.report.fpr_levels,
        seed=params.seed,
    )
    for attack, by_kind in report.items():
        for kind, cell in by_kind.items():
            log.info(
                "%s %s_d vs %s: AUROC %.4f [%.4f, %.4f]",
                args.target,
                attack,
                kind,
                cell["auroc"],
                cell["ci_low"],
                cell["ci_high"],
            )
    write_json_atomic(
        args.out,
        {"target": args.target, "env": cfg.env, "dataset": cfg.dataset, "aurocs": report},
    )


def cli() -> None:
    p = parser("auroc", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--costs", required=True, help="input: results/costs/<target> (costs stage)")
    p.add_argument("--out", required=True, help="output: the AUROC report (JSON, a DVC metric)")
    run("auroc", main, p.parse_args())


if __name__ == "__main__":
    cli()
