"""Stage `rq1_craft`: the adversarial sets only RQ1's figures use (Figure 3's DeepFool, Env1 MNIST).

Crafts every attack of ``rq1.craft.<target>`` on the craft stage's ``benign_eval.pt`` (its first
``rq1.craft_inputs``; null = all) (:func:`a2d.attacks.extra_sets.craft_on_benign`) into a folder of its own, so that no paper
table or detector sees these sets; finished sets and batches are kept, so a killed run resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from a2d.attacks.extra_sets import craft_on_benign
from a2d.config import Params, rq1_craft_attacks
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    summaries = craft_on_benign(
        model,
        Path(args.sets) / "benign_eval.pt",
        rq1_craft_attacks(params, args.target),
        out=args.out,
        model_hash=sha256_file(args.weights),
        seed=params.seed,
        batch_size=params.craft.batch_size,
        device=device,
        head=params.rq1.craft_inputs,
    )
    write_json_atomic(args.metrics, {"target": args.target, "sets": summaries})


def cli() -> None:
    p = parser("rq1_craft", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sets", required=True, help="input: the craft stage's folder of sets")
    p.add_argument("--out", required=True, help="output folder: one set file per attack")
    p.add_argument("--metrics", required=True, help="output: per-set success and distortion (JSON)")
    run("rq1_craft", main, p.parse_args())


if __name__ == "__main__":
    cli()
