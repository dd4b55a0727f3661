"""Data: real datasets through torchvision, clear errors for a bad root, first-correct selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from a2d.data import DatasetSplit, first_correct, load_split, resolve_data_root
from a2d.data.datasets import DATA_ROOT_ENV
from a2d.errors import ConfigError, DataError

from .conftest import skip_or_fail


def test_env_variable_overrides_config_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert resolve_data_root("../elsewhere", "/base") == tmp_path


def test_relative_config_root_is_taken_from_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    assert resolve_data_root("../shared/data", "/proj") == Path("/proj/../shared/data")


@pytest.mark.parametrize("name", ["MNIST", "CIFAR10", "ImageNet"])
def test_missing_root_names_root_and_fix(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(
        DataError, match=rf"data root '{missing}' has no readable {name}.*set {DATA_ROOT_ENV}="
    ) as info:
        load_split(name, missing, train=False)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["MNIST", "CIFAR10"])
def test_empty_root_names_expected_files(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match=rf"no readable {name} \(expected"):
        load_split(name, tmp_path, train=True)


def test_unreadable_cifar_batch_is_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
        "batches.meta",
    ]:
        (folder / name).write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="no readable CIFAR10"):
        load_split("CIFAR10", tmp_path, train=False)


def test_unknown_torchvision_class(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown torchvision_class 'SVHN'"):
        load_split("SVHN", tmp_path, train=False)


@pytest.mark.needs_data
def test_real_mnist_matches_its_documented_facts(data_root: Path) -> None:
    test = load_split("MNIST", data_root, train=False)
    assert test.x.shape == (10000, 1, 28, 28) and test.x.dtype == torch.float32
    assert float(test.x.min()) == 0.0 and float(test.x.max()) == 1.0
    assert int(test.y[0]) == 7
    assert abs(float(test.x.mean()) - 0.1325) < 1e-3
    train = load_split("MNIST", data_root, train=True, limit=100)
    assert len(train) == 100 and int(train.y[0]) == 5


@pytest.mark.needs_data
def test_real_cifar10_matches_its_documented_facts(data_root: Path) -> None:
    if not (data_root / "cifar-10-batches-py").is_dir():
        skip_or_fail("CIFAR-10 not under the data root")
    test = load_split("CIFAR10", data_root, train=False, limit=1000)
    assert test.x.shape == (1000, 3, 32, 32)
    assert int(test.y[0]) == 3  # cat


class _ParityModel(nn.Module):
    """Predicts class 1 for images whose first pixel is > 0.5, else 0 (a model we can reason about)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = x.flatten(1)[:, :1]
        return torch.cat([0.5 - first, first - 0.5], dim=1) + 0 * self.dummy


def _split(first_pixels: list[float], labels: list[int]) -> DatasetSplit:
    x = torch.zeros(len(labels), 1, 2, 2)
    x[:, 0, 0, 0] = torch.tensor(first_pixels)
    return DatasetSplit(x=x, y=torch.tensor(labels), indices=torch.arange(len(labels)))


def test_first_correct_keeps_original_indices_in_order() -> None:
    split = _split([0.9, 0.1, 0.9, 0.2, 0.8, 0.7], [1, 1, 0, 0, 1, 1])  # correct: 0, 3, 4, 5
    chosen = first_correct(_ParityModel(), split, 3, batch_size=2)
    assert chosen.indices.tolist() == [0, 3, 4]
    assert torch.equal(chosen.x, split.x[[0, 3, 4]]) and chosen.y.tolist() == [1, 0, 1]


def test_first_correct_skip_gives_a_disjoint_pool() -> None:
    split = _split([0.9, 0.1, 0.9, 0.2, 0.8, 0.7], [1, 1, 0, 0, 1, 1])
    evaluation = first_correct(_ParityModel(), split, 2)
    pool = first_correct(_ParityModel(), split, 2, skip=2)
    assert evaluation.indices.tolist() == [0, 3] and pool.indices.tolist() == [4, 5]


def test_first_correct_too_few_is_a_data_error() -> None:
    split = _split([0.9, 0.1], [1, 1])
    with pytest.raises(DataError, match=r"only 1 of 2 images are classified correctly, need 2"):
        first_correct(_ParityModel(), split, 2)


def test_atomic_outputs_follow_the_umask(tmp_path: Path) -> None:
    import os

    from a2d.utils.io import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
