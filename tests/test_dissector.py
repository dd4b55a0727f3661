"""BL4 (Dissector): layer weights, the validity on a hand-computed case, sub-models on a tiny net."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

from a2d.baselines.dissector import (
    Dissector,
    layer_weights,
    prediction_validity,
    validity_scores,
)
from a2d.models import ClassifierWrapper

X = np.arange(1, 5, dtype=float)
WEIGHT_CASES = [
    ("linear", 0.0, 0.0, X),
    ("linear", 2.0, 0.0, 2 * X + 1),
    ("log", 0.0, 0.0, np.log(X)),
    ("log", 2.0, 0.0, 2 * np.log(X) + 1),
    ("log", 2.0, 0.5, 2 * np.log(0.5 * X + 1) + 1),
    ("log", 0.0, 0.5, X),  # no case of the authors' applies: the weights stay x
    ("exp", 0.0, 1.0, np.exp(X)),
    ("exp", 2.0, 0.5, 2 * np.exp(0.5 * X) + 1),
]


@pytest.mark.parametrize(("weighting", "alpha", "beta", "expected"), WEIGHT_CASES)
def test_layer_weights_follow_the_authors_formulas(
    weighting: str, alpha: float, beta: float, expected: np.ndarray
) -> None:
    got = layer_weights(4, weighting=weighting, alpha=alpha, beta=beta)  # type: ignore[arg-type]
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_layers": 3, "weighting": "cubic"}, r"weighting must be one of linear, log, exp"),
        ({"n_layers": 0}, r"n_layers must be >= 1"),
        ({"n_layers": 1, "weighting": "log", "alpha": 0.0, "beta": 0.0}, r"sum to > 0"),
    ],
)
def test_bad_layer_weights_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        layer_weights(**kwargs)


def test_validity_and_prediction_validity_on_a_hand_computed_case() -> None:
    # two layers, two inputs, three classes; final predictions: class 0 and class 2
    probs = torch.tensor(
        [
            [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]],  # layer 1
            [[0.7, 0.1, 0.2], [0.1, 0.1, 0.8]],  # layer 2 (say, the model's own softmax)
        ]
    )
    prediction = torch.tensor([0, 2])
    sv = validity_scores(probs, prediction).numpy()
    # input 0: y is top in both layers -> p_y / (p_y + second)
    # input 1: layer 1's top is class 1 (0.5), y = 2 has 0.3 -> 0.3 / (0.3 + 0.5)
    expected = np.array([[0.6 / 0.9, 0.7 / 0.9], [0.3 / 0.8, 0.8 / 0.9]])
    np.testing.assert_allclose(sv, expected)
    weights = np.array([1.0, 2.0])
    pv = prediction_validity(sv, weights)
    np.testing.assert_allclose(pv, [(2 / 3 + 2 * 7 / 9) / 3, (3 / 8 + 2 * 8 / 9) / 3])
    assert sv[1, 0] < 0.5 < sv[0, 0]  # below 1/2 exactly when y is not the layer's top class


def test_validity_of_underflowed_probabilities_is_zero() -> None:
    probs = torch.tensor([[[1.0, 0.0, 0.0]]])
    assert validity_scores(probs, torch.tensor([1])).item() == 0.0
    assert math.isclose(validity_scores(probs, torch.tensor([0])).item(), 1.0)


class TinyNet(nn.Module):
    """Three named stages, so that 'body' and 'hidden' can be Dissector snapshots."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True))
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.ReLU(inplace=True))
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(self.body(x)))


def _quadrant_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, 4, 4) noise images whose bright quadrant (0, 1, 2) is the label."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = 0.2 * torch.rand(n, 1, 4, 4, generator=g)
    for i, label in enumerate(y.tolist()):
        r, c = divmod(label, 2)
        x[i, 0, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2] += 0.8
    return x, y


@pytest.fixture(scope="module")
def fitted(
    one_torch_thread: None,
) -> tuple[Dissector, ClassifierWrapper, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = ClassifierWrapper(TinyNet()).eval()
    x, y = _quadrant_data(90, seed=1)
    det = Dissector(model, layers=["body", "hidden"], pool_size=2, epochs=40, lr=0.05, seed=0)
    return det.fit(x, y), model, x, y


def test_sub_model_probabilities_on_a_tiny_network(fitted) -> None:  # noqa: ANN001
    det, model, x, y = fitted
    probs = det.sub_model_probabilities(x)
    assert probs.shape == (3, 90, 3)  # two snapshot heads + the model's own softmax
    torch.testing.assert_close(probs.sum(2), torch.ones(3, 90))
    with torch.no_grad():
        torch.testing.assert_close(probs[-1], torch.softmax(model(x), 1))
    # the pooled 'body' features are the quadrant means: its head learns the labels
    assert (probs[0].argmax(1) == y).float().mean() > 0.95
    assert det.weights_.shape == (3,)
    # the heads are the sub-models: a head applied to standardised features gives probs
    feats, _ = det._features(x)
    z = (feats[1] - det.feature_mean_[1]) / det.feature_std_[1]
    torch.testing.assert_close(torch.softmax(det.heads_[1](z), 1), probs[1])


def test_scores_are_the_weighted_validities_and_leave_the_model_untouched(fitted) -> None:  # noqa: ANN001
    det, model, x, _ = fitted
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    sv = det.validity(x[:10])
    assert sv.shape == (10, 3) and np.all((sv >= 0) & (sv <= 1))
    assert np.all(sv[:, -1] >= 0.5)  # the model's own layer always supports its prediction
    np.testing.assert_allclose(
        det.decision_function(x[:10]), sv @ det.weights_ / det.weights_.sum()
    )
    np.testing.assert_allclose(det.adversarial_score(x[:10]), -det.decision_function(x[:10]))
    assert model.training  # mode handed back
    model.eval()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_fitting_is_seeded_and_clone_gives_an_unfitted_copy(fitted) -> None:  # noqa: ANN001
    det, _, x, y = fitted
    again = clone(det).fit(x, y)
    torch.testing.assert_close(again.sub_model_probabilities(x), det.sub_model_probabilities(x))
    with pytest.raises(NotFittedError):
        clone(det).validity(x)


def test_auroc_of_inputs_the_layers_disagree_on() -> None:
    torch.manual_seed(0)
    model = ClassifierWrapper(TinyNet()).eval()
    x, y = _quadrant_data(60, seed=2)
    det = Dissector(model, layers=["body"], pool_size=2, epochs=5, seed=0).fit(x, y)
    assert 0.0 <= det.auroc(x[:20], x[20:40]) <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": ["head"]}, r"snapshot layer\(s\) \['head'\] are not modules of TinyNet"),
        ({"layers": []}, r"layers is empty"),
        ({"layers": ["body"], "pool_size": 0}, r"pool_size must be an integer >= 1"),
        ({"layers": ["body"], "lr": 0.0}, r"lr must be > 0"),
    ],
)
def test_bad_settings_raise_on_fit(kwargs: dict, message: str) -> None:
    x, y = _quadrant_data(6, seed=3)
    with pytest.raises(ValueError, match=message):
        Dissector(ClassifierWrapper(TinyNet()), **kwargs).fit(x, y)


def test_labels_outside_the_models_classes_raise() -> None:
    x, _ = _quadrant_data(6, seed=3)
    with pytest.raises(ValueError, match=r"labels must lie in 0..2"):
        Dissector(ClassifierWrapper(TinyNet()), layers=["body"]).fit(x, torch.full((6,), 5))
