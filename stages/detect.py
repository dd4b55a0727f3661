"""Stage `detect`: K-NN and Z-score detectors on a target's cost tables -> Figure 6, Table 3, Table 7.

Reads ``<costs>/<attack>/<set>.csv`` (the ``costs`` stage), fits every detector on the ``_train``
sets (the disjoint training pool) and evaluates it on the ``_eval`` sets, then writes Figure 6
(PNG + PDF) and its numbers, Table 3 and Table 7 (CSV + Markdown, the paper beside ours) and a
metrics JSON of headline numbers. Nothing is attacked here: the detectors are
:class:`a2d.AttackAsDefense` objects fitted on the precomputed costs.
"""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from a2d.config import Params, model_config
from a2d.detectors.evaluation import (
    cost_analysis,
    knn_accuracies,
    parameter_sweeps,
    read_cost_sets,
    zscore_accuracies,
)
from a2d.errors import ConfigError
from a2d.reporting import detection as report
from a2d.reporting import save_figure, write_table
from a2d.utils.io import write_json_atomic
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.detect")


def _crafted(params: Params, target: str) -> list[str]:
    if target not in params.craft.attacks:
        raise ConfigError(
            f"target {target!r} has no crafted sets (craft.attacks.{target} is not set); "
            f"detect runs on craft.targets: {', '.join(params.craft.targets)}"
        )
    return list(params.craft.attacks[target])


def main(args: argparse.Namespace, params: Params) -> None:
    cfg, target = params.detector, args.target
    model = model_config(params, target)
    sets = read_cost_sets(
        args.costs,
        attacks=list(cfg.attacks or params.costs.attacks),
        crafted=_crafted(params, target),
        successful_only=cfg.successful_only,
        target=target,
    )
    log.info(
        "%s: %d benign training inputs, attacks_d %s",
        target,
        len(sets.cost["benign_train"]),
        ", ".join(sets.attacks),
    )
    accuracies = pd.concat(
        [
            knn_accuracies(sets, n_neighbors=cfg.n_neighbors),
            zscore_accuracies(sets, threshold=cfg.threshold, k=cfg.k),
        ],
        ignore_index=True,
    )
    analysis = cost_analysis(sets, threshold=cfg.threshold, k=cfg.k)
    sweeps = parameter_sweeps(
        sets,
        **vars(cfg.sweeps),
        default_n_neighbors=cfg.n_neighbors,
        default_threshold=cfg.threshold,
        default_k=cfg.k,
        seed=params.seed,
    )
    paper_setting = (model.env, model.dataset) == ("env1", "mnist")
    save_figure(report.fig6_figure(accuracies, title=target), args.fig6)
    write_table(
        report.fig6_frame(accuracies, dataset=model.dataset),
        args.fig6_table,
        title=f"Figure 6: detector accuracy on each input type ({target})",
        notes=report.fig6_notes(
            target=target,
            env=model.env,
            n_neighbors=cfg.n_neighbors,
            threshold=cfg.threshold,
            k=cfg.k,
        ),
    )
    write_table(
        report.table3_frame(analysis, dataset=model.dataset, env=model.env),
        args.table3,
        title=f"Table 3: cost analysis of the Z-score detectors ({target})",
        notes=report.table3_notes(target=target, env=model.env, threshold=cfg.threshold, k=cfg.k),
    )
    write_table(
        report.table7_frame(sweeps, paper_setting=paper_setting),
        args.table7,
        title=f"Table 7: detector parameters ({target})",
        notes=report.table7_notes(
            target=target,
            paper_setting=paper_setting,
            n_neighbors=cfg.n_neighbors,
            seed=params.seed,
            threshold=cfg.threshold,
            k=cfg.k,
        ),
    )
    metrics = report.headline_metrics(accuracies, analysis, dataset=model.dataset)
    write_json_atomic(args.metrics, {"target": target, **metrics})
    log.info("%s: K-NN average accuracy %s", target, metrics["knn_average_accuracy"])
    log.info("%s: Z-score benign accuracy %s", target, metrics["zscore_benign_accuracy"])


def cli() -> None:
    p = parser("detect", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--costs", required=True, help="input: the target's cost folder (costs stage)")
    p.add_argument(
        "--fig6", required=True, help="output: Figure 6 path without suffix (.png, .pdf)"
    )
    p.add_argument(
        "--fig6-table", required=True, help="output: Figure 6 numbers, no suffix (.csv, .md)"
    )
    p.add_argument(
        "--table3", required=True, help="output: Table 3 path without suffix (.csv, .md)"
    )
    p.add_argument(
        "--table7", required=True, help="output: Table 7 path without suffix (.csv, .md)"
    )
    p.add_argument("--metrics", required=True, help="output: headline numbers (JSON)")
    run("detect", main, p.parse_args())


if __name__ == "__main__":
    cli()
