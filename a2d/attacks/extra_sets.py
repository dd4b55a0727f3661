"""Adversarial sets crafted outside the ``craft`` stage, from a target's benign evaluation set.

Figure 3 needs a DeepFool set for Env1 MNIST, which none of the paper's tables use: crafting it
in the ``craft`` stage would add it to every cost table and detector. :func:`craft_on_benign`
crafts such sets from the benign set the craft stage wrote, into a folder of their own, with
the same resumable batches and per-set fingerprints as the craft stage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2d.attacks import craft_hyperparameters
from a2d.attacks.crafting import PARTIAL, craft_set
from a2d.data.sets import ExampleSet, load_set, save_set, set_name
from a2d.pipeline.resume import FINGERPRINT, fingerprint, reuse
from a2d.utils.io import sha256_file

log = logging.getLogger(__name__)


def craft_on_benign(
    model: nn.Module,
    benign: str | os.PathLike[str],
    attacks: Mapping[str, Mapping[str, Any]],
    *,
    out: str | os.PathLike[str],
    model_hash: str,
    seed: int,
    batch_size: int,
    device: torch.device,
    head: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Craft every attack of ``attacks`` on the benign set file ``benign``, one set file each.

    Args:
        model: the target (wrapped), already on ``device``.
        benign: a benign set file (``<folder>/benign_eval.pt`` of the craft stage).
        attacks: crafting attack name -> configured hyperparameters.
        out: folder of the crafted sets (``<kind>_<split>.pt``, paired with ``benign``).
        model_hash: sha256 of the weights; with the benign file's hash, the attack and its
            hyperparameters it makes each set's fingerprint. A set whose fingerprint matches is
            kept, and so is every finished batch of an unfinished one.
        seed: the run's seed, given to random attacks whose config has none.
        batch_size: inputs crafted (and checkpointed) at a time.
        device: where to attack.
        head: craft on the first ``head`` benign inputs only (``None`` = all; part of the
            fingerprint).

    Returns:
        set name -> summary (success rate, distortions, seconds), in the order of ``attacks``.
    """
    source = load_set(benign)
    if head is not None:
        source = source.head(head)
    benign_hash = sha256_file(benign)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, dict[str, Any]] = {}
    for name, configured in attacks.items():
        hyperparameters = craft_hyperparameters(name, configured, seed=seed)
        stem = set_name(name, source.split)
        key = fingerprint(model_hash, benign_hash, name, hyperparameters, head)
        crafted = reuse(folder / f"{stem}.pt", key, load=load_set, stamp=_stamp)
        if crafted is not None:
            log.info("%s is up to date, kept", stem)
        else:
            log.info("crafting %s on %d %s images", name, len(source), source.split)
            crafted = craft_set(
                model,
                source,
                name,
                hyperparameters,
                batch_size=batch_size,
                device=device,
                checkpoint_dir=folder / PARTIAL / stem,
                checkpoint_key=key,
            )
            crafted.meta[FINGERPRINT] = key
            save_set(crafted, folder)
        summaries[stem] = {
            k: v for k, v in crafted.meta.items() if k not in (FINGERPRINT, "hyperparameters")
        }
    return summaries


def _stamp(example_set: ExampleSet) -> Any:
    return example_set.meta.get(FINGERPRINT)
