"""Detector estimators on synthetic cost arrays: Box-Cox path, benign FPR, the z == h tie, K-NN
vote and ties, k-of-n ensemble, the stratified AUROC bootstrap, scikit-learn conventions and
input errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special, stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from a2d.detectors import (
    PAPER_Z_THRESHOLD,
    KNNCostDetector,
    ZScoreDetector,
    ZScoreEnsemble,
    end_knn_detector,
)
from a2d.detectors.roc import roc_summary
from a2d.errors import DataError


def skewed_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Integer, right-skewed costs with zeros (like BIM_d iteration counts)."""
    return np.round(rng.gamma(1.5, 20.0, n))


def capped_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Integer, log-normal-like costs with a few zeros, capped at 500 (like BIM_d)."""
    return np.minimum(np.floor(rng.lognormal(3.5, 1.2, n)), 500.0)


def normal_costs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(200.0, 20.0, n)


# ---------------------------------------------------------------------------------------------
# Z-score detector


def test_boxcox_path_equals_scipy_on_skewed_costs_with_zeros() -> None:
    rng = np.random.default_rng(0)
    train = skewed_counts(rng, 1000)
    assert (train == 0).any(), "the sample must contain zero costs"
    det = ZScoreDetector().fit(train)

    assert stats.normaltest(train).pvalue < 0.05
    assert det.boxcox_ and det.shift_ == 1.0  # integer costs: +1
    transformed, lmbda = stats.boxcox(train + 1.0)
    assert det.lambda_ == pytest.approx(lmbda, rel=1e-12)
    # mean and std in the transformed space (population std), not of the raw costs
    assert det.mean_ == pytest.approx(np.mean(transformed), rel=1e-12)
    assert det.std_ == pytest.approx(np.std(transformed), rel=1e-12)
    assert det.mean_ != pytest.approx(np.mean(train))

    test = np.concatenate([[0.0, 1.0, 5.0], skewed_counts(rng, 200)])
    expected_z = (stats.boxcox(test + 1.0, lmbda=det.lambda_) - det.mean_) / det.std_
    np.testing.assert_allclose(det.z_score(test), expected_z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(det.decision_function(test), -expected_z, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(det.predict(test), (expected_z < PAPER_Z_THRESHOLD).astype(int))

    # cost threshold (Table 3) = inverse Box-Cox of mean + h*std, minus the shift ...
    cut = special.inv_boxcox(det.mean_ + PAPER_Z_THRESHOLD * det.std_, det.lambda_) - 1.0
    assert det.cost_threshold_ == pytest.approx(cut)
    # ... and differs from the authors' (untransformed mean/std, then inv_boxcox) threshold
    authors = special.inv_boxcox(np.mean(train) + PAPER_Z_THRESHOLD * np.std(train), det.lambda_)
    assert abs(det.cost_threshold_ - authors) > 1.0
    grid = np.arange(0.0, train.max() + 1)
    np.testing.assert_array_equal(det.predict(grid), (grid < det.cost_threshold_).astype(int))


def test_normal_costs_skip_boxcox() -> None:
    rng = np.random.default_rng(1)
    train = normal_costs(rng, 1000)
    assert stats.normaltest(train).pvalue >= 0.05
    det = ZScoreDetector().fit(train)
    assert not det.boxcox_ and det.lambda_ is None and det.shift_ == 0.0
    assert det.mean_ == pytest.approx(np.mean(train))
    assert det.std_ == pytest.approx(np.std(train))
    assert det.cost_threshold_ == pytest.approx(np.mean(train) + PAPER_Z_THRESHOLD * np.std(train))
    np.testing.assert_allclose(det.z_score(train), (train - det.mean_) / det.std_)


@pytest.mark.parametrize(
    ("transform", "boxcox"),
    [("auto", True), ("box-cox", True), ("none", False)],
)
def test_transform_rule_is_configurable(transform: str, boxcox: bool) -> None:
    train = skewed_counts(np.random.default_rng(2), 500)
    assert ZScoreDetector(transform=transform).fit(train).boxcox_ is boxcox


@pytest.mark.parametrize(
    ("shift", "costs", "expected"),
    [
        ("auto", [0, 1, 2, 3, 5, 8, 13, 40, 90, 3], 1.0),  # integer counts: +1
        ("auto", [0.0, 0.5, 0.25, 1.5, 3.0, 7.5, 0.75, 0.1, 20.0, 2.0], 0.1),  # smallest > 0
        ("auto", [0.2, 0.5, 0.25, 1.5, 3.0, 7.5, 0.75, 0.1, 20.0, 2.0], 0.0),  # all positive
        (2.5, [0, 1, 2, 3, 5, 8, 13, 40, 90, 3], 2.5),  # explicit
    ],
)
def test_shift_rule(shift: object, costs: list[float], expected: float) -> None:
    det = ZScoreDetector(transform="box-cox", shift=shift).fit(costs)
    assert det.shift_ == pytest.approx(expected)
    assert det.lambda_ == pytest.approx(stats.boxcox(np.asarray(costs, float) + expected)[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sampler", [capped_counts, normal_costs])
def test_benign_accuracy_close_to_90_percent(sampler, seed: int) -> None:
    rng = np.random.default_rng(seed)
    det = ZScoreDetector(threshold=PAPER_Z_THRESHOLD).fit(sampler(rng, 1000))
    held_out = sampler(rng, 5000)
    benign_accuracy = 1.0 - det.predict(held_out).mean()
    assert 0.87 <= benign_accuracy <= 0.93


def test_zscore_auroc_equals_minus_cost_auroc() -> None:
    rng = np.random.default_rng(4)
    det = ZScoreDetector().fit(skewed_counts(rng, 1000))
    benign, adversarial = skewed_counts(rng, 300), np.round(rng.gamma(1.0, 3.0, 300))
    costs = np.concatenate([benign, adversarial])
    labels = np.r_[np.zeros(300), np.ones(300)]
    assert roc_auc_score(labels, det.decision_function(costs)) == pytest.approx(
        roc_auc_score(labels, -costs)
    )


def test_zscore_fit_with_labels_uses_benign_rows_only() -> None:
    rng = np.random.default_rng(5)
    benign = skewed_counts(rng, 400)
    mixed = np.concatenate([benign, np.zeros(400)])
    labels = np.r_[np.zeros(400), np.ones(400)]
    a = ZScoreDetector().fit(mixed, labels)
    b = ZScoreDetector().fit(benign)
    assert (a.lambda_, a.mean_, a.std_) == (b.lambda_, b.mean_, b.std_)


# ---------------------------------------------------------------------------------------------
# K-NN detector

KNN_TRAIN_X = [1.0, 2.0, 3.0, 4.0, 100.0, 101.0]
KNN_TRAIN_Y = [1, 1, 0, 0, 0, 1]


@pytest.mark.parametrize(
    ("k", "query", "adv_votes", "label"),
    [
        (4, 2.5, 2, 0),  # {1,2,3,4}: exactly half adversarial -> benign (strict majority)
        (3, 2.0, 2, 1),  # {2,1,3}: 2 of 3 adversarial -> adversarial
        (2, 1.5, 2, 1),  # {1,2}
        (2, 3.5, 0, 0),  # {3,4}
        # ties at the K-th distance: 2.5 -> {2 (adv), 3 (ben)} at .5, then {1 (adv), 4 (ben)}
        # at 1.5; the benign one at the tie is taken first -> 1 of 3 -> benign
        (3, 2.5, 1, 0),
        (6, 50.0, 3, 0),  # all six: 3 adv / 3 ben -> benign
        (1, 100.5, 0, 0),  # 100 (ben) and 101 (adv) tie at .5 -> benign first
    ],
)
def test_knn_strict_majority_and_tie_rule(k: int, query: float, adv_votes: int, label: int) -> None:
    det = KNNCostDetector(n_neighbors=k).fit(KNN_TRAIN_X, KNN_TRAIN_Y)
    assert det.adversarial_votes([query])[0] == adv_votes
    assert det.decision_function([query])[0] == pytest.approx(adv_votes / k)
    np.testing.assert_allclose(det.predict_proba([query])[0], [1 - adv_votes / k, adv_votes / k])
    assert det.predict([query])[0] == label


def reference_votes(x: np.ndarray, y: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Plain loop: rank by (squared distance, label, cost vector), vote over the first k."""
    votes = []
    for q in queries:
        keys = sorted(
            (float(np.sum((row - q) ** 2)), int(lab), tuple(row))
            for row, lab in zip(x, y, strict=True)
        )
        votes.append(sum(key[1] for key in keys[:k]))
    return np.array(votes)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_knn_ties_are_deterministic_and_order_independent(d: int) -> None:
    rng = np.random.default_rng(6 + d)
    n, k = 300, 25
    # few distinct integer costs -> many equal distances
    x = np.concatenate([rng.integers(0, 6, (n // 2, d)), rng.integers(3, 12, (n // 2, d))])
    y = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)]
    queries = rng.integers(0, 14, (200, d)).astype(float)

    det = KNNCostDetector(n_neighbors=k).fit(x, y)
    votes = det.adversarial_votes(queries)
    np.testing.assert_array_equal(votes, reference_votes(x, y, queries, k))
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(n)
        shuffled = KNNCostDetector(n_neighbors=k).fit(x[perm], y[perm])
        np.testing.assert_array_equal(shuffled.adversarial_votes(queries), votes)
        np.testing.assert_array_equal(shuffled.predict(queries), det.predict(queries))


def test_knn_matches_sklearn_without_ties() -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.normal(50, 10, (200, 2)), rng.normal(30, 10, (200, 2))])
    y = np.r_[np.zeros(200, int), np.ones(200, int)]
    queries = rng.uniform(10, 70, (300, 2))
    for k in (5, 25, 100):
        ours = KNNCostDetector(n_neighbors=k).fit(x, y)
        ref = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x, y)
        np.testing.assert_array_equal(ours.predict(queries), ref.predict(queries))
        np.testing.assert_allclose(ours.predict_proba(queries), ref.predict_proba(queries))


def test_end_knn_detector_is_a_knn_on_cost_vectors() -> None:
    det = end_knn_detector()
    assert isinstance(det, KNNCostDetector) and det.n_neighbors == 100
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.integers(20, 500, (150, 4)), rng.integers(0, 30, (150, 4))])
    y = np.r_[np.zeros(150, int), np.ones(150, int)]
    fitted = end_knn_detector(n_neighbors=15).fit(x, y)
    assert fitted.n_features_in_ == 4
    assert fitted.predict([[400, 400, 400, 400], [1, 2, 3, 4]]).tolist() == [0, 1]


# ---------------------------------------------------------------------------------------------
# Z-score ensemble

# member verdicts (B benign, A adversarial) -> expected ensemble label for k = 1, 2, 3
TRUTH_TABLE_3 = {
    "BBB": (0, 0, 0),
    "BBA": (0, 0, 1),
    "BAB": (0, 0, 1),
    "ABB": (0, 0, 1),
    "BAA": (0, 1, 1),
    "ABA": (0, 1, 1),
    "AAB": (0, 1, 1),
    "AAA": (1, 1, 1),
}


def ensemble_inputs(ens: ZScoreEnsemble, patterns: list[str]) -> np.ndarray:
    """Costs that make member j say benign (its mean) or adversarial (0) per pattern letter."""
    rows = [
        [det.mean_ if letter == "B" else 0.0 for letter, det in zip(p, ens.detectors_, strict=True)]
        for p in patterns
    ]
    return np.array(rows)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_ensemble_truth_table(k: int) -> None:
    train = normal_costs(np.random.default_rng(10), 3000).reshape(1000, 3)
    ens = ZScoreEnsemble(k=k, transform="none").fit(train)
    patterns = list(TRUTH_TABLE_3)
    x = ensemble_inputs(ens, patterns)
    members = ens.predict_members(x)
    np.testing.assert_array_equal(members, [[c == "A" for c in p] for p in patterns])
    expected = [TRUTH_TABLE_3[p][k - 1] for p in patterns]
    np.testing.assert_array_equal(ens.predict(x), expected)
    np.testing.assert_array_equal(ens.decision_function(x) > -ens.threshold, expected)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_ensemble_paper_setting_four_detectors(k: int) -> None:
    train = normal_costs(np.random.default_rng(11), 4000).reshape(1000, 4)
    ens = ZScoreEnsemble(k=k, transform="none").fit(train)
    patterns = ["".join(p) for p in itertools.product("BA", repeat=4)]
    x = ensemble_inputs(ens, patterns)
    expected = [int(p.count("B") < k) for p in patterns]
    np.testing.assert_array_equal(ens.predict(x), expected)
    np.testing.assert_array_equal(ens.decision_function(x) > -ens.threshold, expected)


def test_ensemble_members_equal_single_detectors() -> None:
    rng = np.random.default_rng(12)
    train = np.stack([skewed_counts(rng, 800), normal_costs(rng, 800)], axis=1)
    ens = ZScoreEnsemble(k=1).fit(train)
    test = np.stack([skewed_counts(rng, 100), normal_costs(rng, 100)], axis=1)
    for j, member in enumerate(ens.detectors_):
        single = ZScoreDetector().fit(train[:, j])
        assert (member.boxcox_, member.lambda_, member.mean_) == (
            single.boxcox_,
            single.lambda_,
            single.mean_,
        )
        np.testing.assert_array_equal(ens.predict_members(test)[:, j], single.predict(test[:, j]))


# ---------------------------------------------------------------------------------------------
# the rule is z < h: a tie z == h is benign

# mean 3 and population std 1, both exact: cost c has the exact z-score c - 3
TIE_TRAIN = np.array([2.0, 4.0] * 10)


@pytest.mark.parametrize(("h", "tie", "below"), [(-1.0, 2.0, 1.0), (-2.0, 1.0, 0.0)])
def test_zscore_tie_at_the_threshold_is_benign(h: float, tie: float, below: float) -> None:
    det = ZScoreDetector(threshold=h, transform="none").fit(TIE_TRAIN)
    assert (det.mean_, det.std_) == (3.0, 1.0)
    costs = np.array([tie, below, tie + 1.0])
    np.testing.assert_array_equal(det.z_score(costs), [h, h - 1.0, h + 1.0])  # exact tie
    np.testing.assert_array_equal(det.predict(costs), [0, 1, 0])
    np.testing.assert_array_equal(det.decision_function(costs) > -h, [False, True, False])
    assert det.cost_threshold_ == tie  # predict(c) == (c < cost_threshold_): the tie is benign


def test_ensemble_tie_at_the_threshold_is_benign() -> None:
    ens = ZScoreEnsemble(k=2, threshold=-1.0, transform="none").fit(np.c_[TIE_TRAIN, TIE_TRAIN])
    x = np.array([[2.0, 2.0], [1.0, 2.0], [1.0, 1.0]])  # z = (-1, -1), (-2, -1), (-2, -2)
    np.testing.assert_array_equal(ens.predict_members(x), [[0, 0], [1, 0], [1, 1]])
    np.testing.assert_array_equal(ens.predict(x), [0, 1, 1])  # 2 of 2 must say benign
    np.testing.assert_array_equal(ens.decision_function(x) > 1.0, [False, True, True])


# ---------------------------------------------------------------------------------------------
# AUROC bootstrap: benign and adversarial scores resampled separately (stratified)


def stratified_bootstrap_reference(
    benign: np.ndarray, adversarial: np.ndarray, n_bootstrap: int, confidence: float, seed: int
) -> tuple[float, float]:
    """The interval by hand: per replicate, n_b benign then n_a adversarial draws, one generator."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(len(benign)), np.ones(len(adversarial))]
    values = [
        roc_auc_score(
            labels,
            np.r_[rng.choice(benign, len(benign)), rng.choice(adversarial, len(adversarial))],
        )
        for _ in range(n_bootstrap)
    ]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


@pytest.mark.parametrize(
    ("benign", "adversarial", "auroc"),
    [([0.3], [0.7], 1.0), ([0.7], [0.3], 0.0), ([5.0], [5.0], 0.5)],
)
def test_bootstrap_of_one_benign_and_one_adversarial_is_finite(
    benign: list[float], adversarial: list[float], auroc: float
) -> None:
    summary = roc_summary(benign, adversarial, n_bootstrap=200, seed=0)
    # every stratified resample is the same pair, so the interval is the point estimate
    assert (summary.auroc, summary.ci_low, summary.ci_high) == (auroc, auroc, auroc)


@pytest.mark.parametrize(
    ("n_benign", "n_adversarial", "confidence", "seed"),
    [(1, 50, 0.95, 0), (1, 50, 0.9, 7), (50, 1, 0.95, 3), (30, 80, 0.95, 1)],
)
def test_bootstrap_is_stratified(
    n_benign: int, n_adversarial: int, confidence: float, seed: int
) -> None:
    rng = np.random.default_rng(100 + seed)
    benign, adversarial = rng.normal(0.0, 1.0, n_benign), rng.normal(0.5, 1.0, n_adversarial)
    summary = roc_summary(benign, adversarial, n_bootstrap=300, confidence=confidence, seed=seed)
    # a joint resample of 51 pooled scores misses the single benign one in ~37% of replicates
    assert np.isfinite([summary.ci_low, summary.ci_high]).all()
    assert summary.ci_low <= summary.ci_high
    assert (summary.ci_low, summary.ci_high) == stratified_bootstrap_reference(
        benign, adversarial, 300, confidence, seed
    )


@pytest.mark.parametrize(
    ("benign", "adversarial", "what"), [([], [1.0], "benign"), ([1.0], [], "adversarial")]
)
@pytest.mark.parametrize("n_bootstrap", [0, 100])
def test_roc_summary_of_an_empty_set_raises(
    benign: list[float], adversarial: list[float], what: str, n_bootstrap: int
) -> None:
    with pytest.raises(DataError, match=f"no {what} scores to compare") as info:
        roc_summary(benign, adversarial, n_bootstrap=n_bootstrap)
    message = str(info.value)
    assert "\n" not in message and "check that the" in message


# ---------------------------------------------------------------------------------------------
# scikit-learn conventions

RNG = np.random.default_rng(13)
BENIGN_1D = skewed_counts(RNG, 200)
MIXED_X = np.concatenate([skewed_counts(RNG, 100), np.round(RNG.gamma(1.0, 3.0, 100))])
MIXED_Y = np.r_[np.zeros(100, int), np.ones(100, int)]
BENIGN_4D = skewed_counts(RNG, 800).reshape(200, 4)

ESTIMATORS = [
    pytest.param(
        ZScoreDetector(), BENIGN_1D, None, {"threshold": -2.0, "alpha": 0.01}, id="zscore"
    ),
    pytest.param(KNNCostDetector(), MIXED_X, MIXED_Y, {"n_neighbors": 7}, id="knn"),
    pytest.param(ZScoreEnsemble(), BENIGN_4D, None, {"k": 3, "threshold": -1.0}, id="ensemble"),
]


@pytest.mark.parametrize(("est", "x", "y", "new_params"), ESTIMATORS)
def test_sklearn_conventions(est, x, y, new_params) -> None:
    with pytest.raises(NotFittedError):
        est.predict(x)
    with pytest.raises(NotFittedError):
        est.decision_function(x)

    params = est.get_params()
    cloned = clone(est)
    assert cloned.get_params() == params and cloned is not est
    cloned.set_params(**new_params)
    assert {key: cloned.get_params()[key] for key in new_params} == new_params
    assert clone(cloned).get_params() == cloned.get_params()

    assert est.fit(x, y) is est
    pred = est.predict(x)
    assert pred.shape == (len(x),) and set(np.unique(pred)) <= {0, 1}
    assert est.decision_function(x).shape == (len(x),)
    assert list(est.classes_) == [0, 1]
    assert not hasattr(clone(est), "classes_")  # clone drops learned state
    # refit with new params works and differs only through the params
    assert cloned.fit(x, y).predict(x).shape == (len(x),)


# ---------------------------------------------------------------------------------------------
# Errors: clear ValueErrors for bad input

BAD_INPUTS = [
    pytest.param(ZScoreDetector(), [1.0, np.nan] * 10, None, "NaN or inf", id="zscore-nan"),
    pytest.param(ZScoreDetector(), [1.0, np.inf] * 10, None, "NaN or inf", id="zscore-inf"),
    pytest.param(ZScoreDetector(), [1.0, -5000.0] * 10, None, "must be >= 0", id="zscore-negative"),
    pytest.param(ZScoreDetector(), np.ones((10, 2)), None, "at most 1 column", id="zscore-2cols"),
    pytest.param(ZScoreDetector(), [3.0] * 20, None, "two distinct values", id="zscore-constant"),
    pytest.param(ZScoreDetector(), [1.0, 2.0, 3.0], None, "at least 8", id="zscore-too-few"),
    pytest.param(ZScoreDetector(), [], None, "empty", id="zscore-empty"),
    pytest.param(ZScoreDetector(alpha=1.5), BENIGN_1D, None, "alpha", id="zscore-alpha"),
    pytest.param(ZScoreDetector(threshold=np.nan), BENIGN_1D, None, "threshold", id="zscore-thr"),
    pytest.param(ZScoreDetector(transform="log"), BENIGN_1D, None, "transform", id="zscore-tf"),
    pytest.param(ZScoreDetector(shift=-1.0), BENIGN_1D, None, "shift", id="zscore-shift"),
    pytest.param(
        ZScoreDetector(transform="box-cox", shift=0.0), BENIGN_1D, None, "positive", id="zscore-0"
    ),
    pytest.param(ZScoreDetector(), BENIGN_1D, np.ones(200), "no benign", id="zscore-no-benign"),
    pytest.param(
        KNNCostDetector(n_neighbors=-3), MIXED_X, MIXED_Y, "positive integer", id="knn-neg"
    ),
    pytest.param(KNNCostDetector(n_neighbors=0), MIXED_X, MIXED_Y, "positive integer", id="knn-0"),
    pytest.param(
        KNNCostDetector(n_neighbors=2.5), MIXED_X, MIXED_Y, "positive integer", id="knn-f"
    ),
    pytest.param(KNNCostDetector(n_neighbors=201), MIXED_X, MIXED_Y, "exceeds", id="knn-too-big"),
    pytest.param(KNNCostDetector(), MIXED_X, MIXED_Y * 2, "only 0", id="knn-labels"),
    pytest.param(KNNCostDetector(), MIXED_X, MIXED_Y[:10], "one label per row", id="knn-y-len"),
    pytest.param(KNNCostDetector(), MIXED_X, np.zeros(200), "both", id="knn-one-class"),
    pytest.param(KNNCostDetector(), np.r_[MIXED_X[:-1], np.nan], MIXED_Y, "NaN", id="knn-nan"),
    pytest.param(ZScoreEnsemble(k=5), BENIGN_4D, None, "k=5", id="ens-k-gt-n"),
    pytest.param(ZScoreEnsemble(k=0), BENIGN_4D, None, "between 1 and", id="ens-k-0"),
    pytest.param(ZScoreEnsemble(k=1.5), BENIGN_4D, None, "integer", id="ens-k-float"),
    pytest.param(
        ZScoreEnsemble(), np.c_[BENIGN_4D[:, :3], np.full(200, 7.0)], None, "column 3", id="ens-col"
    ),
]


@pytest.mark.parametrize(("est", "x", "y", "match"), BAD_INPUTS)
def test_bad_input_raises_clear_value_error(est, x, y, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        est.fit(x, y)


@pytest.mark.parametrize(
    ("est", "x", "y", "bad", "match"),
    [
        (ZScoreDetector(), BENIGN_1D, None, [1.0, np.nan], "NaN or inf"),
        (KNNCostDetector(n_neighbors=5), MIXED_X, MIXED_Y, np.ones((3, 2)), "fitted on 1"),
        (ZScoreEnsemble(), BENIGN_4D, None, np.ones((3, 3)), "fitted on 4"),
        (ZScoreEnsemble(), BENIGN_4D, None, -np.ones((3, 4)), "must be >= 0"),
    ],
)
def test_bad_input_at_predict_raises(est, x, y, bad, match: str) -> None:
    est.fit(x, y)
    with pytest.raises(ValueError, match=match):
        est.predict(bad)
