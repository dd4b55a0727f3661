"""Stage `baselines`: Table 2's BL1 (kernel density + uncertainty) and BL2 (LID) on a target's sets.

Reads the target's weights, its example sets (craft stage: ``benign``/``<attack>`` ``_eval`` and
``_train``) and its training images (BL1's per-class kernel densities), and writes one metrics
JSON: ``{"target": ..., "bl1": {attack: {"auroc", "auroc_heldout", "n"}}, "bl2": {...}}``.
``auroc`` is each baseline's own evaluation, ``auroc_heldout`` is trained on the training pool.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from a2d.baselines import evaluate_baselines, fit_class_kde
from a2d.baselines.evaluate import paired_rows
from a2d.baselines.lid import block_split_rows
from a2d.baselines.noise import NoiseRule
from a2d.config import Params, model_config
from a2d.data import load_split
from a2d.data.sets import ExampleSet, list_sets, load_set
from a2d.errors import ConfigError, DataError
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from stages._cli import parser, run
from stages._common import data_root, load_target_model

log = logging.getLogger("a2d.stages.baselines")


def _sets(folder: str | Path, split: str) -> dict[str, ExampleSet]:
    """The ``<kind>_<split>.pt`` sets of a folder, by kind (``benign``, ``fgsm``, ...)."""
    suffix = f"_{split}"
    return {
        path.stem[: -len(suffix)]: load_set(path)
        for path in list_sets(folder)
        if path.stem.endswith(suffix)
    }


def _settings(
    params: Params, dataset: str, attacks: list[str]
) -> tuple[float, dict[str, NoiseRule]]:
    """The dataset's kernel bandwidth and a noise rule for every attack, or a ConfigError."""
    conf = params.baselines
    if dataset not in conf.bl1.bandwidth:
        raise ConfigError(
            f"baselines.bl1.bandwidth.{dataset} is not set (conf/baselines/env1.yaml)"
        )
    rules = conf.noise.get(dataset, {})
    missing = [a for a in attacks if a not in rules]
    if missing:
        raise ConfigError(
            f"baselines.noise.{dataset} has no rule for {', '.join(missing)} "
            "(conf/baselines/env1.yaml): give a Gaussian std or 'flip'"
        )
    return conf.bl1.bandwidth[dataset], {a: rules[a] for a in attacks}


def _check_sets(sets: dict[str, ExampleSet], block_size: int) -> None:
    """User-fixable problems with the sets, as one-line errors before any work is done."""
    benign = sets["benign"]
    for example_set in sets.values():
        try:
            paired_rows(benign, example_set)
        except ValueError as exc:
            raise DataError(f"{exc} (re-run the craft stage)") from None
    if benign.split == "eval":
        try:
            block_split_rows(len(benign), block_size)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    cfg = model_config(params, args.target)
    eval_sets, train_sets = _sets(args.sets, "eval"), _sets(args.sets, "train")
    attacks = sorted(kind for kind in eval_sets if kind != "benign")
    if "benign" not in eval_sets or not attacks:
        raise DataError(
            f"'{args.sets}' needs benign_eval.pt and at least one <attack>_eval.pt; run the craft stage"
        )
    bandwidth, noise = _settings(params, cfg.dataset, attacks)
    conf = params.baselines
    _check_sets(eval_sets, conf.bl2.block_size)
    if "benign" in train_sets:
        _check_sets(train_sets, conf.bl2.block_size)
    started = time.perf_counter()
    train = load_split(
        params.datasets[cfg.dataset].torchvision_class,
        data_root(params),
        train=True,
        limit=cfg.train.train_subset if cfg.train else None,
    )
    kde = fit_class_kde(
        model, train.x, train.y, bandwidth=bandwidth, batch_size=conf.bl1.batch_size
    )
    log.info(
        "%s: class densities on %d training images, %.0f s",
        args.target,
        len(train),
        time.perf_counter() - started,
    )
    scores = evaluate_baselines(
        model,
        eval_sets,
        train_sets if "benign" in train_sets else None,
        kde,
        noise=noise,
        seed=params.seed,
        mc_passes=conf.bl1.mc_passes,
        mc_batch_size=conf.bl1.batch_size,
        k=conf.bl2.k,
        minibatch=conf.bl2.minibatch,
        block_size=conf.bl2.block_size,
    )
    for baseline, per_attack in scores.items():
        for attack, score in per_attack.items():
            log.info(
                "%s %s %s: AUROC %.4f, held out %.4f",
                args.target,
                baseline,
                attack,
                score["auroc"],
                score["auroc_heldout"],
            )
    log.info("%s: baselines done in %.0f s", args.target, time.perf_counter() - started)
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
