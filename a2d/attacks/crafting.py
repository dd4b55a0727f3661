"""Craft a target's adversarial sets from its benign sets: the library call behind the ``craft`` stage.

:func:`craft_sets` selects the benign sets and crafts every configured attack on them, one set
file each; :func:`craft_set` crafts one set in resumable batches.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2d.attacks import CRAFT_ATTACKS, craft_hyperparameters, make_craft_attack
from a2d.attacks.base import CraftResult, l0_distortion, l2_distortion, linf_distortion
from a2d.attacks.png import png_round_trip
from a2d.data.datasets import DatasetSplit
from a2d.data.selection import benign_sets
from a2d.data.sets import SPLITS, SUCCESSFUL_ONLY, ExampleSet, load_set, save_set, set_name
from a2d.errors import ConfigError
from a2d.pipeline.resume import FINGERPRINT, fingerprint, reuse, reuse_torch, write_torch
from a2d.utils.progress import progress

log = logging.getLogger(__name__)

PARTIAL = ".partial"
"""Sub-folder of the output folder holding the finished batches of a set still being crafted."""
CHUNK_TAG = "key"
"""The field of a finished batch's file that holds its fingerprint."""


@dataclass(frozen=True)
class CraftProtocol:
    """What happens to a target's adversarial sets after the attack (Env1: nothing).

    Args:
        successful_only: flag the sets so that only successful adversarials count
            (:attr:`a2d.data.sets.ExampleSet.successful_only`; BL3, Env2). The benign sets are
            correctly classified already, so this keeps BL3's "successful adversarials of
            correctly classified images". The failed rows stay in the file.
        png_round_trip: pass every adversarial through BL3's 8-bit PNG save and reload
            (:func:`a2d.attacks.png.png_round_trip`: per-image min-max rescale into [0, 1],
            8-bit rounding) and re-check it: an example stays successful while the reloaded
            image is misclassified. With it an attack may run with wider ``bounds`` than the
            model's (BL3 never clipped): the rescale brings every image back into [0, 1].
    """

    successful_only: bool = False
    png_round_trip: bool = False

    @property
    def is_default(self) -> bool:
        """True for Env1's protocol (nothing after the attack): it leaves no trace in keys."""
        return self == CraftProtocol()


@dataclass(frozen=True)
class CraftPlan:
    """What to craft for one target: set sizes, attacks and how.

    Args:
        n_eval: benign evaluation images (the first correctly classified test images).
        n_train: benign training-pool images (the next ones).
        attacks: crafting attack name -> configured hyperparameters, in crafting order.
        seed: the run's seed, given to random attacks whose config has none.
        batch_size: inputs crafted (and checkpointed) at a time; default 250.
        train_subset: attack -> craft it on the first N images of the training pool only.
        protocol: what happens to the adversarial sets after the attack (default: nothing).
    """

    n_eval: int
    n_train: int
    attacks: Mapping[str, Mapping[str, Any]]
    seed: int
    batch_size: int = 250
    train_subset: Mapping[str, int] = field(default_factory=dict)
    protocol: CraftProtocol = field(default_factory=CraftProtocol)

    def hyperparameters(self, name: str) -> dict[str, Any]:
        """The keywords attack ``name`` runs with: its config, plus the seed if it is random."""
        return craft_hyperparameters(name, self.attacks[name], seed=self.seed)

    def subset(self, name: str, split: str) -> int | None:
        """How many images of the ``split`` pool attack ``name`` runs on (``None`` = all)."""
        return self.train_subset.get(name) if split == "train" else None

    def benign_key(self, model_hash: str, split: str) -> str:
        """The fingerprint of the benign ``split`` set."""
        return fingerprint(model_hash, self._sizes, split)

    def set_key(self, model_hash: str, name: str, split: str) -> str:
        """The fingerprint of the ``name`` set of ``split``; also tags its finished batches."""
        subset = self.subset(name, split)
        optional: list[Any] = [subset] if subset else []
        if not self.protocol.is_default:  # Env1's keys stay those of the sets already made
            optional.append(asdict(self.protocol))
        return fingerprint(
            model_hash, self._sizes, split, name, self.hyperparameters(name), *optional
        )

    @property
    def _sizes(self) -> str:
        # the craft stage first hashed its `sets` config object, which JSON encodes by repr;
        # the same text keeps the sets crafted before matching their fingerprints
        return f"SetsConfig(n_eval={self.n_eval}, n_train={self.n_train})"


def craft_sets(
    model: nn.Module,
    test: DatasetSplit,
    plan: CraftPlan,
    *,
    out: Path,
    model_hash: str,
    device: torch.device,
    only: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Write a target's benign sets and every set of ``plan`` into ``out``; return their summaries.

    Args:
        model: the target (wrapped), already on ``device``.
        test: the test split the benign images are drawn from.
        plan: sizes, attacks, seed and batch size.
        out: the folder of set files (``<kind>_<split>.pt``).
        model_hash: sha256 of the model's weights, part of every set's fingerprint.
        device: where to attack.
        only: craft just these set names (e.g. ``{"jsma_eval"}``); default all.

    Returns ``{set name: meta}`` (success rate, distortions, seconds; no fingerprint or
    hyperparameters) for every adversarial set crafted or kept.

    Evaluation sets come first: the paper's tables need only them, so their costs can start
    early. A set file whose fingerprint (model hash, set sizes, split, attack, resolved
    hyperparameters, training subset) matches is kept, and so is every finished batch of an
    unfinished set (``out/.partial/<set>/``), so a killed run resumes where it stopped.

    An attack that needs a pool (BB's substitute, :attr:`CraftAttack.needs_pool`) gets the
    test images outside both benign sets, in test order.
    """
    benign = benign_sets(model, test, n_eval=plan.n_eval, n_train=plan.n_train)
    for split, example_set in benign.items():
        example_set.meta[FINGERPRINT] = plan.benign_key(model_hash, split)
        save_set(example_set, out)
    pool = None
    if any(CRAFT_ATTACKS[name].needs_pool for name in plan.attacks if name in CRAFT_ATTACKS):
        used = torch.cat([s.indices for s in benign.values()])
        pool = test.x[~torch.isin(test.indices, used)]
    summaries: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        for name in plan.attacks:
            stem = set_name(name, split)
            if only and stem not in only:
                continue
            subset = plan.subset(name, split)
            source = benign[split].head(subset) if subset else benign[split]
            key = plan.set_key(model_hash, name, split)
            crafted = reuse(out / f"{stem}.pt", key, load=load_set, stamp=_set_fingerprint)
            if crafted is not None:
                log.info("%s is up to date, kept", stem)
            else:
                log.info("crafting %s on %d %s images", name, len(source), split)
                crafted = craft_set(
                    model,
                    source,
                    name,
                    plan.hyperparameters(name),
                    batch_size=plan.batch_size,
                    device=device,
                    checkpoint_dir=out / PARTIAL / stem,
                    checkpoint_key=key,
                    pool=pool,
                    protocol=plan.protocol,
                )
                crafted.meta[FINGERPRINT] = key
                save_set(crafted, out)
            meta = {
                k: v for k, v in crafted.meta.items() if k not in (FINGERPRINT, "hyperparameters")
            }
            summaries[stem] = meta
            log.info(
                "%s: success %.1f%%, mean L2 %.3f, mean Linf %.3f, %.0f s",
                stem,
                100 * meta["success_rate"],
                meta["mean_l2"],
                meta["mean_linf"],
                meta["seconds"],
            )
    return summaries


def _set_fingerprint(example_set: ExampleSet) -> Any:
    return example_set.meta.get(FINGERPRINT)


def craft_set(
    model: nn.Module,
    benign: ExampleSet,
    attack_name: str,
    hyperparameters: dict[str, Any],
    *,
    batch_size: int,
    device: torch.device,
    checkpoint_dir: Path | None = None,
    checkpoint_key: str = "",
    pool: torch.Tensor | None = None,
    protocol: CraftProtocol | None = None,
) -> ExampleSet:
    """Attack every input of ``benign`` with its true label; keep failures (flagged), keep indices.

    The set is crafted ``batch_size`` inputs at a time. With ``checkpoint_dir``, each finished
    batch is written there (tagged with ``checkpoint_key``) and a rerun reuses the batches whose
    tag matches, because a paper-size C&W set takes hours on a CPU and a session may end first.
    Random targets are drawn once for the whole set, so the batching cannot change them.
    The folder is removed once the whole set is done.

    An attack with :attr:`~a2d.attacks.base.CraftAttack.needs_pool` is set up on ``pool``
    (images it does not attack) before its first unfinished batch. ``protocol`` (default:
    nothing) may pass the crafted set through BL3's PNG round trip, re-checking success, and
    flag it as successful-only (:class:`CraftProtocol`).

    Returns a set whose ``meta`` holds the hyperparameters, the time taken (summed over the
    batches, also those of earlier runs) and the distortion summary (success rate, mean
    L0 / L2 / L-inf over all inputs and over the successful ones); under a protocol also its
    flags and the success rate before the round trip.
    """
    attack = make_craft_attack(attack_name, **hyperparameters)
    protocol = protocol or CraftProtocol()
    if attack.needs_pool and pool is None:
        raise ValueError(
            f"{attack_name} needs a pool of images it will not attack (pool=...); "
            "craft_sets passes the test images outside the benign sets"
        )
    x, labels = benign.x.to(device), benign.labels.to(device)
    target = attack.draw_targets(model, x, labels)
    prepared = not attack.needs_pool
    starts = range(0, len(x), batch_size)
    parts: list[CraftResult] = []
    seconds = 0.0
    for start in progress(starts, desc=f"{attack_name} {benign.split}", total=len(starts)):
        stop = min(start + batch_size, len(x))
        path = None if checkpoint_dir is None else checkpoint_dir / f"{start:07d}.pt"
        part, took = _load_chunk(path, checkpoint_key)
        if part is None:
            began = time.perf_counter()
            if not prepared and pool is not None:
                attack.prepare(model, pool.to(device))
                prepared = True
            chunk_target = None if target is None else target[start:stop]
            part = attack(model, x[start:stop], labels[start:stop], target=chunk_target)
            part = part.to("cpu")
            took = time.perf_counter() - began
            _save_chunk(path, checkpoint_key, part, took)
        parts.append(part)
        seconds += took
    result = _concatenate(parts, benign)
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    extra: dict[str, Any] = {}
    if protocol.png_round_trip:
        extra["success_rate_before_round_trip"] = (
            float(result.success.double().mean()) if len(result) else 0.0
        )
        result = _round_trip(model, result, batch_size=batch_size, device=device)
    if len(result):
        lo, hi = getattr(model, "bounds", (0.0, 1.0))
        if float(result.adversarial.min()) < lo or float(result.adversarial.max()) > hi:
            raise ConfigError(
                f"{attack_name} returned inputs outside the model's bounds ({lo}, {hi}); give "
                "the attack the model's bounds or set craft.protocol.<target>.png_round_trip"
            )
    if protocol.successful_only:
        extra[SUCCESSFUL_ONLY] = True
    if not protocol.is_default:
        extra["protocol"] = asdict(protocol)
    summary = distortion_summary(benign.x, result.adversarial, result.success)
    return ExampleSet(
        x=result.adversarial,
        indices=benign.indices.clone(),
        labels=benign.labels.clone(),
        kind=attack_name,
        split=benign.split,
        success=result.success,
        prediction=result.prediction,
        target=result.target,
        meta={
            "hyperparameters": dict(hyperparameters),
            "seconds": round(seconds, 2),
            **summary,
            **extra,
        },
    )


@torch.no_grad()
def _round_trip(
    model: nn.Module, result: CraftResult, *, batch_size: int, device: torch.device
) -> CraftResult:
    """BL3's PNG save and reload, re-checked: an example stays successful while misclassified.

    BL3 reloaded its PNGs and deleted those the model classified correctly again; those whose
    label moved to another wrong class were kept, relabelled. So the new prediction is stored
    and an example stays successful if it was and the reloaded image is still misclassified
    (for a targeted attack it may then no longer hit its target).
    """
    adversarial = png_round_trip(result.adversarial)
    was_training = model.training
    model.eval()
    try:
        prediction = (
            torch.cat(
                [
                    model(adversarial[i : i + batch_size].to(device)).argmax(1).cpu()
                    for i in range(0, len(adversarial), batch_size)
                ]
            )
            if len(adversarial)
            else result.prediction.clone()
        )
    finally:
        model.train(was_training)
    success = result.success & (prediction != result.label)
    return CraftResult(
        adversarial=adversarial,
        success=success,
        label=result.label,
        prediction=prediction,
        target=result.target,
        steps=result.steps,
    )


def _load_chunk(path: Path | None, key: str) -> tuple[CraftResult | None, float]:
    saved = None if path is None else reuse_torch(path, key, tag=CHUNK_TAG)
    if saved is None:
        return None, 0.0
    return CraftResult(**saved["result"]), float(saved["seconds"])


def _save_chunk(path: Path | None, key: str, part: CraftResult, seconds: float) -> None:
    if path is not None:
        write_torch(path, {CHUNK_TAG: key, "seconds": seconds, "result": asdict(part)})


def _concatenate(parts: list[CraftResult], benign: ExampleSet) -> CraftResult:
    if not parts:  # an empty set: nothing was attacked
        empty = torch.empty(0, dtype=torch.long)
        return CraftResult(benign.x.clone(), empty.bool(), empty, empty.clone())

    def cat(field: str) -> torch.Tensor | None:
        values = [getattr(part, field) for part in parts]
        return None if values[0] is None else torch.cat(values)

    return CraftResult(
        adversarial=cat("adversarial"),
        success=cat("success"),
        label=cat("label"),
        prediction=cat("prediction"),
        target=cat("target"),
        steps=cat("steps"),
    )


def distortion_summary(
    x: torch.Tensor, adversarial: torch.Tensor, success: torch.Tensor
) -> dict[str, float]:
    """Success rate and mean L0 / L2 / L-inf distortion, over all inputs and over successes."""
    l0, l2, linf = (
        f(x, adversarial).double() for f in (l0_distortion, l2_distortion, linf_distortion)
    )
    ok = success.bool()
    out = {"n": int(len(x)), "success_rate": float(ok.double().mean()) if len(x) else 0.0}
    for name, values in (("l0", l0), ("l2", l2), ("linf", linf)):
        out[f"mean_{name}"] = float(values.mean()) if len(values) else 0.0
        out[f"mean_{name}_successful"] = (
            float(values[ok].mean()) if bool(ok.any()) else float("nan")
        )
    return out
