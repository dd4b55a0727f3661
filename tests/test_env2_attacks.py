"""Env2 crafting attacks (paper Table 6, BL3's settings) on a tiny seeded model, in float64.

FGSM and JSMA in normalised units, JSMA's single-feature variant, DeepFool, C&W with a fixed
constant and BB (substitute training + transferred FGSM), each against a plain per-example
reference or foolbox itself; BL3's PNG round trip; and the crafting protocol that flags a set
as successful-only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from a2d.attacks import (
    CRAFT_ATTACKS,
    FGSM,
    JSMA,
    BlackBox,
    CarliniWagnerL2,
    DeepFool,
    make_craft_attack,
    png_round_trip,
)
from a2d.attacks.blackbox import SubstituteA, jacobian_augmentation, train_substitute
from a2d.attacks.crafting import CraftPlan, CraftProtocol, craft_set, craft_sets
from a2d.attacks.reference import reference_deepfool, reference_jsma_single
from a2d.data import DatasetSplit
from a2d.data.sets import ExampleSet, load_set
from a2d.errors import ConfigError
from a2d.models.wrapper import ClassifierWrapper

NUM_CLASSES = 4
SHAPE = (1, 8, 8)
MEAN, STD = [0.4], [0.3]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _blobs(n: int, generator: torch.Generator, shape: tuple[int, ...] = SHAPE):
    prototypes = torch.rand((NUM_CLASSES, *shape), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(n) % NUM_CLASSES
    noise = 0.15 * torch.randn((n, *shape), generator=generator)
    return (0.2 + 0.6 * prototypes[labels] + noise).clamp(0, 1).double(), labels


def _net(channels: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 64, NUM_CLASSES),
    )


@pytest.fixture(scope="module")
def setup() -> tuple[ClassifierWrapper, torch.Tensor, torch.Tensor]:
    """A tiny CNN behind a normalising wrapper (Env2 style), and 12 inputs it gets right."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = _blobs(200, generator)
    model = ClassifierWrapper(_net(), mean=MEAN, std=STD).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        F.cross_entropy(model(x_train), y_train).backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)
    model.eval()
    x_test, y_test = _blobs(40, generator)
    with torch.no_grad():
        correct = model(x_test).argmax(1) == y_test
    return model, x_test[correct][:12], y_test[correct][:12]


def _std(model: ClassifierWrapper) -> float:
    """The wrapper's std as it computes with it (stored in float32, so 0.3 is 0.30000001)."""
    return float(model.std.flatten()[0])


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    return grad


# ---------------------------------------------------------------- registry


def test_env2_attacks_are_registered_by_their_set_names() -> None:
    assert CRAFT_ATTACKS["deepfool"] is DeepFool and CRAFT_ATTACKS["bb"] is BlackBox
    assert isinstance(make_craft_attack("bb", epochs=1), BlackBox)
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\) eps for .*'deepfool'"):
        make_craft_attack("deepfool", eps=0.1)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("fgsm", {"units": "pixels"}, "units must be 'input' or 'normalized'"),
        ("jsma", {"variant": "triples"}, "variant must be 'pairs' or 'single'"),
        ("deepfool", {"candidates": 1}, "candidates must be an integer >= 2"),
        ("deepfool", {"loss": "hinge"}, "loss must be 'logits' or 'crossentropy'"),
        ("bb", {"rounds": 0}, "rounds must be an integer >= 1"),
    ],
)
def test_bad_hyperparameters_are_config_errors(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_craft_attack(name, **kwargs)


# ---------------------------------------------------------------- FGSM in normalised units


def test_fgsm_in_normalised_units_steps_eps_times_std(setup) -> None:
    model, x, y = setup
    result = FGSM(epsilon=0.35, units="normalized")(model, x, y)
    expected = (x + 0.35 * _std(model) * _input_gradient(model, x, y).sign()).clamp(0, 1)
    torch.testing.assert_close(result.adversarial, expected, rtol=0, atol=1e-12)
    # with one std it is foolbox's FGSM at eps * std
    through_foolbox = FGSM(epsilon=0.35 * _std(model))(model, x, y)
    torch.testing.assert_close(result.adversarial, through_foolbox.adversarial, rtol=0, atol=1e-12)


def test_fgsm_normalised_step_is_per_channel() -> None:
    torch.manual_seed(0)
    std = [0.2, 0.4]
    model = ClassifierWrapper(_net(channels=2), mean=[0.5, 0.5], std=std).double().eval()
    x = torch.full((3, 2, 8, 8), 0.5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    result = FGSM(epsilon=0.5, units="normalized")(model, x, y)
    change = (result.adversarial - x).abs()
    for channel, s in enumerate(std):
        moved = change[:, channel][change[:, channel] > 0]
        torch.testing.assert_close(moved, torch.full_like(moved, 0.5 * s), rtol=1e-6, atol=0)


def test_normalised_units_need_a_normalising_model(setup) -> None:
    _, x, y = setup
    plain = _net().double().eval()
    with pytest.raises(ConfigError, match="units='normalized' needs a model that normalises"):
        FGSM(epsilon=0.35, units="normalized")(plain, x, y)


# ---------------------------------------------------------------- JSMA, single features


@pytest.mark.parametrize(
    ("theta", "units", "saliency"),
    [
        (1.0, "normalized", "logits"),
        (1.0, "input", "logits"),
        (-1.0, "normalized", "logits"),
        (1.0, "normalized", "probabilities"),
    ],
    ids=["env2", "input-units", "decreasing", "probabilities"],
)
def test_single_feature_jsma_equals_a_per_example_loop(setup, theta, units, saliency) -> None:
    model, x, y = setup
    attack = JSMA(theta=theta, gamma=0.25, variant="single", units=units, saliency=saliency, seed=2)
    target = attack.draw_targets(model, x, y)
    assert target is not None
    step = theta * (_std(model) if units == "normalized" else 1.0)

    result = attack(model, x, y)
    expected, iterations = reference_jsma_single(
        model, x, target, theta=step, gamma=0.25, saliency=saliency
    )

    torch.testing.assert_close(result.adversarial, expected, rtol=0, atol=1e-12)
    assert result.steps is not None and result.steps.tolist() == iterations.tolist()
    assert attack.max_iterations(64) == math.floor(64 * 0.25) == 16
    changed = (result.adversarial != x).flatten(1).sum(1)
    assert bool((changed <= result.steps).all())
    assert torch.equal(result.success, result.prediction.eq(target))


def test_single_feature_jsma_batching_does_not_change_results(setup) -> None:
    model, x, y = setup
    attack = JSMA(gamma=0.25, variant="single", units="normalized", seed=1)
    target = attack.draw_targets(model, x, y)
    whole = attack(model, x, y, target=target)
    chunked = attack(model, x, y, target=target, batch_size=5)
    assert torch.equal(whole.adversarial, chunked.adversarial)


# ---------------------------------------------------------------- DeepFool


@pytest.mark.parametrize(("overshoot", "candidates"), [(0.02, 4), (0.5, 3)], ids=["bl3", "top3"])
def test_deepfool_equals_a_per_example_loop(setup, overshoot: float, candidates: int) -> None:
    model, x, y = setup
    result = DeepFool(steps=50, overshoot=overshoot, candidates=candidates)(model, x, y)
    expected = reference_deepfool(model, x, y, steps=50, overshoot=overshoot, candidates=candidates)
    torch.testing.assert_close(result.adversarial, expected, rtol=0, atol=1e-9)
    assert result.steps is None
    assert bool(result.success.all())


# ---------------------------------------------------------------- C&W with a fixed constant


def test_cw_with_one_search_step_is_foolbox_at_that_constant(setup) -> None:
    import foolbox as fb

    model, x, y = setup
    result = CarliniWagnerL2(
        confidence=0.0,
        initial_const=0.6,
        binary_search_steps=1,
        steps=30,
        step_size=0.01,
        abort_early=False,
    )(model, x, y)
    attack = fb.attacks.L2CarliniWagnerAttack(
        binary_search_steps=1,
        steps=30,
        stepsize=0.01,
        confidence=0.0,
        initial_const=0.6,
        abort_early=False,
    )
    _, clipped, _ = attack(fb.PyTorchModel(model, bounds=(0, 1), device="cpu"), x, y, epsilons=None)
    never_found = (clipped.flatten(1) == 0).all(1)  # foolbox's zeros: kept as the input
    expected = torch.where(never_found.view(-1, 1, 1, 1), x, clipped)
    assert bool((~never_found).any())
    torch.testing.assert_close(result.adversarial, expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- BB


def test_jacobian_augmentation_equals_a_per_example_loop(setup) -> None:
    model, x, y = setup
    step = 0.1 * _std(model)
    augmented = jacobian_augmentation(model, x, y, step)
    for k in range(len(x)):
        xk = x[k : k + 1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(xk)[0, int(y[k])], xk)
        torch.testing.assert_close(
            augmented[k : k + 1], (x[k : k + 1] + step * grad.sign()).clamp(0, 1)
        )


def test_substitute_training_doubles_the_data_and_learns_the_oracle(setup) -> None:
    model, x, _ = setup
    substitute = train_substitute(
        model,
        x[:8],
        rounds=3,
        augmentation_step=0.1 * STD[0],
        epochs=2,
        batch_size=4,
        learning_rate=0.01,
        momentum=0.5,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(substitute.images) == 8 * 2**2 and torch.equal(substitute.images[:8], x[:8])
    with torch.no_grad():
        assert torch.equal(substitute.labels, model(substitute.images).argmax(1))
    assert float(substitute.images.min()) >= 0 and float(substitute.images.max()) <= 1
    assert isinstance(substitute.model.net, SubstituteA) and not substitute.model.training
    assert substitute.model.normalized
    assert substitute.model.std.flatten().tolist() == pytest.approx(STD)


def test_bb_transfers_fgsm_from_its_substitute(setup) -> None:
    model, x, y = setup
    generator = torch.Generator().manual_seed(5)
    pool, _ = _blobs(16, generator)
    attack = BlackBox(epsilon=0.35, n_seed=8, rounds=2, epochs=2, batch_size=4, seed=3)
    with pytest.raises(RuntimeError, match=r"call attack.prepare\(model, pool\)"):
        attack(model, x, y)
    attack.prepare(model, pool)
    again = BlackBox(epsilon=0.35, n_seed=8, rounds=2, epochs=2, batch_size=4, seed=3)
    again.prepare(model, pool)
    for a, b in zip(
        attack.substitute.model.parameters(), again.substitute.model.parameters(), strict=True
    ):
        assert torch.equal(a, b)  # seeded: the same substitute every time

    result = attack(model, x, y)

    substitute = attack.substitute.model
    expected = (x + 0.35 * _std(model) * _input_gradient(substitute, x, y).sign()).clamp(0, 1)
    torch.testing.assert_close(result.adversarial, expected, rtol=0, atol=1e-12)
    with torch.no_grad():
        assert torch.equal(result.success, model(result.adversarial).argmax(1) != y)
    with pytest.raises(ValueError, match="P >= n_seed=8"):
        attack.prepare(model, pool[:4])


# ---------------------------------------------------------------- PNG round trip


def test_png_round_trip_rescales_each_image_and_rounds_to_8_bits() -> None:
    x = torch.tensor([[0.2, 0.5, 0.6], [-0.3, 0.3, 1.2], [0.4, 0.4, 0.4]]).view(3, 1, 1, 3)
    out = png_round_trip(x)
    levels = out * 255
    torch.testing.assert_close(levels, levels.round())
    # per image: its min goes to 0 and its max to 1 (a constant image keeps range 1)
    assert out[0].flatten().tolist()[0] == 0 and out[0].flatten().tolist()[2] == 1
    expected_mid = math.floor((0.5 - 0.2) / 0.4 * 255 + 0.5) / 255
    assert out[0, 0, 0, 1].item() == pytest.approx(expected_mid)
    assert out[1].flatten().tolist()[0] == 0 and out[1].flatten().tolist()[2] == 1
    assert out[2].flatten().tolist() == [0.0, 0.0, 0.0]
    plain = png_round_trip(x[:1].clamp(0, 1), rescale=False)
    assert float((plain - x[:1]).abs().max()) <= 1 / 510 + 1e-7


# ---------------------------------------------------------------- protocol: successful only


def _test_split() -> DatasetSplit:
    values = torch.tensor([0.1, 0.9, 0.55, 0.48, 0.52, 0.3, 0.7, 0.45, 0.8, 0.2])
    x = values.view(-1, 1, 1, 1).expand(-1, 1, 8, 8).clone()
    return DatasetSplit(x=x, y=(values > 0.5).long(), indices=torch.arange(10))


def test_successful_only_protocol_flags_the_set_and_keeps_every_row(tmp_path: Path) -> None:
    from .conftest import MeanAboveHalf

    plan = CraftPlan(
        n_eval=3,
        n_train=2,
        attacks={"fgsm": {"epsilon": 0.04}},
        seed=0,
        protocol=CraftProtocol(successful_only=True, png_round_trip=True),
    )
    default = CraftPlan(**{**vars(plan), "protocol": CraftProtocol()})
    assert plan.set_key("h", "fgsm", "eval") != default.set_key("h", "fgsm", "eval")
    assert default.set_key("h", "fgsm", "eval") == CraftPlan(
        n_eval=3, n_train=2, attacks={"fgsm": {"epsilon": 0.04}}, seed=0
    ).set_key("h", "fgsm", "eval")
    craft_sets(
        MeanAboveHalf(),
        _test_split(),
        plan,
        out=tmp_path,
        model_hash="h",
        device=torch.device("cpu"),
    )
    crafted = load_set(tmp_path / "fgsm_eval.pt")
    assert crafted.successful_only and crafted.meta["protocol"]["png_round_trip"]
    assert len(crafted) == 3 and crafted.success is not None
    assert torch.allclose(crafted.x * 255, (crafted.x * 255).round(), atol=1e-4)
    kept = crafted.kept()
    assert len(kept) == int(crafted.success.sum()) and bool(kept.success.all())  # type: ignore[union-attr]
    assert not load_set(tmp_path / "benign_eval.pt").successful_only


def test_sets_without_the_flag_keep_their_failures() -> None:
    example = ExampleSet(
        x=torch.zeros(3, 1, 2, 2),
        indices=torch.arange(3),
        labels=torch.zeros(3, dtype=torch.long),
        kind="fgsm",
        split="eval",
        success=torch.tensor([True, False, True]),
    )
    assert example.kept() is example
    example.meta["successful_only"] = True
    assert example.kept().indices.tolist() == [0, 2]


def test_craft_set_refuses_out_of_bounds_inputs_without_the_round_trip(setup) -> None:
    model, x, y = setup
    benign = ExampleSet(x=x, indices=torch.arange(len(x)), labels=y, kind="benign", split="eval")
    hyperparameters = {"epsilon": 0.35, "units": "normalized", "bounds": [-5.0, 6.0]}
    kwargs = dict(batch_size=6, device=torch.device("cpu"))
    with pytest.raises(ConfigError, match="outside the model's bounds"):
        craft_set(model, benign, "fgsm", hyperparameters, **kwargs)  # type: ignore[arg-type]
    unclipped = craft_set(
        model,
        benign,
        "fgsm",
        hyperparameters,
        protocol=CraftProtocol(png_round_trip=True),
        **kwargs,  # type: ignore[arg-type]
    )
    assert float(unclipped.x.min()) >= 0 and float(unclipped.x.max()) <= 1
    assert "success_rate_before_round_trip" in unclipped.meta
    with pytest.raises(ValueError, match="bb needs a pool"):
        craft_set(model, benign, "bb", {}, **kwargs)  # type: ignore[arg-type]
