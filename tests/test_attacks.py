"""Crafting attacks (Env1): FGSM, BIM-A/B, JSMA, C&W-L2 on a tiny seeded model, in float64.

Float64 keeps the batched-vs-reference comparisons exact: gradient signs and saliency argmaxes
cannot flip on rounding noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from a2d.attacks import (
    BIMA,
    BIMB,
    CRAFT_ATTACKS,
    CW_PRESETS,
    FGSM,
    JSMA,
    CarliniWagnerL2,
    CraftAttack,
    l0_distortion,
    l2_distortion,
    linf_distortion,
    make_craft_attack,
    random_targets,
)
from a2d.attacks.reference import reference_bim, reference_jsma
from a2d.errors import ConfigError
from a2d.models.wrapper import ClassifierWrapper

NUM_CLASSES = 4
SHAPE = (1, 8, 8)
N_FEATURES = math.prod(SHAPE)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _blobs(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    prototypes = torch.rand((NUM_CLASSES, *SHAPE), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(n) % NUM_CLASSES
    noise = 0.15 * torch.randn((n, *SHAPE), generator=generator)
    x = (0.2 + 0.6 * prototypes[labels] + noise).clamp(0, 1)
    return x.double(), labels


@pytest.fixture(scope="module")
def setup() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny CNN trained briefly on class blobs, and 12 test inputs it classifies correctly."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = _blobs(200, generator)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, NUM_CLASSES)
    ).double()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        F.cross_entropy(net(x_train), y_train).backward()
        optimizer.step()
    net.zero_grad(set_to_none=True)
    net.eval()
    x_test, y_test = _blobs(40, generator)
    with torch.no_grad():
        correct = net(x_test).argmax(1) == y_test
    assert int(correct.sum()) >= 12
    return net, x_test[correct][:12], y_test[correct][:12]


def _fast_cw(**overrides: object) -> CarliniWagnerL2:
    return CarliniWagnerL2(**{"steps": 100, "binary_search_steps": 3, **overrides})  # type: ignore[arg-type]


FAST_ATTACKS = {
    "fgsm": lambda: FGSM(epsilon=0.3),
    "bim-a": lambda: BIMA(steps=10),
    "bim-b": lambda: BIMB(steps=10),
    "jsma": lambda: JSMA(gamma=0.3),
    "cw": lambda: _fast_cw(steps=20, binary_search_steps=1),
}


# ---------------------------------------------------------------- distortions


def test_distortion_helpers_on_a_hand_example() -> None:
    x = torch.zeros(3, 1, 2, 2)
    adversarial = x.clone()
    adversarial[0, 0, 0, 0] = 0.5
    adversarial[0, 0, 1, 1] = -0.25
    adversarial[2, 0, 0, 1] = 1e-9
    assert l0_distortion(x, adversarial).tolist() == [2, 0, 1]
    assert l0_distortion(x, adversarial, tolerance=1e-6).tolist() == [2, 0, 0]
    torch.testing.assert_close(l2_distortion(x, adversarial), torch.tensor([0.3125**0.5, 0, 1e-9]))
    torch.testing.assert_close(linf_distortion(x, adversarial), torch.tensor([0.5, 0, 1e-9]))
    with pytest.raises(ValueError, match="same shape"):
        l2_distortion(x, adversarial[:2])


# ---------------------------------------------------------------- FGSM


@pytest.mark.parametrize("epsilon", [0.3, 0.05], ids=["mnist", "cifar"])
def test_fgsm_is_one_signed_step_of_the_true_label_loss(setup, epsilon: float) -> None:
    net, x, y = setup
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(net(xg), y, reduction="sum"), xg)
    expected = (x + epsilon * grad.sign()).clamp(0, 1)

    result = FGSM(epsilon=epsilon)(net, x, y)

    torch.testing.assert_close(result.adversarial, expected, rtol=0, atol=1e-12)
    assert result.steps is not None and result.steps.tolist() == [1] * len(x)
    assert result.target is None
    with torch.no_grad():
        prediction = net(result.adversarial).argmax(1)
    assert torch.equal(result.prediction, prediction)
    assert torch.equal(result.success, prediction != y)


# ---------------------------------------------------------------- BIM


@pytest.mark.parametrize(
    ("epsilon", "step_size", "steps"), [(0.3, 0.01, 50), (0.05, 0.005, 50)], ids=["mnist", "cifar"]
)
def test_bim_a_and_b_equal_a_per_example_loop(setup, epsilon, step_size, steps) -> None:
    net, x, y = setup
    bim_a, bim_b, first = reference_bim(
        net, x, y, epsilon=epsilon, step_size=step_size, steps=steps
    )
    kwargs = {"epsilon": epsilon, "step_size": step_size, "steps": steps}

    a = BIMA(**kwargs)(net, x, y)
    b = BIMB(**kwargs)(net, x, y)

    assert torch.equal(a.adversarial, bim_a)
    assert torch.equal(b.adversarial, bim_b)
    assert a.steps is not None and b.steps is not None
    assert a.steps.tolist() == (first + 1).tolist()
    assert b.steps.tolist() == [steps] * len(x)
    for result in (a, b):
        assert float(linf_distortion(x, result.adversarial).max()) <= epsilon + 1e-12
        assert float(result.adversarial.min()) >= 0 and float(result.adversarial.max()) <= 1
        assert torch.equal(result.success, result.prediction != y)
    # BIM-A's iterate is the first misclassified one: the iterate just before it is not.
    for k in a.success.nonzero().squeeze(1).tolist():
        updates = int(a.steps[k])
        if updates > 1:
            before = BIMB(epsilon=epsilon, step_size=step_size, steps=updates - 1)
            assert not bool(before(net, x[k : k + 1], y[k : k + 1]).success[0])


def test_bim_a_stops_early_where_bim_b_goes_on(setup) -> None:
    net, x, y = setup
    a, b = BIMA()(net, x, y), BIMB()(net, x, y)
    assert a.steps is not None
    assert bool(a.success.all()), "every MNIST-eps BIM-A example should flip on this tiny model"
    assert int(a.steps.max()) < 50
    assert bool((linf_distortion(x, a.adversarial) < linf_distortion(x, b.adversarial)).all())


def test_bim_batching_does_not_change_results(setup) -> None:
    net, x, y = setup
    whole = BIMA(steps=20)(net, x, y)
    chunked = BIMA(steps=20)(net, x, y, batch_size=5)
    assert torch.equal(whole.adversarial, chunked.adversarial)
    assert torch.equal(whole.steps, chunked.steps)  # type: ignore[arg-type]


# ---------------------------------------------------------------- JSMA


@pytest.mark.parametrize(
    ("theta", "gamma", "saliency"),
    [
        (1.0, 0.1, "logits"),
        (1.0, 0.5, "logits"),
        (1.0, 0.5, "probabilities"),
        (-1.0, 0.5, "logits"),
    ],
    ids=["env1", "large-budget", "probabilities", "decreasing"],
)
def test_jsma_equals_a_per_example_loop_and_respects_its_budget(
    setup, theta, gamma, saliency
) -> None:
    net, x, y = setup
    attack = JSMA(theta=theta, gamma=gamma, saliency=saliency, seed=3)

    result = attack(net, x, y)

    assert result.target is not None and result.steps is not None
    expected, iterations = reference_jsma(
        net, x, result.target, theta=theta, gamma=gamma, saliency=saliency
    )
    assert torch.equal(result.adversarial, expected)
    assert result.steps.tolist() == iterations.tolist()

    budget = math.floor(gamma * N_FEATURES / 2)
    assert attack.max_iterations(N_FEATURES) == budget
    changed = l0_distortion(x, result.adversarial)
    assert bool((changed <= 2 * budget).all())
    assert bool((changed <= 2 * result.steps).all())
    moved = result.adversarial != x
    bound = 1.0 if theta > 0 else 0.0
    assert bool((result.adversarial[moved] == bound).all()), "theta = +-1 saturates features"
    assert bool((result.target != y).all())
    assert torch.equal(result.success, result.prediction == result.target)
    with torch.no_grad():
        assert torch.equal(result.prediction, net(result.adversarial).argmax(1))
    # An example stops before its budget only when it reached its target.
    assert bool(result.success[result.steps < budget].all())


def test_jsma_without_a_salient_pair_changes_feature_0_like_cleverhans() -> None:
    # Target logit decreases in every feature: no pair has alpha_p + alpha_q > 0, the map is all
    # zero and cleverhans' argmax picks entry 0, i.e. feature 0 twice, every iteration.
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[0.0] * 4, [-1.0] * 4, [0.5] * 4]))
        net[1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    x = torch.full((2, 1, 2, 2), 0.5, dtype=torch.float64)
    y, target = torch.tensor([0, 0]), torch.tensor([1, 1])

    result = JSMA(gamma=1.0)(net, x, y, target=target)

    expected, iterations = reference_jsma(net, x, target, gamma=1.0)
    assert torch.equal(result.adversarial, expected)
    assert result.steps is not None and result.steps.tolist() == iterations.tolist() == [2, 2]
    assert l0_distortion(x, result.adversarial).tolist() == [1, 1]
    assert result.adversarial[:, 0, 0, 0].tolist() == [1.0, 1.0]
    assert not bool(result.success.any())


def test_jsma_env1_budget_leaves_some_failures_and_larger_budgets_succeed(setup) -> None:
    net, x, y = setup
    small = JSMA(gamma=0.1, seed=3)(net, x, y)
    large = JSMA(gamma=0.5, seed=3)(net, x, y)
    assert torch.equal(small.target, large.target)  # type: ignore[arg-type]
    assert int(large.success.sum()) >= int(small.success.sum())
    assert bool(large.success.any())


def test_jsma_random_targets_are_seeded_and_never_the_label(setup) -> None:
    net, x, y = setup
    first = JSMA(seed=0)(net, x, y).target
    again = JSMA(seed=0)(net, x, y).target
    other = JSMA(seed=1)(net, x, y).target
    assert first is not None and again is not None and other is not None
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert bool((first != y).all()) and bool((other != y).all())
    assert torch.equal(first, random_targets(y, num_classes=NUM_CLASSES, seed=0))
    many = torch.zeros(4000, dtype=torch.long)
    drawn = random_targets(many, num_classes=NUM_CLASSES, seed=0)
    assert set(drawn.tolist()) == {1, 2, 3}


def test_jsma_targets_and_results_do_not_depend_on_batching(setup) -> None:
    net, x, y = setup
    whole = JSMA(gamma=0.3)(net, x, y)
    chunked = JSMA(gamma=0.3)(net, x, y, batch_size=5)
    assert torch.equal(whole.target, chunked.target)  # type: ignore[arg-type]
    assert torch.equal(whole.adversarial, chunked.adversarial)


def test_jsma_uses_given_targets(setup) -> None:
    net, x, y = setup
    target = (y + 2) % NUM_CLASSES
    result = JSMA(gamma=0.5)(net, x, y, target=target)
    assert torch.equal(result.target, target)  # type: ignore[arg-type]
    assert torch.equal(result.success, result.prediction == target)


# ---------------------------------------------------------------- C&W


@pytest.mark.parametrize("targeted", [False, True], ids=["untargeted", "targeted"])
def test_cw_finds_adversarials_and_flags_agree_with_predictions(setup, targeted: bool) -> None:
    net, x, y = setup
    target = (y + 1) % NUM_CLASSES if targeted else None

    result = _fast_cw()(net, x, y, target=target)

    assert result.steps is None
    assert int(result.success.sum()) >= len(x) // 2
    with torch.no_grad():
        prediction = net(result.adversarial).argmax(1)
    assert torch.equal(result.prediction, prediction)
    expected = prediction == target if target is not None else prediction != y
    assert torch.equal(result.success, expected)
    assert float(result.adversarial.min()) >= 0 and float(result.adversarial.max()) <= 1
    # Successful C&W perturbations are small next to FGSM's.
    assert float(l2_distortion(x, result.adversarial)[result.success].max()) < 2.0


def test_cw_failures_come_back_as_the_input(setup) -> None:
    net, x, y = setup
    result = CarliniWagnerL2(initial_const=1e-6, binary_search_steps=1, steps=3)(net, x, y)
    failed = ~result.success
    assert bool(failed.any())
    assert torch.equal(result.adversarial[failed], x[failed])


def test_cw_presets() -> None:
    assert vars(CarliniWagnerL2()) == vars(CarliniWagnerL2.from_preset("paper"))
    authors = CarliniWagnerL2.from_preset("authors")
    assert (authors.initial_const, authors.binary_search_steps, authors.steps) == (0.01, 5, 1000)
    foolbox3 = CarliniWagnerL2.from_preset("foolbox3", steps=7)
    assert (foolbox3.initial_const, foolbox3.binary_search_steps, foolbox3.steps) == (1e-3, 9, 7)
    assert set(CW_PRESETS) == {"paper", "authors", "foolbox3", "magnet"}
    built = make_craft_attack("cw", preset="authors", confidence=2.0)
    assert isinstance(built, CarliniWagnerL2)
    assert (built.initial_const, built.confidence) == (0.01, 2.0)


# ---------------------------------------------------------------- shared contract


@pytest.mark.parametrize("name", sorted(FAST_ATTACKS))
def test_attacks_leave_the_model_untouched(setup, name: str) -> None:
    net, x, y = setup
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    try:
        result = FAST_ATTACKS[name]()(net, x[:4], y[:4])
        assert net.training, "the caller's mode is restored"
    finally:
        net.eval()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert len(result) == 4 and result.adversarial.dtype == x.dtype
    assert torch.equal(result.label, y[:4])


def test_bounds_come_from_the_model(setup) -> None:
    net, x, y = setup
    wrapped = ClassifierWrapper(nn.Sequential(_Halve(), net), bounds=(0.0, 2.0)).eval()
    result = JSMA(theta=2.0, gamma=0.5)(wrapped, 2 * x, y)  # theta is in input units
    moved = result.adversarial != 2 * x
    assert bool(moved.any()) and bool((result.adversarial[moved] == 2.0).all())
    result = FGSM(epsilon=1.5)(wrapped, 2 * x, y)
    assert float(result.adversarial.max()) == 2.0
    with pytest.raises(ValueError, match="bounds"):
        FGSM(bounds=(0.0, 1.0))(wrapped, 2 * x, y)


class _Halve(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / 2


def test_registry_builds_every_attack_with_overrides() -> None:
    assert set(CRAFT_ATTACKS) == {"fgsm", "bim-a", "bim-b", "jsma", "cw", "deepfool", "bb", "fgm"}
    for name in CRAFT_ATTACKS:
        assert isinstance(make_craft_attack(name), CraftAttack)
    bim = make_craft_attack("bim-a", epsilon=0.05, step_size=0.005)
    assert isinstance(bim, BIMA) and (bim.epsilon, bim.step_size, bim.steps) == (0.05, 0.005, 50)


# ---------------------------------------------------------------- user errors


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: make_craft_attack("pgd"), "unknown crafting attack 'pgd'"),
        (lambda: make_craft_attack("fgsm", eps=0.3), "unknown hyperparameter.*eps"),
        (lambda: FGSM(epsilon=-0.1), "epsilon must be >= 0"),
        (lambda: BIMA(steps=0), "steps must be an integer >= 1"),
        (lambda: BIMB(step_size=0), "step_size must be > 0"),
        (lambda: JSMA(theta=0), "theta must be a non-zero number"),
        (lambda: JSMA(gamma=1.5), r"gamma must be a fraction in \(0, 1\]"),
        (lambda: JSMA(saliency="softmax"), "saliency must be 'logits' or 'probabilities'"),
        (lambda: CarliniWagnerL2.from_preset("defaults"), "unknown C&W preset 'defaults'"),
        (lambda: CarliniWagnerL2(initial_const=0), "initial_const must be > 0"),
        (lambda: FGSM(bounds=(1.0, 0.0)), "lo < hi"),
    ],
)
def test_bad_hyperparameters_raise_config_errors(build, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda net, x, y: FGSM()(net, x, y[:3]), "labels must be 12 integer class indices"),
        (lambda net, x, y: FGSM()(net, x, y.double()), "labels must be 12 integer"),
        (lambda net, x, y: FGSM()(net, x, y + NUM_CLASSES), "labels must lie in 0..3"),
        (lambda net, x, y: FGSM()(net, x + 1.0, y), r"inputs must lie in bounds \(0.0, 1.0\)"),
        (lambda net, x, y: FGSM()(net, x.long(), y), "x must be a floating"),
        (lambda net, x, y: FGSM()(net, x, y, target=y), "untargeted and takes no target"),
        (lambda net, x, y: JSMA()(net, x, y, target=-y - 1), "target must be non-negative"),
        (lambda net, x, y: BIMA()(net, x, y, batch_size=0), "batch_size must be a positive"),
    ],
)
def test_bad_calls_raise_value_errors(setup, call, match: str) -> None:
    net, x, y = setup
    with pytest.raises(ValueError, match=match):
        call(net, x, y)
