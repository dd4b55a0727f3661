"""Stage `bl3`: BL3's model mutation testing (Wang et al. ICSE'19) on a target's sets, for Tables 2 and 3.

Reads the target's weights, its example sets (craft stage) and its test split (the mutants'
accuracy filter), makes or reuses the cached mutants of each operator (``--mutants``, one JSON
of seeds per operator) and writes one metrics JSON: per operator the LCR AUROC of every attack
(Table 2) and the SPRT's accuracy and mean mutants used on benign and adversarial inputs,
textbook and in BL3's counting (Table 3) (:func:`a2d.baselines.mutation.evaluate_mutation`),
plus the reported operator's view (``baselines.bl3.report_operator``,
:func:`a2d.baselines.mutation.report_view`): ``bl3`` (crafting attack -> ``auroc``, ``n``: the
table2 stage reads it like BL1's) and ``bl3_sprt`` (Table 3's BL3 row: the detect stage's
``--bl3``).
"""

from __future__ import annotations

import argparse

from a2d.baselines.mutation import MutationSettings, evaluate_mutation, report_view
from a2d.config import Params, bl3_settings, dataset_config, dataset_of
from a2d.data import load_split
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import data_root, load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    cfg = bl3_settings(params, args.target)
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    test = load_split(
        dataset_config(params, args.target).torchvision_class, data_root(params), train=False
    )
    settings = MutationSettings.from_config(cfg, dataset=dataset_of(params, args.target))
    scores = evaluate_mutation(
        model,
        args.sets,
        test.x,
        test.y,
        settings=settings,
        cache=args.mutants,
        model_hash=sha256_file(args.weights),
        seed=params.seed,
    )
    view = report_view(scores, cfg.report_operator)
    write_json_atomic(args.metrics, {"target": args.target, **scores, **view})


def cli() -> None:
    p = parser("bl3", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env2_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument(
        "--mutants", required=True, help="output: folder of the cached mutant banks (JSON)"
    )
    p.add_argument(
        "--metrics",
        required=True,
        help="output: BL3 AUROCs, SPRT results and their table views (JSON)",
    )
    run("bl3", main, p.parse_args())


if __name__ == "__main__":
    cli()
