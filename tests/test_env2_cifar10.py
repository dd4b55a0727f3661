"""Env2 CIFAR-10: BL3's GoogLeNet, its config (CPU substitute vs paper), BL3's training recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from a2d.config import (
    CONF_DIR,
    TrainConfig,
    compose,
    craft_attacks,
    load_params,
    target_config,
    to_dict,
)
from a2d.data import DatasetSplit
from a2d.models import ARCHITECTURES, build_network, build_target
from a2d.models.googlenet import Env2Cifar10GoogLeNet
from a2d.training import make_optimizer, train_model
from a2d.training.augment import augment_batch, crop_flip
from a2d.training.trainer import _fingerprint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("arch", "n_params", "width"),
    [("env2_cifar10_googlenet", 6_166_250, 1.0), ("env2_cifar10_googlenet_quarter", 392_738, 0.25)],
)
def test_googlenet_sizes_and_outputs(arch: str, n_params: int, width: float) -> None:
    """6,166,250 parameters: the CIFAR-10 GoogLeNet BL3 copied (kuangliu's port)."""
    net = build_network(arch)
    assert isinstance(net, Env2Cifar10GoogLeNet) and net.width == width
    assert sum(p.numel() for p in net.parameters()) == n_params
    assert ARCHITECTURES[arch].input_shape == (3, 32, 32)
    with torch.no_grad():
        assert net.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_googlenet_keeps_the_cifar_ports_module_names() -> None:
    """So a state dict saved from the port (pre_layers, a3 ... b5, linear; b1 ... b4) loads."""
    keys = build_network("env2_cifar10_googlenet_quarter").state_dict()
    for prefix in ("pre_layers.0.", "a3.b1.0.", "b3.b4.1.", "e4.b3.6.", "b5.b2.3.", "linear."):
        assert any(k.startswith(prefix) for k in keys), prefix


def test_googlenet_normalises_inside_the_wrapper() -> None:
    params = load_params()
    cifar = params.datasets["cifar10"]
    model = build_target(
        "env2_cifar10_googlenet_quarter", normalize=True, mean=cifar.mean, std=cifar.std
    ).eval()
    x = torch.rand(2, 3, 32, 32)
    expected = model.net(model.preprocess(x))
    torch.testing.assert_close(model(x), expected)
    torch.testing.assert_close(model.preprocess(x)[:, 1], (x[:, 1] - cifar.mean[1]) / cifar.std[1])


def test_bad_width_raises() -> None:
    with pytest.raises(ValueError, match="width must be > 0"):
        Env2Cifar10GoogLeNet(width=0)


# --- config: the target, the CPU substitute and the full recipe one value away -----------------


def test_env2_cifar10_is_configured_with_bl3s_recipe_and_the_cpu_substitute() -> None:
    params = load_params()
    cfg = target_config(params, "env2_cifar10")
    assert (cfg.env, cfg.dataset, cfg.normalize, cfg.source) == ("env2", "cifar10", True, "train")
    assert cfg.arch == "env2_cifar10_googlenet_quarter"
    train = cfg.train
    assert train is not None
    assert (train.optimizer, train.lr, train.momentum, train.weight_decay, train.batch_size) == (
        "sgd",
        0.01,
        0.5,
        5e-4,
        128,
    )
    assert (train.augment, train.epochs) == ("crop_flip", 10)
    # selectable, but not run by the paper profile (it would start hours of training)
    assert "env2_cifar10" not in params.targets
    assert set(craft_attacks(params, "env2_cifar10")) == {"fgsm", "jsma", "deepfool", "cw"}
    assert params.craft.protocol["env2_cifar10"].successful_only


def test_full_recipe_is_one_config_value_away() -> None:
    default = load_params()  # params.yaml: the composition of conf/ (tests/test_config.py)
    cpu, paper = default.models["env2_cifar10"], compose(["googlenet=paper"])
    full = paper["models"]["env2_cifar10"]
    assert full["arch"] == "env2_cifar10_googlenet" and full["train"]["epochs"] == 100
    assert cpu.train is not None and cpu.train.epochs == 10
    assert {k: v for k, v in full["train"].items() if k != "epochs"} == {
        k: v for k, v in to_dict(cpu.train).items() if k in full["train"] and k != "epochs"
    }
    # the group sets nothing but this target
    for option in ("cpu", "paper"):
        text = (CONF_DIR / "googlenet" / f"{option}.yaml").read_text()
        assert text.startswith("# @package models.env2_cifar10\n")


def test_bad_augment_is_a_config_error() -> None:
    from a2d.errors import ConfigError

    with pytest.raises(ConfigError, match=r"models.env2_cifar10.train.augment='crop'"):
        load_params(overrides=["models.env2_cifar10.train.augment=crop"])


# --- BL3's recipe in the trainer ----------------------------------------------------------------


def test_crop_flip_moves_each_image_inside_its_padded_copy() -> None:
    x = torch.rand(6, 3, 8, 8)
    out = crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        windows = [padded[i, :, r : r + 8, c : c + 8] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    again = crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert torch.equal(out, again)
    flips = crop_flip(x, torch.Generator().manual_seed(1), padding=0)
    assert all(
        torch.equal(f, i) or torch.equal(f, i.flip(-1)) for f, i in zip(flips, x, strict=True)
    )


def test_no_augmentation_draws_nothing() -> None:
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    x = torch.rand(2, 3, 4, 4)
    assert augment_batch(x, "none", gen) is x
    assert torch.equal(gen.get_state(), state)
    with pytest.raises(ValueError, match="unknown augment 'rotate'"):
        augment_batch(x, "rotate", gen)


def _cfg(**kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        epochs=2, batch_size=4, optimizer="sgd", lr=0.01, momentum=0.5, eval_batch_size=64
    )
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_sgd_takes_the_weight_decay_and_old_fingerprints_stay() -> None:
    net = torch.nn.Linear(2, 2)
    assert (
        make_optimizer(net.parameters(), _cfg(weight_decay=5e-4)).defaults["weight_decay"] == 5e-4
    )
    plain = _fingerprint(_cfg(), 0, 10, "Net", None)["train"]
    assert "weight_decay" not in plain and "augment" not in plain  # checkpoints made before
    recipe = _fingerprint(_cfg(weight_decay=5e-4, augment="crop_flip"), 0, 10, "Net", None)
    assert recipe["train"]["augment"] == "crop_flip"


def _tiny_cifar(n: int, seed: int) -> DatasetSplit:
    gen = torch.Generator().manual_seed(seed)
    return DatasetSplit(
        x=torch.rand(n, 3, 32, 32, generator=gen),
        y=torch.randint(0, 10, (n,), generator=gen),
        indices=torch.arange(n),
    )


def _train(tmp_path: Path, epochs: int, ckpt: Path | None) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_target("env2_cifar10_googlenet_quarter", normalize=False, mean=[0], std=[1])
    cfg = _cfg(epochs=epochs, weight_decay=5e-4, augment="crop_flip")
    train_model(
        model, _tiny_cifar(8, 0), cfg, seed=0, device=torch.device("cpu"), checkpoint_dir=ckpt
    )
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_recipe_trains_googlenet_and_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two epochs straight equal one epoch, a kill, and a resumed second (augmentation included)."""
    straight = _train(tmp_path, 2, None)
    ckpt = tmp_path / "ckpt"
    import a2d.training.trainer as trainer

    calls = {"n": 0}
    real = trainer._run_epoch

    def dies_in_epoch_two(*args: object, **kw: object) -> float:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer, "_run_epoch", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, 2, ckpt)
    monkeypatch.setattr(trainer, "_run_epoch", real)
    resumed = _train(tmp_path, 2, ckpt)
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0)


def test_the_model_stage_trains_the_configured_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """fit_target (the model stage's call) with the composed env2_cifar10 config, on tiny data."""
    import a2d.training.target as target

    def tiny_split(name: str, root: Path, *, train: bool, limit: int | None = None) -> DatasetSplit:
        assert name == "CIFAR10"
        return _tiny_cifar(8 if train else 4, seed=int(train))

    monkeypatch.setattr(target, "load_split", tiny_split)
    params = load_params(overrides=["models.env2_cifar10.train.epochs=1"])
    cfg = target_config(params, "env2_cifar10")
    fitted = target.fit_target(
        cfg,
        params.datasets["cifar10"],
        data_root=Path("."),
        seed=0,
        device=torch.device("cpu"),
        pretrained_root=Path("."),
    )
    assert len(fitted.history) == 1 and fitted.n_train == 8
    assert fitted.model.normalized and isinstance(fitted.model.net, Env2Cifar10GoogLeNet)
    assert fitted.model.net.width == 0.25
    assert 0 <= fitted.test_accuracy <= 1
