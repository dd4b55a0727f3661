"""Shared fixtures: the project root, the real data root.

Tests that need the real data skip without it on a developer's machine, but fail under CI=true:
CI has ../shared/data beside the clone, so a missing data root there means the end-to-end run
would pass having run nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from a2d.config import PROJECT_ROOT, load_params
from a2d.data import resolve_data_root

FIRST_MODULES = ("test_e2e_dvc.py",)
"""Modules collected first: under ``make test`` (pytest-xdist, one file per worker at a time)
the end-to-end DVC run, the longest single item, starts at once on one worker while the unit
tests run on the other, so the suite takes about as long as the end-to-end run alone."""

# Overrides that narrow the pipeline to Env1 MNIST: craft.targets and every per-stage target list
# drawn from it (a list naming a target that is not crafted is a config error)
ENV1_MNIST_ONLY = [
    "craft.targets=[env1_mnist]",
    "clever.models=[env1_mnist]",
    "detector.targets=[env1_mnist]",
    "baselines.targets=[env1_mnist]",
    "baselines.bl3.targets=[]",
]

THREADS_BEFORE_PINNING = os.environ.get("OMP_NUM_THREADS")
"""OMP_NUM_THREADS as the suite was started with: the end-to-end run's DVC stages get it back,
because once the unit tests are done the e2e run has the machine to itself."""

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one core per worker: two workers each spawning two intra-op threads (and DVC stages
    # inheriting them) would oversubscribe the 2-core machine the suite is sized for
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put :data:`FIRST_MODULES` first (a stable sort: the order within each part is kept)."""
    items.sort(key=lambda item: item.path.name not in FIRST_MODULES)


def on_ci() -> bool:
    """CI=true (or 1): missing inputs are failures, not skips."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip here; fail under CI, where the data must be present."""
    if on_ci():
        pytest.fail(f"{reason} (CI=true: the data must be present, so this is a failure)")
    pytest.skip(reason)


def real_data_root() -> Path:
    """The data root the pipeline would use (A2D_DATA_ROOT or params.yaml's data.root)."""
    return resolve_data_root(load_params().data.root, PROJECT_ROOT)


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = real_data_root()
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        skip_or_fail(f"real MNIST not found under {root}; set A2D_DATA_ROOT")
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


class MeanAboveHalf(nn.Module):
    """Class 1 iff the mean pixel exceeds 0.5: easy to reason about, differentiable."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(1, keepdim=True) - 0.5
        return torch.cat([-self.scale * m, self.scale * m], dim=1)
