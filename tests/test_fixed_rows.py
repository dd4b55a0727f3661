"""Fixed-row model calls: costs that are the same bytes however the inputs are split.

CPU kernels pick their algorithm by the number of rows, so a tail batch of a few examples can
round a row differently (a2d/costs/base.py notes). With ``fixed_rows=k`` the model only sees
batches of exactly ``k`` rows; these tests pin the wrapper's contract, the backend property it
relies on, and the end result on the Env1 MNIST architecture (random weights).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from a2d.cli import main as cli_main
from a2d.config import load_params
from a2d.costs.base import FixedRows
from a2d.costs.suite import CostSuite
from a2d.errors import ConfigError
from a2d.models.registry import build_model
from a2d.pipeline.shards import LocalRunner, sharded

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ATTACKS = {
    "bim": {"epsilon": 0.3, "max_iterations": 30},
    "dba": {"max_iterations": 20, "mse_threshold": 0.02, "seed": 0},
}


class RowCounter(nn.Module):
    """A linear map that records how many rows each call had."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(int(x.shape[0]))
        return self.linear(x)


@pytest.mark.parametrize("n", [1, 3, 4, 9])
def test_fixed_rows_calls_the_model_with_exactly_its_rows(n: int) -> None:
    torch.manual_seed(0)
    net = RowCounter()
    x = torch.rand(n, 6, requires_grad=True)
    out = FixedRows(net, 4)(x)
    assert out.shape == (n, 3)
    assert net.calls and set(net.calls) == {4}
    torch.testing.assert_close(out, net.linear(x))
    # the padding rows are copies of row 0, detached: the gradient is the plain model's
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    (plain,) = torch.autograd.grad(net.linear(x).square().sum(), x)
    torch.testing.assert_close(grad, plain)


def lenet_sized() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_model("env1_mnist_cnn").eval()


def test_a_row_of_a_fixed_size_call_depends_on_its_own_input_only() -> None:
    """The backend property fixed_rows relies on: other rows never change a row's numbers."""
    net = lenet_sized()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 28, 28, generator=gen)

    def logits_and_grads(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = batch.clone().requires_grad_(True)
        out = net(batch)
        (grad,) = torch.autograd.grad((out * torch.arange(10.0)).sum(), batch)
        return out.detach(), grad

    logits, grads = logits_and_grads(x)
    order = torch.randperm(16, generator=gen)
    other = torch.cat([x[:5], torch.rand(11, 1, 28, 28, generator=gen)])
    for batch, rows, same in ((x[order], order, slice(None)), (other, slice(0, 5), slice(0, 5))):
        got_logits, got_grads = logits_and_grads(batch)
        assert torch.equal(got_logits[same], logits[rows])
        assert torch.equal(got_grads[same], grads[rows])


def test_fixed_row_costs_are_the_same_bytes_however_the_inputs_are_split() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(19, 1, 28, 28, generator=gen)
    ids = torch.arange(100, 119)
    suite = CostSuite(lenet_sized(), ATTACKS, batch_size=8, fixed_rows=4)
    whole = suite.costs(x, ids=ids)
    with sharded(LocalRunner(5)):  # shards of 5, 5, 5, 4: every tail shorter than the batch
        split = suite.costs(x, ids=ids)
    halves = [suite.costs(x[:7], ids=ids[:7]), suite.costs(x[7:], ids=ids[7:])]
    for field in ("cost", "queries", "success", "label"):
        assert np.array_equal(getattr(whole, field), getattr(split, field)), field
        joined = np.concatenate([getattr(h, field) for h in halves])
        assert np.array_equal(getattr(whole, field), joined), field


@pytest.mark.parametrize("rows", [0, -2, 2.5, True])
def test_a_bad_fixed_rows_is_a_one_line_error(
    rows: object, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match=r"fixed_rows must be a positive integer or None"):
        CostSuite(lenet_sized(), {"bim": ATTACKS["bim"]}, fixed_rows=rows)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"costs.fixed_rows"):  # one line, naming the key
        load_params(overrides=[f"costs.fixed_rows={str(rows).lower()}"])


def test_fixed_rows_in_config_and_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_params().costs.fixed_rows is None  # the committed results' plain batching
    assert load_params(overrides=["costs.fixed_rows=16"]).costs.fixed_rows == 16
    code = cli_main(
        [
            "costs",
            "x.pt",
            "--model",
            "tests.cli_models:tiny_net",
            "--bounds",
            "0",
            "1",
            "--attacks",
            "bim",
            "--fixed-rows",
            "0",
        ]  # fmt: skip
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("a2d costs: error: argument --fixed-rows: must be a positive integer")
