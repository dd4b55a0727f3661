"""One target's adaptive-attack run, resumable: the kappa sweep kept per kappa on disk.

A paper-size sweep (100 images, 11 kappas, up to 4 x 10000 Adam steps each) takes hours on a
CPU, so every kappa's examples are written to ``<out>/cw_k<kappa>.pt`` as soon as they exist,
tagged with a fingerprint of everything that made them (model hash, sources, targets, C&W
settings); a rerun reuses the matching files and crafts only the missing kappas. The A2D-aware
attack is kept the same way (``<out>/a2d-aware.pt``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2d.adaptive.aware import A2DAwareAttack, aware_attack
from a2d.adaptive.confidence import PRESET, confidence_attack, draw_targets
from a2d.adaptive.examples import AdaptiveExamples
from a2d.data.sets import ExampleSet
from a2d.pipeline.resume import FINGERPRINT, fingerprint, reuse_torch, write_torch

log = logging.getLogger(__name__)


def example_path(out: str | os.PathLike[str], kappa: float | None) -> Path:
    """Where one setting's examples live: ``cw_k<kappa>.pt``, or ``a2d-aware.pt`` for ``None``."""
    return Path(out) / ("a2d-aware.pt" if kappa is None else f"cw_k{kappa:g}.pt")


def save_examples(examples: AdaptiveExamples, path: str | os.PathLike[str], key: str) -> None:
    """Write ``examples`` with its fingerprint ``key``, atomically."""
    write_torch(path, {FINGERPRINT: key, "examples": asdict(examples)})


def load_examples(path: str | os.PathLike[str], key: str | None = None) -> AdaptiveExamples | None:
    """The examples at ``path`` if its fingerprint is ``key`` (any, when ``None``); else ``None``."""
    if key is None:
        if not Path(path).is_file():
            return None
        saved = torch.load(path, map_location="cpu", weights_only=False)
    else:
        saved = reuse_torch(path, key)
    if saved is None:
        return None
    names = {f.name for f in fields(AdaptiveExamples)}
    return AdaptiveExamples(**{k: v for k, v in saved["examples"].items() if k in names})


def confidence_sweep_resumable(
    model: nn.Module,
    benign: ExampleSet,
    *,
    kappas: Sequence[float],
    out: str | os.PathLike[str],
    model_hash: str,
    seed: int,
    n_images: int | None = None,
    targeted: bool = True,
    preset: str = PRESET,
    overrides: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
) -> dict[float, AdaptiveExamples]:
    """C&W-kappa on the first ``n_images`` of ``benign`` for every kappa; each kappa kept on disk.

    Args:
        model: the target (wrapped, eval mode, on its device).
        benign: the target's benign evaluation set (correctly classified test images).
        kappas: the confidences (Table 4: 0..8 by 2; Figure 7: 0..20).
        out: folder of the per-kappa files.
        model_hash: sha256 of the weights, part of every fingerprint.
        seed: seeds the random targets (the same for every kappa).
        n_images: the first N images (the paper: 100); default all.
        targeted: draw random targets (the paper's setting) or run untargeted.
        preset, overrides: the C&W setting (:data:`a2d.attacks.cw.CW_PRESETS`) and changes to it.
        batch_size: inputs attacked at once.
    """
    chosen = benign.head(n_images) if n_images is not None else benign
    device = next(model.parameters()).device
    x, labels = chosen.x.to(device), chosen.labels.to(device)
    target = draw_targets(model, x, labels, seed=seed) if targeted else None
    settings = dict(overrides or {})
    sweep: dict[float, AdaptiveExamples] = {}
    for kappa in kappas:
        key = fingerprint(
            model_hash,
            chosen.indices.tolist(),
            None if target is None else target.tolist(),
            preset,
            settings,
            float(kappa),
            batch_size,
        )
        path = example_path(out, float(kappa))
        found = load_examples(path, key)
        if found is None:
            log.info("C&W kappa %g on %d images", kappa, len(chosen))
            found = confidence_attack(
                model,
                x,
                labels,
                kappa=float(kappa),
                target=target,
                preset=preset,
                indices=chosen.indices,
                batch_size=batch_size,
                **settings,
            )
            save_examples(found, path, key)
        else:
            log.info("C&W kappa %g: kept %s", kappa, path)
        sweep[float(kappa)] = found
    return sweep


def aware_attack_resumable(
    model: nn.Module,
    benign: ExampleSet,
    attack: A2DAwareAttack,
    *,
    out: str | os.PathLike[str],
    model_hash: str,
    n_images: int | None = None,
    batch_size: int | None = None,
) -> AdaptiveExamples:
    """The A2D-aware attack (untargeted) on the first ``n_images`` of ``benign``, kept on disk."""
    chosen = benign.head(n_images) if n_images is not None else benign
    device = next(model.parameters()).device
    key = fingerprint(model_hash, chosen.indices.tolist(), repr(attack), batch_size)
    path = example_path(out, None)
    found = load_examples(path, key)
    if found is None:
        found = aware_attack(
            model,
            chosen.x.to(device),
            chosen.labels.to(device),
            attack,
            indices=chosen.indices,
            batch_size=batch_size,
        )
        save_examples(found, path, key)
    return found
