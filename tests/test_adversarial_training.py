"""PGD adversarial training as a training option (models.<target>.train.adversarial)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from a2d.config import TrainConfig, load_params
from a2d.data import DatasetSplit
from a2d.errors import ConfigError
from a2d.models import build_model
from a2d.training import (
    AdversarialTrainingConfig,
    PGDObjective,
    cross_entropy,
    pgd_linf,
    train_model,
    training_objective,
)
from a2d.training.trainer import CHECKPOINT_NAME, _fingerprint
from a2d.utils.seed import seed_everything

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _split(n: int = 48, seed: int = 0) -> DatasetSplit:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=gen)
    x = torch.rand(n, 1, 28, 28, generator=gen) * 0.3
    x[torch.arange(n), 0, y * 2 + 3, 5:20] = 1.0
    return DatasetSplit(x=x, y=y, indices=torch.arange(n))


def _cfg(adversarial: AdversarialTrainingConfig | None, epochs: int = 1) -> TrainConfig:
    return TrainConfig(
        epochs=epochs, batch_size=16, optimizer="adadelta", lr=1.0, adversarial=adversarial
    )


def _train(cfg: TrainConfig, checkpoint_dir: Path | None = None) -> str:
    seed_everything(5)
    model = build_model("env2_mnist_lenet5")
    train_model(
        model, _split(), cfg, seed=5, device=torch.device("cpu"), checkpoint_dir=checkpoint_dir
    )
    raw = b"".join(v.numpy().tobytes() for v in model.state_dict().values())
    return hashlib.sha256(raw).hexdigest()


FAST_PGD = AdversarialTrainingConfig(epsilon=0.1, step_size=0.05, steps=2)


def test_pgd_stays_in_the_ball_and_raises_the_loss() -> None:
    torch.manual_seed(0)
    model = build_model("env2_mnist_lenet5").eval()
    split = _split(16)
    adv = pgd_linf(model, split.x, split.y, epsilon=0.1, step_size=0.05, steps=3)
    assert float((adv - split.x).abs().max()) <= 0.1 + 1e-6
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert F.cross_entropy(model(adv), split.y) > F.cross_entropy(model(split.x), split.y)
    assert all(p.grad is None for p in model.parameters())  # input gradients only


def test_the_option_runs_and_differs_from_plain_training() -> None:
    plain = _train(_cfg(None))
    adversarial = _train(_cfg(FAST_PGD))
    assert adversarial != plain
    assert _train(_cfg(FAST_PGD)) == adversarial  # seeded: random starts included


def test_adversarial_training_resumes_per_epoch(tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop(record: object) -> None:
        raise Stop

    full = _train(_cfg(FAST_PGD, epochs=2))
    seed_everything(5)
    model = build_model("env2_mnist_lenet5")
    with pytest.raises(Stop):
        train_model(
            model,
            _split(),
            _cfg(FAST_PGD, epochs=2),
            seed=5,
            device=torch.device("cpu"),
            checkpoint_dir=tmp_path,
            on_epoch=stop,
        )
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    assert _train(_cfg(FAST_PGD, epochs=2), checkpoint_dir=tmp_path) == full


def test_objective_follows_the_config() -> None:
    assert training_objective(_cfg(None)) is cross_entropy
    objective = training_objective(_cfg(AdversarialTrainingConfig()))
    assert objective == PGDObjective(epsilon=8 / 255, step_size=2 / 255, steps=10)


def test_plain_training_keeps_its_checkpoint_fingerprint() -> None:
    """Checkpoints written before the option existed still resume: no 'adversarial' key."""
    plain = _fingerprint(_cfg(None), 0, 10, "Net", None)
    assert "adversarial" not in plain["train"] and "objective" not in plain
    pgd = _fingerprint(_cfg(FAST_PGD), 0, 10, "Net", None)
    assert pgd["train"]["adversarial"] == asdict(FAST_PGD)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epsilon": 0.0}, r"epsilon must be a number > 0"),
        ({"step_size": -1.0}, r"step_size must be a number > 0"),
        ({"steps": 0}, r"steps must be an integer >= 1, got 0"),
    ],
)
def test_bad_pgd_settings_are_config_errors(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PGDObjective(**kwargs)  # type: ignore[arg-type]


def test_the_full_recipe_is_one_config_value_away() -> None:
    params = load_params(overrides=["models.env1_cifar10.train.adversarial.steps=10"])
    recipe = params.models["env1_cifar10"].train
    assert recipe is not None and recipe.adversarial is not None
    assert recipe.adversarial == AdversarialTrainingConfig()
    assert recipe.adversarial.epsilon == pytest.approx(8 / 255)
    plain = load_params().models["env1_cifar10"].train
    assert plain is not None and plain.adversarial is None
