"""Config: params.yaml equals the composition of conf/; bad values are one-line ConfigErrors."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from a2d.config import (
    PARAMS_FILE,
    Params,
    compose,
    cost_hyperparameters,
    craft_attacks,
    dataset_config,
    dataset_of,
    load_params,
    target_config,
)
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
        lambda d: d["models"]["env1_mnist"]["train"].update(optimizer="rmsprop"),
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
        # per-stage target lists: crafted targets only, and every crafted target detected once
        (
            ["clever.models=[env2_mnist,env1_mnsit]"],
            r"clever.models has 'env1_mnsit'.*did you mean",
        ),
        (
            ["baselines.targets=[env2_cifar10]"],
            r"baselines.targets has 'env2_cifar10', which craft",
        ),
        (["detector.targets=[env1_mnist]"], r"'env1_cifar10' in 0 of detector.targets"),
        (
            ["detector.targets=[env1_mnist,env1_cifar10,env2_mnist]"],
            r"'env2_mnist' in 2 of detector.targets",
        ),
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


# --- names: the schema validates against name lists, which must equal the registries -----------

NAME_LISTS = [
    ("CRAFT_ATTACK_NAMES", "a2d.attacks", "CRAFT_ATTACKS"),
    ("COST_ATTACK_NAMES", "a2d.costs", "COST_ATTACKS"),
    ("ARCHITECTURE_NAMES", "a2d.models", "ARCHITECTURES"),
    ("CLEVER_TARGETS", "a2d.robustness", "TARGETS"),
    ("CLASSIFIERS", "a2d.detectors.experiments", "CLASSIFIERS"),
    ("DEVICE_CHOICES", "a2d.utils.device", "DEVICE_CHOICES"),
    ("MUTATION_OPERATORS", "a2d.baselines.mutation", "OPERATORS"),
]


@pytest.mark.parametrize(
    ("names", "module", "registry"), NAME_LISTS, ids=[n[0] for n in NAME_LISTS]
)
def test_name_lists_equal_their_registries(names: str, module: str, registry: str) -> None:
    import importlib

    import a2d.config

    built = tuple(getattr(importlib.import_module(module), registry))
    assert getattr(a2d.config, names) == built, (
        f"a2d.config.{names} differs from {module}.{registry}: add the new name to a2d/config.py"
    )


@pytest.mark.parametrize("rule", [0.31, 1, 0, -0.1, True, "flip", "l2", "gauss", None, [0.1]])
def test_noise_rules_are_checked_as_the_baselines_check_them(rule: object) -> None:
    from a2d.baselines.noise import check_noise_rule
    from a2d.config import _check_noise_rule

    try:
        check_noise_rule(rule, what="w")
    except ValueError as exc:
        with pytest.raises(ConfigError, match=re.escape(str(exc))):
            _check_noise_rule(rule, what="w")
    else:
        _check_noise_rule(rule, what="w")


def test_validation_imports_no_attack_model_or_baseline() -> None:
    """Every stage loads the config: what it imports, every stage depends on (tests/test_dvc_deps.py)."""
    from a2d.config import PROJECT_ROOT
    from a2d.pipeline.deps import imported_files

    heavy = ("attacks", "costs", "robustness", "baselines", "detectors", "reporting")
    pulled = sorted(
        str(f) for f in imported_files(PROJECT_ROOT, "a2d.config") if f.parts[1] in heavy
    )
    assert not pulled, f"a2d.config imports {pulled}; validate against a name list instead"


@pytest.mark.parametrize("first", ["a2d.config", "a2d.training", "a2d.training.trainer"])
def test_train_config_lives_in_training_and_imports_in_any_order(first: str) -> None:
    """a2d.config re-exports TrainConfig from a2d.training.config; the trainer imports it back."""
    code = (
        f"import {first}\n"
        "import a2d.config, a2d.training.config, a2d.training.trainer as t\n"
        "assert a2d.config.TrainConfig is a2d.training.config.TrainConfig is t.TrainConfig\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


def test_schema_defaults_agree_with_conf() -> None:
    """conf/ is the source; a schema default it contradicts would mislead whoever reads it."""
    from omegaconf import OmegaConf

    from a2d.config import Params

    def walk(default: object, value: object, key: str) -> list[str]:
        if isinstance(default, dict):
            return [
                bad
                for k, d in default.items()
                if isinstance(value, dict) and k in value
                for bad in walk(d, value[k], f"{key}.{k}")
            ]
        empty = default in ("???", None, [], {})  # unset, or "absent" (all / none)
        return [] if empty or default == value else [f"{key}: schema {default!r}, conf {value!r}"]

    schema = OmegaConf.to_container(OmegaConf.structured(Params))
    assert walk(schema, compose(), "params") == []


# --- accessors: a stage's slice of the config, or one line that says what to set where ---------


def _cifar10_costs_unset(params: Params) -> object:
    del params.costs.params["cifar10"]
    return cost_hyperparameters(params, "env1_cifar10", "bim")


def _dataset_unknown(params: Params) -> object:
    params.models["env1_mnist"].dataset = "svhn"  # what load_params refuses; a stage might not
    return dataset_of(params, "env1_mnist")


ACCESSOR_ERRORS: list[tuple[str, Callable[[Params], object], str]] = [
    (
        "unknown target",
        lambda p: target_config(p, "env1_mnst"),
        r"^unknown target 'env1_mnst' \(did you mean 'env1_mnist'\?\); valid: env1_cifar10, ",
    ),
    (
        "target without crafting attacks",
        lambda p: (p.craft.attacks.pop("env2_mnist"), craft_attacks(p, "env2_mnist")),
        r"^craft.attacks.env2_mnist is not set \(conf/attack/craft_env2.yaml\)",
    ),
    (
        "unknown cost attack",
        lambda p: cost_hyperparameters(p, "env1_mnist", "bmi"),
        r"^'bmi' is not a cost attack \(did you mean 'bim'\?\); valid: bim, bim2, cw, dba, fgsm, "
        r"jsma, lbfgs, lsa$",
    ),
    (
        "dataset without cost parameters: an error, no MNIST fallback",
        _cifar10_costs_unset,
        r"^costs.params.cifar10.bim is not set \(conf/attack/cost.yaml; datasets with "
        r"settings: imagenet, mnist\)$",
    ),
    (
        "unknown dataset",
        _dataset_unknown,
        r"^models.env1_mnist.dataset='svhn' is not in datasets; add conf/dataset/svhn.yaml",
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "message"), ACCESSOR_ERRORS, ids=[c[0] for c in ACCESSOR_ERRORS]
)
def test_accessors_raise_one_line_naming_the_key_and_file(
    case: str, call: Callable[[Params], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        call(load_params())
    assert "\n" not in str(info.value)


def test_accessors_return_the_configured_values_as_copies() -> None:
    params = load_params()
    assert target_config(params, "env2_mnist") is params.models["env2_mnist"]
    assert dataset_of(params, "env2_mnist") == "mnist"
    assert dataset_config(params, "env1_cifar10").torchvision_class == "CIFAR10"
    assert craft_attacks(params, "env1_mnist")["fgsm"] == {"epsilon": 0.3}
    hp = cost_hyperparameters(params, "env1_mnist", "bim")
    assert hp == {"epsilon": 0.3, "max_iterations": 500}
    hp["seed"] = 1
    craft_attacks(params, "env1_mnist")["fgsm"]["seed"] = 1
    assert "seed" not in params.costs.params["mnist"]["bim"]
    assert "seed" not in params.craft.attacks["env1_mnist"]["fgsm"]
