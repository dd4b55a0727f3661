"""Stage `baselines`: Table 2's BL1 (kernel density + uncertainty) and BL2 (LID) on a target's sets.

Reads the target's weights, its example sets (craft stage: ``benign``/``<attack>`` ``_eval`` and
``_train``) and its training images (BL1's per-class kernel densities), and writes one metrics
JSON: ``{"target": ..., "bl1": {attack: {"auroc", "auroc_heldout", "n"}}, "bl2": {...}}``.
``auroc`` is each baseline's own evaluation, ``auroc_heldout`` is trained on the training pool
(:func:`a2d.baselines.run.evaluate_target`).
"""

from __future__ import annotations

import argparse

from a2d.baselines.run import evaluate_target
from a2d.config import Params, target_config
from a2d.data import DatasetSplit, load_split
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from stages._cli import parser, run
from stages._common import data_root, load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    cfg = target_config(params, args.target)

    def training_images() -> DatasetSplit:
        return load_split(
            params.datasets[cfg.dataset].torchvision_class,
            data_root(params),
            train=True,
            limit=cfg.train.train_subset if cfg.train else None,
        )

    scores = evaluate_target(
        model,
        args.sets,
        training_images,
        dataset=cfg.dataset,
        config=params.baselines,
        seed=params.seed,
    )
    write_json_atomic(args.metrics, {"target": args.target, **scores})


def cli() -> None:
    p = parser("baselines", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument("--metrics", required=True, help="output: BL1/BL2 AUROCs per attack (JSON)")
    run("baselines", main, p.parse_args())


if __name__ == "__main__":
    cli()
