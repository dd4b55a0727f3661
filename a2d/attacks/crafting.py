"""Craft one adversarial set from a benign set: the library call behind the ``craft`` stage."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from a2d.attacks import make_craft_attack
from a2d.attacks.base import l0_distortion, l2_distortion, linf_distortion
from a2d.data.sets import ExampleSet


def craft_set(
    model: nn.Module,
    benign: ExampleSet,
    attack_name: str,
    hyperparameters: dict[str, Any],
    *,
    batch_size: int,
    device: torch.device,
) -> ExampleSet:
    """Attack every input of ``benign`` with its true label; keep failures (flagged), keep indices.

    Returns a set whose ``meta`` holds the hyperparameters, the time taken and the distortion
    summary (success rate, mean L0 / L2 / L-inf over all inputs and over the successful ones).
    """
    attack = make_craft_attack(attack_name, **hyperparameters)
    x = benign.x.to(device)
    began = time.perf_counter()
    result = attack(model, x, benign.labels.to(device), batch_size=batch_size).to("cpu")
    seconds = time.perf_counter() - began
    adversarial = result.adversarial
    summary = distortion_summary(benign.x, adversarial, result.success)
    return ExampleSet(
        x=adversarial,
        indices=benign.indices.clone(),
        labels=benign.labels.clone(),
        kind=attack_name,
        split=benign.split,
        success=result.success,
        prediction=result.prediction,
        target=result.target,
        meta={"hyperparameters": dict(hyperparameters), "seconds": round(seconds, 2), **summary},
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
