"""Tiny network factories for tests/test_cli.py and tests/test_reliability.py: what a user's
``module:factory`` looks like, and broken ones."""

from __future__ import annotations

import torch
from torch import nn


def tiny_net() -> nn.Module:
    """(N, 1, 4, 4) -> 3 logits, the same weights on every call (its own seed, global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()


def not_a_model() -> str:
    """A factory that returns something other than a module (an error case)."""
    return "not a model"


def nan_net() -> nn.Module:
    """A network whose logits are NaN (a broken model must stop the run, not give costs)."""
    net = tiny_net()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.fill_(float("nan"))
    return net


def failing_factory() -> nn.Module:
    """A factory that fails at run time (exit status 1, not a usage error)."""
    raise RuntimeError("cannot reach the weights server")


class _BufferLinear(nn.Module):
    """``tiny_net``'s affine map with its weights in buffers: a network with no parameters."""

    def __init__(self) -> None:
        super().__init__()
        linear = tiny_net()[1]
        self.register_buffer("weight", linear.weight.detach().clone())
        self.register_buffer("bias", linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T + self.bias


def buffer_net() -> nn.Module:
    """``tiny_net`` without parameters (weights in buffers): the same logits, so the same costs."""
    return _BufferLinear().eval()


class _InfAboveHalf(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).masked_fill(x.flatten(1)[:, :1] > 0.5, float("inf"))


def inf_net() -> nn.Module:
    """Infinite logits for the inputs whose first pixel exceeds 0.5 (an overflowing model)."""
    return _InfAboveHalf()


def one_logit_net() -> nn.Module:
    """One output instead of (N, classes) logits: every attack would fail on it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 1)).eval()
