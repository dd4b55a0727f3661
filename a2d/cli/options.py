"""What the command-line options mean: device, bounds and the attacks_d with their settings.

Checked before the model or any input is loaded, so a typo fails in a second with one line.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch
import yaml

from a2d.config import ShardsConfig
from a2d.costs import COST_ATTACKS
from a2d.costs.settings import paper_cost_attack_specs
from a2d.errors import ConfigError
from a2d.utils.device import resolve_device


def device_option(name: str) -> torch.device:
    """``--device`` as a ``torch.device``; CUDA asked for but absent is an error, not a fall-back."""
    try:
        device = resolve_device(name)
    except ConfigError:
        if name == "cuda" or name.startswith("cuda:"):
            raise ConfigError(
                f"--device {name}: this machine has no CUDA device; use --device auto or cpu"
            ) from None
        raise ConfigError(f"--device {name!r} is not auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(
            f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s); "
            "use --device cuda:0 or auto"
        )
    return device


def shards_option(args: argparse.Namespace) -> ShardsConfig:
    """``--ray ADDRESS`` and ``--shard-size`` as a ``shards`` config; in-process without ``--ray``."""
    if not args.ray:
        return ShardsConfig()
    address = None if args.ray == "local" else args.ray
    return ShardsConfig(engine="ray", size=args.shard_size, address=address)


def bounds_option(args: argparse.Namespace) -> tuple[float, float]:
    lo, hi = args.bounds
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(
            f"--bounds {lo:g} {hi:g}: give LO HI with LO < HI, both finite, e.g. --bounds 0 1"
        )
    return float(lo), float(hi)


def attack_specs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """attack_d name -> the hyperparameters given by ``--param`` (plus ``--seed`` where random).

    With ``--dataset`` the library puts these on top of that dataset's configured (paper)
    values; without it every attack_d needs settings of its own, never silent defaults.
    """
    names = [name.strip() for name in args.attacks.split(",") if name.strip()]
    if not names:
        raise ConfigError("--attacks is empty; name at least one attack_d, e.g. --attacks bim")
    for name in names:
        if name not in COST_ATTACKS:
            raise ConfigError(
                f"unknown attack_d {name!r} in --attacks; choose from {', '.join(sorted(COST_ATTACKS))}"
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"--attacks names an attack_d twice: {','.join(names)}")
    given = parse_params(args.param or [])
    for name in given:
        if name not in names:
            raise ConfigError(f"--param sets {name!r}, which is not in --attacks {','.join(names)}")
    if args.dataset is None:
        bare = [name for name in names if name not in given]
        if bare:
            raise ConfigError(
                f"attack_d {bare[0]!r} has no settings: pass --dataset (mnist or cifar10: the "
                f"paper's values) or set them, e.g. --param {bare[0]}.max_iterations=500"
            )
    else:
        paper_cost_attack_specs(args.dataset, names)  # an unknown dataset fails now, not later
    specs = {name: dict(given.get(name, {})) for name in names}
    for name, hp in specs.items():
        if COST_ATTACKS[name].seeded:
            hp.setdefault("seed", args.seed)
    return specs


def parse_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["bim.epsilon=0.05", ...]`` -> ``{"bim": {"epsilon": 0.05}}`` (values read as YAML)."""
    params: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        attack, dot, name = key.partition(".")
        if not (sep and dot and attack and name and raw):
            raise ConfigError(
                f"--param {item!r} is not ATTACK.KEY=VALUE, e.g. --param bim.epsilon=0.05"
            )
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        params.setdefault(attack.strip(), {})[name.strip()] = value
    return params
