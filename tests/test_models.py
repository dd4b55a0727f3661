"""Models: registry, logits shapes, normalisation inside the wrapper, Env2 pretrained weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from a2d.config import PROJECT_ROOT, load_params
from a2d.errors import ConfigError, DataError
from a2d.models import (
    ARCHITECTURES,
    ClassifierWrapper,
    build_model,
    build_network,
    load_pretrained,
    load_weights,
    save_weights,
)


@pytest.mark.parametrize(
    ("arch", "n_params"),
    [
        ("env1_mnist_cnn", 1_218_634),  # = the layer list of spec/protocol.md, counted by hand
        ("env1_cifar10_convnet", 2_915_114),
        ("env2_mnist_lenet5", 61_706),
    ],
)
def test_architectures_output_logits_with_the_documented_size(arch: str, n_params: int) -> None:
    spec = ARCHITECTURES[arch]
    model = build_model(arch).eval()
    out = model(torch.rand(2, *spec.input_shape))
    assert out.shape == (2, spec.num_classes)
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert not torch.allclose(out.softmax(1).sum(1), out.sum(1)), (
        "models must return logits, not probabilities"
    )


def test_keras_initialisation_zero_biases() -> None:
    net = build_network("env1_mnist_cnn")
    assert all(
        float(m.bias.abs().sum()) == 0.0
        for m in net.modules()
        if hasattr(m, "bias") and m.bias is not None
    )


def test_unknown_architecture_lists_valid_names() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown architecture 'lenet'; valid: env1_cifar10_convnet, env1_mnist_cnn",
    ):
        build_network("lenet")


def test_normalisation_happens_inside_the_wrapper() -> None:
    torch.manual_seed(0)
    net = build_network("env2_mnist_lenet5").eval()
    wrapped = ClassifierWrapper(net, mean=[0.1307], std=[0.3081]).eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(wrapped(x), net((x - 0.1307) / 0.3081))
    assert wrapped.bounds == (0.0, 1.0)


def test_wrapper_needs_both_mean_and_std() -> None:
    with pytest.raises(ValueError, match="both mean and std"):
        ClassifierWrapper(build_network("env2_mnist_lenet5"), mean=[0.5])


def test_weights_round_trip(tmp_path: Path) -> None:
    model = build_model("env2_mnist_lenet5")
    save_weights(model, tmp_path / "w.pt")
    other = load_weights(build_model("env2_mnist_lenet5"), tmp_path / "w.pt")
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(model.eval()(x), other(x)) and not other.training


def test_missing_weights_say_which_stage_makes_them(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no model weights at .*dvc repro model"):
        load_weights(build_model("env2_mnist_lenet5"), tmp_path / "missing.pt")


@pytest.mark.needs_data
def test_env2_pretrained_lenet_reaches_bl3_accuracy(data_root: Path) -> None:
    """BL3's own weights: 98.29% on the 10k test images (paper 98.3%), checked on the first 2000."""
    from a2d.data import load_split

    params = load_params()
    cfg = params.models["env2_mnist"]
    model = build_model(
        cfg.arch, mean=params.datasets["mnist"].mean, std=params.datasets["mnist"].std
    )
    load_pretrained(model, PROJECT_ROOT / cfg.pretrained, sha256=cfg.pretrained_sha256)
    test = load_split("MNIST", data_root, train=False, limit=2000)
    accuracy = float((model.predict(test.x) == test.y).float().mean())
    assert accuracy > 0.975


def test_pretrained_hash_mismatch_is_a_data_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.pkl"
    torch.save(build_network("env2_mnist_lenet5").state_dict(), fake)
    cfg = load_params().models["env2_mnist"]
    with pytest.raises(DataError, match="do not match pretrained_sha256"):
        load_pretrained(build_model(cfg.arch), fake, sha256=cfg.pretrained_sha256)
    with pytest.raises(DataError, match="not found; set models.<target>.pretrained"):
        load_pretrained(build_model(cfg.arch), tmp_path / "missing.pkl")


def test_pretrained_weights_load_without_a_hash(tmp_path: Path) -> None:
    saved = build_network("env2_mnist_lenet5")
    torch.save(saved.state_dict(), tmp_path / "w.pkl")
    model = load_pretrained(build_model("env2_mnist_lenet5"), tmp_path / "w.pkl")
    for name, tensor in saved.state_dict().items():
        assert torch.equal(model.net.state_dict()[name], tensor)
