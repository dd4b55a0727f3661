"""CLEVER: batched gradients equal the plain loop, exact on linear models, Weibull fit recovers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from a2d.robustness import (
    TARGETS,
    batch_maxima,
    clever,
    fit_reverse_weibull,
    reference_batch_maxima,
    sample_l2_ball,
)

UNBOUNDED = (-math.inf, math.inf)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_cnn(n_classes: int = 6) -> nn.Module:
    """(N, 1, 6, 6) -> (N, n_classes): conv, tanh, max-pool, dropout (must be off), dense."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, n_classes),
    )


def linear_model(weight: torch.Tensor, bias: torch.Tensor) -> nn.Module:
    """logits = W vec(x) + b on (N, 1, H, W) inputs."""
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return nn.Sequential(nn.Flatten(), layer)


def exact_linear_scores(
    weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor
) -> tuple[int, torch.Tensor]:
    """Predicted class and the exact L2 distance (z_c - z_j) / ||w_c - w_j|| to each boundary."""
    w, b = weight.double(), bias.double()
    z = w @ x.double().flatten() + b
    c = int(z.argmax())
    distance = (z[c] - z) / (w[c] - w).norm(dim=1)
    distance[c] = math.nan
    return c, distance


@pytest.mark.parametrize("vjp", ["layers", "loop", "vmap"])
@pytest.mark.parametrize("sampling", ["uniform", "scaled"])
def test_batched_maxima_equal_plain_autograd_loop(vjp: str, sampling: str) -> None:
    model = tiny_cnn()
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    # chunk_size 7 does not divide batch_size 5: chunks straddle batches
    settings = dict(
        nb_batches=3, batch_size=5, radius=2.0, chunk_size=7, sampling=sampling, seed=11
    )
    fast = batch_maxima(model, x, vjp=vjp, **settings)
    slow = reference_batch_maxima(model, x, **settings)
    assert fast.shape == (2, 3, 6)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6, equal_nan=True)
    predicted = model.eval()(x).argmax(1)
    for index, c in enumerate(predicted.tolist()):
        assert torch.isnan(fast[index, :, c]).all()
        others = [j for j in range(6) if j != c]
        assert (fast[index][:, others] > 0).all()


def test_linear_model_gives_exact_boundary_distance() -> None:
    gen = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(7, 12, generator=gen), torch.randn(7, generator=gen)
    x = torch.randn(3, 1, 3, 4, generator=gen)
    result = clever(
        linear_model(weight, bias),
        x,
        nb_batches=5,
        batch_size=8,
        radius=1e3,
        bounds=UNBOUNDED,
        return_maxima=True,
    )
    assert result.batch_maxima is not None and result.batch_maxima.shape == (3, 5, 7)
    for index in range(3):
        c, distance = exact_linear_scores(weight, bias, x[index])
        assert int(result.predicted[index]) == c
        torch.testing.assert_close(
            result.class_scores[index], distance, rtol=1e-5, atol=0, equal_nan=True
        )
        j = int(np.nanargmin(distance.numpy()))
        assert int(result.classes["untargeted"][index]) == j
        assert result.scores["untargeted"][index].item() == pytest.approx(
            distance[j].item(), rel=1e-5
        )
        gradient_gap = (weight[c] - weight[j]).double().norm().item()
        assert result.lipschitz["untargeted"][index].item() == pytest.approx(gradient_gap, rel=1e-5)
    # a constant gradient gives equal maxima: no Weibull to fit, the sample maximum is exact
    assert all(fit.fallback for per_input in result.fits for fit in per_input.values())


def test_score_is_capped_at_radius_unless_asked_not_to() -> None:
    gen = torch.Generator().manual_seed(1)
    weight, bias = torch.randn(5, 4, generator=gen), torch.randn(5, generator=gen)
    model, x = linear_model(weight, bias), torch.randn(1, 1, 2, 2, generator=gen)
    _, distance = exact_linear_scores(weight, bias, x[0])
    radius = float(np.nanmin(distance.numpy())) / 2
    settings = dict(nb_batches=2, batch_size=2, radius=radius, bounds=UNBOUNDED)
    capped = clever(model, x, **settings)
    uncapped = clever(model, x, cap_at_radius=False, **settings)
    assert torch.all(capped.scores["llc"] == radius)
    assert uncapped.scores["untargeted"].item() == pytest.approx(np.nanmin(distance.numpy()))


def test_ranked_targets_pick_second_fifth_and_least_likely_class() -> None:
    bias = torch.tensor([0.3, 2.0, -1.0, 1.0, 0.5, 0.0])
    weight = 0.1 * torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    x = torch.zeros(1, 1, 2, 2)  # logits = bias: order 1, 3, 4, 0, 5, 2
    result = clever(
        linear_model(weight, bias), x, nb_batches=2, batch_size=4, radius=100.0, bounds=UNBOUNDED
    )
    assert int(result.predicted[0]) == 1
    picked = {name: int(result.classes[name][0]) for name in TARGETS}
    assert picked["target2"] == 3 and picked["target5"] == 5 and picked["llc"] == 2
    for name in ("target2", "target5", "llc"):
        j = picked[name]
        assert result.margins[name][0].item() == pytest.approx((bias[1] - bias[j]).item(), abs=1e-6)


def test_ranked_targets_only_fit_their_own_classes() -> None:
    model, x = tiny_cnn(), torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(4))
    result = clever(model, x, targets=["target2", "llc"], nb_batches=6, batch_size=4)
    assert set(result.scores) == {"target2", "llc"}
    assert set(result.fits[0]) == {int(result.classes["target2"][0]), int(result.classes["llc"][0])}
    assert int(torch.isfinite(result.class_scores[0]).sum()) == 2


def test_nonlinear_model_scores_follow_the_fitted_lipschitz_constant() -> None:
    model = tiny_cnn()
    model.train()
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(5))
    result = clever(model, x, nb_batches=30, batch_size=16, radius=1.0, chunk_size=64, seed=3)
    assert model.training, "clever must restore the model's training mode"
    for name in TARGETS:
        scores, lips, margins = result.scores[name], result.lipschitz[name], result.margins[name]
        assert torch.isfinite(scores).all() and (scores > 0).all() and (scores <= 1.0).all()
        torch.testing.assert_close(scores, torch.clamp(margins / lips, max=1.0))
    untargeted = result.scores["untargeted"]
    for name in ("target2", "target5", "llc"):
        assert (untargeted <= result.scores[name]).all()
    again = clever(model, x, nb_batches=30, batch_size=16, radius=1.0, chunk_size=64, seed=3)
    torch.testing.assert_close(again.class_scores, result.class_scores, equal_nan=True)


@pytest.mark.parametrize("sampling", ["uniform", "scaled"])
def test_sample_points_lie_in_the_ball_and_in_the_box(sampling: str) -> None:
    gen = torch.Generator().manual_seed(6)
    center = torch.tensor([[[0.0, 0.05, 0.5], [0.9, 1.0, 0.3]]])  # (1, 2, 3), touches both walls
    radius = 0.4
    points = sample_l2_ball(
        center, 4000, radius=radius, bounds=(0.0, 1.0), sampling=sampling, generator=gen
    )
    assert points.shape == (4000, 1, 2, 3)
    assert points.min() >= 0.0 and points.max() <= 1.0
    distances = (points - center).flatten(1).norm(dim=1)
    assert distances.max() <= radius * (1 + 1e-5)
    assert (points != points.clamp(0.05, 0.95)).any(), "some points should have been clipped"


def test_uniform_sampling_fills_the_ball_by_volume() -> None:
    gen = torch.Generator().manual_seed(7)
    center, radius, dim = torch.zeros(1, 1, 3), 2.0, 3
    points = sample_l2_ball(center, 20000, radius=radius, bounds=UNBOUNDED, generator=gen)
    norms = points.flatten(1).norm(dim=1) / radius
    # P(|p| <= r R) = r^d for a uniform ball
    for r in (0.5, 0.8):
        assert (norms <= r).double().mean().item() == pytest.approx(r**dim, abs=0.015)
    directions = points.flatten(1) / points.flatten(1).norm(dim=1, keepdim=True)
    assert directions.mean(0).abs().max() < 0.03


@pytest.mark.parametrize(
    ("shape", "location", "scale"), [(2.0, 3.0, 0.5), (4.0, 0.8, 0.2), (1.5, 12.0, 3.0)]
)
def test_weibull_fit_recovers_known_parameters(shape: float, location: float, scale: float) -> None:
    sample = scipy.stats.weibull_max.rvs(
        shape, loc=location, scale=scale, size=1000, random_state=np.random.default_rng(8)
    )
    fit = fit_reverse_weibull(sample)
    assert not fit.fallback and fit.p_value > 0.05
    # the location error grows with the shape (the law flattens at its end point for shape > 2)
    assert fit.location == pytest.approx(location, abs=0.1 * scale)
    assert fit.shape == pytest.approx(shape, rel=0.15)
    assert fit.scale == pytest.approx(scale, rel=0.1)
    assert fit.location >= sample.max() - 1e-9


def test_weibull_fit_falls_back_to_the_sample_maximum() -> None:
    constant = fit_reverse_weibull(np.full(50, 2.5))
    assert constant.fallback and constant.location == 2.5 and math.isnan(constant.p_value)
    two_values = np.r_[np.zeros(250), np.ones(250)]  # no continuous law passes the KS test
    fit = fit_reverse_weibull(two_values)
    assert fit.fallback and fit.location == 1.0


BAD_CALLS = [
    ("outside the box", dict(x=torch.full((1, 1, 6, 6), 2.0)), r"outside bounds \(0\.0, 1\.0\)"),
    ("unknown target", dict(targets=["top2"]), r"expected a non-empty subset of"),
    ("one batch", dict(nb_batches=1), r"nb_batches >= 2"),
    ("bad radius", dict(radius=0.0), r"finite radius > 0"),
    ("bad sampling", dict(sampling="gauss"), r"expected 'uniform' or 'scaled'"),
    ("bad bounds", dict(bounds=(1.0, 0.0)), r"low < high"),
    ("bad vjp", dict(vjp="jvp"), r"expected one of 'auto', 'layers', 'loop', 'vmap'"),
]


@pytest.mark.parametrize(("what", "kwargs", "match"), BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_arguments_raise_clear_errors(what: str, kwargs: dict, match: str) -> None:
    call = dict(x=torch.rand(1, 1, 6, 6), nb_batches=2, batch_size=2) | kwargs
    with pytest.raises(ValueError, match=match):
        clever(tiny_cnn(), **call)


def test_target5_needs_five_classes() -> None:
    with pytest.raises(ValueError, match=r"target5 needs at least 5 classes; the model has 4"):
        clever(tiny_cnn(4), torch.rand(1, 1, 6, 6), nb_batches=2, batch_size=2)
