"""Stage `craft`: the evaluation and training sets of a target, benign and adversarial.

Selects the first ``sets.n_eval`` test images the model classifies correctly (evaluation) and
the next ``sets.n_train`` (the detectors' disjoint training pool), then crafts every attack in
``craft.attacks.<target>`` on both. Each set is one file; a finished file whose fingerprint
matches the config is kept, and so is every finished batch of an unfinished set, so a killed
run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from a2d.attacks.crafting import craft_set
from a2d.config import Params, model_config
from a2d.data import first_correct, load_split
from a2d.data.sets import SPLITS, ExampleSet, load_set, save_set, set_name
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic
from stages._cli import parser, run
from stages._common import data_root, fingerprint, load_target_model

log = logging.getLogger("a2d.stages.craft")

PARTIAL = ".partial"
"""Sub-folder of the output folder holding the finished batches of a set still being crafted."""


def _benign_sets(
    params: Params, target: str, model: torch.nn.Module, device: torch.device
) -> dict[str, ExampleSet]:
    dataset = params.datasets[model_config(params, target).dataset]
    test = load_split(dataset.torchvision_class, data_root(params), train=False)
    model.to(device)
    sizes = {"eval": (params.sets.n_eval, 0), "train": (params.sets.n_train, params.sets.n_eval)}
    sets = {}
    for split in SPLITS:
        n, skip = sizes[split]
        chosen = first_correct(model, test, n, skip=skip)
        sets[split] = ExampleSet(
            x=chosen.x,
            indices=chosen.indices,
            labels=chosen.y,
            kind="benign",
            split=split,
            success=None,
            prediction=chosen.y.clone(),
            meta={"n": n, "skip_correct": skip},
        )
    return sets


def _reusable(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    return load_set(path).meta.get("fingerprint") == key


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    attacks = params.craft.attacks.get(args.target, {})
    out = Path(args.out)
    model_hash = sha256_file(args.weights)
    benign = _benign_sets(params, args.target, model, device)
    metrics: dict[str, dict[str, object]] = {}
    for split, example_set in benign.items():
        example_set.meta["fingerprint"] = fingerprint(model_hash, params.sets, split)
        save_set(example_set, out)
    # evaluation sets first: the paper's tables need only them, so their costs can start early
    for split in SPLITS:
        for name, hyperparameters in attacks.items():
            hp = dict(hyperparameters)
            if name == "jsma":
                hp.setdefault("seed", params.seed)
            path = out / f"{set_name(name, split)}.pt"
            if args.only and path.stem not in args.only:
                continue
            subset = params.craft.train_subset.get(name) if split == "train" else None
            source = benign[split].head(subset) if subset else benign[split]
            key = fingerprint(
                model_hash, params.sets, split, name, hp, *([subset] if subset else [])
            )
            if _reusable(path, key):
                log.info("%s: %s is up to date, kept", args.target, path.name)
                crafted = load_set(path)
            else:
                log.info("%s: crafting %s on %d %s images", args.target, name, len(source), split)
                crafted = craft_set(
                    model,
                    source,
                    name,
                    hp,
                    batch_size=params.craft.batch_size,
                    device=device,
                    checkpoint_dir=out / PARTIAL / path.stem,
                    checkpoint_key=key,
                )
                crafted.meta["fingerprint"] = key
                save_set(crafted, out)
            meta = {
                k: v for k, v in crafted.meta.items() if k not in ("fingerprint", "hyperparameters")
            }
            metrics[set_name(name, split)] = meta
            log.info(
                "%s %s: success %.1f%%, mean L2 %.3f, mean Linf %.3f, %.0f s",
                args.target,
                set_name(name, split),
                100 * meta["success_rate"],
                meta["mean_l2"],
                meta["mean_linf"],
                meta["seconds"],
            )
    write_json_atomic(
        args.metrics,
        {
            "target": args.target,
            "n_eval": params.sets.n_eval,
            "n_train": params.sets.n_train,
            "sets": metrics,
        },
    )


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
