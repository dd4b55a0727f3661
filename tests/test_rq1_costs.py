"""RQ1's other attacks_d (FGSM_d, C&W_d, L-BFGS_d, LSA_d): the batched loop equals the plain
per-example reference, batching never changes a cost, and each cost means what its docstring
says. One row per attack, on the tiny mean-above-half model and a tiny 3-channel CNN."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from a2d.costs import (
    COST_ATTACKS,
    PAPER_ATTACKS_D,
    CostAttack,
    CostResult,
    CWCost,
    FGSMCost,
    LBFGSCost,
    LocalSearchCost,
    make_cost_attack,
)
from a2d.costs.reference import reference_costs
from a2d.errors import ConfigError

from .conftest import MeanAboveHalf

# Small caps keep the reference loops fast; each row mixes successes and failures.
ATTACKS: dict[str, Callable[[], CostAttack]] = {
    "fgsm": lambda: FGSMCost(epsilon=0.15),
    "cw": lambda: CWCost(
        binary_search_steps=3, max_iterations=25, initial_const=0.02, learning_rate=0.02
    ),
    "lbfgs": lambda: LBFGSCost(
        max_iterations=28, iterations_per_const=6, const_doublings=10, initial_const=1e-4, history=3
    ),
    "lsa": lambda: LocalSearchCost(
        max_iterations=10,
        neighbourhood=1,
        pixels_per_round=3,
        max_candidates=8,
        initial_fraction=0.3,
        seed=2,
    ),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mean_model() -> tuple[nn.Module, torch.Tensor]:
    """Class 1 iff the mean pixel exceeds 0.5 (float64), and 10 noisy 6x6 inputs whose mean
    lies from 0.02 to 0.4 away from the boundary: robustness grows with that distance."""
    means = torch.tensor([0.52, 0.45, 0.6, 0.35, 0.7, 0.25, 0.8, 0.15, 0.9, 0.48])
    noise = torch.randn((10, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    x = (means.view(-1, 1, 1, 1) + 0.1 * noise).clamp(0, 1).double()
    return MeanAboveHalf().double().eval(), x


@pytest.fixture(scope="module")
def runs(mean_model: tuple[nn.Module, torch.Tensor]) -> Callable[[str, object], CostResult]:
    """``runs(name, batch_size)``, cached; ``batch_size="reference"`` runs the plain loop."""
    cache: dict[tuple[str, object], CostResult] = {}

    def get(name: str, batch_size: object = None) -> CostResult:
        if (name, batch_size) not in cache:
            net, x = mean_model
            attack = ATTACKS[name]()
            if batch_size == "reference":
                cache[name, batch_size] = reference_costs(attack, net, x)
            else:
                assert batch_size is None or isinstance(batch_size, int)
                cache[name, batch_size] = attack(net, x, batch_size=batch_size)
        return cache[name, batch_size]

    return get


def assert_same(a: CostResult, b: CostResult) -> None:
    assert a.cap == b.cap
    assert torch.equal(a.cost, b.cost)
    assert torch.equal(a.success, b.success)
    assert torch.equal(a.queries, b.queries)
    assert torch.equal(a.label, b.label)
    assert a.extras.keys() == b.extras.keys()
    assert all(torch.equal(a.extras[k], b.extras[k]) for k in a.extras)
    torch.testing.assert_close(a.adversarial, b.adversarial, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_batched_equals_reference(name: str, runs: Callable[..., CostResult]) -> None:
    batched = runs(name, 3)
    assert 0 < int(batched.success.sum()) < len(batched), "the fixture should mix outcomes"
    assert_same(batched, runs(name, "reference"))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_batch_size_does_not_change_costs(name: str, runs: Callable[..., CostResult]) -> None:
    assert_same(runs(name, 1), runs(name, 3))
    assert_same(runs(name), runs(name, 3))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_success_agrees_with_the_model_and_failures_are_the_cap(
    name: str, mean_model: tuple[nn.Module, torch.Tensor], runs: Callable[..., CostResult]
) -> None:
    net, x = mean_model
    r = runs(name, 3)
    with torch.no_grad():
        assert torch.equal(r.label, net(x).argmax(1))
        assert torch.equal(r.success, net(r.adversarial).argmax(1) != r.label)
    assert torch.equal(r.cost[~r.success], torch.full_like(r.cost[~r.success], r.cap))
    assert (r.cost[r.success] < r.cap).all()
    assert ((r.adversarial >= 0) & (r.adversarial <= 1)).all()


def test_three_channel_cnn_matches_reference() -> None:
    """(N, 3, 6, 6) inputs through an untrained CNN: shapes, channels and flattening."""
    torch.manual_seed(1)
    head = nn.Linear(64, 4)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), head).double().eval()
    with torch.no_grad():
        head.weight.mul_(4)
    x = torch.rand((4, 3, 6, 6), generator=torch.Generator().manual_seed(2)).double()
    attacks: list[CostAttack] = [
        FGSMCost(epsilon=0.02),
        CWCost(binary_search_steps=2, max_iterations=10, initial_const=0.1, learning_rate=0.05),
        LBFGSCost(max_iterations=12, iterations_per_const=4, const_doublings=4, history=2),
        LocalSearchCost(max_iterations=4, neighbourhood=1, max_candidates=6, seed=1),
    ]
    for attack in attacks:
        assert_same(attack(net, x, batch_size=3), reference_costs(attack, net, x))


def test_fgsm_cost_is_success_or_not() -> None:
    """logit_1 = 20 (mean - 0.5): one step of 0.1 flips a mean of 0.55, not one of 0.65."""
    x = torch.tensor([0.55, 0.65], dtype=torch.float64).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    result = FGSMCost(epsilon=0.1)(MeanAboveHalf().double(), x.contiguous())
    assert result.cap == 1
    assert result.cost.tolist() == [0, 1] and result.success.tolist() == [True, False]
    assert result.queries.tolist() == [2, 2]
    torch.testing.assert_close(result.adversarial[0], torch.full((1, 2, 2), 0.45).double())


def test_cw_cost_restarts_in_every_search_step(runs: Callable[..., CostResult]) -> None:
    """The authors' count: the Adam iteration within the search step, so a success found in a
    later step can cost less than one found in the first, while its queries keep growing."""
    r = runs("cw", 3)
    step = r.extras["search_step"]
    assert step[~r.success].tolist() == [3] * int((~r.success).sum())
    assert set(step[r.success].tolist()) >= {0, 1, 2}
    # 1 query for the label, 1 per Adam iteration: a first-step success costs queries - 2
    first = r.success & (step == 0)
    assert torch.equal(r.queries[first], r.cost[first] + 2)
    later = r.success & (step > 0)
    assert (r.queries[later] > r.cost[later] + 2).all()


def test_lsa_depends_on_its_seed_and_the_example_id(
    mean_model: tuple[nn.Module, torch.Tensor], runs: Callable[..., CostResult]
) -> None:
    net, x = mean_model
    base = runs("lsa", 3)
    shuffled = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    again = ATTACKS["lsa"]()(net, x[shuffled], batch_size=4, ids=shuffled)
    assert torch.equal(again.cost, base.cost[shuffled])
    other = LocalSearchCost(**{**vars(ATTACKS["lsa"]()), "seed": 5})(net, x)
    assert not torch.equal(other.queries, base.queries)


def test_registry_keeps_the_paper_four_first() -> None:
    assert list(COST_ATTACKS) == ["bim", "bim2", "jsma", "dba", "fgsm", "cw", "lbfgs", "lsa"]
    assert PAPER_ATTACKS_D == ("bim", "bim2", "jsma", "dba")
    assert make_cost_attack("cw").cap == 1000 and make_cost_attack("lsa").cap == 150
    assert make_cost_attack("lbfgs").cap == 4500 and make_cost_attack("fgsm").cap == 1


ERRORS: list[tuple[Callable[[], object], str]] = [
    (lambda: make_cost_attack("fgsm", step=0.1), r"unknown hyperparameter.*step"),
    (lambda: FGSMCost(epsilon=0), "epsilon must be > 0"),
    (lambda: CWCost(binary_search_steps=0), "binary_search_steps must be >= 1"),
    (lambda: CWCost(learning_rate=0), "learning_rate must be > 0"),
    (lambda: CWCost(confidence=-1), "confidence must be >= 0"),
    (lambda: LBFGSCost(history=0), "history must be a positive integer"),
    (lambda: LBFGSCost(initial_const=-1), "initial_const must be > 0"),
    (lambda: LocalSearchCost(cyclic_factor=3), r"cyclic_factor must be in \[0, 2\]"),
    (lambda: LocalSearchCost(initial_fraction=0), r"initial_fraction must be in \(0, 1\]"),
    (lambda: LocalSearchCost(seed=-2), "seed must be a non-negative integer"),
]


@pytest.mark.parametrize("build, match", ERRORS)
def test_bad_hyperparameters_are_config_errors(build: Callable[[], object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()


def test_lsa_needs_images() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).double()
    with pytest.raises(ValueError, match=r"LSA_d needs \(N, C, H, W\) images"):
        LocalSearchCost()(net, torch.rand((2, 4)).double())
