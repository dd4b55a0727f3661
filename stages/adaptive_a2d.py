"""Stage `adaptive_a2d`: the A2D detector of Figure 7 and of the A2D-aware attack, on one model.

A2D as Section 6.2.1 uses it: one attack_d (``adaptive.a2d.attack``, BIM_d, with the dataset's
``costs.params``) and its Z-score detector, fitted on benign images only: the first
``adaptive.a2d.n_fit`` images of the target's benign training pool that the model classifies
correctly; the next ``n_holdout`` are held out (their costs calibrate the A2D-aware attack's
detector). The costs stage's table of the pool is used where it was measured on this model with
these settings (the defended model is the target itself), else the attack_d runs here. Writes
``<out>/detector.json`` (loadable with :meth:`a2d.AttackAsDefense.load`) and ``<out>/holdout.csv``
(:func:`a2d.adaptive.defence.fit_a2d`, :func:`a2d.adaptive.defence.save_a2d`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from a2d.adaptive.defence import fit_a2d, save_a2d
from a2d.config import Params, dataset_of
from a2d.costs.settings import cost_attack_specs
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file
from stages._cli import parser, run
from stages._common import load_target_model

log = logging.getLogger("a2d.stages.adaptive_a2d")


def main(args: argparse.Namespace, params: Params) -> None:
    cfg = params.adaptive.a2d
    model = load_target_model(params, args.target, args.weights, resolve_device(params.device))
    fitted = fit_a2d(
        model,
        Path(args.sets) / "benign_train.pt",
        attack_specs=cost_attack_specs(params, dataset_of(params, args.target), [cfg.attack]),
        n_fit=cfg.n_fit,
        n_holdout=cfg.n_holdout,
        model_hash=sha256_file(args.weights),
        costs_folder=args.costs,
        batch_size=params.costs.batch_size,
    )
    save_a2d(fitted, args.out)
    log.info("%s: A2D (%s_d Z-score) cost thresholds %s", args.target, cfg.attack,
             fitted.detector.cost_thresholds_)  # fmt: skip


def cli() -> None:
    p = parser("adaptive_a2d", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="the defended model, a name from config")
    p.add_argument("--weights", required=True, help="input: the defended model's weights")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument(
        "--costs",
        required=True,
        help="input: the costs stage's folder of the attack_d on those sets (kept if it matches)",
    )
    p.add_argument("--out", required=True, help="output folder: detector.json and holdout.csv")
    run("adaptive_a2d", main, p.parse_args())


if __name__ == "__main__":
    cli()
