"""Stage `costs`: one cost attack (attack as defence) over every example set of a target.

Writes ``<out>/<set>.csv`` (index, cost, queries, success, label, crafted_success) per set and
a metrics JSON (mean cost and queries per set, time, and the benign-vs-adversarial AUROC with
score = -cost). Finished sets whose fingerprint matches are kept, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from a2d.config import Params, model_config
from a2d.costs import make_cost_attack
from a2d.costs.tables import cost_table
from a2d.data.sets import list_sets, load_set
from a2d.errors import ConfigError
from a2d.utils.batching import best_batch_size
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic, write_text_atomic
from stages._cli import parser, run
from stages._common import fingerprint, load_target_model

log = logging.getLogger("a2d.stages.costs")


def _hyperparameters(params: Params, target: str, attack: str) -> dict[str, object]:
    dataset = model_config(params, target).dataset
    per_dataset = params.costs.params.get(dataset)
    if per_dataset is None or attack not in per_dataset:
        raise ConfigError(f"costs.params.{dataset}.{attack} is not set (conf/attack/cost.yaml)")
    hp = dict(per_dataset[attack])
    if attack == "dba":
        hp.setdefault("seed", params.seed)
    return hp


def _input_shape(params: Params, target: str) -> list[int]:
    return list(params.datasets[model_config(params, target).dataset].shape)


def _summary(frame: pd.DataFrame, seconds: float, cap: int) -> dict[str, float]:
    return {
        "n": int(len(frame)),
        "mean_cost": round(float(frame["cost"].mean()), 3),
        "median_cost": float(frame["cost"].median()),
        "mean_queries": round(float(frame["queries"].mean()), 3),
        "failure_rate": round(float((~frame["success"]).mean()), 4),
        "cap": cap,
        "seconds": round(seconds, 2),
    }


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    hp = _hyperparameters(params, args.target, args.attack)
    attack = make_cost_attack(args.attack, **hp)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_hash = sha256_file(args.weights)
    batch_size = params.costs.batch_size or best_batch_size(
        model, _input_shape(params, args.target), device=device
    )
    summaries: dict[str, dict[str, float]] = {}
    tables: dict[str, pd.DataFrame] = {}
    for path in list_sets(args.sets):
        if args.attack in params.costs.eval_only and not path.stem.endswith("_eval"):
            continue
        csv, sidecar = out / f"{path.stem}.csv", out / f"{path.stem}.json"
        head = params.costs.max_inputs.get(args.attack)
        key = fingerprint(model_hash, sha256_file(path), args.attack, hp, *([head] if head else []))
        if (
            csv.is_file()
            and sidecar.is_file()
            and json.loads(sidecar.read_text()).get("fingerprint") == key
        ):
            log.info("%s %s: %s is up to date, kept", args.target, args.attack, csv.name)
            frame, summary = pd.read_csv(csv), json.loads(sidecar.read_text())["summary"]
        else:
            example_set = load_set(path)
            if head:
                example_set = example_set.head(head)
            log.info(
                "%s: %s_d on %s (%d inputs)", args.target, args.attack, path.stem, len(example_set)
            )
            table = cost_table(attack, model, example_set, batch_size=batch_size, device=device)
            frame, summary = table.frame, _summary(table.frame, table.seconds, table.cap)
            write_text_atomic(csv, frame.to_csv(index=False))
            write_json_atomic(
                sidecar, {"fingerprint": key, "hyperparameters": hp, "summary": summary}
            )
        summaries[path.stem] = summary
        tables[path.stem] = frame
        log.info(
            "%s %s_d %s: mean cost %.1f, mean queries %.1f",
            args.target,
            args.attack,
            path.stem,
            summary["mean_cost"],
            summary["mean_queries"],
        )
    write_json_atomic(
        args.metrics,
        {"target": args.target, "attack": args.attack, "sets": summaries, "auroc": _aurocs(tables)},
    )


def _aurocs(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Benign vs each adversarial set of the same split, score = -cost (ties count half)."""
    aurocs = {}
    for name, frame in tables.items():
        kind, _, split = name.rpartition("_")
        benign = tables.get(f"benign_{split}")
        if kind == "benign" or benign is None:
            continue
        labels = [0] * len(benign) + [1] * len(frame)
        scores = list(-benign["cost"]) + list(-frame["cost"])
        aurocs[name] = round(float(roc_auc_score(labels, scores)), 4)
    return aurocs


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
