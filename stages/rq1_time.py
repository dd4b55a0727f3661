"""Stage `rq1_time`: Figure 4's measurement, every attack_d of RQ1 timed alone on every set.

Runs each attack of ``rq1.fig4.attacks`` (settings from ``costs.params.<dataset>``) on the first
``rq1.fig4.n_examples`` inputs of each evaluation set, one input at a time
(:func:`a2d.costs.comparison.time_attacks`), and writes ``<out>/<attack>/<set>_eval.csv`` with
sidecars, and a metrics JSON (per-set summaries, device, threads). Finished tables whose
fingerprint matches are kept, so a killed run resumes.
"""

from __future__ import annotations

import argparse

import torch

from a2d.config import Params
from a2d.costs.comparison import PROTOCOL, ComparisonPlan, time_attacks
from a2d.costs.settings import target_cost_attack_specs
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    fig4 = params.rq1.fig4
    plan = ComparisonPlan(
        attacks=target_cost_attack_specs(params, args.target, fig4.attacks),
        sets=fig4.sets,
        n_examples=fig4.n_examples,
        max_inputs=fig4.max_inputs,
    )
    summaries = time_attacks(
        model,
        plan,
        sets=args.sets,
        out=args.out,
        model_hash=sha256_file(args.weights),
        device=device,
    )
    write_json_atomic(
        args.metrics,
        {
            "target": args.target,
            "protocol": PROTOCOL,
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "attacks": summaries,
        },
    )


def cli() -> None:
    p = parser("rq1_time", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sets", required=True, help="input: the craft stage's folder of sets")
    p.add_argument(
        "--out", required=True, help="output folder: one timing table per attack and set"
    )
    p.add_argument("--metrics", required=True, help="output: per-set time summaries (JSON)")
    run("rq1_time", main, p.parse_args())


if __name__ == "__main__":
    cli()
