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

from a2d.config import DetectorConfig, Params, check_neighbours, model_config
from a2d.detectors.evaluation import (
    CostSets,
    cost_analysis,
    knn_accuracies,
    parameter_sweeps,
    read_cost_sets,
    zscore_accuracies,
)
from a2d.errors import ConfigError, DataError
from a2d.reporting import detection as report
from a2d.reporting import save_figure, write_table
from a2d.reporting.headline import detector_rows, write_headline_rows
from a2d.reporting.paper import COST_NAMES, paper_name
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


def _read(args: argparse.Namespace, params: Params, successful_only: bool) -> CostSets:
    return read_cost_sets(
        args.costs,
        attacks=list(params.detector.attacks or params.costs.attacks),
        crafted=_crafted(params, args.target),
        successful_only=successful_only,
        target=args.target,
    )


def _figure6_and_table3(sets: CostSets, cfg: DetectorConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure 6 accuracies (K-NN and Z-score, stacked) and the Table 3 cost analysis."""
    accuracies = pd.concat(
        [
            knn_accuracies(sets, n_neighbors=cfg.n_neighbors),
            zscore_accuracies(sets, threshold=cfg.threshold, k=cfg.k),
        ],
        ignore_index=True,
    )
    return accuracies, cost_analysis(sets, threshold=cfg.threshold, k=cfg.k)


def _successful_only_view(
    args: argparse.Namespace, params: Params
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The same numbers on successful adversarials only (Env2's protocol), reported beside.

    Env1 keeps failed adversarials; the protocol asks for both where they differ. ``None`` when
    the config already drops them, or when a crafted set has no successful input at all.
    """
    if params.detector.successful_only:
        return None
    try:
        return _figure6_and_table3(_read(args, params, True), params.detector)
    except DataError as err:
        log.warning("%s: no successful-only view: %s", args.target, err)
        return None


def main(args: argparse.Namespace, params: Params) -> None:
    check_neighbours(params)
    cfg, target = params.detector, args.target
    model = model_config(params, target)
    sets = _read(args, params, cfg.successful_only)
    log.info(
        "%s: %d benign training inputs, attacks_d %s",
        target,
        len(sets.cost["benign_train"]),
        ", ".join(sets.attacks),
    )
    accuracies, analysis = _figure6_and_table3(sets, cfg)
    alt = _successful_only_view(args, params)
    alt_acc, alt_analysis = alt if alt is not None else (None, None)
    sweeps = parameter_sweeps(
        sets,
        **vars(cfg.sweeps),
        default_n_neighbors=cfg.n_neighbors,
        default_threshold=cfg.threshold,
        default_k=cfg.k,
        seed=params.seed,
    )
    paper_setting = (model.env, model.dataset) == ("env1", "mnist")
    protocol = _protocol_note(cfg.successful_only, has_view=alt is not None)
    save_figure(report.fig6_figure(accuracies, title=target), args.fig6)
    write_table(
        report.fig6_frame(accuracies, dataset=model.dataset, successful_only=alt_acc),
        args.fig6_table,
        title=f"Figure 6: detector accuracy on each input type ({target})",
        notes=[
            *report.fig6_notes(
                target=target,
                env=model.env,
                n_neighbors=cfg.n_neighbors,
                threshold=cfg.threshold,
                k=cfg.k,
            ),
            protocol,
        ],
    )
    write_table(
        report.table3_frame(
            analysis, dataset=model.dataset, env=model.env, successful_only=alt_analysis
        ),
        args.table3,
        title=f"Table 3: cost analysis of the Z-score detectors ({target})",
        notes=[
            *report.table3_notes(target=target, env=model.env, threshold=cfg.threshold, k=cfg.k),
            protocol,
        ],
    )
    write_table(
        report.table7_frame(sweeps, paper_setting=paper_setting),
        args.table7,
        title=f"Table 7: detector parameters ({target})",
        notes=[
            *report.table7_notes(
                target=target,
                paper_setting=paper_setting,
                n_neighbors=cfg.n_neighbors,
                threshold=cfg.threshold,
                k=cfg.k,
                seed=params.seed,
                attacks_d=[paper_name(a, COST_NAMES) for a in sets.attacks],
            ),
            _protocol_note(cfg.successful_only, has_view=False),
        ],
    )
    metrics = report.headline_metrics(
        accuracies, analysis, dataset=model.dataset, successful_only=alt_acc
    )
    write_json_atomic(args.metrics, {"target": target, **metrics})
    write_headline_rows(args.headline, detector_rows(metrics))
    log.info("%s: K-NN average accuracy %s", target, metrics["knn_average_accuracy"])
    log.info("%s: Z-score benign accuracy %s", target, metrics["zscore_benign_accuracy"])


def _protocol_note(successful_only: bool, *, has_view: bool) -> str:
    if successful_only:
        return "Adversarial sets: successful adversarials only (detector.successful_only=true)"
    note = "Adversarial sets: every crafted input, failed ones included (Env1 protocol)"
    if has_view:
        note += "; ours_successful_only: the same detectors trained and evaluated on successful adversarials only (Env2 protocol, closer to the paper's Figure 6 / Table 3 setting)"
    return note + "."


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
    p.add_argument("--metrics", required=True, help="output: detector accuracies (JSON)")
    p.add_argument("--headline", required=True, help="output: folder of headline rows (DVC metrics)")
    run("detect", main, p.parse_args())


if __name__ == "__main__":
    cli()
