"""A configured target model with its trained weights: what stages and users attack.

The pipeline's targets (``models.<target>`` in params.yaml: architecture, dataset,
normalisation) are built and loaded in one place, so a user applying a saved paper detector
gets exactly the model the ``costs`` and ``detect`` stages measured.
"""

from __future__ import annotations

from pathlib import Path

import torch

from a2d.config import PROJECT_ROOT, Params, dataset_config, load_params, target_config
from a2d.models.registry import build_target
from a2d.models.wrapper import ClassifierWrapper, load_weights


def load_target(
    target: str,
    weights: str | Path | None = None,
    *,
    params: Params | None = None,
    device: torch.device | str = "cpu",
) -> ClassifierWrapper:
    """The wrapped ``target`` model in eval mode on ``device``.

    Args:
        target: a key of ``models`` in params.yaml, e.g. ``"env1_mnist"``.
        weights: the weights file; default ``data/models/<target>.pt``, what the ``model``
            stage wrote (committed for the Env1/Env2 targets).
        params: the config (default: the project's params.yaml).
        device: where the model runs.

    Raises:
        ConfigError: an unknown target.
        DataError: a missing or mismatching weights file.
    """
    params = load_params() if params is None else params
    cfg, dataset = target_config(params, target), dataset_config(params, target)
    path = PROJECT_ROOT / "data" / "models" / f"{target}.pt" if weights is None else weights
    model = build_target(cfg.arch, normalize=cfg.normalize, mean=dataset.mean, std=dataset.std)
    return load_weights(model, path).to(torch.device(device)).eval()
