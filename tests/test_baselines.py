"""BL1 (kernel density + Bayesian uncertainty) and BL2 (LID), on tiny models and tensors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from sklearn.neighbors import KernelDensity
from torch import nn

from a2d.baselines import (
    ClassKernelDensity,
    DetectionSets,
    block_split,
    evaluate_baselines,
    fit_class_kde,
    gaussian_kde_log_density,
    kd_bu_auroc,
    lid_auroc,
    lid_features,
    mc_dropout_uncertainty,
    mle_lid,
    noise_rng,
    noisy_samples,
)
from a2d.baselines.noise import check_noise_rule
from a2d.baselines.run import evaluate_target
from a2d.config import (
    PARAMS_FILE,
    PROJECT_ROOT,
    BaselinesConfig,
    KDBUConfig,
    LIDConfig,
    load_params,
)
from a2d.data import DatasetSplit
from a2d.data.sets import ExampleSet, load_sets, save_set
from a2d.errors import ConfigError, DataError
from a2d.models import ClassifierWrapper, LayeredNet, build_model
from a2d.models.layered import Step, flatten


class TinyNet(LayeredNet):
    """flatten -> dense 16 -> ReLU -> dropout -> logits: BL1's layout in miniature (1x4x4 inputs)."""

    last_hidden = "dense_relu"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.dense = nn.Linear(16, 16)
        self.dropout = nn.Dropout(p)
        self.logits = nn.Linear(16, 3)

    def steps(self) -> list[tuple[str, Step]]:
        return [
            ("flatten", flatten),
            ("dense", self.dense),
            ("dense_relu", torch.relu),
            ("dropout", self.dropout),
            ("logits", self.logits),
        ]


def tiny_model(p: float = 0.5, seed: int = 0) -> ClassifierWrapper:
    torch.manual_seed(seed)
    return ClassifierWrapper(TinyNet(p)).eval()


# --- model internals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "n_layers", "last_hidden", "hidden_size"),
    [("env1_mnist_cnn", 12, "dense1_relu", 128), ("env1_cifar10_convnet", 25, "dense2_relu", 512)],
)
def test_env1_layer_outputs_are_keras_layers_and_end_in_the_logits(
    arch: str, n_layers: int, last_hidden: str, hidden_size: int
) -> None:
    model = build_model(arch).eval()
    x = torch.rand(2, *((1, 28, 28) if "mnist" in arch else (3, 32, 32)))
    outputs = model.layer_outputs(x)
    assert len(outputs) == n_layers  # input + Keras layers before the softmax (LID adds it)
    assert torch.equal(outputs["logits"], model(x))
    assert model.net.last_hidden == last_hidden
    assert outputs[last_hidden].shape == (2, hidden_size) and (outputs[last_hidden] >= 0).all()


def test_layer_outputs_of_a_plain_network_come_from_hooks() -> None:
    model = build_model("env2_mnist_lenet5", mean=[0.1307], std=[0.3081]).eval()
    x = torch.rand(2, 1, 28, 28)
    outputs = model.layer_outputs(x)
    assert torch.allclose(outputs["input"], (x - 0.1307) / 0.3081)
    assert "conv1.0" in outputs and torch.equal(outputs["output"], model(x))


# --- BL1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bandwidth", [0.3, 1.2])
def test_kde_log_density_equals_scikit_learn(bandwidth: float) -> None:
    rng = np.random.default_rng(0)
    points, queries = rng.normal(size=(50, 6)), rng.normal(size=(7, 6)) * 2
    ours = gaussian_kde_log_density(
        torch.tensor(queries), torch.tensor(points), bandwidth, chunk_size=3
    )
    reference = (
        KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(points).score_samples(queries)
    )
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-10, atol=1e-10)


def test_class_kde_scores_each_input_under_the_given_class() -> None:
    rng = np.random.default_rng(1)
    features, labels = rng.normal(size=(40, 3)), np.repeat([0, 1], 20)
    queries, classes = rng.normal(size=(5, 3)), np.array([1, 0, 1, 1, 0])
    kde = ClassKernelDensity(bandwidth=0.7).fit(features, labels)
    expected = [
        KernelDensity(bandwidth=0.7).fit(features[labels == c]).score_samples(q[None])[0]
        for q, c in zip(queries, classes, strict=True)
    ]
    np.testing.assert_allclose(kde.score_samples(queries, classes), expected, rtol=1e-10)


def test_mc_dropout_variance_is_zero_with_dropout_off() -> None:
    x = torch.rand(10, 1, 4, 4)
    assert np.all(mc_dropout_uncertainty(tiny_model(p=0.0), x, passes=5) == 0)
    assert np.all(mc_dropout_uncertainty(tiny_model(p=0.5), x, passes=5) > 0)


def test_mc_dropout_is_reproducible_with_a_seed_and_leaves_the_model_in_eval_mode() -> None:
    model, x = tiny_model(), torch.rand(10, 1, 4, 4)
    first = mc_dropout_uncertainty(model, x, passes=20, seed=3, batch_size=4)
    again = mc_dropout_uncertainty(model, x, passes=20, seed=3, batch_size=4)
    other = mc_dropout_uncertainty(model, x, passes=20, seed=4, batch_size=4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other) and not model.training


def test_mc_dropout_equals_plain_dropout_passes_in_distribution() -> None:
    """Our masks (seeded generator, layers before the first dropout run once) are BL1's passes."""
    model, x = tiny_model(), torch.rand(1, 1, 4, 4)
    ours = mc_dropout_uncertainty(model, x.repeat(200, 1, 1, 1), passes=50, seed=0).mean()
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        probs = torch.stack([model(x.repeat(200, 1, 1, 1)).softmax(1) for _ in range(50)])
    model.eval()
    reference = probs.var(0, correction=0).mean(1).mean().item()
    assert ours == pytest.approx(reference, rel=0.1)


def test_kd_bu_auroc_is_scored_on_its_training_data() -> None:
    rng = np.random.default_rng(0)
    normal, noisy = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    sets = DetectionSets(normal, noisy, rng.normal(size=(100, 2)) + [3, 0])
    assert kd_bu_auroc(sets) > 0.95
    assert 0.3 < kd_bu_auroc(DetectionSets(normal, noisy, rng.normal(size=(100, 2)))) < 0.7


# --- BL2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 5])
def test_lid_recovers_the_dimension_of_a_linear_manifold(dim: int) -> None:
    generator = torch.Generator().manual_seed(dim)
    embed = torch.randn(dim, 30, generator=generator, dtype=torch.float64)
    points = torch.rand(2000, dim, generator=generator, dtype=torch.float64) @ embed
    lids = mle_lid(points[:200], points, k=20)
    assert lids.median().item() == pytest.approx(dim, rel=0.25)


def test_lid_skips_the_nearest_point_and_caps_k() -> None:
    reference = torch.tensor([[0.0], [1.0], [2.0], [4.0]])
    # query 0 is in the batch: its neighbours are 1, 2, 4 once itself is skipped; k = 3 (cap)
    expected = -3 / (np.log(1 / 4) + np.log(2 / 4) + 0.0)
    assert mle_lid(reference[:1], reference, k=20).item() == pytest.approx(expected)


def test_lid_features_score_every_set_against_the_normal_minibatch() -> None:
    model = tiny_model()
    normal = torch.rand(25, 1, 4, 4)
    features = lid_features(model, normal, {"adv": normal.clone()}, k=5, minibatch=10)
    assert features["normal"].shape == (25, 7)  # input + 5 layers + softmax
    # an exact copy of the normal batch has the same neighbours once the nearest is skipped
    np.testing.assert_allclose(features["adv"], features["normal"])


def test_block_split_is_80_20_in_blocks_per_third() -> None:
    third = 1000
    x = np.arange(3 * third)[:, None]
    y = np.repeat([1, 0, 0], third)  # [adversarial | normal | noisy]
    x_train, y_train, x_test, y_test = block_split(x, y)
    assert len(x_train) == 3 * 800 and len(x_test) == 3 * 200
    assert y_train.sum() == 800 and y_test.sum() == 200
    # training rows: normal, noisy, adversarial, each the first 800 of its third
    assert x_train[:800, 0].tolist() == list(range(1000, 1800))
    assert x_train[-800:, 0].tolist() == list(range(800))
    assert x_test[:200, 0].tolist() == list(range(1800, 2000))


@pytest.mark.parametrize(
    ("third", "block", "n_train"), [(1000, 100, 800), (1234, 100, 900), (40, 10, 30)]
)
def test_block_split_sizes_follow_the_original_formula(
    third: int, block: int, n_train: int
) -> None:
    x, y = np.zeros((3 * third, 1)), np.repeat([1, 0, 0], third)
    assert len(block_split(x, y, block_size=block)[0]) == 3 * n_train
    if block == 100:
        assert n_train == int(third * 0.008) * 100


def test_lid_auroc_separates_shifted_features() -> None:
    rng = np.random.default_rng(0)
    sets = DetectionSets(
        rng.normal(size=(200, 3)), rng.normal(size=(200, 3)), rng.normal(size=(200, 3)) + 3
    )
    assert lid_auroc(sets) > 0.95


# --- noisy negatives ---------------------------------------------------------------------------


def test_paper_noise_scales_are_in_config() -> None:
    noise = load_params().baselines.noise
    assert noise["mnist"] == {"fgsm": 0.31, "bim-a": 0.128, "jsma": "flip", "cw": "l2"}
    assert noise["cifar10"] == {"fgsm": 0.05, "bim-a": 0.009, "jsma": "flip", "cw": "l2"}


def test_gaussian_noise_has_the_configured_scale_and_stays_in_the_box() -> None:
    benign = torch.full((50, 1, 28, 28), 0.5)
    noisy = noisy_samples(benign, benign, 0.1, rng=noise_rng(0, "fgsm_eval"))
    assert (noisy - benign).std().item() == pytest.approx(0.1, rel=0.02)
    clipped = noisy_samples(benign, benign, 0.31, rng=noise_rng(0, "fgsm_eval"))
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_flip_sets_as_many_pixels_to_one_as_the_attack_changed() -> None:
    benign = torch.zeros(3, 1, 5, 5)
    benign[:, :, 0, :] = 1.0  # five saturated pixels are never candidates
    adversarial = benign.clone()
    adversarial.view(3, -1)[0, 5:9] = 0.3  # 4 pixels changed
    adversarial.view(3, -1)[1, 5:6] = 0.3  # 1 pixel changed
    noisy = noisy_samples(benign, adversarial, "flip", rng=noise_rng(0, "jsma_eval"))
    flipped = (noisy != benign).view(3, -1).sum(1).tolist()
    assert 1 <= flipped[0] <= 4 and flipped[1] == 1 and flipped[2] == 0  # drawn with replacement
    assert set(noisy.unique().tolist()) <= {0.0, 1.0}


def test_l2_rule_matches_the_adversarial_mean_l2() -> None:
    generator = torch.Generator().manual_seed(0)
    benign = torch.rand(30, 1, 28, 28, generator=generator) * (
        torch.rand(30, 1, 28, 28, generator=generator) > 0.8
    )
    adversarial = (benign + 0.02 * torch.randn(30, 1, 28, 28, generator=generator)).clamp(0, 1)
    noisy = noisy_samples(benign, adversarial, "l2", rng=noise_rng(0, "cw_eval"))
    target = (adversarial - benign).flatten(1).norm(dim=1).mean().item()
    assert (noisy - benign).flatten(1).norm(dim=1).mean().item() == pytest.approx(target, rel=1e-4)
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_noise_is_reproducible_per_set_name() -> None:
    benign = torch.rand(4, 1, 4, 4)
    a = noisy_samples(benign, benign, 0.2, rng=noise_rng(0, "fgsm_eval"))
    assert torch.equal(a, noisy_samples(benign, benign, 0.2, rng=noise_rng(0, "fgsm_eval")))
    assert not torch.equal(a, noisy_samples(benign, benign, 0.2, rng=noise_rng(0, "fgsm_train")))


# --- end to end on a tiny model -----------------------------------------------------------------


def _sets(model: ClassifierWrapper, n: int, split: str, seed: int) -> dict[str, ExampleSet]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 4, 4, generator=generator) * 0.5
    indices = torch.arange(n) + (0 if split == "eval" else n)
    labels = model.predict(x)

    def example_set(kind: str, images: torch.Tensor) -> ExampleSet:
        return ExampleSet(x=images, indices=indices, labels=labels, kind=kind, split=split)

    shifted = (x + 0.5 * torch.rand(n, 1, 4, 4, generator=generator)).clamp(0, 1)
    return {"benign": example_set("benign", x), "fgsm": example_set("fgsm", shifted)}


def test_evaluate_baselines_reports_both_aurocs_per_attack() -> None:
    model = tiny_model()
    train_x = torch.rand(60, 1, 4, 4)
    kde = fit_class_kde(model, train_x, model.predict(train_x), bandwidth=1.0)
    settings = dict(noise={"fgsm": 0.05}, seed=0, mc_passes=5, k=5, minibatch=20, block_size=10)
    scores = evaluate_baselines(
        model, _sets(model, 40, "eval", 0), _sets(model, 40, "train", 1), kde, **settings
    )
    assert set(scores) == {"bl1", "bl2"}
    for baseline in scores.values():
        assert set(baseline) == {"fgsm"} and baseline["fgsm"]["n"] == 40
        assert 0 <= baseline["fgsm"]["auroc"] <= 1 and 0 <= baseline["fgsm"]["auroc_heldout"] <= 1
    again = evaluate_baselines(model, _sets(model, 40, "eval", 0), None, kde, **settings)
    assert again["bl1"]["fgsm"]["auroc"] == scores["bl1"]["fgsm"]["auroc"]  # seeded end to end


def test_an_attack_crafted_on_part_of_the_pool_is_paired_with_those_images() -> None:
    """A smaller training pool for one attack (craft.train_subset) uses its own benign sources."""
    model = tiny_model()
    kde = fit_class_kde(model, torch.rand(60, 1, 4, 4), torch.arange(60) % 3, bandwidth=1.0)
    pool = _sets(model, 40, "train", 1)
    small = pool["fgsm"]
    pool["cw"] = ExampleSet(
        x=small.x[:20].flip(0),
        indices=small.indices[:20].flip(0),
        labels=small.labels[:20],
        kind="cw",
        split="train",
    )
    evaluation = _sets(model, 40, "eval", 0)
    evaluation["cw"] = ExampleSet(**{**vars(evaluation["fgsm"]), "kind": "cw"})
    settings = dict(
        noise={"fgsm": 0.05, "cw": "l2"}, seed=0, mc_passes=5, k=5, minibatch=20, block_size=10
    )
    scores = evaluate_baselines(model, evaluation, pool, kde, **settings)
    assert scores["bl1"]["cw"]["n"] == 40 and 0 <= scores["bl2"]["cw"]["auroc_heldout"] <= 1
    with pytest.raises(ValueError, match=r"cw_train is not paired with benign_train: 20 source"):
        pool["cw"].indices = pool["cw"].indices + 1000
        evaluate_baselines(model, evaluation, pool, kde, **settings)


def _toy_config() -> BaselinesConfig:
    return BaselinesConfig(
        bl1=KDBUConfig(mc_passes=5, batch_size=16, bandwidth={"toy": 1.0}),
        bl2=LIDConfig(k=5, minibatch=20, block_size=10),
        noise={"toy": {"fgsm": 0.05}},
    )


def test_evaluate_target_is_the_stage_steps_on_the_folder(tmp_path: Path) -> None:
    """The stage's one library call equals the steps the stage took itself before: load the
    sets, fit BL1's densities with the configured bandwidth, evaluate with the config."""
    model = tiny_model()
    for split, seed in (("eval", 0), ("train", 1)):
        for example_set in _sets(model, 40, split, seed).values():
            save_set(example_set, tmp_path)
    train_x = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    training = DatasetSplit(x=train_x, y=model.predict(train_x), indices=torch.arange(60))
    got = evaluate_target(
        model, tmp_path, lambda: training, dataset="toy", config=_toy_config(), seed=0
    )
    kde = fit_class_kde(model, training.x, training.y, bandwidth=1.0, batch_size=16)
    expected = evaluate_baselines(
        model,
        load_sets(tmp_path, "eval"),
        load_sets(tmp_path, "train"),
        kde,
        noise={"fgsm": 0.05},
        seed=0,
        mc_passes=5,
        mc_batch_size=16,
        k=5,
        minibatch=20,
        block_size=10,
    )
    assert got == expected


def _no_training_images() -> DatasetSplit:
    raise AssertionError("the training images were loaded before the inputs were checked")


TARGET_ERRORS = [
    ("no adversarial set", {}, (), DataError, r"needs benign_eval.pt and at least one"),
    ("no bandwidth", {"bl1": KDBUConfig()}, ("fgsm",), ConfigError, r"bl1.bandwidth.toy is not"),
    ("no noise rule", {"noise": {}}, ("fgsm",), ConfigError, r"noise.toy has no rule for fgsm"),
    (
        "too few for BL2",
        {"bl2": LIDConfig(block_size=100)},
        ("fgsm",),
        ConfigError,
        r"80/20 split of 40 inputs",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "attacks", "error", "message"),
    TARGET_ERRORS,
    ids=[c[0] for c in TARGET_ERRORS],
)
def test_evaluate_target_checks_before_loading_anything(
    tmp_path: Path, case: str, change: dict, attacks: tuple, error: type, message: str
) -> None:
    model = tiny_model()
    for kind, example_set in _sets(model, 40, "eval", 0).items():
        if kind == "benign" or kind in attacks:
            save_set(example_set, tmp_path)
    config = _toy_config()
    for field_name, value in change.items():
        setattr(config, field_name, value)
    with pytest.raises(error, match=message):
        evaluate_target(model, tmp_path, _no_training_images, dataset="toy", config=config, seed=0)


# --- one-line errors for bad input ------------------------------------------------------------


BAD_CALLS = [
    (
        "negative std",
        lambda: check_noise_rule(-0.1),
        ValueError,
        r"positive Gaussian std .*, 'flip' .* or 'l2' .*, got -0.1",
    ),
    (
        "unpaired noise",
        lambda: noisy_samples(
            torch.zeros(2, 1, 4, 4), torch.zeros(3, 1, 4, 4), 0.1, rng=noise_rng(0, "x")
        ),
        ValueError,
        r"same shape, got \(2, 1, 4, 4\) and \(3, 1, 4, 4\)",
    ),
    (
        "k = 0",
        lambda: mle_lid(torch.zeros(2, 3), torch.rand(5, 3), k=0),
        ValueError,
        r"k must be >= 1, got 0",
    ),
    (
        "one reference point",
        lambda: mle_lid(torch.zeros(2, 3), torch.rand(1, 3)),
        ValueError,
        r"at least 2 points",
    ),
    (
        "tiny block split",
        lambda: block_split(np.zeros((120, 1)), np.repeat([1, 0, 0], 40)),
        ValueError,
        r"leaves 0 for training .* lower baselines.bl2.block_size",
    ),
    (
        "unfitted class",
        lambda: (
            ClassKernelDensity()
            .fit(np.zeros((4, 2)), [0, 0, 1, 1])
            .score_samples(np.zeros((1, 2)), [7])
        ),
        ValueError,
        r"class\(es\) \[7\] had no training points",
    ),
    (
        "bad bandwidth",
        lambda: gaussian_kde_log_density(torch.zeros(1, 2), torch.zeros(3, 2), 0.0),
        ValueError,
        r"bandwidth must be > 0",
    ),
    (
        "plain network",
        lambda: mc_dropout_uncertainty(build_model("env2_mnist_lenet5"), torch.rand(2, 1, 28, 28)),
        TypeError,
        r"BL1 needs a LayeredNet .* got Env2MnistLeNet5",
    ),
    (
        "one pass",
        lambda: mc_dropout_uncertainty(tiny_model(), torch.rand(2, 1, 4, 4), passes=1),
        ValueError,
        r"passes must be >= 2",
    ),
    (
        "missing noise rule",
        lambda: evaluate_baselines(
            tiny_model(),
            _sets(tiny_model(), 8, "eval", 0),
            None,
            ClassKernelDensity(),
            noise={},
            seed=0,
        ),
        ValueError,
        r"no noise rule for fgsm",
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "error", "message"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_is_a_one_line_error(
    case: str, call, error: type[Exception], message: str
) -> None:  # noqa: ANN001
    with pytest.raises(error, match=message) as info:
        call()
    assert "\n" not in str(info.value)


BAD_CONFIG = [
    (
        ["baselines.noise.mnist.fgsn=0.3"],
        r"baselines.noise.mnist.fgsn is not a crafting attack \(did you mean 'fgsm'\?\)",
    ),
    (
        ["baselines.noise.mnist.fgsm=gauss"],
        r"baselines.noise.mnist.fgsm must be a positive Gaussian std",
    ),
    (["baselines.bl1.bandwidth.mnist=0"], r"baselines.bl1.bandwidth.mnist must be > 0, got 0"),
    (["baselines.bl2.k=0"], r"baselines.bl2.k must be >= 1, got 0"),
    (["baselines.bl1.mc_passes=1"], r"baselines.bl1.mc_passes must be >= 2, got 1"),
    (["baselines.bl2.kk=3"], r"Key 'kk' not in 'LIDConfig'"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIG, ids=[o[0] for o, _ in BAD_CONFIG])
def test_bad_baselines_config_is_a_config_error(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_params(overrides=overrides)
    assert "\n" not in str(info.value)


# --- the stage ---------------------------------------------------------------------------------


def _stage(tmp_path: Path, sets: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "stages.baselines",
        "--target",
        "env1_mnist",
        "--weights",
        str(PROJECT_ROOT / "data/models/env1_mnist.pt"),
        "--sets",
        str(sets),
        "--metrics",
        str(tmp_path / "m.json"),
        *overrides,
    ]
    env = {**os.environ, "A2D_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _write_sets(folder: Path, n: int, *, foreign_fgsm: bool = False) -> Path:
    x = torch.rand(n, 1, 28, 28)
    indices = torch.arange(n)
    for kind in ("benign", "fgsm"):
        order = indices + 1000 if kind == "fgsm" and foreign_fgsm else indices
        save_set(
            ExampleSet(
                x=x, indices=order, labels=torch.zeros(n, dtype=torch.long), kind=kind, split="eval"
            ),
            folder,
        )
    return folder


def _params_without_fgsm_noise(folder: Path) -> str:
    data = yaml.safe_load(PARAMS_FILE.read_text())
    del data["baselines"]["noise"]["mnist"]["fgsm"]
    (folder / "params.yaml").write_text(yaml.safe_dump(data))
    return f"--params={folder / 'params.yaml'}"


STAGE_ERRORS = [
    (
        "no sets",
        lambda p: (p / "missing", ()),
        r"no example sets in '.*missing'; run the craft stage",
    ),
    (
        "too few for the block split",
        lambda p: (_write_sets(p, 40), ()),
        r"80/20 split of 40 inputs per set in blocks of 100 leaves 0 for training .* lower baselines.bl2.block_size",
    ),
    (
        "unpaired sets",
        lambda p: (_write_sets(p, 40, foreign_fgsm=True), ("baselines.bl2.block_size=10",)),
        r"fgsm_eval is not paired with benign_eval: 40 source indices \(first 1000\) are not in it",
    ),
    (
        "no noise rule",
        lambda p: (_write_sets(p, 40), (_params_without_fgsm_noise(p),)),
        r"baselines.noise.mnist has no rule for fgsm \(conf/baselines/env1.yaml\)",
    ),
]


@pytest.mark.parametrize(
    ("case", "setup", "message"), STAGE_ERRORS, ids=[c[0] for c in STAGE_ERRORS]
)
def test_stage_user_errors_are_one_line(tmp_path: Path, case: str, setup, message: str) -> None:  # noqa: ANN001
    sets, overrides = setup(tmp_path)
    result = _stage(tmp_path, sets, *overrides)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("a2d baselines: error: ") and re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "m.json").exists()


@pytest.mark.slow
@pytest.mark.needs_data
def test_stage_writes_the_table2_metrics_shape(tmp_path: Path, data_root: Path) -> None:
    """The exact JSON the Table 2 renderer reads: target, then per baseline and attack 3 keys."""
    sets = _write_sets(tmp_path, 40)
    for kind in ("benign", "fgsm"):  # a training pool with other source images
        save_set(
            ExampleSet(
                x=torch.rand(40, 1, 28, 28),
                indices=torch.arange(40, 80),
                labels=torch.zeros(40, dtype=torch.long),
                kind=kind,
                split="train",
            ),
            sets,
        )
    overrides = ("baselines.bl2.block_size=10", "models.env1_mnist.train.train_subset=2000")
    result = _stage(tmp_path, sets, *overrides)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(metrics) == {"target", "bl1", "bl2"} and metrics["target"] == "env1_mnist"
    for baseline in ("bl1", "bl2"):
        assert set(metrics[baseline]) == {"fgsm"}
        score = metrics[baseline]["fgsm"]
        assert set(score) == {"auroc", "auroc_heldout", "n"} and score["n"] == 40
        assert 0 <= score["auroc"] <= 1 and 0 <= score["auroc_heldout"] <= 1
