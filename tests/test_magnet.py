"""MagNet's autoencoder detector: threshold calibration, the detector, the autoencoders, training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from a2d.baselines.magnet import (
    MAGNET_TRAINING,
    DenoisingObjective,
    MagNetAutoencoder,
    MagNetDetector,
    autoencoder_i,
    autoencoder_ii,
    fit_magnet,
    fit_magnet_config,
    fpr_threshold,
    load_magnet,
    magnet_split,
    magnet_summary,
    reconstruction_errors,
    save_magnet,
    train_autoencoder,
)
from a2d.data import DatasetSplit
from a2d.errors import DataError
from a2d.training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Blank(nn.Module):
    """An 'autoencoder' that reconstructs nothing: its error is the image's own mean |x|^p."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x) + 0 * self.unused


# ---------------------------------------------------------------- threshold calibration


@pytest.mark.parametrize(
    ("fpr", "flagged"),
    [(0.001, 5), (0.01, 50), (0.0, 0), (0.0002, 1), (0.00019, 0), (1.0, 5000)],
)
def test_threshold_flags_floor_fpr_n_of_distinct_scores(fpr: float, flagged: int) -> None:
    """5000 distinct synthetic errors: exactly floor(fpr * 5000) are above the threshold (MagNet's 5th)."""
    scores = np.random.default_rng(0).permutation(5000).astype(float) / 100
    threshold = fpr_threshold(scores, fpr)
    assert int((scores > threshold).sum()) == flagged
    if 0 < flagged < 5000:  # MagNet: the flagged ones are those >= the flagged-th largest
        assert threshold == np.sort(scores)[::-1][flagged]


def test_threshold_never_exceeds_fpr_when_scores_tie() -> None:
    scores = np.r_[np.zeros(990), np.ones(10)]  # ten tied largest errors
    assert (scores > fpr_threshold(scores, 0.005)).mean() == 0.0  # 5 allowed: none of the tie
    assert (scores > fpr_threshold(scores, 0.009)).mean() == 0.0  # 9 allowed, 10 tie
    assert (scores > fpr_threshold(scores, 0.01)).mean() == 0.01  # 10 allowed: the whole tie


def test_threshold_generalises_to_fresh_benign_errors() -> None:
    """Calibrated on 50000 lognormal errors at 1%, about 1% of fresh ones from the same law are flagged."""
    rng = np.random.default_rng(1)
    threshold = fpr_threshold(rng.lognormal(size=50_000), 0.01)
    fresh = rng.lognormal(size=200_000)
    assert abs((fresh > threshold).mean() - 0.01) < 0.002


@pytest.mark.parametrize(
    ("scores", "fpr", "match"),
    [
        ([1.0, 2.0], 1.5, r"fpr must be a rate in \[0, 1\]"),
        ([1.0, 2.0], -0.1, r"fpr must be a rate"),
        ([], 0.1, r"non-empty array of finite numbers, got 0"),
        ([1.0, math.nan], 0.1, r"with NaN or inf"),
    ],
)
def test_threshold_errors(scores: list[float], fpr: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fpr_threshold(scores, fpr)


# ---------------------------------------------------------------- the detector


def test_detector_on_synthetic_errors_two_detectors() -> None:
    rng = np.random.default_rng(2)
    validation = np.c_[rng.normal(1.0, 0.1, 5000), rng.normal(5.0, 1.0, 5000)]
    detector = MagNetDetector([Blank(), Blank()], norms=(2, 1), fpr=0.001).fit_errors(validation)
    assert detector.n_validation_ == 5000
    np.testing.assert_allclose(detector.validation_fpr_, [0.001, 0.001])
    # each detector flags 5 validation rows; the union at most 10 (MagNet: rates add up)
    flagged = detector.predict_errors(validation)
    assert 5 <= flagged.sum() <= 10
    queries = np.array([[1.0, 5.0], [2.0, 5.0], [1.0, 20.0], [0.0, 0.0]])
    assert detector.predict_errors(queries).tolist() == [0, 1, 1, 0]
    scores = detector.decision_function_errors(queries)
    assert ((scores > 1) == detector.predict_errors(queries).astype(bool)).all()


def test_detector_scores_reconstruction_errors_of_images() -> None:
    gen = torch.Generator().manual_seed(0)
    validation = torch.rand(200, 1, 6, 6, generator=gen) * 0.5
    detector = MagNetDetector([Blank()], norms=(2,), fpr=0.01).fit(validation)
    errors = detector.errors(validation)[:, 0]
    np.testing.assert_allclose(errors, validation.pow(2).flatten(1).mean(1).numpy(), rtol=1e-6)
    assert detector.predict(validation).sum() == 2  # 1% of 200
    bright = torch.ones(3, 1, 6, 6)  # error 1 >> any validation error (<= 0.25)
    assert detector.predict(bright).tolist() == [1, 1, 1]
    assert (detector.decision_function(bright) > 1).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"autoencoders": []}, r"autoencoders is empty"),
        ({"norms": (2, 1)}, r"one norm per autoencoder: 1 autoencoder"),
        ({"norms": (3,)}, r"norms must be 1 or 2"),
    ],
)
def test_detector_parameter_errors(kwargs: dict[str, object], match: str) -> None:
    params: dict[str, object] = {"autoencoders": [Blank()], "norms": (2,), **kwargs}
    detector = MagNetDetector(**params)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        detector.fit(torch.rand(4, 1, 2, 2))


def test_errors_shape_is_checked() -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) float tensor"):
        reconstruction_errors(Blank(), torch.rand(4, 4))
    with pytest.raises(ValueError, match=r"errors must be \(N, 1\)"):
        MagNetDetector([Blank()], norms=(2,)).fit_errors(np.zeros((4, 2)))


# ---------------------------------------------------------------- autoencoders and training


@pytest.mark.parametrize(
    ("build", "convs", "pools"), [(autoencoder_i, 5, 1), (autoencoder_ii, 3, 0)]
)
def test_magnet_autoencoders(build, convs: int, pools: int) -> None:
    ae = build()
    x = torch.rand(2, 1, 28, 28)
    out = ae(x)
    assert out.shape == x.shape and bool(((out > 0) & (out < 1)).all())
    modules = list(ae.layers)
    assert sum(isinstance(m, nn.Conv2d) for m in modules) == convs
    assert sum(isinstance(m, nn.AvgPool2d) for m in modules) == pools
    assert all(m.out_channels in (3, 1) for m in modules if isinstance(m, nn.Conv2d))


def test_autoencoder_structure_errors() -> None:
    with pytest.raises(ValueError, match=r"structure is empty"):
        MagNetAutoencoder(())
    with pytest.raises(ValueError, match=r"filter counts > 0 or 'average' / 'max', got 'mean'"):
        MagNetAutoencoder((3, "mean"))


def _images(n: int = 96, seed: int = 0) -> DatasetSplit:
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 8, 8)
    rows = torch.randint(1, 7, (n,), generator=gen)
    x[torch.arange(n), 0, rows, 1:7] = 1.0  # a bright stripe: easy to learn
    return DatasetSplit(x=x, y=torch.zeros(n, dtype=torch.long), indices=torch.arange(n))


def test_denoising_training_lowers_the_loss_through_the_trainer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ae = autoencoder_ii()
    cfg = TrainConfig(epochs=3, batch_size=32, optimizer="adam", lr=0.02, eps=1e-7)
    history = train_autoencoder(
        ae, _images(), cfg=cfg, seed=0, device=torch.device("cpu"), checkpoint_dir=tmp_path / "c"
    )
    assert [r.epoch for r in history] == [1, 2, 3]
    assert history[-1].loss < history[0].loss
    assert all(r.test_accuracy is None for r in history)
    assert not (tmp_path / "c").exists()  # checkpoint removed at the end


def test_denoising_objective_is_mse_to_the_clean_image() -> None:
    images = _images(4).x
    loss = DenoisingObjective(noise=0.0)(Blank(), images, torch.zeros(4)).detach()
    assert float(loss) == pytest.approx(float(images.pow(2).mean()))
    with pytest.raises(ValueError, match=r"noise must be >= 0"):
        DenoisingObjective(noise=-1.0)


def test_fit_magnet_end_to_end_on_a_tiny_split(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, batch_size=32, optimizer="adam", lr=0.01, eps=1e-7)
    detector = fit_magnet(
        _images(80), seed=0, device=torch.device("cpu"), cfg=cfg, n_validation=20, fpr=0.1
    )
    assert detector.thresholds_.shape == (2,)
    assert detector.n_validation_ == 20
    assert (detector.validation_fpr_ <= 0.1).all()
    assert MAGNET_TRAINING.optimizer == "adam" and MAGNET_TRAINING.batch_size == 256
    save_magnet(detector, tmp_path / "magnet.pt")
    loaded = load_magnet(tmp_path / "magnet.pt")
    images = _images(8, seed=1).x
    np.testing.assert_array_equal(loaded.errors(images), detector.errors(images))
    np.testing.assert_array_equal(loaded.thresholds_, detector.thresholds_)
    with pytest.raises(DataError, match=r"no MagNet detector at"):
        load_magnet(tmp_path / "missing.pt")


def test_magnet_split_is_first_n_validation() -> None:
    rest, validation = magnet_split(_images(10), 3)
    assert validation.indices.tolist() == [0, 1, 2] and len(rest) == 7
    with pytest.raises(ValueError, match=r"n_validation=10 must leave images on both sides"):
        magnet_split(_images(10), 10)


def test_fit_magnet_config_follows_the_adaptive_magnet_section() -> None:
    """The magnet stage's call: structures, norms, noise, FPR and validation size from config."""
    from a2d.config import MagNetConfig

    cfg = MagNetConfig(
        structures=[[3]],
        norms=[1],
        train=TrainConfig(epochs=1, batch_size=32, optimizer="adam", lr=0.01, eps=1e-7),
        noise=0.1,
        fpr=0.1,
        n_validation=20,
    )
    detector = fit_magnet_config(_images(60), cfg, seed=0, device=torch.device("cpu"))
    assert [ae.structure for ae in detector.autoencoders] == [(3,)]
    assert detector.norms == (1,) and detector.fpr == 0.1 and detector.n_validation_ == 20
    summary = magnet_summary(detector, _images(10, seed=2).x)
    assert summary["n_validation"] == 20 and summary["n_test"] == 10
    (only,) = summary["detectors"]
    assert only["structure"] == [3] and only["norm"] == 1
    assert only["validation_fpr"] <= 0.1 and 0 <= summary["test_fpr"] <= 1
