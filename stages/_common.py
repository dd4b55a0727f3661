"""Small helpers the stages share (config -> objects); no experiment logic here."""

from __future__ import annotations

from pathlib import Path

import torch

from a2d.config import PROJECT_ROOT, Params
from a2d.data import resolve_data_root
from a2d.models import ClassifierWrapper, load_target
from a2d.pipeline.resume import fingerprint

__all__ = ["data_root", "fingerprint", "load_target_model"]
# fingerprint moved to a2d.pipeline.resume; re-exported until every stage imports it from there


def data_root(params: Params) -> Path:
    """The data root the stages read (A2D_DATA_ROOT wins over data.root)."""
    return resolve_data_root(params.data.root, PROJECT_ROOT)


def load_target_model(
    params: Params, target: str, weights: str | Path, device: torch.device
) -> ClassifierWrapper:
    """The target's wrapped model with the weights the `model` stage wrote, in eval mode on ``device``."""
    return load_target(target, weights, params=params, device=device)
