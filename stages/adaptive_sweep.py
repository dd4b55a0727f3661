"""Stage `adaptive_sweep`: C&W-L2 with confidence kappa on one model's benign images (Section 6).

Attacks the first ``adaptive.n_images`` images of a target's benign evaluation set that the
model classifies correctly, once per kappa of ``adaptive.kappas``, with Carlini's MagNet setting
(``adaptive.cw``: targeted, random targets seeded by ``seed``), through
:func:`a2d.adaptive.run.run_sweep`. Each kappa's examples are kept in ``<out>/cw_k<kappa>.pt``
as soon as they exist (fingerprinted), so a killed run resumes at the first missing kappa.
Writes the per-kappa success rate, L2 and logit margin reached to a metrics JSON.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from a2d.adaptive.run import run_sweep, sweep_summary
from a2d.config import Params
from a2d.data.sets import load_set
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import load_target_model

log = logging.getLogger("a2d.stages.adaptive_sweep")


def main(args: argparse.Namespace, params: Params) -> None:
    model = load_target_model(params, args.target, args.weights, resolve_device(params.device))
    sweep = run_sweep(
        model,
        load_set(Path(args.sets) / "benign_eval.pt"),
        params.adaptive,
        out=args.out,
        model_hash=sha256_file(args.weights),
        seed=params.seed,
    )
    summary = sweep_summary(sweep)
    write_json_atomic(
        args.metrics,
        {"target": args.target, "cw": params.adaptive.cw.preset, "kappas": summary},
    )
    for kappa, numbers in summary.items():
        log.info("%s kappa %s: success %.2f, mean L2 %.3f", args.target, kappa,
                 numbers["success_rate"], numbers["l2"])  # fmt: skip


def cli() -> None:
    p = parser("adaptive_sweep", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="the attacked model, a name from config")
    p.add_argument("--weights", required=True, help="input: the attacked model's weights")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument("--out", required=True, help="output folder: one examples file per kappa")
    p.add_argument("--metrics", required=True, help="output: success and L2 per kappa (JSON)")
    run("adaptive_sweep", main, p.parse_args())


if __name__ == "__main__":
    cli()
