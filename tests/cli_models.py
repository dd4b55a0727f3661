"""A tiny network factory for tests/test_cli.py: what a user's ``module:factory`` looks like."""

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
