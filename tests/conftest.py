"""Shared fixtures: the project root, the real data root (tests that need it skip without it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from a2d.config import PROJECT_ROOT, load_params
from a2d.data import resolve_data_root


def real_data_root() -> Path:
    """The data root the pipeline would use (A2D_DATA_ROOT or params.yaml's data.root)."""
    return resolve_data_root(load_params().data.root, PROJECT_ROOT)


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = real_data_root()
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip(f"real MNIST not found under {root}; set A2D_DATA_ROOT")
    return root


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: intra-op threads only add contention (100x slower on a busy 2-core box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
