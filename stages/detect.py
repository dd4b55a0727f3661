"""Stage `detect`: K-NN and Z-score detectors on a target's cost tables -> Figure 6, Table 3, Table 7.

Reads ``<costs>/<attack>/<set>.csv`` (the ``costs`` stage), fits every detector on the ``_train``
sets (the disjoint training pool) and evaluates it on the ``_eval`` sets
(:func:`a2d.detectors.run.run_detectors`), then writes Figure 6 (PNG + PDF) and its numbers,
Table 3 and Table 7 (CSV + Markdown, the paper beside ours;
:func:`a2d.reporting.detector_tables.write_detector_tables`), a metrics JSON of headline
numbers, and the END detectors as users load them (:class:`a2d.AttackAsDefense` JSON, fitted on
the precomputed costs with the target model and the attacks_d settings). Nothing is attacked
here. With ``--bl3`` (an Env2 target's bl3 stage JSON), Table 3 also has BL3's rows.

Longer than 40 logic lines because it has eleven arguments (seven outputs), the two library calls
pass a dozen settings and paths by keyword, one per line, and it saves the END detectors with
the target model. The measuring is in :mod:`a2d.detectors.run`, the laying out in
:mod:`a2d.reporting.detector_tables`.
"""

from __future__ import annotations

import argparse
import logging

from a2d.config import Params, check_neighbours, model_config
from a2d.costs.settings import target_cost_attack_specs
from a2d.detectors.experiments import CostSets, end_detectors
from a2d.detectors.run import run_detectors
from a2d.errors import ConfigError
from a2d.reporting.detector_tables import headline_metrics, read_bl3_sprt, write_detector_tables
from a2d.reporting.headline import detector_rows, write_headline_rows
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from stages._cli import parser, run
from stages._common import load_target_model

log = logging.getLogger("a2d.stages.detect")


def main(args: argparse.Namespace, params: Params) -> None:
    check_neighbours(params)
    cfg, target, model = params.detector, args.target, model_config(params, args.target)
    if target not in params.craft.attacks:
        raise ConfigError(
            f"target {target!r} has no crafted sets (craft.attacks.{target} is not set); "
            f"detect runs on craft.targets: {', '.join(params.craft.targets)}"
        )
    bl3 = read_bl3_sprt(args.bl3, target=target) if args.bl3 else None
    measured = run_detectors(
        args.costs,
        attacks=list(cfg.attacks or params.costs.attacks),
        crafted=list(params.craft.attacks[target]),
        cfg=cfg,
        seed=params.seed,
        target=target,
    )
    write_detector_tables(
        measured,
        target=target,
        env=model.env,
        dataset=model.dataset,
        cfg=cfg,
        seed=params.seed,
        fig6=args.fig6,
        fig6_table=args.fig6_table,
        table3=args.table3,
        table7=args.table7,
        bl3=bl3,
    )
    _save_end_detectors(args, params, measured.sets)
    metrics = headline_metrics(
        measured.scores, dataset=model.dataset, successful_only=measured.successful_only
    )
    write_json_atomic(args.metrics, {"target": target, **metrics})
    write_headline_rows(args.headline, detector_rows(metrics))
    log.info("%s: K-NN average accuracy %s", target, metrics["knn_average_accuracy"])
    log.info("%s: Z-score benign accuracy %s", target, metrics["zscore_benign_accuracy"])


def _save_end_detectors(args: argparse.Namespace, params: Params, sets: CostSets) -> None:
    """The END detectors as users load them: the target model, the attacks_d settings."""
    cfg = params.detector
    model = load_target_model(params, args.target, args.weights, resolve_device(params.device))
    detectors = end_detectors(
        sets,
        target_cost_attack_specs(params, args.target, sets.attacks),
        n_neighbors=cfg.n_neighbors,
        threshold=cfg.threshold,
        k=cfg.k,
        model=model,
    )
    for name, detector in detectors.items():
        detector.save(f"{args.detectors}_{name}.json")


def cli() -> None:
    p = parser("detect", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--costs", required=True, help="input: the target's cost folder (costs stage)")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument(
        "--detectors",
        required=True,
        help="output prefix of the saved END detectors: <prefix>_knn.json, <prefix>_zscore.json",
    )
    p.add_argument("--fig6", required=True, help="output: Figure 6 without suffix (.png, .pdf)")
    p.add_argument("--fig6-table", required=True, help="output: Figure 6 numbers (.csv, .md)")
    p.add_argument("--table3", required=True, help="output: Table 3 without suffix (.csv, .md)")
    p.add_argument("--table7", required=True, help="output: Table 7 without suffix (.csv, .md)")
    p.add_argument("--metrics", required=True, help="output: detector accuracies (JSON)")
    p.add_argument("--headline", required=True, help="output: folder of headline rows (metrics)")
    p.add_argument(
        "--bl3", default=None, help="input, optional: BL3's metrics JSON (bl3 stage), Table 3 rows"
    )
    run("detect", main, p.parse_args())


if __name__ == "__main__":
    cli()
