"""Hand-written layer products (a2d.robustness.layer_vjp) equal autograd's, layer by layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from a2d.models import build_model
from a2d.robustness import margin_gradient_norms
from a2d.robustness.layer_vjp import layer_list, linearise
from a2d.robustness.scored import SoftmaxOutput

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def autograd_pullback(model: nn.Module, x: torch.Tensor, cotangent: torch.Tensor) -> torch.Tensor:
    inputs = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(inputs), inputs, grad_outputs=cotangent)
    return grad


def assert_products_match(model: nn.Module, x: torch.Tensor, n_cotangents: int = 3) -> None:
    """Forward output and several input gradients equal autograd's."""
    model.eval()
    layers = layer_list(model)
    assert layers is not None, f"{model} should be a layer list"
    output, pullback = linearise(layers, x)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-6)
    gen = torch.Generator().manual_seed(1)
    for _ in range(n_cotangents):
        cotangent = torch.randn(expected.shape, generator=gen)
        ours = pullback(cotangent)
        torch.testing.assert_close(
            ours.contiguous(), autograd_pullback(model, x, cotangent), rtol=1e-5, atol=1e-6
        )


def _seeded(*modules: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(*modules)


LAYER_CASES = {
    "conv, onednn path": (_seeded(nn.Conv2d(4, 3, 3)), (2, 4, 7, 7)),
    "conv, columns path, stride/padding/dilation": (
        _seeded(nn.Conv2d(1, 8, 3, stride=2, padding=2, dilation=2)),
        (2, 1, 9, 8),
    ),
    "conv, groups": (_seeded(nn.Conv2d(4, 6, 3, padding=1, groups=2)), (2, 4, 5, 5)),
    "max-pool, overlapping windows, padding, ceil": (
        _seeded(nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),
        (2, 3, 7, 6),
    ),
    "relu, tanh, sigmoid": (_seeded(nn.ReLU(), nn.Tanh(), nn.Sigmoid()), (3, 5)),
    "flatten, linear, dropout in eval": (
        _seeded(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, 4), nn.Identity()),
        (3, 3, 2, 2),
    ),
    "relu then max-pool (reordered)": (
        _seeded(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 5)),
        (3, 2, 8, 8),
    ),
    "softmax over a model": (
        SoftmaxOutput(_seeded(nn.Flatten(), nn.Linear(6, 4)).eval()),
        (3, 1, 2, 3),
    ),
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_each_layer_product_equals_autograd(case: str) -> None:
    model, shape = LAYER_CASES[case]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    assert_products_match(model, x)


@pytest.mark.parametrize(
    "arch, shape", [("env1_mnist_cnn", (3, 1, 28, 28)), ("env1_cifar10_convnet", (2, 3, 32, 32))]
)
def test_env1_networks_are_layer_lists_with_autograd_products(arch: str, shape: tuple) -> None:
    torch.manual_seed(0)
    model = build_model(arch)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    assert_products_match(model, x)


def test_normalising_wrapper_divides_the_gradient_by_std() -> None:
    torch.manual_seed(0)
    model = build_model("env1_mnist_cnn", mean=[0.13], std=[0.31])
    assert_products_match(model, torch.rand(2, 1, 28, 28))


def test_relu_before_pool_swap_keeps_ties_and_dead_windows() -> None:
    """Windows whose maximum is negative or tied pass the same gradient as autograd."""
    model = _seeded(nn.ReLU(), nn.MaxPool2d(2))
    x = torch.tensor([[[[-1.0, -2.0, 3.0, 3.0], [-0.5, -4.0, 1.0, 0.0]]]])
    assert_products_match(model, x)


@pytest.mark.parametrize(
    "model",
    [
        _seeded(nn.Linear(4, 3), nn.GELU()),
        _seeded(nn.Linear(4, 3), nn.Dropout(0.5)).train(),
        _seeded(nn.Conv2d(1, 2, 3, padding="same")),
    ],
    ids=["unknown layer", "dropout in training mode", "string padding"],
)
def test_unsupported_networks_are_not_layer_lists(model: nn.Module) -> None:
    assert layer_list(model) is None


def test_margin_norms_by_layers_equal_autograd_and_auto_falls_back() -> None:
    torch.manual_seed(0)
    model = SoftmaxOutput(build_model("env1_mnist_cnn").eval())
    points = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    by_layers = margin_gradient_norms(model, points, 3, vjp="layers")
    torch.testing.assert_close(by_layers, margin_gradient_norms(model, points, 3, vjp="loop"))
    assert (by_layers[:, 3] == 0).all() and (by_layers[:, :3] > 0).all()

    unknown = _seeded(nn.Flatten(), nn.Linear(4, 3), nn.GELU())
    flat = torch.rand(4, 1, 2, 2)
    torch.testing.assert_close(
        margin_gradient_norms(unknown, flat, 0, vjp="auto"),
        margin_gradient_norms(unknown, flat, 0, vjp="loop"),
    )
    with pytest.raises(ValueError, match="vjp='layers' needs a network made of known layers"):
        margin_gradient_norms(unknown, flat, 0, vjp="layers")
