"""BL1 and BL2 on a target's example sets: the Table 2 baseline AUROCs, as published and held out.

For each crafting attack, both baselines get the same three paired sets: the benign
evaluation inputs, their noisy twins (:mod:`a2d.baselines.noise`) and the adversarial
examples (failed ones included, Env1 protocol). ``auroc`` is each baseline's own evaluation
(BL1: trained and scored on the same data; BL2: an 80/20 block split of it); ``auroc_heldout``
trains on the disjoint training pool (``<attack>_train`` sets) and scores the evaluation sets,
or, where an attack has no training pool, trains on the first half of the evaluation inputs
and scores the second half. :func:`evaluate_target` does it all on a target's set folder with
the ``baselines`` config: the library call behind the ``baselines`` stage.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import torch

from a2d.baselines.kd_bu import (
    ClassKernelDensity,
    fit_class_kde,
    kd_bu_auroc,
    kd_bu_auroc_heldout,
    kd_bu_features,
)
from a2d.baselines.lid import block_split_rows, lid_auroc, lid_auroc_heldout, lid_features
from a2d.baselines.logistic import DetectionSets, halves
from a2d.baselines.noise import NoiseRule, noise_rng, noisy_samples
from a2d.data.datasets import DatasetSplit
from a2d.data.sets import ExampleSet, load_sets
from a2d.errors import ConfigError, DataError
from a2d.models import ClassifierWrapper

if TYPE_CHECKING:
    from a2d.config import BaselinesConfig

log = logging.getLogger(__name__)


class BaselineScore(TypedDict):
    """One cell of Table 2: the baseline's own AUROC, the held-out one, adversarial inputs scored."""

    auroc: float
    auroc_heldout: float
    n: int


Features = dict[str, dict[str, DetectionSets]]  # baseline ("bl1", "bl2") -> attack -> features
Scores = dict[str, dict[str, BaselineScore]]  # baseline ("bl1", "bl2") -> attack -> score


def evaluate_target(
    model: ClassifierWrapper,
    folder: str | os.PathLike[str],
    training_images: Callable[[], DatasetSplit],
    *,
    dataset: str,
    config: BaselinesConfig,
    seed: int,
) -> Scores:
    """BL1 and BL2 on a target's example sets: :func:`evaluate_baselines` with the config's settings.

    Args:
        model: the wrapped Env1 classifier (a LayeredNet), on its device.
        folder: the target's example sets (craft stage): ``benign``/``<attack>`` ``_eval``, and
            ``_train`` for the held-out AUROC where they exist.
        training_images: loads the model's training images (BL1's per-class densities); called
            only once the sets and the config have been checked, so a user error costs no load.
        dataset: the dataset name (``mnist``): picks the kernel bandwidth and the noise rules.
        config: the ``baselines`` config (BL1, BL2 settings and noise rules per dataset).
        seed: seeds the noise and the dropout masks.

    Raises:
        DataError: no benign or adversarial evaluation set, or unpaired sets (re-craft them).
        ConfigError: no bandwidth or noise rule for the dataset, or too few inputs for BL2's
            block split.
    """
    eval_sets, train_sets = load_sets(folder, "eval"), load_sets(folder, "train")
    attacks = sorted(kind for kind in eval_sets if kind != "benign")
    if "benign" not in eval_sets or not attacks:
        raise DataError(
            f"'{folder}' needs benign_eval.pt and at least one <attack>_eval.pt; run the craft stage"
        )
    bandwidth, noise = baseline_settings(config, dataset, attacks)
    check_sets(eval_sets, config.bl2.block_size)
    if "benign" in train_sets:
        check_sets(train_sets, config.bl2.block_size)
    started = time.perf_counter()
    train = training_images()
    kde = fit_class_kde(
        model, train.x, train.y, bandwidth=bandwidth, batch_size=config.bl1.batch_size
    )
    log.info(
        "class densities on %d training images, %.0f s", len(train), time.perf_counter() - started
    )
    scores = evaluate_baselines(
        model,
        eval_sets,
        train_sets if "benign" in train_sets else None,
        kde,
        noise=noise,
        seed=seed,
        mc_passes=config.bl1.mc_passes,
        mc_batch_size=config.bl1.batch_size,
        k=config.bl2.k,
        minibatch=config.bl2.minibatch,
        block_size=config.bl2.block_size,
    )
    for baseline, per_attack in scores.items():
        for attack, score in per_attack.items():
            log.info(
                "%s %s: AUROC %.4f, held out %.4f",
                baseline,
                attack,
                score["auroc"],
                score["auroc_heldout"],
            )
    log.info("baselines done in %.0f s", time.perf_counter() - started)
    return scores


def baseline_settings(
    config: BaselinesConfig, dataset: str, attacks: list[str]
) -> tuple[float, dict[str, NoiseRule]]:
    """The dataset's kernel bandwidth and a noise rule for every attack.

    Raises:
        ConfigError: the bandwidth or a noise rule is not set.
    """
    if dataset not in config.bl1.bandwidth:
        raise ConfigError(
            f"baselines.bl1.bandwidth.{dataset} is not set (conf/baselines/env1.yaml)"
        )
    rules = config.noise.get(dataset, {})
    missing = [a for a in attacks if a not in rules]
    if missing:
        raise ConfigError(
            f"baselines.noise.{dataset} has no rule for {', '.join(missing)} "
            "(conf/baselines/env1.yaml): give a Gaussian std or 'flip'"
        )
    return config.bl1.bandwidth[dataset], {a: rules[a] for a in attacks}


def check_sets(sets: Mapping[str, ExampleSet], block_size: int) -> None:
    """User-fixable problems with one split's sets, as one-line errors before any work is done.

    Raises:
        DataError: a set is not paired with the benign set (re-craft it).
        ConfigError: the evaluation sets are too small for BL2's block split.
    """
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


def evaluate_baselines(
    model: ClassifierWrapper,
    eval_sets: Mapping[str, ExampleSet],
    train_sets: Mapping[str, ExampleSet] | None,
    kde: ClassKernelDensity,
    *,
    noise: Mapping[str, NoiseRule],
    seed: int,
    mc_passes: int = 50,
    mc_batch_size: int = 256,
    k: int = 20,
    minibatch: int = 100,
    block_size: int = 100,
) -> Scores:
    """``{"bl1": {attack: score}, "bl2": {attack: score}}`` for every adversarial set in ``eval_sets``.

    Args:
        model: the wrapped Env1 classifier (a LayeredNet), on its device.
        eval_sets: kind -> evaluation set; must hold ``"benign"`` and the attacks to score.
        train_sets: kind -> training-pool set (disjoint inputs), or None.
        kde: the per-class KDE fitted on the model's training inputs (:func:`fit_class_kde`).
        noise: attack -> noise rule (Gaussian std or ``"flip"``).
        seed: seeds the noise (per set) and the dropout masks.
        mc_passes, mc_batch_size: BL1's T and batch size. k, minibatch, block_size: BL2's.
    """
    settings = dict(mc_passes=mc_passes, mc_batch_size=mc_batch_size, k=k, minibatch=minibatch)
    evaluation = _features(model, eval_sets, kde, "eval", noise=noise, seed=seed, **settings)
    attacks = sorted(evaluation["bl1"])
    pooled = _pooled(train_sets, attacks)
    training: Features = {"bl1": {}, "bl2": {}}
    if train_sets and pooled:
        pool = {kind: train_sets[kind] for kind in ("benign", *pooled)}
        training = _features(model, pool, kde, "train", noise=noise, seed=seed, **settings)
    scores: Scores = {"bl1": {}, "bl2": {}}
    for attack in attacks:
        for baseline, own, heldout, own_kwargs in (
            ("bl1", kd_bu_auroc, kd_bu_auroc_heldout, {}),
            ("bl2", lid_auroc, lid_auroc_heldout, {"block_size": block_size}),
        ):
            sets = evaluation[baseline][attack]
            train, test = (training[baseline][attack], sets) if attack in pooled else halves(sets)
            scores[baseline][attack] = BaselineScore(
                auroc=own(sets, **own_kwargs), auroc_heldout=heldout(train, test), n=len(sets)
            )
    return scores


def _pooled(train_sets: Mapping[str, ExampleSet] | None, attacks: list[str]) -> list[str]:
    """The attacks that have a non-empty training pool (and a benign one to pair with)."""
    sizes = {kind: len(example_set) for kind, example_set in (train_sets or {}).items()}
    pooled = [a for a in attacks if sizes.get("benign", 0) and sizes.get(a, 0)]
    for attack in sorted(set(attacks) - set(pooled)):
        log.warning(
            "%s has no training pool: held-out AUROC on halves of the evaluation set", attack
        )
    return pooled


def _features(
    model: ClassifierWrapper,
    sets: Mapping[str, ExampleSet],
    kde: ClassKernelDensity,
    split: str,
    *,
    noise: Mapping[str, NoiseRule],
    seed: int,
    mc_passes: int,
    mc_batch_size: int,
    k: int,
    minibatch: int,
) -> Features:
    """BL1 and BL2 features of each attack's benign sources, noisy twins and adversarial examples.

    Attacks crafted on the same benign images (usually all of them) share the normal features;
    an attack crafted on a subset of the pool (e.g. a smaller C&W training pool) is paired with
    just those benign images, in the same order.
    """
    if "benign" not in sets:
        raise ValueError(f"the {split} sets need a 'benign' set, got {sorted(sets)}")
    benign = sets["benign"]
    attacks = sorted(kind for kind in sets if kind != "benign")
    missing = [a for a in attacks if a not in noise]
    if missing:
        raise ValueError(
            f"no noise rule for {', '.join(missing)}; give each attack a Gaussian std or 'flip'"
        )
    groups: dict[tuple[int, ...], list[str]] = {}
    for attack in attacks:
        groups.setdefault(tuple(paired_rows(benign, sets[attack]).tolist()), []).append(attack)
    started = time.perf_counter()
    features: Features = {"bl1": {}, "bl2": {}}
    for rows, group in groups.items():
        normal = benign.x[list(rows)]
        settings = dict(mc_passes=mc_passes, mc_batch_size=mc_batch_size, k=k, minibatch=minibatch)
        adversarial = {a: sets[a].x for a in group}
        noisy = {
            a: noisy_samples(normal, adversarial[a], noise[a], rng=noise_rng(seed, f"{a}_{split}"))
            for a in group
        }
        for baseline, per_attack in _group_features(
            model, kde, normal, noisy, adversarial, seed=seed, **settings
        ).items():
            features[baseline].update(per_attack)
    log.info("%s features of %s: %.0f s", split, ", ".join(attacks), time.perf_counter() - started)
    return features


def _group_features(
    model: ClassifierWrapper,
    kde: ClassKernelDensity,
    normal: torch.Tensor,
    noisy: Mapping[str, torch.Tensor],
    adversarial: Mapping[str, torch.Tensor],
    *,
    seed: int,
    mc_passes: int,
    mc_batch_size: int,
    k: int,
    minibatch: int,
) -> Features:
    """[KD, BU] (BL1) and per-layer LIDs (BL2) of one set of normal inputs and their versions."""

    def kd_bu(x: torch.Tensor) -> np.ndarray:
        return kd_bu_features(model, kde, x, passes=mc_passes, seed=seed, batch_size=mc_batch_size)

    normal_kd_bu = kd_bu(normal)
    bl1 = {
        a: DetectionSets(normal_kd_bu, kd_bu(noisy[a]), kd_bu(adversarial[a])) for a in adversarial
    }
    queries = {f"{a}/noisy": x for a, x in noisy.items()}
    queries.update({f"{a}/adv": x for a, x in adversarial.items()})
    lids = lid_features(model, normal, queries, k=k, minibatch=minibatch)
    bl2 = {
        a: DetectionSets(lids["normal"], lids[f"{a}/noisy"], lids[f"{a}/adv"]) for a in adversarial
    }
    return {"bl1": bl1, "bl2": bl2}


def paired_rows(benign: ExampleSet, other: ExampleSet) -> torch.Tensor:
    """The rows of ``benign`` that ``other`` was crafted from, in ``other``'s order.

    Raises:
        ValueError: ``other`` has a source index that ``benign`` does not hold.
    """
    position = {int(index): row for row, index in enumerate(benign.indices.tolist())}
    unknown = [int(i) for i in other.indices.tolist() if int(i) not in position]
    if unknown:
        raise ValueError(
            f"{other.name} is not paired with {benign.name}: {len(unknown)} source indices "
            f"(first {unknown[0]}) are not in it; re-craft it from that benign set"
        )
    return torch.tensor([position[int(i)] for i in other.indices.tolist()], dtype=torch.long)
