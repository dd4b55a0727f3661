"""Config: params.yaml equals the composition of conf/; bad values are one-line ConfigErrors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from a2d.config import PARAMS_FILE, compose, load_params
from a2d.errors import ConfigError


def test_params_yaml_equals_composed_conf() -> None:
    """DVC composes conf/ only on `dvc exp run`; the committed params.yaml must not drift."""
    committed = yaml.safe_load(PARAMS_FILE.read_text())
    assert committed == compose(), "params.yaml differs from conf/: run `make params`"


def test_dvc_hydra_composition_matches_ours(tmp_path: Path) -> None:
    """DVC's own Hydra composition (what `dvc exp run -S` writes) gives the same params."""
    from dvc.utils.hydra import compose_and_dump

    from a2d.config import CONF_DIR

    out = tmp_path / "params.yaml"
    compose_and_dump(out, str(CONF_DIR), None, "config", str(CONF_DIR), ["profile=ci"])
    assert yaml.safe_load(out.read_text()) == compose(["profile=ci"])


@pytest.mark.parametrize(
    ("profile", "targets", "epochs"),
    [("paper", ["env1_mnist", "env1_cifar10", "env2_mnist"], 10), ("ci", ["env1_mnist"], 2)],
)
def test_profiles_select_targets_and_scale(profile: str, targets: list[str], epochs: int) -> None:
    composed = compose([f"profile={profile}"])
    assert composed["profile"] == profile
    assert composed["targets"] == targets
    assert composed["models"]["env1_mnist"]["train"]["epochs"] == epochs


def test_paper_profile_keeps_the_papers_training_settings() -> None:
    params = load_params()
    mnist, cifar = params.models["env1_mnist"].train, params.models["env1_cifar10"].train
    assert mnist is not None and cifar is not None
    assert (mnist.optimizer, mnist.lr, mnist.rho, mnist.eps, mnist.batch_size) == (
        "adadelta",
        1.0,
        0.95,
        1e-7,
        128,
    )
    assert (cifar.epochs, cifar.l2_penalty, cifar.l2_layers) == (60, 0.01, ["dense1", "dense2"])


def _write(tmp_path: Path, mutate) -> Path:  # noqa: ANN001 - a small lambda
    data = yaml.safe_load(PARAMS_FILE.read_text())
    mutate(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


BAD_PARAMS = [
    ("unknown top-level key", lambda d: d.update(sed=1), r"Key 'sed' not in 'Params'"),
    (
        "typo in a nested key",
        lambda d: d["models"]["env1_mnist"]["train"].update(epohcs=3),
        r"epohcs",
    ),
    ("wrong type", lambda d: d.update(seed="zero"), r"seed"),
    ("unset value", lambda d: d.update(seed="???"), r"'\?\?\?'"),
    (
        "unknown dataset name",
        lambda d: d["models"]["env1_mnist"].update(dataset="mnst"),
        r"did you mean 'mnist'",
    ),
    (
        "unknown target",
        lambda d: d.update(targets=["env1_mnsit"]),
        r"target 'env1_mnsit' .*did you mean 'env1_mnist'",
    ),
    (
        "unknown architecture",
        lambda d: d["models"]["env1_mnist"].update(arch="lenet"),
        r"not a known architecture",
    ),
    ("unknown device", lambda d: d.update(device="tpu"), r"device='tpu'"),
    (
        "unknown optimizer",
        lambda d: d["models"]["env1_mnist"]["train"].update(optimizer="adam"),
        r"'adadelta' or 'sgd'",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "message"), BAD_PARAMS, ids=[c[0] for c in BAD_PARAMS])
def test_bad_params_raise_one_line_config_error(
    tmp_path: Path, case: str, mutate, message: str
) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=message) as info:
        load_params(_write(tmp_path, mutate))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["models.env1_mnist.train.epohcs=3"], r"Key 'epohcs' not in 'TrainConfig'"),
        (["seed=abc"], r"seed"),
        (["seed"], r"not key=value"),
        (["costs.max_inputs.dbb=100"], r"costs.max_inputs.dbb=100: expected a cost attack"),
        (["costs.max_inputs.dba=0"], r"a count >= 1"),
        (["craft.train_subset.cww=5"], r"craft.train_subset.cww=5: expected a crafting attack"),
        (["costs.eval_only=[dbb]"], r"costs.eval_only has 'dbb'.*did you mean 'dba'"),
        (["report.confidence=1.5"], r"report.confidence must be in \(0, 1\)"),
        (["report.fpr_levels=[0.0]"], r"report.fpr_levels must lie in"),
    ],
)
def test_bad_overrides_raise_one_line_config_error(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_params(overrides=overrides)
    assert "\n" not in str(info.value)


def test_good_override_is_applied() -> None:
    params = load_params(overrides=["seed=7", "models.env1_mnist.train.epochs=3"])
    assert params.seed == 7
    assert params.models["env1_mnist"].train is not None
    assert params.models["env1_mnist"].train.epochs == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["profile=cii"], r"Could not find 'profile/cii'"),
        (["models.env1_mnist.train.epohcs=3"], r"epohcs"),
    ],
)
def test_bad_hydra_overrides_raise_one_line_config_error(
    overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        compose(overrides)
    assert "\n" not in str(info.value)


def test_missing_params_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"make params"):
        load_params(tmp_path / "nope.yaml")
