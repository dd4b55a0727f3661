"""Cost attacks: the batched loop equals the plain per-example loop, batching never changes a
cost, failures are exactly the cap, BIM counts 0-based, queries follow the documented rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from a2d.costs import (
    COST_ATTACKS,
    BoundaryCost,
    CostAttack,
    CostResult,
    JSMACost,
    L2BIMCost,
    LinfBIMCost,
    make_cost_attack,
    normalized_mse,
)
from a2d.costs.reference import reference_costs
from a2d.errors import ConfigError

# Small caps keep the plain reference loops fast; each row gives a mix of successes and failures.
ATTACKS: dict[str, Callable[[], CostAttack]] = {
    "bim": lambda: LinfBIMCost(epsilon=0.3, step=0.3 / 60, max_iterations=40),
    "bim2": lambda: L2BIMCost(epsilon=0.1, step=0.1 / 40, max_iterations=60),
    "jsma": lambda: JSMACost(max_iterations=35),
    "dba": lambda: BoundaryCost(max_iterations=150, mse_threshold=0.04, init_chunk=40, seed=3),
}
N_INPUTS = {"bim": 24, "bim2": 24, "jsma": 24, "dba": 6}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models on a busy machine run far faster on one thread (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def linear_model(weight: list[list[float]], bias: list[float]) -> nn.Module:
    """logits = W vec(x) + b, in float64."""
    layer = nn.Linear(len(weight[0]), len(weight)).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return nn.Sequential(nn.Flatten(), layer)


@pytest.fixture(scope="module")
def toy() -> tuple[nn.Module, torch.Tensor]:
    """A tiny CNN (with dropout, which must be off) trained on 3 noisy 6x6 prototypes, in
    float64, and 24 held-out inputs of varying robustness."""
    gen = torch.Generator().manual_seed(0)
    prototypes = torch.rand((3, 1, 6, 6), generator=gen)
    labels = torch.randint(0, 3, (624,), generator=gen)
    x = (prototypes[labels] + 0.35 * torch.randn((624, 1, 6, 6), generator=gen)).clamp(0, 1)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(64, 3)
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        batch = torch.randint(0, 600, (64,), generator=gen)
        loss = F.cross_entropy(net(x[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return net.double().eval(), x[600:].double()


@pytest.fixture(scope="module")
def runs(toy: tuple[nn.Module, torch.Tensor]) -> Callable[[str, object], CostResult]:
    """``runs(name, batch_size)``, cached; ``batch_size="reference"`` runs the plain loop."""
    cache: dict[tuple[str, object], CostResult] = {}

    def get(name: str, batch_size: object = None) -> CostResult:
        if (name, batch_size) not in cache:
            net, x = toy
            attack, x = ATTACKS[name](), x[: N_INPUTS[name]]
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
    # L2 steps carry the backend's last-bit batch effects in the gradient; costs do not
    torch.testing.assert_close(a.adversarial, b.adversarial, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_batched_equals_reference(name: str, runs: Callable[..., CostResult]) -> None:
    batched, reference = runs(name), runs(name, "reference")
    assert 0 < int(batched.success.sum()) < len(batched), "the fixture should mix outcomes"
    assert_same(batched, reference)


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_batch_size_does_not_change_costs(
    name: str, batch_size: int, runs: Callable[..., CostResult]
) -> None:
    assert_same(runs(name, batch_size), runs(name))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_input_order_does_not_change_costs(
    name: str, toy: tuple[nn.Module, torch.Tensor], runs: Callable[..., CostResult]
) -> None:
    net, x = toy
    n = N_INPUTS[name]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    shuffled = ATTACKS[name]()(net, x[:n][perm], batch_size=4, ids=perm)
    full = runs(name)
    assert torch.equal(shuffled.cost, full.cost[perm])
    assert torch.equal(shuffled.queries, full.queries[perm])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["bim", "jsma"])
def test_float32_and_float64_match_reference(
    name: str, dtype: torch.dtype, toy: tuple[nn.Module, torch.Tensor]
) -> None:
    net, x = toy
    net, x = net.to(dtype), x[:12].to(dtype)
    try:
        attack = ATTACKS[name]()
        batched, reference = attack(net, x, batch_size=5), reference_costs(attack, net, x)
        assert batched.adversarial.dtype == dtype
        assert torch.equal(batched.cost, reference.cost)
        assert torch.equal(batched.adversarial, reference.adversarial)
    finally:
        net.double()


def always_class_0() -> nn.Module:
    return linear_model([[0.0] * 4, [0.0] * 4], [1.0, 0.0])


def jsma_dead_end() -> nn.Module:
    """2 features, logit_1 = x_0 + x_1 - 3: the target (class 1) needs both up, both gradients
    tie, feature 0 hits the bound after one edit and the argmax then sticks on it."""
    return linear_model([[0.0, 0.0], [1.0, 1.0]], [0.0, -3.0])


# a ball far too small to leave the decision region: every input fails
FAILURES = {
    "bim, tiny ball": ("bim", LinfBIMCost(epsilon=1e-4, step=5e-3, max_iterations=30)),
    "bim2, tiny ball": ("bim2", L2BIMCost(epsilon=1e-4, step=5e-3, max_iterations=30)),
}


@pytest.mark.parametrize("name, attack", list(FAILURES.values()), ids=list(FAILURES))
def test_failure_is_exactly_the_cap(
    name: str, attack: CostAttack, toy: tuple[nn.Module, torch.Tensor]
) -> None:
    net, x = toy
    result, reference = attack(net, x[:8], batch_size=3), reference_costs(attack, net, x[:8])
    assert not result.success.any()
    assert torch.equal(result.cost, torch.full((8,), attack.cap))
    assert torch.equal(result.cost, reference.cost)
    # stalls stop early: never more than cap + 1 queries (the reference always burns cap + 1)
    assert (result.queries <= attack.cap + 1).all()
    assert torch.equal(reference.queries, torch.full((8,), attack.cap + 1))
    assert torch.equal(net(result.adversarial).argmax(1), result.label)
    delta = (result.adversarial - x[:8]).flatten(1)
    size = delta.abs().amax(1) if name == "bim" else delta.square().mean(1).sqrt()
    assert (size <= 1e-4 * (1 + 1e-6)).all()


def test_jsma_dead_end_is_a_failure_at_the_cap() -> None:
    model = jsma_dead_end()
    x = torch.tensor([[[[0.95, 0.5]]], [[[0.85, 0.6]]]], dtype=torch.float64)
    attack = JSMACost(max_iterations=50)
    result, reference = attack(model, x), reference_costs(attack, model, x)
    assert torch.equal(result.cost, torch.tensor([50, 50]))
    assert torch.equal(reference.cost, result.cost)
    assert not result.success.any() and not reference.success.any()
    # the batched loop stops at the dead end (2 and 3 evaluations); the reference burns the cap
    assert result.queries.tolist() == [2, 3]
    assert reference.queries.tolist() == [50, 50]
    torch.testing.assert_close(result.adversarial, reference.adversarial)
    expected = torch.tensor([[[[1.0, 0.5]]], [[[1.0, 0.6]]]], dtype=torch.float64)
    torch.testing.assert_close(result.adversarial, expected)


def test_dba_initialisation_failure_is_the_cap() -> None:
    model = always_class_0()
    x = torch.rand((2, 1, 2, 2), generator=torch.Generator().manual_seed(0)).double()
    attack = BoundaryCost(max_iterations=10, init_directions=20, init_steps=10, init_chunk=7)
    result, reference = attack(model, x), reference_costs(attack, model, x)
    assert torch.equal(result.cost, torch.tensor([10, 10]))
    assert not result.success.any()
    # 1 for the label + 20 noise images + 10 blends (chunks of 7 never overshoot the limits)
    assert result.queries.tolist() == [31, 31] == reference.queries.tolist()
    assert torch.equal(result.adversarial, x)


def test_dba_convergence_reset_matches_reference(toy: tuple[nn.Module, torch.Tensor]) -> None:
    """A source step below 1e-7 is "converged" at step 1: foolbox resets both steps to 1e-2 and
    then checks spherical candidates on every step."""
    net, x = toy
    attack = BoundaryCost(max_iterations=60, source_step=1e-8, mse_threshold=0.04, seed=3)
    plain = BoundaryCost(max_iterations=60, mse_threshold=0.04, seed=3)
    result = attack(net, x[:3], batch_size=2)
    assert_same(result, reference_costs(attack, net, x[:3]))
    assert not torch.equal(result.cost, plain(net, x[:3]).cost)  # the reset path was taken


@pytest.mark.parametrize("cls", [LinfBIMCost, L2BIMCost])
def test_bim_cost_is_the_zero_based_update_index(cls: type[LinfBIMCost | L2BIMCost]) -> None:
    # logit_0 = sum(x) - 1.9 with x = (0.475 + m / 4) * ones(4) is the margin m over class 1;
    # every update lowers each pixel by 0.01 (all gradients equal: RMS unit = sign), so m by 0.04
    model = linear_model([[1.0] * 4, [0.0] * 4], [-1.9, 0.0])
    margins = torch.tensor([0.001, 0.05, 0.1, 0.13], dtype=torch.float64)
    x = (0.475 + margins / 4).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    attack = cls(epsilon=0.3, step=0.01, max_iterations=50)
    result = attack(model, x)
    assert result.success.all()
    assert result.cost.tolist() == [0, 1, 2, 3]
    assert result.queries.tolist() == [2, 3, 4, 5]  # cost + 2: label/gradient at x_0 ... x_{k+1}
    assert torch.equal(result.cost, reference_costs(attack, model, x).cost)
    torch.testing.assert_close(result.adversarial, x - 0.01 * (result.cost + 1).view(-1, 1, 1, 1))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_queries_follow_the_documented_convention(
    name: str, runs: Callable[..., CostResult]
) -> None:
    r = runs(name)
    won, cap = r.success, r.cap
    if name in ("bim", "bim2"):
        assert torch.equal(r.queries[won], r.cost[won] + 2)
        assert (r.queries[~won] <= cap + 1).all()
    elif name == "jsma":
        assert torch.equal(r.queries[won], r.cost[won] + 1)
        assert (r.queries[~won] <= cap).all()
    else:
        attack = ATTACKS[name]()
        assert isinstance(attack, BoundaryCost)
        m = attack.max_directions
        # label + initialisation + m candidates per step + m spherical ones every 10th step
        lower = 2 + m * r.cost
        upper = 1 + 2 * attack.init_directions + 2 * m * r.cost
        assert (r.queries >= lower).all() and (r.queries <= upper).all()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_success_agrees_with_the_model(
    name: str, toy: tuple[nn.Module, torch.Tensor], runs: Callable[..., CostResult]
) -> None:
    net, x = toy
    r = runs(name)
    x = x[: len(r)]
    with torch.no_grad():
        logits = net(x)
        pred = net(r.adversarial).argmax(1)
    assert torch.equal(r.label, logits.argmax(1))
    assert ((r.adversarial >= 0) & (r.adversarial <= 1)).all()
    if name in ("bim", "bim2"):
        assert torch.equal(r.success, pred != r.label)
    elif name == "jsma":
        target = logits.topk(2, dim=1).indices[:, 1]
        assert torch.equal(r.success, pred == target)
    else:
        attack = ATTACKS[name]()
        assert isinstance(attack, BoundaryCost)
        mse = normalized_mse(r.adversarial, x, 1.0)
        assert (pred != r.label).all()  # every initialisation succeeded here
        assert torch.equal(r.success, mse < attack.mse_threshold)


def test_model_is_left_as_it_was(toy: tuple[nn.Module, torch.Tensor]) -> None:
    net, x = toy
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    try:
        for name in ATTACKS:
            ATTACKS[name]()(net, x[:2])
        assert net.training
        assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
        assert all(p.grad is None for p in net.parameters())
    finally:
        net.eval()


def test_continuous_batching_keeps_the_pool_full(toy: tuple[nn.Module, torch.Tensor]) -> None:
    net, x = toy
    rows: list[int] = []
    hook = net.register_forward_hook(lambda module, args, out: rows.append(len(out)))
    try:
        result = ATTACKS["bim"]()(net, x, batch_size=5)
    finally:
        hook.remove()
    assert max(rows) == 5
    # every forward row is one query of an active example: no frozen example is ever evaluated
    assert sum(rows) == int(result.queries.sum())
    # refilling: the pool stays full until fewer than 5 examples are left in the queue
    assert rows.count(5) >= len(rows) - int(result.cost.max()) - 2


def test_make_cost_attack_and_paper_defaults() -> None:
    assert set(COST_ATTACKS) >= {"bim", "bim2", "jsma", "dba"}  # RQ1's others: test_rq1_costs
    bim = make_cost_attack("bim")
    assert isinstance(bim, LinfBIMCost) and bim.cap == 500
    assert bim.step == pytest.approx(0.0006)
    bim2 = make_cost_attack("bim2")
    assert isinstance(bim2, L2BIMCost) and bim2.step == pytest.approx(0.0002)
    assert make_cost_attack("jsma").cap == 2000
    dba = make_cost_attack("dba", mse_threshold=5e-5)
    assert isinstance(dba, BoundaryCost) and dba.cap == 5000 and dba.mse_threshold == 5e-5
    cifar = make_cost_attack("bim", epsilon=0.03)
    assert isinstance(cifar, LinfBIMCost) and cifar.step == pytest.approx(0.00006)


ERRORS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (lambda: make_cost_attack("pgd"), ConfigError, "unknown cost attack 'pgd'; choose one of"),
    (lambda: make_cost_attack("bim", eps=0.3), ConfigError, "unknown hyperparameter.*eps"),
    (lambda: LinfBIMCost(epsilon=0), ConfigError, "epsilon must be > 0"),
    (lambda: L2BIMCost(max_iterations=0), ConfigError, "max_iterations must be >= 1"),
    (lambda: JSMACost(theta=-1), ConfigError, "theta must be > 0"),
    (lambda: BoundaryCost(bounds=(1, 0)), ConfigError, "lo < hi"),
    (lambda: BoundaryCost(seed=-1), ConfigError, "seed must be a non-negative integer"),
    (lambda: BoundaryCost(step_adaptation=1.0), ConfigError, "step_adaptation must be > 1"),
]


@pytest.mark.parametrize("build, error, match", ERRORS)
def test_bad_hyperparameters_are_config_errors(
    build: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build()


CALL_ERRORS: list[tuple[Callable[[nn.Module, torch.Tensor], object], str]] = [
    (lambda net, x: LinfBIMCost()(net, x + 2), r"inputs must lie in bounds \(0.0, 1.0\)"),
    (lambda net, x: LinfBIMCost()(net, x.long()), "must be a floating"),
    (lambda net, x: LinfBIMCost()(net, x, batch_size=0), "batch_size must be a positive"),
    (lambda net, x: BoundaryCost()(net, x, ids=[0]), "ids must be 2 integers"),
    (lambda net, x: BoundaryCost()(net, x, ids=[0, -1]), "ids must be non-negative"),
]


@pytest.mark.parametrize("call, match", CALL_ERRORS)
def test_bad_inputs_are_value_errors(
    call: Callable[[nn.Module, torch.Tensor], object],
    match: str,
    toy: tuple[nn.Module, torch.Tensor],
) -> None:
    net, x = toy
    with pytest.raises(ValueError, match=match):
        call(net, x[:2])


def test_empty_input_gives_an_empty_result(toy: tuple[nn.Module, torch.Tensor]) -> None:
    net, x = toy
    result = JSMACost()(net, x[:0])
    assert len(result) == 0 and result.cap == 2000 and result.adversarial.shape == (0, 1, 6, 6)


def test_three_channel_inputs_match_reference() -> None:
    """(N, 3, 4, 4) inputs through an untrained CNN: shapes and flattening of every attack."""
    torch.manual_seed(1)
    head = nn.Linear(16, 4)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), head).double()
    with torch.no_grad():
        head.weight.mul_(4)  # livelier logits: noise images and blends change the class
    x = torch.rand((5, 3, 4, 4), generator=torch.Generator().manual_seed(2)).double()
    attacks: list[CostAttack] = [
        LinfBIMCost(epsilon=0.3, step=0.01, max_iterations=5),
        L2BIMCost(epsilon=0.3, step=0.01, max_iterations=4),
        JSMACost(max_iterations=8),
        BoundaryCost(max_iterations=30, mse_threshold=0.05, init_chunk=64, seed=1),
    ]
    for attack in attacks:
        batched = attack(net, x, batch_size=2)
        assert 0 < int(batched.success.sum()) < len(x), type(attack).__name__
        assert_same(batched, reference_costs(attack, net, x))
