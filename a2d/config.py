"""Validated configuration: the schema of ``params.yaml`` and its composition from ``conf/``.

``conf/`` (Hydra groups: dataset, env, profile, later attack and detector) is the source of
truth; ``params.yaml`` is its committed composition, which ``dvc repro`` reads and
``dvc exp run -S profile=ci`` rewrites through DVC's Hydra integration. A test checks that the
two agree. Every stage loads ``params.yaml`` through :func:`load_params`, which merges it onto a
dataclass schema: unknown keys, wrong types and ``???`` values are one-line
:class:`~a2d.errors.ConfigError` s, not tracebacks.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from a2d.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
PARAMS_FILE = PROJECT_ROOT / "params.yaml"


@dataclass
class DataConfig:
    """Where the datasets live; ``A2D_DATA_ROOT`` overrides ``root`` (see :mod:`a2d.data`)."""

    root: str = "../shared/data"


@dataclass
class DatasetConfig:
    """A dataset as the models see it: torchvision class, shape, classes, normalisation stats."""

    torchvision_class: str = MISSING
    num_classes: int = MISSING
    shape: list[int] = MISSING
    mean: list[float] = MISSING
    std: list[float] = MISSING


@dataclass
class TrainConfig:
    """How a model is trained (Env1: Keras Adadelta; Env2: SGD with momentum)."""

    epochs: int = MISSING
    batch_size: int = MISSING
    optimizer: str = MISSING  # adadelta | sgd
    lr: float = MISSING
    rho: float = 0.95  # Adadelta decay (Keras default; torch's default is 0.9)
    eps: float = 1e-7  # Adadelta epsilon (Keras default; torch's default is 1e-6)
    momentum: float = 0.0  # SGD only
    l2_penalty: float = 0.0  # Keras-style coeff * sum(w^2), no 1/2 factor
    l2_layers: list[str] = field(default_factory=list)  # parameter-name prefixes the penalty covers
    train_subset: int | None = None  # first N training images (None = all)
    eval_batch_size: int = 1000


@dataclass
class ModelConfig:
    """One target model: environment, dataset, architecture and where its weights come from."""

    env: str = MISSING
    dataset: str = MISSING
    arch: str = MISSING
    normalize: bool = MISSING  # normalisation inside the model (Env2) or raw [0, 1] inputs (Env1)
    source: str = MISSING  # train | pretrained
    pretrained: str | None = None  # path of the weights when source == pretrained
    pretrained_sha256: str | None = None
    train: TrainConfig | None = None


@dataclass
class SetsConfig:
    """Evaluation-set sizes: the first ``n_eval`` correctly classified test images, then ``n_train``."""

    n_eval: int = MISSING
    n_train: int = MISSING


@dataclass
class CraftConfig:
    """Crafting (the adversarial inputs to detect): which targets, which attacks, batch size."""

    targets: list[str] = MISSING
    batch_size: int = 250
    attacks: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # target -> name -> kwargs


@dataclass
class CostsConfig:
    """Attacks used as defence: which ones run, how many examples are active, parameters per dataset."""

    attacks: list[str] = MISSING
    batch_size: int | None = None  # examples active at once; None = the fastest size, measured
    params: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # dataset -> name -> kwargs


@dataclass
class KDBUConfig:
    """BL1 (kernel density + Bayesian uncertainty): dropout passes, batch size, bandwidth per dataset."""

    mc_passes: int = 50
    batch_size: int = 256
    bandwidth: dict[str, float] = field(default_factory=dict)  # dataset -> kernel width


@dataclass
class LIDConfig:
    """BL2 (LID): neighbours, reference minibatch, block size of the 80/20 split."""

    k: int = 20
    minibatch: int = 100
    block_size: int = 100


@dataclass
class BaselinesConfig:
    """Table 2's detection baselines on the crafted sets (BL1, BL2) and their noisy negatives."""

    bl1: KDBUConfig = field(default_factory=KDBUConfig)
    bl2: LIDConfig = field(default_factory=LIDConfig)
    noise: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # dataset -> crafting attack -> Gaussian std or "flip"


@dataclass
class Params:
    """The whole of ``params.yaml``."""

    profile: str = MISSING
    seed: int = MISSING
    device: str = "auto"
    progress: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    targets: list[str] = MISSING
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    sets: SetsConfig = field(default_factory=SetsConfig)
    craft: CraftConfig = field(default_factory=CraftConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_line(exc: OmegaConfBaseException) -> str:
    """OmegaConf messages span several lines (full_key, object_type); keep the first, add the key."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    key = getattr(exc, "full_key", None)
    return f"{first} (key: {key})" if key and str(key) not in first else first


def _merge(schema: DictConfig, *configs: Any, what: str) -> DictConfig:
    try:
        return OmegaConf.merge(schema, *configs)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"bad {what}: {_one_line(exc)}") from None


def _parse_overrides(overrides: list[str]) -> DictConfig:
    bad = [item for item in overrides if "=" not in item or item.startswith("=")]
    if bad:
        raise ConfigError(f"override {bad[0]!r} is not key=value, e.g. seed=1 or device=cpu")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"bad override: {_one_line(exc)}") from None


def load_params(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Params:
    """Load ``params.yaml`` (or ``path``), apply ``key=value`` overrides, validate, return :class:`Params`.

    Raises:
        ConfigError: unknown keys (typos), wrong types, missing values, unknown names.
    """
    params_path = Path(path) if path is not None else PARAMS_FILE
    if not params_path.is_file():
        raise ConfigError(
            f"no params file at '{params_path}'; run from the project root or compose one with "
            "`make params` (profile=paper) or `dvc exp run -S profile=ci`"
        )
    try:
        loaded = OmegaConf.load(params_path)
    except Exception as exc:  # yaml errors come in several types
        raise ConfigError(f"cannot parse '{params_path}': {str(exc).splitlines()[0]}") from None
    schema = OmegaConf.structured(Params)
    cfg = _merge(schema, loaded, what=f"'{params_path.name}'")
    cfg = _merge(cfg, _parse_overrides(list(overrides)), what="override")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(
            f"config value(s) {', '.join(missing)} are '???' (unset); set them in conf/ or by override"
        )
    params: Params = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    validate(params)
    return params


def validate(params: Params) -> None:
    """Cross-field checks that a schema cannot express (names that must exist elsewhere)."""
    from a2d.models.registry import ARCHITECTURES
    from a2d.utils.device import resolve_device

    resolve_device(params.device)
    for target in params.targets:
        if target not in params.models:
            raise ConfigError(
                f"target {target!r} is not a model in config{_suggest(target, list(params.models))}; "
                f"valid: {', '.join(sorted(params.models))}"
            )
    for name, model in params.models.items():
        if model.dataset not in params.datasets:
            raise ConfigError(
                f"models.{name}.dataset={model.dataset!r} is not a known dataset"
                f"{_suggest(model.dataset, list(params.datasets))}; valid: {', '.join(sorted(params.datasets))}"
            )
        if model.arch not in ARCHITECTURES:
            raise ConfigError(
                f"models.{name}.arch={model.arch!r} is not a known architecture"
                f"{_suggest(model.arch, list(ARCHITECTURES))}; valid: {', '.join(sorted(ARCHITECTURES))}"
            )
        if model.source not in ("train", "pretrained"):
            raise ConfigError(
                f"models.{name}.source={model.source!r}; expected 'train' or 'pretrained'"
            )
        if model.source == "train" and model.train is None:
            raise ConfigError(f"models.{name}.source=train but models.{name}.train is not set")
        if model.source == "pretrained" and not model.pretrained:
            raise ConfigError(
                f"models.{name}.source=pretrained but models.{name}.pretrained (a path) is not set"
            )
        if model.train is not None and model.train.optimizer not in ("adadelta", "sgd"):
            raise ConfigError(
                f"models.{name}.train.optimizer={model.train.optimizer!r}; expected 'adadelta' or 'sgd'"
            )
    _validate_attacks(params)


def _validate_attacks(params: Params) -> None:
    from a2d.attacks import CRAFT_ATTACKS
    from a2d.costs import COST_ATTACKS

    for target in params.craft.targets:
        if target not in params.models:
            raise ConfigError(
                f"craft.targets has {target!r}, which is not a model{_suggest(target, list(params.models))}; "
                f"valid: {', '.join(sorted(params.models))}"
            )
        if target not in params.craft.attacks:
            raise ConfigError(
                f"craft.targets has {target!r} but craft.attacks.{target} is not set (conf/attack/)"
            )
    for target, attacks in params.craft.attacks.items():
        for name in attacks:
            if name not in CRAFT_ATTACKS:
                raise ConfigError(
                    f"craft.attacks.{target}.{name} is not a crafting attack{_suggest(name, list(CRAFT_ATTACKS))}; "
                    f"valid: {', '.join(sorted(CRAFT_ATTACKS))}"
                )
    for name in params.costs.attacks:
        if name not in COST_ATTACKS:
            raise ConfigError(
                f"costs.attacks has {name!r}, not a cost attack{_suggest(name, list(COST_ATTACKS))}; "
                f"valid: {', '.join(sorted(COST_ATTACKS))}"
            )
    for dataset, attacks in params.costs.params.items():
        if dataset not in params.datasets:
            raise ConfigError(
                f"costs.params.{dataset} is not a dataset{_suggest(dataset, list(params.datasets))}"
            )
        for name in attacks:
            if name not in COST_ATTACKS:
                raise ConfigError(
                    f"costs.params.{dataset}.{name} is not a cost attack{_suggest(name, list(COST_ATTACKS))}; "
                    f"valid: {', '.join(sorted(COST_ATTACKS))}"
                )
    _validate_baselines(params)
    if params.sets.n_eval < 1 or params.sets.n_train < 0:
        raise ConfigError(
            f"sets.n_eval must be >= 1 and sets.n_train >= 0, got {params.sets.n_eval}, {params.sets.n_train}"
        )


def _validate_baselines(params: Params) -> None:
    from a2d.attacks import CRAFT_ATTACKS
    from a2d.baselines.noise import check_noise_rule

    bl1, bl2 = params.baselines.bl1, params.baselines.bl2
    least = {
        "bl1.mc_passes": (bl1.mc_passes, 2),
        "bl1.batch_size": (bl1.batch_size, 1),
        "bl2.k": (bl2.k, 1),
        "bl2.minibatch": (bl2.minibatch, 2),
        "bl2.block_size": (bl2.block_size, 1),
    }
    for key, (value, minimum) in least.items():
        if value < minimum:
            raise ConfigError(f"baselines.{key} must be >= {minimum}, got {value}")
    for dataset, width in bl1.bandwidth.items():
        if not width > 0:
            raise ConfigError(f"baselines.bl1.bandwidth.{dataset} must be > 0, got {width}")
    for dataset, rules in params.baselines.noise.items():
        if dataset not in params.datasets:
            raise ConfigError(
                f"baselines.noise.{dataset} is not a dataset{_suggest(dataset, list(params.datasets))}"
            )
        for name, rule in rules.items():
            if name not in CRAFT_ATTACKS:
                raise ConfigError(
                    f"baselines.noise.{dataset}.{name} is not a crafting attack"
                    f"{_suggest(name, list(CRAFT_ATTACKS))}; valid: {', '.join(sorted(CRAFT_ATTACKS))}"
                )
            try:
                check_noise_rule(rule, what=f"baselines.noise.{dataset}.{name}")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None


def model_config(params: Params, target: str) -> ModelConfig:
    """The config of one target model, with a helpful error for unknown names."""
    if target not in params.models:
        raise ConfigError(
            f"unknown target {target!r}{_suggest(target, list(params.models))}; "
            f"valid: {', '.join(sorted(params.models))}"
        )
    return params.models[target]


def to_dict(obj: Any) -> Any:
    """A plain-dict view of a config dataclass (for provenance and metrics)."""
    return OmegaConf.to_container(OmegaConf.structured(obj), resolve=True)


def compose(overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Compose ``conf/`` with Hydra exactly as ``dvc exp run`` does, returning a plain dict.

    Used by ``make params`` and by the test that keeps ``params.yaml`` equal to ``conf/``.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        lines = [
            ln.strip()
            for ln in str(exc).splitlines()
            if ln.strip() and not ln.startswith((" ", "To append"))
        ]
        raise ConfigError(
            f"cannot compose conf/ with {list(overrides)}: {' '.join(lines[:3])}"
        ) from None
    OmegaConf.resolve(cfg)
    return OmegaConf.to_container(cfg)  # type: ignore[return-value]
