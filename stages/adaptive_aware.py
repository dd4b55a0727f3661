"""Stage `adaptive_aware`: the A2D-aware attack (beyond the paper) beside C&W-kappa, against A2D.

Calibrates the ``adaptive_a2d`` stage's detector to ``adaptive.a2d.fpr`` on its held-out benign
costs, runs :class:`a2d.adaptive.A2DAwareAttack` against it (misclassified and costly for the
defender's BIM_d; ``adaptive.aware.overrides``) on the sweep's images, keeping its examples in
``<out>/a2d-aware.pt``, and measures the detector against it and against the C&W-kappa examples
of ``adaptive.aware.compare_kappas`` (:func:`a2d.adaptive.defence.run_aware`): attack success rate,
mean L2, AUROC and TPR at the calibrated FPR. Writes one table row per attack.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from a2d.adaptive.defence import load_a2d, run_aware
from a2d.adaptive.run import read_sweep
from a2d.config import Params, dataset_of
from a2d.data.sets import load_set
from a2d.reporting import write_table
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file
from stages._cli import parser, run
from stages._common import load_target_model

log = logging.getLogger("a2d.stages.adaptive_aware")


def main(args: argparse.Namespace, params: Params) -> None:
    cfg, dataset = params.adaptive, dataset_of(params, args.target)
    model = load_target_model(params, args.target, args.weights, resolve_device(params.device))
    frame = run_aware(
        model,
        load_set(Path(args.sets) / "benign_eval.pt"),
        load_a2d(args.a2d, model),
        cfg,
        sweep=read_sweep(args.sweep, cfg.aware.compare_kappas),
        cap=cfg.caps[dataset],
        out=args.out,
        model_hash=sha256_file(args.weights),
    )
    write_table(
        frame.round(4),
        args.table,
        title=f"A2D-aware attack vs C&W-kappa ({args.target}), A2D at {cfg.a2d.fpr:g} benign FPR",
        notes=[
            f"{cfg.n_images} images; A2D: {cfg.a2d.attack}_d Z-score calibrated on "
            f"{cfg.a2d.n_holdout} held-out benign pool images; cap: L2 <= {cfg.caps[dataset]:g}",
            "asr: adversarial, within the cap and not flagged; auroc, tpr: the detector's scores "
            "of the successful examples against the held-out benign ones",
            "cost_floor: the smallest BIM_d cost the calibrated detector lets through",
        ],
    )
    log.info("%s:\n%s", args.target, frame.round(3).to_string(index=False))


def cli() -> None:
    p = parser("adaptive_aware", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="the defended model, a name from config")
    p.add_argument("--weights", required=True, help="input: the defended model's weights")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument("--a2d", required=True, help="input: the adaptive_a2d stage's folder")
    p.add_argument("--sweep", required=True, help="input: the adaptive_sweep stage's folder")
    p.add_argument("--out", required=True, help="output folder: the attack's examples")
    p.add_argument("--table", required=True, help="output: the table without suffix (.csv, .md)")
    run("adaptive_aware", main, p.parse_args())


if __name__ == "__main__":
    cli()
