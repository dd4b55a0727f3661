"""AttackAsDefense on a tiny model: fit / score / predict / calibrate / save-load, cost-only use,
the user's model handed back untouched, and the user errors (one message each, naming what to do)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier
from torch import nn

import a2d
from a2d.detectors import (
    AttackAsDefense,
    AttackCosts,
    Detection,
    KNNCostDetector,
    ZScoreDetector,
)
from a2d.errors import ConfigError, DataError
from a2d.models import ClassifierWrapper

ATTACKS = {
    "bim": {"epsilon": 0.5, "max_iterations": 40},
    "bim2": {"epsilon": 0.5, "max_iterations": 40},
}


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("a2d.utils.progress._enabled", False)


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(1))


def _fitted(net: nn.Module, inputs: torch.Tensor, **kwargs) -> AttackAsDefense:  # noqa: ANN003
    return AttackAsDefense(net, attacks=ATTACKS, bounds=(0, 1), **kwargs).fit(inputs)


def test_exported_from_the_package() -> None:
    assert a2d.AttackAsDefense is AttackAsDefense


def test_fit_score_predict_on_a_tiny_model(net: nn.Module, inputs: torch.Tensor) -> None:
    det = _fitted(net, inputs)
    assert det.k_ == 1 and det.threshold_ == pytest.approx(1.281552)  # ceil(2/2); -h
    result = det.predict(inputs[:10])
    assert isinstance(result, Detection) and len(result) == 10
    assert result.costs.attacks == ("bim", "bim2")
    assert result.costs.cost.shape == result.costs.queries.shape == (10, 2)
    assert (result.costs.queries >= result.costs.cost).all()  # one query per step at least
    np.testing.assert_array_equal(result.flags, result.scores > result.threshold)
    np.testing.assert_array_equal(result.scores, det.score(inputs[:10]))
    np.testing.assert_array_equal(result.costs.total_queries, result.costs.queries.sum(1))
    frame = result.to_frame()
    assert list(frame.columns[:3]) == ["flag", "score", "label"]
    assert "queries_bim2" in frame.columns and len(frame) == 10


def test_predict_equals_the_cost_methods(net: nn.Module, inputs: torch.Tensor) -> None:
    det = _fitted(net, inputs)
    costs = det.attack_costs(inputs)
    np.testing.assert_array_equal(det.predict(inputs).flags, det.predict_costs(costs))
    twin = AttackAsDefense(attacks=ATTACKS).fit_costs(costs.cost)  # no model: costs only
    np.testing.assert_array_equal(twin.score_costs(costs), det.score_costs(costs))


def test_single_attack_zscore_equals_the_estimator(net: nn.Module, inputs: torch.Tensor) -> None:
    rng = np.random.default_rng(0)
    train, test = rng.gamma(2.0, 20.0, 300).round(), rng.gamma(2.0, 20.0, 100).round()
    det = AttackAsDefense(attacks=["bim"]).fit_costs(train)
    ref = ZScoreDetector().fit(train)
    np.testing.assert_array_equal(det.predict_costs(test), ref.predict(test).astype(bool))
    assert det.cost_thresholds_ == {"bim": ref.cost_threshold_}


def test_knn_needs_adversarial_and_equals_the_estimator(
    net: nn.Module, inputs: torch.Tensor
) -> None:
    det = AttackAsDefense(net, attacks=ATTACKS, bounds=(0, 1), detector="knn", n_neighbors=5)
    adversarial = (inputs + 0.2 * torch.randn_like(inputs)).clamp(0, 1)
    det.fit(inputs[:20], adversarial[:20])
    assert det.threshold_ == 0.5
    costs = det.attack_costs(inputs[20:])
    train = np.vstack([det.attack_costs(inputs[:20]).cost, det.attack_costs(adversarial[:20]).cost])
    ref = KNNCostDetector(n_neighbors=5).fit(train, np.r_[np.zeros(20), np.ones(20)])
    np.testing.assert_array_equal(det.predict_costs(costs), ref.predict(costs.cost).astype(bool))


def test_custom_classifier_flags_equal_its_predict() -> None:
    rng = np.random.default_rng(3)
    benign, adv = rng.gamma(3.0, 30.0, (200, 2)), rng.gamma(1.0, 5.0, (200, 2))
    det = AttackAsDefense(attacks=["bim", "jsma"], detector=DecisionTreeClassifier(random_state=0))
    det.fit_costs(benign, adv)
    test = np.vstack([rng.gamma(3.0, 30.0, (50, 2)), rng.gamma(1.0, 5.0, (50, 2))])
    np.testing.assert_array_equal(det.predict_costs(test), det.detector_.predict(test) == 1)
    assert clone(det).get_params()["detector"].random_state == 0


def test_calibrate_to_a_target_fpr() -> None:
    rng = np.random.default_rng(4)
    train, holdout = rng.lognormal(4, 1, 500), rng.lognormal(4, 1, 1000)  # tie-free
    det = AttackAsDefense(attacks=["bim"]).fit_costs(train).calibrate_costs(holdout, fpr=0.05)
    assert det.fpr_ == pytest.approx(0.05)
    assert np.mean(det.predict_costs(holdout)) == pytest.approx(0.05)
    # integer costs tie: the rate never exceeds the target, ties at the threshold stay benign
    ties = np.repeat(np.arange(20.0), 10)
    det.calibrate_costs(ties, fpr=0.05)
    assert det.fpr_ <= 0.05 and np.mean(det.predict_costs(ties)) == det.fpr_
    assert det.calibrate_costs(ties, fpr=0.0).fpr_ == 0.0
    # the fpr argument of the constructor calibrates on the benign training costs
    auto = AttackAsDefense(attacks=["bim"], fpr=0.1).fit_costs(holdout)
    assert auto.fpr_ == pytest.approx(0.1)


def test_calibrate_runs_the_attacks(net: nn.Module, inputs: torch.Tensor) -> None:
    det = _fitted(net, inputs[:20]).calibrate(inputs[20:], fpr=0.25)
    assert det.fpr_ <= 0.25
    assert np.mean(det.predict(inputs[20:]).flags) == det.fpr_


@pytest.mark.parametrize("detector", ["zscore", "knn"])
def test_save_load_round_trip(
    tmp_path: Path, net: nn.Module, inputs: torch.Tensor, detector: str
) -> None:
    det = AttackAsDefense(
        net, attacks=ATTACKS, bounds=(0, 1), detector=detector, n_neighbors=5, fpr=0.2
    )
    if detector == "zscore":
        det.fit(inputs[:30])
    else:
        det.fit(inputs[:20], (inputs[:20] * 0.5).clamp(0, 1))
    path = det.save(tmp_path / "a2d.json")
    loaded = AttackAsDefense.load(path, net)
    assert loaded.threshold_ == det.threshold_ and loaded.fpr_ == det.fpr_
    assert loaded.get_params()["attacks"] == ATTACKS
    np.testing.assert_array_equal(loaded.score(inputs), det.score(inputs))
    np.testing.assert_array_equal(loaded.predict(inputs).flags, det.predict(inputs).flags)
    assert json.loads(path.read_text())["format"] == "a2d.AttackAsDefense"


def test_load_warns_on_other_weights(tmp_path: Path, net: nn.Module, inputs: torch.Tensor) -> None:
    path = _fitted(net, inputs).save(tmp_path / "a2d.json")
    other = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with pytest.warns(UserWarning, match="other weights"):
        AttackAsDefense.load(path, other)


def test_declared_normalisation_is_applied_inside(net: nn.Module, inputs: torch.Tensor) -> None:
    kwargs = {"attacks": ATTACKS, "mean": [0.5], "std": [0.25]}
    plain = AttackAsDefense(net, bounds=(0, 1), **kwargs).attack_costs(inputs[:8])
    wrapper = ClassifierWrapper(net, mean=[0.5], std=[0.25], bounds=(0.0, 1.0))
    wrapped = AttackAsDefense(wrapper, attacks=ATTACKS).attack_costs(inputs[:8])
    np.testing.assert_array_equal(plain.cost, wrapped.cost)
    raw = AttackAsDefense(net, attacks=ATTACKS, bounds=(0, 1)).attack_costs(inputs[:8])
    assert not np.array_equal(plain.cost, raw.cost)


def test_bounds_scale_the_attacks(net: nn.Module, inputs: torch.Tensor) -> None:
    """A 0-255 model attacked with bounds=(0, 255) costs what the 0-1 model costs."""
    scaled = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    with torch.no_grad():
        scaled[1].weight.copy_(net[1].weight / 255.0)
        scaled[1].bias.copy_(net[1].bias)
    unit = AttackAsDefense(net, attacks=["bim"], dataset="mnist", bounds=(0, 1))
    wide = AttackAsDefense(scaled, attacks=["bim"], dataset="mnist", bounds=(0, 255))
    unit, wide = unit.attack_costs(inputs[:8]), wide.attack_costs(inputs[:8] * 255)
    np.testing.assert_array_equal(unit.cost, wide.cost)


ERRORS = [
    (
        "no bounds",
        lambda n, x: AttackAsDefense(n).fit(x),
        ValueError,
        r"bounds is not set.*bounds=\(0, 1\)",
    ),
    (
        "outside bounds",
        lambda n, x: AttackAsDefense(n, attacks=ATTACKS, bounds=(0, 1)).fit(x * 255),
        ValueError,
        r"outside the declared bounds",
    ),
    (
        "zscore with adversarial",
        lambda n, x: AttackAsDefense(n, bounds=(0, 1)).fit(x, x),
        ValueError,
        r"benign inputs only.*detector='knn'",
    ),
    (
        "knn without adversarial",
        lambda n, x: AttackAsDefense(n, bounds=(0, 1), detector="knn").fit(x),
        ValueError,
        r"needs adversarial training inputs",
    ),
    (
        "k too large",
        lambda n, x: AttackAsDefense(attacks=["bim"], k=2).fit_costs(np.arange(20.0)),
        ValueError,
        r"k must be an integer between 1 and .* \(1\)",
    ),
    (
        "unknown attack",
        lambda n, x: AttackAsDefense(attacks=["bimm"]).fit_costs(np.arange(20.0)),
        ConfigError,
        r"unknown cost attack 'bimm'",
    ),
    (
        "unknown hyperparameter",
        lambda n, x: AttackAsDefense(attacks={"bim": {"eps": 1}}).fit_costs(np.arange(20.0)),
        ConfigError,
        r"unknown hyperparameter\(s\) eps",
    ),
    (
        "attacks as a string",
        lambda n, x: AttackAsDefense(attacks="bim").fit_costs(np.arange(20.0)),
        ValueError,
        r"write attacks=\['bim'\]",
    ),
    (
        "bad detector",
        lambda n, x: AttackAsDefense(detector="svm").fit_costs(np.arange(20.0), np.arange(5.0)),
        ValueError,
        r"'zscore', 'knn' or a scikit-learn classifier",
    ),
    (
        "bad fpr",
        lambda n, x: AttackAsDefense(fpr=5).fit_costs(np.arange(20.0)),
        ValueError,
        r"fpr must be a number in \[0, 1\)",
    ),
    (
        "column count",
        lambda n, x: AttackAsDefense(attacks=["bim", "jsma"]).fit_costs(np.arange(20.0)),
        ValueError,
        r"1 column\(s\) but the detector uses 2",
    ),
    (
        "no model",
        lambda n, x: AttackAsDefense().attack_costs(x),
        ValueError,
        r"has no model; pass model=",
    ),
    (
        "not a tensor",
        lambda n, x: AttackAsDefense(n, attacks=ATTACKS, bounds=(0, 1)).fit(x.numpy()),
        ValueError,
        r"4-D float tensor",
    ),
    ("bad bounds", lambda n, x: AttackAsDefense(n, bounds=(1, 0)).fit(x), ValueError, r"lo < hi"),
    (
        "wrapper and mean",
        lambda n, x: AttackAsDefense(ClassifierWrapper(n), mean=[0.5], std=[0.2]).fit(x),
        ValueError,
        r"already normalises",
    ),
]


@pytest.mark.parametrize(("case", "call", "error", "match"), ERRORS, ids=[e[0] for e in ERRORS])
def test_user_errors(
    net: nn.Module, inputs: torch.Tensor, case: str, call, error, match: str
) -> None:  # noqa: ANN001
    with pytest.raises(error, match=match):
        call(net, inputs[:10])


def test_unfitted_and_bad_files(tmp_path: Path) -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        AttackAsDefense().score_costs(np.arange(5.0))
    with pytest.raises(FileNotFoundError, match="no saved detector"):
        AttackAsDefense.load(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a saved AttackAsDefense"):
        AttackAsDefense.load(tmp_path / "x.json")
    custom = AttackAsDefense(detector=DecisionTreeClassifier()).fit_costs(
        np.arange(20.0), np.arange(5.0)
    )
    with pytest.raises(ValueError, match="save supports detector='zscore' or 'knn'"):
        custom.save(tmp_path / "c.json")


def test_attack_costs_type_is_exported() -> None:
    costs = AttackCosts(
        ("bim",), np.ones((2, 1)), np.ones((2, 1)), np.ones((2, 1), bool), np.zeros(2)
    )
    assert len(costs) == 2
    with pytest.raises(ValueError, match=r"hold the attacks \['bim'\]"):
        AttackAsDefense(attacks=["jsma"]).fit_costs(costs)


# ---------------------------------------------------------------------------------------------
# the user's model: attacked in eval mode, handed back untouched


def _bn_dropout_net(inputs: torch.Tensor) -> nn.Module:
    """A tiny net whose output depends on its mode: BatchNorm2d, Dropout and BatchNorm1d.

    The BatchNorm running statistics are those of ``inputs`` (one cumulative pass), so the
    eval-mode predictions vary and the attacks have non-trivial costs.
    """
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.BatchNorm2d(2, momentum=None),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(32, 4),
        nn.BatchNorm1d(4, momentum=None),
        nn.Linear(4, 3),
    )
    with torch.no_grad():
        net.train()(inputs)
    return net


def _handed_in(net: nn.Module, mode: str) -> nn.Module:
    net.train(mode != "eval")
    if mode == "mixed":  # frozen BatchNorm inside a training model: a common fine-tuning setup
        net[1].eval()
    return net


def _modes(net: nn.Module) -> list[bool]:
    return [sub.training for sub in net.modules()]


def _assert_untouched(net: nn.Module, modes: list[bool], state: dict[str, torch.Tensor]) -> None:
    assert _modes(net) == modes
    after = net.state_dict()
    assert after.keys() == state.keys()
    for key, value in state.items():  # bitwise: same dtype, shape and bytes
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key
    assert all(param.grad is None for param in net.parameters())


@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_model_mode_and_weights_are_untouched(inputs: torch.Tensor, mode: str) -> None:
    net = _handed_in(_bn_dropout_net(inputs), mode)
    modes, state = _modes(net), copy.deepcopy(net.state_dict())
    det = AttackAsDefense(net, attacks=ATTACKS, bounds=(0, 1)).fit(inputs[:30])
    _assert_untouched(net, modes, state)
    calls: list[Callable[[], object]] = [
        lambda: det.score(inputs[30:]),
        lambda: det.predict(inputs[30:]),
        lambda: det.calibrate(inputs[30:], fpr=0.2),
        lambda: det.attack_costs(inputs[30:]),
    ]
    for call in calls:
        call()
        _assert_untouched(net, modes, state)


def test_costs_do_not_depend_on_the_model_mode(inputs: torch.Tensor) -> None:
    net = _bn_dropout_net(inputs)
    with torch.no_grad():  # the net is mode-sensitive, so the test can see a wrong mode
        assert not torch.equal(net.train()(inputs), net.eval()(inputs))

    def costs(mode: str) -> AttackCosts:
        det = AttackAsDefense(_handed_in(net, mode), attacks=ATTACKS, bounds=(0, 1))
        return det.fit(inputs[:30]).predict(inputs).costs

    reference = costs("eval")
    assert len(np.unique(reference.cost)) > 3  # the attacks really ran: costs vary
    for mode in ("train", "mixed", "train"):  # twice in train: dropout would differ each time
        other = costs(mode)
        np.testing.assert_array_equal(other.cost, reference.cost)
        np.testing.assert_array_equal(other.queries, reference.queries)
        np.testing.assert_array_equal(other.label, reference.label)


# ---------------------------------------------------------------------------------------------
# non-finite inputs


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("method", ["fit", "predict", "score", "calibrate", "attack_costs"])
def test_non_finite_inputs_raise_a_data_error(
    net: nn.Module, inputs: torch.Tensor, method: str, bad: float
) -> None:
    det = AttackAsDefense(net, attacks=ATTACKS, bounds=(0, 1))
    if method not in ("fit", "attack_costs"):
        det.fit(inputs)
    x = inputs[:10].clone()
    x[3, 0, 1, 2] = bad
    x[7, 0, 0, 0] = bad
    call = {
        "fit": lambda: det.fit(x),
        "predict": lambda: det.predict(x),
        "score": lambda: det.score(x),
        "calibrate": lambda: det.calibrate(x, fpr=0.1),
        "attack_costs": lambda: det.attack_costs(x),
    }[method]
    with pytest.raises(DataError, match=r"2 of 10 input\(s\) contain NaN or inf") as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert "first at index 3" in message and "drop or repair them" in message
