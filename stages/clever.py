"""Stage `clever`: CLEVER scores of the first images of each evaluation set, and JSMA_d times.

For each set kind in ``clever.sets`` (benign, FGSM, BIM-A, JSMA, C&W) writes
``<out>/<kind>_eval.csv``: the untargeted, Target-2, Target-5 and LLC scores of the first
``clever.n_images`` images (Table 1). Then draws up to ``clever.timing.n_examples`` of the
scored images whose score lies in ``clever.timing.score_range`` and attacks each alone with
JSMA_d, timed, into ``<out>/attack_time.csv`` (Figures 2 and 10). A metrics JSON holds the
means, 90% intervals and benign/adversarial ratios beside the paper's. Finished files whose
fingerprint matches are kept, so a killed run resumes (:func:`a2d.robustness.run.run_clever`).
``shards`` in params scores the images in shards, in this process or on a Ray cluster.
"""

from __future__ import annotations

import argparse
import logging

from a2d.config import Params, dataset_of
from a2d.costs.settings import target_cost_attack_specs
from a2d.pipeline.shards import open_runner
from a2d.reporting.table1 import table1_cells
from a2d.robustness.run import run_clever
from a2d.robustness.statistics import table1_statistics
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import load_target_model

log = logging.getLogger("a2d.stages.clever")


def main(args: argparse.Namespace, params: Params) -> None:
    cfg, device = params.clever, resolve_device(params.device)
    (timed,) = target_cost_attack_specs(params, args.target, [cfg.timing.attack]).values()
    with open_runner(params.shards, device=params.device) as runner:  # in-process by default
        measured = run_clever(
            load_target_model(params, args.target, args.weights, device),
            cfg,
            hyperparameters=timed,
            sets=args.sets,
            out=args.out,
            seed=params.seed,
            model_hash=sha256_file(args.weights),
            device=device,
            target=args.target,
            runner=runner,
        )
    statistics = table1_statistics(measured.scores, targets=cfg.targets, confidence=cfg.confidence)
    cells = table1_cells(statistics, dataset=dataset_of(params, args.target))
    write_json_atomic(
        args.metrics,
        {
            "target": args.target,
            "confidence": cfg.confidence,
            "table1": cells,
            **measured.summary(),
        },
    )
    means = {k: v["ours"] for k, v in cells.get("Untarget", {}).items() if "lambda" not in k}
    log.info("%s: untargeted CLEVER means %s", args.target, means)


def cli() -> None:
    p = parser("clever", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument("--out", required=True, help="output folder: per-set score CSVs, attack times")
    p.add_argument("--metrics", required=True, help="output: Table 1 cells and timing (JSON)")
    run("clever", main, p.parse_args())


if __name__ == "__main__":
    cli()
