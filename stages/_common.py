"""Small helpers the stages share (config -> objects); no experiment logic here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from a2d.config import PROJECT_ROOT, Params, model_config
from a2d.data import resolve_data_root
from a2d.models import ClassifierWrapper, build_target, load_weights


def data_root(params: Params) -> Path:
    """The data root the stages read (A2D_DATA_ROOT wins over data.root)."""
    return resolve_data_root(params.data.root, PROJECT_ROOT)


def load_target_model(
    params: Params, target: str, weights: str | Path, device: torch.device
) -> ClassifierWrapper:
    """The target's wrapped model with the weights the `model` stage wrote, in eval mode on ``device``."""
    cfg = model_config(params, target)
    dataset = params.datasets[cfg.dataset]
    model = build_target(cfg.arch, normalize=cfg.normalize, mean=dataset.mean, std=dataset.std)
    return load_weights(model, weights).to(device).eval()


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts: a finished chunk is reused only if it matches."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
