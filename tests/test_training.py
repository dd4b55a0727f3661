"""Training: Keras-equivalent Adadelta, the L2 penalty, seeded determinism, exact resume."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from a2d.config import PROJECT_ROOT, TrainConfig, load_params
from a2d.data import DatasetSplit, load_split
from a2d.models import build_model, save_weights
from a2d.training import (
    EpochRecord,
    FittedTarget,
    accuracy,
    fit_target,
    l2_penalty,
    make_optimizer,
    train_model,
)
from a2d.training.trainer import CHECKPOINT_NAME
from a2d.utils.seed import seed_everything


def _tiny_split(n: int = 96, seed: int = 0) -> DatasetSplit:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=gen)
    x = torch.rand(n, 1, 28, 28, generator=gen) * 0.3
    x[torch.arange(n), 0, y * 2 + 3, 5:20] = 1.0  # a learnable stripe per class
    return DatasetSplit(x=x, y=y, indices=torch.arange(n))


def _cfg(epochs: int = 2, **kw: object) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=32, optimizer="adadelta", lr=1.0, **kw)  # type: ignore[arg-type]


def _train_and_hash(
    tmp_path: Path, name: str, epochs: int = 2, checkpoint_dir: Path | None = None
) -> str:
    seed_everything(3)
    model = build_model("env2_mnist_lenet5")
    train_model(
        model,
        _tiny_split(),
        _cfg(epochs),
        seed=3,
        device=torch.device("cpu"),
        checkpoint_dir=checkpoint_dir,
    )
    save_weights(model, tmp_path / name)
    return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()


def test_same_seed_gives_identical_weights_file(tmp_path: Path) -> None:
    assert _train_and_hash(tmp_path, "a.pt") == _train_and_hash(tmp_path, "b.pt")


def test_different_seed_gives_different_weights(tmp_path: Path) -> None:
    first = _train_and_hash(tmp_path, "a.pt")
    seed_everything(4)
    model = build_model("env2_mnist_lenet5")
    train_model(model, _tiny_split(), _cfg(2), seed=4, device=torch.device("cpu"))
    save_weights(model, tmp_path / "c.pt")
    assert hashlib.sha256((tmp_path / "c.pt").read_bytes()).hexdigest() != first


class _Interrupted(Exception):
    pass


def _stop_after_first_epoch(record: object) -> None:
    raise _Interrupted


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path: Path) -> None:
    """A run killed after epoch 1 resumes from its checkpoint and ends bit-identical."""
    uninterrupted = _train_and_hash(tmp_path, "full.pt", epochs=2)
    ckpt = tmp_path / "ckpt"
    seed_everything(3)
    with pytest.raises(_Interrupted):
        train_model(
            build_model("env2_mnist_lenet5"),
            _tiny_split(),
            _cfg(2),
            seed=3,
            device=torch.device("cpu"),
            checkpoint_dir=ckpt,
            on_epoch=_stop_after_first_epoch,
        )
    assert (ckpt / CHECKPOINT_NAME).exists()
    assert _train_and_hash(tmp_path, "resumed.pt", epochs=2, checkpoint_dir=ckpt) == uninterrupted
    assert not ckpt.exists(), "a finished run removes its checkpoint and the folder made for it"


def test_checkpoint_from_other_config_is_ignored(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    torch.save({"fingerprint": {"other": True}}, ckpt / CHECKPOINT_NAME)
    assert _train_and_hash(tmp_path, "x.pt", checkpoint_dir=ckpt) == _train_and_hash(
        tmp_path, "y.pt"
    )


def test_adadelta_uses_keras_constants() -> None:
    opt = make_optimizer(build_model("env2_mnist_lenet5").parameters(), _cfg(rho=0.95, eps=1e-7))
    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.Adadelta)
    assert (group["lr"], group["rho"], group["eps"]) == (1.0, 0.95, 1e-7)


def test_l2_penalty_is_keras_sum_of_squares_on_weights_and_biases() -> None:
    net = build_model("env1_cifar10_convnet").net
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
    expected = (
        0.01
        * 0.25
        * sum(p.numel() for n, p in net.named_parameters() if n.startswith(("dense1.", "dense2.")))
    )
    assert torch.isclose(l2_penalty(net, ["dense1", "dense2"], 0.01), torch.tensor(expected))
    assert float(l2_penalty(net, ["dense1"], 0.0)) == 0.0


def test_l2_penalty_unknown_layer_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\['dense9'\] are not modules"):
        l2_penalty(build_model("env1_cifar10_convnet").net, ["dense1", "dense9"], 0.01)


def test_training_learns_the_toy_problem() -> None:
    seed_everything(0)
    model = build_model("env1_mnist_cnn")
    split = _tiny_split(256)
    history = train_model(model, split, _cfg(4), seed=0, device=torch.device("cpu"), test=split)
    assert [r.epoch for r in history] == [1, 2, 3, 4]
    assert accuracy(model, split, batch_size=64, device=torch.device("cpu")) > 0.8


def test_fitted_target_metrics_and_history_rows() -> None:
    fitted = FittedTarget(
        model=build_model("env2_mnist_lenet5"),
        history=[EpochRecord(1, 0.5, 0.9, 1.234), EpochRecord(2, 0.25, None, 2.0)],
        test_accuracy=0.9829123,
        train_accuracy=0.5,
        n_train=64,
        seconds=3.26,
    )
    assert fitted.metrics(paper_test=0.983, paper_train=None) == {
        "test_accuracy": 0.982912,
        "train_accuracy": 0.5,
        "paper_test_accuracy": 0.983,
        "paper_train_accuracy": None,
        "test_accuracy_minus_paper": -8.8e-05,
        "n_train": 64,
        "epochs": 2,
        "seconds": 3.3,
    }
    assert fitted.metrics(paper_test=None, paper_train=None)["test_accuracy_minus_paper"] is None
    assert fitted.history_csv() == (
        "epoch,loss,test_accuracy,seconds\n1,0.500000,0.9,1.23\n2,0.250000,,2.00\n"
    )


@pytest.mark.needs_data
def test_fit_target_trains_exactly_as_the_model_stage_did(data_root: Path, tmp_path: Path) -> None:
    """Data loaded, then seeded, then built, then trained: the order that fixes the weights."""
    params = load_params(
        overrides=["models.env1_mnist.train.train_subset=64", "models.env1_mnist.train.epochs=1"]
    )
    cfg, cpu = params.models["env1_mnist"], torch.device("cpu")
    fitted = fit_target(
        cfg,
        params.datasets["mnist"],
        data_root=data_root,
        seed=3,
        device=cpu,
        pretrained_root=PROJECT_ROOT,
        checkpoint_dir=tmp_path / "ckpt",
    )
    test = load_split("MNIST", data_root, train=False)
    train = load_split("MNIST", data_root, train=True, limit=64)
    seed_everything(3)
    model = build_model(cfg.arch)
    history = train_model(model, train, cfg.train, seed=3, device=cpu, test=test)
    for name, tensor in model.state_dict().items():
        assert torch.equal(fitted.model.state_dict()[name], tensor), name
    assert [r.loss for r in fitted.history] == [r.loss for r in history]
    assert fitted.n_train == 64 and fitted.test_accuracy == history[-1].test_accuracy
    assert not (tmp_path / "ckpt").exists()
