"""Validated configuration: the schema of ``params.yaml`` and its composition from ``conf/``.

``conf/`` (Hydra groups: dataset, env, profile, later attack and detector) is the source of
truth; ``params.yaml`` is its committed composition, which ``dvc repro`` reads and
``dvc exp run -S profile=ci`` rewrites through DVC's Hydra integration. A test checks that the
two agree. Every stage loads ``params.yaml`` through :func:`load_params`, which merges it onto a
dataclass schema: unknown keys, wrong types and ``???`` values are one-line
:class:`~a2d.errors.ConfigError` s, not tracebacks.

Validating imports no attack, model or baseline: names are checked against the name lists
below (``CRAFT_ATTACK_NAMES``, ``COST_ATTACK_NAMES``, ...), which tests/test_config.py holds equal
to the registries that build the things. So the code a stage runs is the code it imports itself
(what its dvc.yaml deps list, tests/test_dvc_deps.py), not every registry of the library.

Stages read their slice through the accessors at the end (:func:`target_config`,
:func:`dataset_of`, :func:`dataset_config`, :func:`craft_attacks`, :func:`cost_hyperparameters`,
:func:`dataset_cost_hyperparameters`) rather than indexing ``params`` by hand: each raises one
ConfigError naming the missing key and the conf/ file to edit, where ``params.x.get(key, {})``
would silently give nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from a2d.errors import ConfigError
from a2d.training.config import OPTIMIZERS, TrainConfig

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
    batch_size: int = MISSING  # inputs attacked at once, and the unit of resumption
    attacks: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # target -> name -> kwargs
    # attack -> craft it on the first N images of the training pool only (a CPU substitute for
    # the slowest attack; absent = the whole pool, the paper)
    train_subset: dict[str, int] = field(default_factory=dict)


@dataclass
class CostsConfig:
    """Attacks used as defence: which ones run, how many examples are active, parameters per dataset."""

    attacks: list[str] = MISSING
    batch_size: int | None = None  # examples active at once; None = the fastest size, measured
    params: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # dataset -> name -> kwargs
    # attack -> only the first N inputs of every set (a CPU substitute for the slowest attack_d;
    # absent = all inputs, the paper)
    max_inputs: dict[str, int] = field(default_factory=dict)
    # attacks_d that run on the evaluation split only (no detector training costs; a CPU
    # substitute, the detectors then leave them out)
    eval_only: list[str] = field(default_factory=list)


@dataclass
class ReportConfig:
    """How detection results are summarised: bootstrap intervals and operating points."""

    n_bootstrap: int = 1000  # resamples of the AUROC's percentile interval (0 = none)
    confidence: float = 0.95  # level of that interval
    fpr_levels: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.1])  # TPR reported at


@dataclass
class DetectorSweeps:
    """The parameter grids of paper Table 7 (Appendix C); each is swept with the others at their default."""

    n_neighbors: list[int] = MISSING  # K of the K-NN END detector
    ratios: list[float] = MISSING  # adversarial training inputs per benign one (1:r)
    thresholds: list[float] = MISSING  # h of the Z-score ensemble
    k: list[int] = MISSING  # k of the Z-score k-of-n ensemble
    classifiers: list[str] = MISSING  # knn | svm | dtc | rfc, on the END cost vectors


@dataclass
class DetectorConfig:
    """Detectors on attack costs (paper Section 4 and 5.3): defaults and Table 7 sweeps."""

    attacks: list[str] | None = None  # the attacks_d whose costs are used; None = costs.attacks
    n_neighbors: int = MISSING  # K
    threshold: float = MISSING  # h
    k: int = MISSING  # Z-score ensemble: benign if at least k of the n detectors say benign
    successful_only: bool = False  # drop failed adversarials (Env2/BL3); Env1 keeps them
    sweeps: DetectorSweeps = field(default_factory=DetectorSweeps)


@dataclass
class CleverTimingConfig:
    """Figures 2 and 10: which examples get a JSMA_d run of their own (batch 1, timed)."""

    attack: str = "jsma"  # a cost attack; its hyperparameters come from costs.params.<dataset>
    n_examples: int = 100  # at most this many, drawn (seeded) among the examples in score_range
    score: str = "untargeted"  # the CLEVER label type the score range applies to
    score_range: list[float] = field(default_factory=lambda: [0.0, 0.3])


@dataclass
class CleverConfig:
    """CLEVER robustness (Table 1, Figures 2 and 10): images, sampling (Nb, Ns, R) and timing."""

    n_images: int = 100  # the first n images of each evaluation set
    sets: list[str] = field(default_factory=lambda: ["benign", "fgsm", "bim-a", "jsma", "cw"])
    targets: list[str] = field(default_factory=lambda: ["untargeted", "target2", "target5", "llc"])
    nb_batches: int = MISSING  # Nb
    batch_size: int = MISSING  # Ns
    chunk_size: int = MISSING  # points per forward pass (speed and memory only)
    radius: float = MISSING  # R
    sampling: str = MISSING  # scaled | uniform
    cap_at_radius: bool = MISSING
    output: str = MISSING  # logits | probabilities (the softmax outputs' margins)
    confidence: float = 0.90  # Table 1's confidence intervals
    timing: CleverTimingConfig = field(default_factory=CleverTimingConfig)


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
    report: ReportConfig = field(default_factory=ReportConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    clever: CleverConfig = field(default_factory=CleverConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)


# The names the schema accepts. Each registry owns the implementations behind them; these are
# the names only, so that validation imports no attack, model or baseline. tests/test_config.py
# holds each equal to its registry (in order), so a new attack needs its name added here too.
CRAFT_ATTACK_NAMES = ("fgsm", "bim-a", "bim-b", "jsma", "cw")
"""Keys of :data:`a2d.attacks.CRAFT_ATTACKS` (paper Table 5's crafting attacks)."""
COST_ATTACK_NAMES = ("bim", "bim2", "jsma", "dba")
"""Keys of :data:`a2d.costs.COST_ATTACKS` (the paper's four attacks_d)."""
ARCHITECTURE_NAMES = ("env1_mnist_cnn", "env1_cifar10_convnet", "env2_mnist_lenet5")
"""Keys of :data:`a2d.models.ARCHITECTURES`."""
CLEVER_TARGETS = ("untargeted", "target2", "target5", "llc")
""":data:`a2d.robustness.TARGETS`: the CLEVER label types of Table 1."""
CLASSIFIERS = ("knn", "svm", "dtc", "rfc")
"""Keys of :data:`a2d.detectors.experiments.CLASSIFIERS`: Table 7's classifiers (our K-NN, and
scikit-learn's SVC, DecisionTree and RandomForest)."""
DEVICE_CHOICES = ("auto", "cpu", "cuda")
""":data:`a2d.utils.device.DEVICE_CHOICES`; ``cuda:N`` is accepted too."""
NOISE_RULE_NAMES = ("flip", "l2")
"""The named noise rules of :func:`a2d.baselines.noise.check_noise_rule` (else a positive std)."""


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
    """Cross-field checks that a schema cannot express (names that must exist elsewhere).

    Whether ``device=cuda`` has a GPU is checked where a stage resolves the device
    (:func:`a2d.utils.device.resolve_device`), so that a params file for a GPU machine can be
    composed and checked on a CPU one.
    """
    _validate_device(params.device)
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
        if model.arch not in ARCHITECTURE_NAMES:
            raise ConfigError(
                f"models.{name}.arch={model.arch!r} is not a known architecture"
                f"{_suggest(model.arch, list(ARCHITECTURE_NAMES))}; valid: {', '.join(sorted(ARCHITECTURE_NAMES))}"
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
        if model.train is not None and model.train.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"models.{name}.train.optimizer={model.train.optimizer!r}; expected 'adadelta' or 'sgd'"
            )
    _validate_attacks(params)
    _validate_detector(params)
    _validate_clever(params.clever)


def _validate_device(name: str) -> None:
    if name in DEVICE_CHOICES or name.startswith("cuda:"):
        return
    raise ConfigError(f"device={name!r} is not one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")


def _validate_attacks(params: Params) -> None:
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
            if name not in CRAFT_ATTACK_NAMES:
                raise ConfigError(
                    f"craft.attacks.{target}.{name} is not a crafting attack{_suggest(name, list(CRAFT_ATTACK_NAMES))}; "
                    f"valid: {', '.join(sorted(CRAFT_ATTACK_NAMES))}"
                )
    for name in params.costs.attacks:
        if name not in COST_ATTACK_NAMES:
            raise ConfigError(
                f"costs.attacks has {name!r}, not a cost attack{_suggest(name, list(COST_ATTACK_NAMES))}; "
                f"valid: {', '.join(sorted(COST_ATTACK_NAMES))}"
            )
    for dataset, attacks in params.costs.params.items():
        if dataset not in params.datasets:
            raise ConfigError(
                f"costs.params.{dataset} is not a dataset{_suggest(dataset, list(params.datasets))}"
            )
        for name in attacks:
            if name not in COST_ATTACK_NAMES:
                raise ConfigError(
                    f"costs.params.{dataset}.{name} is not a cost attack{_suggest(name, list(COST_ATTACK_NAMES))}; "
                    f"valid: {', '.join(sorted(COST_ATTACK_NAMES))}"
                )
    for name, n in params.craft.train_subset.items():
        if name not in CRAFT_ATTACK_NAMES or n < 1:
            raise ConfigError(
                f"craft.train_subset.{name}={n}: expected a crafting attack "
                f"({', '.join(sorted(CRAFT_ATTACK_NAMES))}) and a count >= 1"
            )
    for name in params.costs.eval_only:
        if name not in COST_ATTACK_NAMES:
            raise ConfigError(
                f"costs.eval_only has {name!r}, not a cost attack{_suggest(name, list(COST_ATTACK_NAMES))}"
            )
    for name, n in params.costs.max_inputs.items():
        if name not in COST_ATTACK_NAMES or n < 1:
            raise ConfigError(
                f"costs.max_inputs.{name}={n}: expected a cost attack "
                f"({', '.join(sorted(COST_ATTACK_NAMES))}) and a count >= 1"
            )
    _validate_report(params.report)
    _validate_baselines(params)
    if params.sets.n_eval < 1 or params.sets.n_train < 0:
        raise ConfigError(
            f"sets.n_eval must be >= 1 and sets.n_train >= 0, got {params.sets.n_eval}, {params.sets.n_train}"
        )


def _validate_report(report: ReportConfig) -> None:
    if report.n_bootstrap < 0:
        raise ConfigError(f"report.n_bootstrap must be >= 0, got {report.n_bootstrap}")
    if not 0 < report.confidence < 1:
        raise ConfigError(f"report.confidence must be in (0, 1), got {report.confidence}")
    bad = [level for level in report.fpr_levels if not 0 < level < 1]
    if bad:
        raise ConfigError(f"report.fpr_levels must lie in (0, 1), got {bad[0]}")


def _validate_detector(params: Params) -> None:
    det = params.detector
    for name in det.attacks or []:
        if name not in params.costs.attacks:
            raise ConfigError(
                f"detector.attacks has {name!r}, which costs.attacks does not compute"
                f"{_suggest(name, params.costs.attacks)}; valid: {', '.join(params.costs.attacks)}"
            )
    positive: dict[str, list[int] | list[float]] = {
        "detector.n_neighbors": [det.n_neighbors],
        "detector.k": [det.k],
        "detector.sweeps.n_neighbors": det.sweeps.n_neighbors,
        "detector.sweeps.k": det.sweeps.k,
        "detector.sweeps.ratios": det.sweeps.ratios,
    }
    for key, values in positive.items():
        bad = [v for v in values if not v > 0]
        if bad:
            raise ConfigError(f"{key} must be > 0, got {bad[0]!r}")
    for name in det.sweeps.classifiers:
        if name not in CLASSIFIERS:
            raise ConfigError(
                f"detector.sweeps.classifiers has {name!r}{_suggest(name, list(CLASSIFIERS))}; "
                f"valid: {', '.join(CLASSIFIERS)}"
            )
    n_attacks = len(det.attacks or params.costs.attacks)
    too_many = [k for k in [det.k, *det.sweeps.k] if k > n_attacks]
    if too_many:
        raise ConfigError(
            f"detector k={too_many[0]} (k of n) exceeds the {n_attacks} attacks_d the detectors "
            "use; lower detector.k / detector.sweeps.k"
        )


def check_neighbours(params: Params) -> None:
    """K must not exceed the K-NN training rows: n_train benign + r * n_train adversarial.

    Checked by the ``detect`` stage only, so that small smoke runs of other stages
    (``sets.n_train=2``) are not refused for a detector they never fit.
    """
    det, n_train = params.detector, params.sets.n_train
    if n_train == 0:
        return
    rows = {
        "detector.n_neighbors": (
            [det.n_neighbors],
            int(n_train * (1 + min([1.0, *det.sweeps.ratios]))),
        ),
        "detector.sweeps.n_neighbors": (det.sweeps.n_neighbors, 2 * n_train),
    }
    for key, (values, limit) in rows.items():
        if max(values, default=0) > limit:
            raise ConfigError(
                f"{key}={max(values)} exceeds the {limit} rows the K-NN detectors train on "
                f"(sets.n_train={n_train}, ratios {det.sweeps.ratios}); lower it or raise "
                "sets.n_train"
            )


def _validate_clever(cfg: CleverConfig) -> None:
    kinds = ["benign", *CRAFT_ATTACK_NAMES]
    for kind in cfg.sets:
        if kind not in kinds:
            raise ConfigError(
                f"clever.sets has {kind!r}, not a set kind{_suggest(kind, kinds)}; valid: {', '.join(kinds)}"
            )
    for name in cfg.targets:
        if name not in CLEVER_TARGETS:
            raise ConfigError(
                f"clever.targets has {name!r}{_suggest(name, list(CLEVER_TARGETS))}; "
                f"valid: {', '.join(CLEVER_TARGETS)}"
            )
    if not cfg.targets or not cfg.sets:
        raise ConfigError("clever.targets and clever.sets must not be empty")
    if "benign" not in cfg.sets:
        raise ConfigError(
            f"clever.sets={cfg.sets} has no 'benign'; Table 1's ratios need the benign images"
        )
    if cfg.sampling not in ("scaled", "uniform"):
        raise ConfigError(f"clever.sampling={cfg.sampling!r}; expected 'scaled' or 'uniform'")
    if cfg.nb_batches < 2 or cfg.batch_size < 1 or cfg.chunk_size < 1 or cfg.n_images < 1:
        raise ConfigError(
            f"clever.nb_batches={cfg.nb_batches}, batch_size={cfg.batch_size}, "
            f"chunk_size={cfg.chunk_size}, n_images={cfg.n_images}; expected nb_batches >= 2 "
            "(a Weibull fit needs several maxima) and the others >= 1"
        )
    if cfg.output not in ("logits", "probabilities"):
        raise ConfigError(f"clever.output={cfg.output!r}; expected 'logits' or 'probabilities'")
    if not cfg.radius > 0:
        raise ConfigError(f"clever.radius={cfg.radius}; expected a radius > 0")
    if not 0 < cfg.confidence < 1:
        raise ConfigError(
            f"clever.confidence={cfg.confidence}; expected a level in (0, 1), e.g. 0.9"
        )
    timing = cfg.timing
    if timing.attack not in COST_ATTACK_NAMES:
        raise ConfigError(
            f"clever.timing.attack={timing.attack!r} is not a cost attack"
            f"{_suggest(timing.attack, list(COST_ATTACK_NAMES))}; valid: {', '.join(sorted(COST_ATTACK_NAMES))}"
        )
    if timing.score not in cfg.targets:
        raise ConfigError(
            f"clever.timing.score={timing.score!r} is not one of clever.targets {cfg.targets}"
        )
    low_high = timing.score_range
    if len(low_high) != 2 or not low_high[0] < low_high[1] or timing.n_examples < 1:
        raise ConfigError(
            f"clever.timing.score_range={low_high}, n_examples={timing.n_examples}; "
            "expected [low, high] with low < high and n_examples >= 1"
        )


def _check_noise_rule(rule: object, *, what: str) -> None:
    """:func:`a2d.baselines.noise.check_noise_rule` without its torch import (a test keeps them equal)."""
    if rule in NOISE_RULE_NAMES:
        return
    if isinstance(rule, int | float) and not isinstance(rule, bool) and rule > 0:
        return
    raise ConfigError(
        f"{what} must be a positive Gaussian std (e.g. 0.31), 'flip' (set as many pixels to the "
        f"maximum as the attack changed) or 'l2' (Gaussian matching the adversarial mean L2), got {rule!r}"
    )


def _validate_baselines(params: Params) -> None:
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
            if name not in CRAFT_ATTACK_NAMES:
                raise ConfigError(
                    f"baselines.noise.{dataset}.{name} is not a crafting attack"
                    f"{_suggest(name, list(CRAFT_ATTACK_NAMES))}; valid: {', '.join(sorted(CRAFT_ATTACK_NAMES))}"
                )
            _check_noise_rule(rule, what=f"baselines.noise.{dataset}.{name}")


# --- accessors: a stage's slice of the config, or one ConfigError that says what to set where ---


def target_config(params: Params, target: str) -> ModelConfig:
    """The config of the target model ``target`` (a key of ``models``, conf/env/<env>.yaml).

    Raises:
        ConfigError: ``target`` is not a model, naming the closest one and all valid ones.
    """
    if target not in params.models:
        raise ConfigError(
            f"unknown target {target!r}{_suggest(target, list(params.models))}; "
            f"valid: {', '.join(sorted(params.models))}"
        )
    return params.models[target]


model_config = target_config
"""The former name of :func:`target_config`, kept while stages switch."""


def dataset_of(params: Params, target: str) -> str:
    """The dataset name of ``target``: the key of its ``costs.params``, noise rules and bandwidths."""
    name = target_config(params, target).dataset
    if name not in params.datasets:
        raise ConfigError(
            f"models.{target}.dataset={name!r} is not in datasets{_suggest(name, list(params.datasets))}; "
            f"add conf/dataset/{name}.yaml or fix the env file in conf/env/"
        )
    return name


def dataset_config(params: Params, target: str) -> DatasetConfig:
    """The dataset ``target`` is trained and evaluated on: torchvision class, shape, statistics."""
    return params.datasets[dataset_of(params, target)]


def craft_attacks(params: Params, target: str) -> dict[str, dict[str, Any]]:
    """Crafting attack name -> keyword hyperparameters for ``target`` (copies: safe to extend).

    Raises:
        ConfigError: ``target`` has no ``craft.attacks`` entry; where ``.get(target, {})`` would
            have crafted nothing and reported success.
    """
    model = target_config(params, target)
    if target not in params.craft.attacks:
        have = ", ".join(sorted(params.craft.attacks)) or "no target"
        raise ConfigError(
            f"craft.attacks.{target} is not set (conf/attack/craft_{model.env}.yaml); "
            f"crafting attacks are set for {have}"
        )
    return {name: dict(hp) for name, hp in params.craft.attacks[target].items()}


def cost_hyperparameters(params: Params, target: str, attack: str) -> dict[str, Any]:
    """Keyword hyperparameters of the cost attack ``attack`` on ``target``'s dataset (a copy).

    They come from ``costs.params.<dataset>.<attack>`` (conf/attack/cost.yaml), and from there
    only: a dataset without an entry is an error, never another dataset's values. Seeding a
    random attack_d is left to the caller (:mod:`a2d.costs`).

    Raises:
        ConfigError: ``attack`` is not a cost attack, or the dataset has no entry for it.
    """
    return dataset_cost_hyperparameters(params, dataset_of(params, target), attack)


def dataset_cost_hyperparameters(params: Params, dataset: str, attack: str) -> dict[str, Any]:
    """:func:`cost_hyperparameters` by dataset name, for callers without a target model."""
    if attack not in COST_ATTACK_NAMES:
        raise ConfigError(
            f"{attack!r} is not a cost attack{_suggest(attack, list(COST_ATTACK_NAMES))}; "
            f"valid: {', '.join(sorted(COST_ATTACK_NAMES))}"
        )
    per_dataset = params.costs.params.get(dataset, {})
    if attack not in per_dataset:
        known = ", ".join(sorted(params.costs.params)) or "none"
        raise ConfigError(
            f"costs.params.{dataset}.{attack} is not set (conf/attack/cost.yaml; datasets with "
            f"settings: {known})"
        )
    return dict(per_dataset[attack])


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
