"""Craft one adversarial set from a benign set: the library call behind the ``craft`` stage."""

from __future__ import annotations

import io
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2d.attacks import make_craft_attack
from a2d.attacks.base import CraftResult, l0_distortion, l2_distortion, linf_distortion
from a2d.data.sets import ExampleSet
from a2d.utils.io import atomic_path
from a2d.utils.progress import progress


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
) -> ExampleSet:
    """Attack every input of ``benign`` with its true label; keep failures (flagged), keep indices.

    The set is crafted ``batch_size`` inputs at a time. With ``checkpoint_dir``, each finished
    batch is written there (tagged with ``checkpoint_key``) and a rerun reuses the batches whose
    tag matches, because a paper-size C&W set takes hours on a CPU and a session may end first.
    Random targets are drawn once for the whole set, so the batching cannot change them.
    The folder is removed once the whole set is done.

    Returns a set whose ``meta`` holds the hyperparameters, the time taken (summed over the
    batches, also those of earlier runs) and the distortion summary (success rate, mean
    L0 / L2 / L-inf over all inputs and over the successful ones).
    """
    attack = make_craft_attack(attack_name, **hyperparameters)
    x, labels = benign.x.to(device), benign.labels.to(device)
    target = attack.draw_targets(model, x, labels)
    starts = range(0, len(x), batch_size)
    parts: list[CraftResult] = []
    seconds = 0.0
    for start in progress(starts, desc=f"{attack_name} {benign.split}", total=len(starts)):
        stop = min(start + batch_size, len(x))
        path = None if checkpoint_dir is None else checkpoint_dir / f"{start:07d}.pt"
        part, took = _load_chunk(path, checkpoint_key)
        if part is None:
            began = time.perf_counter()
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
        meta={"hyperparameters": dict(hyperparameters), "seconds": round(seconds, 2), **summary},
    )


def _load_chunk(path: Path | None, key: str) -> tuple[CraftResult | None, float]:
    if path is None or not path.is_file():
        return None, 0.0
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved.get("key") != key:
        return None, 0.0
    return CraftResult(**saved["result"]), float(saved["seconds"])


def _save_chunk(path: Path | None, key: str, part: CraftResult, seconds: float) -> None:
    if path is None:
        return
    buffer = io.BytesIO()
    torch.save({"key": key, "seconds": seconds, "result": asdict(part)}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


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
