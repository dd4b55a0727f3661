"""One target's adaptive-attack run, resumable: the kappa sweep kept per kappa on disk.

A paper-size sweep (100 images, 11 kappas, up to 4 x 10000 Adam steps each) takes hours on a
CPU, so every kappa's examples are written to ``<out>/cw_k<kappa>.pt`` as soon as they exist,
tagged with a fingerprint of everything that made them (model hash, sources, targets, C&W
settings); a rerun reuses the matching files and crafts only the missing kappas. The A2D-aware
attack is kept the same way (``<out>/a2d-aware.pt``).

The sweep stages' library calls (:mod:`a2d.adaptive.defence` has the A2D detector's, and
:func:`a2d.adaptive.robustness.run_robustness` Table 4's):

- :func:`run_sweep`: the kappa sweep of one model on its first correctly classified images;
  :func:`sweep_summary` its per-kappa numbers; :func:`read_sweep` what it kept, for the stages
  that only read it.
- :func:`correct_only`: a target's benign images that another model classifies correctly.
- :func:`cost_batch_size`: how many inputs the attacks_d keep active at once.

Light on purpose (no scikit-learn, no scipy): the sweep and grid stages import only this.
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
from a2d.config import AdaptiveConfig
from a2d.data.sets import ExampleSet
from a2d.errors import DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.pipeline.resume import FINGERPRINT, fingerprint, reuse_torch, write_torch
from a2d.utils.batching import best_batch_size

log = logging.getLogger(__name__)

PROBE_ABOVE = 256
"""Inputs up to which the attacks_d run all at once rather than probe the fastest batch size."""


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


# ------------------------------------------------------------------ the stages' library calls


def correct_only(model: ClassifierWrapper, examples: ExampleSet) -> ExampleSet:
    """The examples ``model`` classifies correctly, in order.

    A target's benign sets hold images the target classifies correctly; another model on the
    same dataset (Figure 7b's adversarially trained one) keeps its own correct ones.
    """
    keep = model.predict(examples.x) == examples.labels
    if bool(keep.all()):
        return examples
    return examples.select(keep)


def run_sweep(
    model: ClassifierWrapper,
    benign: ExampleSet,
    cfg: AdaptiveConfig,
    *,
    out: str | os.PathLike[str],
    model_hash: str,
    seed: int,
) -> dict[float, AdaptiveExamples]:
    """The ``adaptive_sweep`` stage: C&W-kappa for every ``cfg.kappas``, each kappa kept on disk.

    Args:
        model: the attacked model (wrapped, eval mode).
        benign: the benign evaluation set it starts from (its target's; only the images
            ``model`` classifies correctly are used, the first ``cfg.n_images`` of them).
        cfg: the ``adaptive`` config (kappas, n_images, the C&W preset and overrides).
        out: the folder of ``cw_k<kappa>.pt`` files (finished kappas are reused).
        model_hash: sha256 of the weights; seed: seeds the random targets.

    Raises:
        DataError: fewer than ``cfg.n_images`` benign images are correctly classified.
    """
    chosen = correct_only(model, benign)
    if len(chosen) < cfg.n_images:
        raise DataError(
            f"the model classifies {len(chosen)} of the {len(benign)} benign images correctly, "
            f"fewer than adaptive.n_images={cfg.n_images}; lower it or raise sets.n_eval"
        )
    return confidence_sweep_resumable(
        model,
        chosen,
        kappas=cfg.kappas,
        out=out,
        model_hash=model_hash,
        seed=seed,
        n_images=cfg.n_images,
        targeted=cfg.cw.targeted,
        preset=cfg.cw.preset,
        overrides=cfg.cw.overrides,
        batch_size=cfg.cw.batch_size,
    )


def sweep_summary(sweep: Mapping[float, AdaptiveExamples]) -> dict[str, dict[str, float | int]]:
    """Per kappa (key ``"<kappa>"``): ``n``, ``success_rate``, ``met_kappa`` (margin >= kappa
    among the successful), mean ``l2`` and ``margin`` over the successful examples."""
    summary: dict[str, dict[str, float | int]] = {}
    for kappa, found in sweep.items():
        ok = found.success
        n_ok = int(ok.sum())
        summary[f"{kappa:g}"] = {
            "n": len(found),
            "success_rate": n_ok / len(found) if len(found) else float("nan"),
            "met_kappa": float((found.margin[ok] >= kappa - 1e-4).double().mean())
            if n_ok
            else float("nan"),
            "l2": float(found.l2[ok].mean()) if n_ok else float("nan"),
            "margin": float(found.margin[ok].mean()) if n_ok else float("nan"),
        }
    return summary


def read_sweep(
    folder: str | os.PathLike[str], kappas: Sequence[float]
) -> dict[float, AdaptiveExamples]:
    """The examples the sweep kept in ``folder`` for ``kappas`` (whatever made them).

    Raises:
        DataError: a kappa has no file (run the sweep stage with these kappas first).
    """
    sweep = {}
    for kappa in kappas:
        path = example_path(folder, float(kappa))
        found = load_examples(path)
        if found is None:
            raise DataError(
                f"no C&W examples for kappa {kappa:g} at '{path}'; run the adaptive_sweep "
                "stage first (`dvc repro adaptive_sweep`), with this kappa in adaptive.kappas"
            )
        sweep[float(kappa)] = found
    return sweep


def cost_batch_size(
    model: ClassifierWrapper, x: torch.Tensor, configured: int | None
) -> int | None:
    """Inputs an attack_d keeps active at once on ``x``: ``configured`` (``costs.batch_size``)
    if set, else the fastest size on this device (:func:`a2d.utils.batching.best_batch_size`)
    for more than :data:`PROBE_ABOVE` inputs, else all at once (probing would cost more)."""
    if configured is not None or len(x) <= PROBE_ABOVE:
        return configured
    return best_batch_size(model, list(x.shape[1:]), device=next(model.parameters()).device)
