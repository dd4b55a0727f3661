"""Stage `adaptive_robustness`: Table 4's measurements of one target's C&W-kappa examples.

Reads the ``adaptive_sweep`` stage's examples for ``adaptive.table4_kappas`` and measures every
successful one (:func:`a2d.adaptive.robustness.run_robustness`): its untargeted CLEVER score (the
``clever`` stage's sampling, per-image seeds from ``seed``) and its attack_d cost
(``adaptive.a2d.attack``, BIM_d, with the dataset's ``costs.params``). Writes one CSV row per
example and kappa (L2, logit margin reached, CLEVER, ``cost_<attack_d>``); the ``table4`` stage
averages them.
"""

from __future__ import annotations

import argparse

from a2d.adaptive.robustness import run_robustness
from a2d.adaptive.run import read_sweep
from a2d.config import Params, dataset_of
from a2d.costs.settings import cost_attack_specs
from a2d.utils.device import resolve_device
from a2d.utils.io import write_text_atomic
from stages._cli import parser, run
from stages._common import load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    cfg, device = params.adaptive, resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    frame = run_robustness(
        model,
        read_sweep(args.sweep, cfg.table4_kappas),
        attack_specs=cost_attack_specs(params, dataset_of(params, args.target), [cfg.a2d.attack]),
        clever=params.clever,
        seed=params.seed,
        batch_size=params.costs.batch_size,
    )
    write_text_atomic(args.out, frame.to_csv(index=False))


def cli() -> None:
    p = parser("adaptive_robustness", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sweep", required=True, help="input: the adaptive_sweep stage's folder")
    p.add_argument("--out", required=True, help="output: one row per example and kappa (CSV)")
    run("adaptive_robustness", main, p.parse_args())


if __name__ == "__main__":
    cli()
