"""Stage `craft`: the evaluation and training sets of a target, benign and adversarial.

Selects the first ``sets.n_eval`` test images the model classifies correctly (evaluation) and
the next ``sets.n_train`` (the detectors' disjoint training pool), then crafts every attack in
``craft.attacks.<target>`` on both (:func:`a2d.attacks.crafting.craft_sets`). Each set is one
file; a finished file whose fingerprint matches the config is kept, and so is every finished
batch of an unfinished set, so a killed run resumes where it stopped. ``craft.protocol.<target>``
(Env2: BL3's successful-only flag and PNG round trip) is applied to every adversarial set.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from a2d.attacks.crafting import CraftPlan, CraftProtocol, craft_sets
from a2d.config import Params, craft_attacks, craft_protocol, dataset_config
from a2d.data import load_split
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import data_root, load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    dataset = dataset_config(params, args.target)
    plan = CraftPlan(
        n_eval=params.sets.n_eval,
        n_train=params.sets.n_train,
        attacks=craft_attacks(params, args.target),
        seed=params.seed,
        batch_size=params.craft.batch_size,
        train_subset=params.craft.train_subset,
        protocol=CraftProtocol(**asdict(craft_protocol(params, args.target))),
    )
    sets = craft_sets(
        model,
        load_split(dataset.torchvision_class, data_root(params), train=False),
        plan,
        out=Path(args.out),
        model_hash=sha256_file(args.weights),
        device=device,
        only=args.only,
    )
    summary = {"target": args.target, "n_eval": plan.n_eval, "n_train": plan.n_train}
    write_json_atomic(args.metrics, {**summary, "sets": sets})


def cli() -> None:
    p = parser("craft", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--out", required=True, help="output folder of the example sets")
    p.add_argument("--metrics", required=True, help="output: success rates and distortions (JSON)")
    p.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default=None,
        help="craft only these sets, e.g. jsma_eval,cw_train (a manual partial run; "
        "the metrics then list only them)",
    )
    run("craft", main, p.parse_args())


if __name__ == "__main__":
    cli()
