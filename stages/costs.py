"""Stage `costs`: one cost attack (attack as defence) over every example set of a target.

Writes ``<out>/<set>.csv`` (index, cost, queries, success, label, crafted_success) per set and
a metrics JSON (mean cost and queries per set, time, and the benign-vs-adversarial AUROC with
score = -cost). Finished sets whose fingerprint matches are kept, so a killed run resumes. The
costs go through :class:`a2d.costs.suite.CostSuite`, the path :class:`a2d.AttackAsDefense` takes;
``shards`` in params runs them in shards, in this process or on a Ray cluster (same tables).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from a2d.config import Params, dataset_config
from a2d.costs.settings import target_cost_attack_specs
from a2d.costs.suite import CostSuite
from a2d.costs.tables import measure_sets
from a2d.data.sets import list_sets
from a2d.detectors.roc import aurocs_against_benign
from a2d.pipeline.shards import open_runner
from a2d.utils.batching import best_batch_size
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    specs = target_cost_attack_specs(params, args.target, [args.attack])
    shape = list(dataset_config(params, args.target).shape)
    batch_size = params.costs.batch_size or best_batch_size(model, shape, device=device)
    paths = [
        path
        for path in list_sets(args.sets)
        if args.attack not in params.costs.eval_only or path.stem.endswith("_eval")
    ]
    with open_runner(params.shards, device=params.device) as runner:  # in-process by default
        measured = measure_sets(
            CostSuite(model, specs, batch_size=batch_size, fixed_rows=params.costs.fixed_rows),
            paths,
            Path(args.out),
            model_hash=sha256_file(args.weights),
            head=params.costs.max_inputs.get(args.attack),
            runner=runner,
        )
    write_json_atomic(
        args.metrics,
        {
            "target": args.target,
            "attack": args.attack,
            "sets": {name: summary for name, (_, summary) in measured.items()},
            "auroc": aurocs_against_benign({n: f["cost"] for n, (f, _) in measured.items()}),
        },
    )


def cli() -> None:
    p = parser("costs", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--attack", required=True, help="cost attack: bim, bim2, jsma or dba")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument("--out", required=True, help="output folder: one CSV (+ JSON sidecar) per set")
    p.add_argument("--metrics", required=True, help="output: per-set summary and AUROCs (JSON)")
    run("costs", main, p.parse_args())


if __name__ == "__main__":
    cli()
