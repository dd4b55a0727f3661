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
from a2d.training.config import AUGMENTATIONS, OPTIMIZERS, TrainConfig

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
class CraftProtocolConfig:
    """What happens to a target's adversarial sets after the attack (:class:`a2d.attacks.crafting.CraftProtocol`)."""

    successful_only: bool = False  # flag: only successful adversarials count (BL3, Env2)
    png_round_trip: bool = False  # BL3's 8-bit PNG save and reload, success re-checked


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
    # target -> what happens to its sets after the attack (absent = nothing, Env1)
    protocol: dict[str, CraftProtocolConfig] = field(default_factory=dict)


@dataclass
class CostsConfig:
    """Attacks used as defence: which ones run, how many examples are active, parameters per dataset."""

    attacks: list[str] = MISSING
    batch_size: int | None = None  # examples active at once; None = the fastest size, measured
    fixed_rows: int | None = None  # model calls of exactly this many rows: split-proof costs
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
    # the detect stage's targets; the others of craft.targets (baselines.bl3.targets) run as
    # detect_bl3, whose Table 3 also has BL3's rows: each crafted target is in exactly one
    targets: list[str] = field(default_factory=list)
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

    # the models whose sets are scored (Table 1 is Env1's); each must be in craft.targets
    models: list[str] = field(default_factory=list)
    n_images: int = 100  # the first n images of each evaluation set
    sets: list[str] = field(default_factory=lambda: ["benign", "fgsm", "bim-a", "jsma", "cw"])
    # the label each score is measured against (not models: CLEVER's own "target" classes)
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
class SPRTConfig:
    """BL3's sequential probability ratio test (:class:`a2d.baselines.mutation.SPRTDetector`)."""

    confidence: float = 0.99  # of the normal-LCR threshold's half-width
    extend_scale: float = 1.0
    relax_scale: float = 0.1  # indifference half-width as a fraction of the threshold
    alpha: float = 0.05
    beta: float = 0.05
    max_mutants: int = 500


@dataclass
class MutationConfig:
    """BL3 (model mutation testing): operators, rate per dataset, mutants, accuracy filter, SPRT."""

    operators: list[str] = field(default_factory=lambda: ["GF", "WS", "NS", "NAI"])
    rate: dict[str, float] = field(default_factory=dict)  # dataset -> mutated fraction
    n_mutants: int = 500  # accepted mutants per operator
    tolerance: float = 0.9  # a mutant keeps >= round(tolerance * seed accuracy, 2)
    max_candidates: int | None = None  # give up after this many candidates (None = 20 x n)
    batch_size: int = 1000  # inputs per forward pass
    sprt: SPRTConfig = field(default_factory=SPRTConfig)
    report_operator: str = "NAI"  # Table 2's BL3 column and Table 3's BL3 row (one of operators)
    targets: list[str] = field(default_factory=list)  # the bl3 stage's targets (Env2)


@dataclass
class BaselinesConfig:
    """Table 2's detection baselines on the crafted sets (BL1, BL2, BL3) and BL1/BL2's noisy negatives."""

    bl1: KDBUConfig = field(default_factory=KDBUConfig)
    bl2: LIDConfig = field(default_factory=LIDConfig)
    bl3: MutationConfig = field(default_factory=MutationConfig)
    targets: list[str] = field(default_factory=list)  # BL1, BL2 (Env1): the baselines stage's
    noise: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # dataset -> crafting attack -> Gaussian std or "flip"


@dataclass
class Fig3Config:
    """Figure 3: one attack_d's costs on several sets, random inputs split in two halves each."""

    attack: str = "jsma"  # an attack of costs.attacks: its costs come from the costs stage
    sets: list[str] = field(
        default_factory=lambda: ["benign", "fgsm", "bim-a", "deepfool", "cw"]
    )  # evaluation sets, from the craft stage or rq1.craft
    n_examples: int = 1000  # random inputs drawn per set (seeded), then halved


@dataclass
class Fig4Config:
    """Figure 4: every attack_d timed alone (batch of one) on the first inputs of each set."""

    attacks: list[str] = field(
        default_factory=lambda: ["fgsm", "bim", "bim2", "jsma", "cw", "lbfgs", "lsa", "dba"]
    )
    sets: list[str] = field(default_factory=lambda: ["benign", "fgsm", "bim-a", "jsma", "cw"])
    n_examples: int = 1000  # the first n inputs of every evaluation set
    # attack_d -> fewer inputs (a CPU substitute for the slow ones; absent = n_examples)
    max_inputs: dict[str, int] = field(default_factory=dict)


@dataclass
class RQ1Config:
    """RQ1 (paper Section 5.1): which attacks to use as defence; Figures 3 and 4."""

    targets: list[str] = field(default_factory=list)  # each must be in craft.targets
    # target -> crafting attack -> kwargs: sets crafted for these figures only (Figure 3's
    # DeepFool), from the target's benign evaluation set
    craft: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    craft_inputs: int | None = None  # craft those on the first N benign inputs only (None = all)
    fig3: Fig3Config = field(default_factory=Fig3Config)
    fig4: Fig4Config = field(default_factory=Fig4Config)


@dataclass
class AdaptiveCWConfig:
    """C&W-L2 with confidence kappa (Section 6.1.2): a :data:`a2d.attacks.cw.CW_PRESETS` key and changes."""

    preset: str = "magnet"  # Carlini's MagNet break, "the setting of [8]"
    targeted: bool = True  # random targets among the other classes (seeded), as Carlini's
    overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {steps: 1000} (a CPU substitute)
    batch_size: int | None = None  # inputs attacked at once (None = all)


@dataclass
class AdaptiveA2DConfig:
    """The A2D detector of Figure 7 and of the A2D-aware attack: one attack_d, Z-score, benign only."""

    attack: str = "bim"  # the attack_d (its settings: costs.params.<dataset>)
    n_fit: int = 500  # the first n images of the benign training pool fit the Z-score detector
    n_holdout: int = 500  # the next n: held-out benign scores (AUROC, TPR, the calibrated FPR)
    fpr: float = 0.05  # the A2D-aware attack's detector: calibrated to this benign FPR


@dataclass
class AdaptiveAwareConfig:
    """The A2D-aware attack (beyond the paper, :class:`a2d.adaptive.A2DAwareAttack`) and its yardstick."""

    overrides: dict[str, Any] = field(default_factory=dict)  # the attacker's knobs (steps, ...)
    compare_kappas: list[float] = field(default_factory=list)  # C&W-kappa rows beside it
    batch_size: int | None = None


@dataclass
class MagNetConfig:
    """MagNet's MNIST autoencoder detector ("AE", Figure 7a): architecture, training, threshold."""

    dataset: str = "mnist"
    structures: list[Any] = MISSING  # per autoencoder: filter counts and "average" / "max" pools
    norms: list[int] = MISSING  # per autoencoder: the error norm p (1 or 2)
    train: TrainConfig = field(default_factory=TrainConfig)  # train_subset: first N images
    noise: float = MISSING  # std of the training noise
    fpr: float = MISSING  # each detector's false-positive rate on the validation images
    n_validation: int = MISSING  # the first n training images set the thresholds


@dataclass
class AdaptiveGridConfig:
    """One image grid (Figures 8, 9, 11-13): which model, which source images, which kappas."""

    model: str = MISSING  # the attacked model
    sets: str = MISSING  # the target whose benign evaluation set gives the source images
    layout: str = MISSING  # kappas: a row per pair, a column per kappa | pairs: every label pair
    kappas: list[float] = MISSING  # kappas layout: the columns; pairs layout: exactly one kappa
    pairs: list[list[int]] = field(default_factory=list)  # kappas layout: [source, target] rows
    classes: list[int] | None = None  # pairs layout: rows and columns (None = every class)


@dataclass
class AdaptiveConfig:
    """Adaptive attacks (paper Section 6): Table 4, Figure 7, the A2D-aware attack, image grids."""

    targets: list[str] = field(default_factory=list)  # Table 4 rows: C&W-kappa on the target
    # kappa sweeps: attacked model -> the target whose benign evaluation set they start from
    sweeps: dict[str, str] = field(default_factory=dict)
    # Figure 7 panels and the A2D-aware attack: defended model -> the target of its benign pool
    defended: dict[str, str] = field(default_factory=dict)
    n_images: int = MISSING  # the first n benign evaluation images the model classifies correctly
    kappas: list[float] = MISSING  # the sweep (Figure 7's x axis)
    table4_kappas: list[float] = MISSING  # Table 4's columns, a subset of kappas
    caps: dict[str, float] = field(default_factory=dict)  # dataset -> Figure 7's L2 cap
    defences: dict[str, list[str]] = field(default_factory=dict)  # dataset -> a2d | ae
    cw: AdaptiveCWConfig = field(default_factory=AdaptiveCWConfig)
    a2d: AdaptiveA2DConfig = field(default_factory=AdaptiveA2DConfig)
    aware: AdaptiveAwareConfig = field(default_factory=AdaptiveAwareConfig)
    magnet: MagNetConfig = field(default_factory=MagNetConfig)
    grids: dict[str, AdaptiveGridConfig] = field(default_factory=dict)


@dataclass
class ShardsConfig:
    """Where the per-input work of the costs and CLEVER stages runs (:mod:`a2d.pipeline.shards`).

    Never changes a result (the shards' rows, in index order, are the single-process table),
    so no stage lists it among its DVC params.
    """

    engine: str = "local"  # local (this process) | ray (Ray tasks: pip install 'a2d[ray]')
    size: int | None = None  # inputs per shard; None = a whole set at once (local only)
    address: str | None = None  # ray: None = a local cluster, auto, or ray://HOST:10001
    num_cpus: int | None = None  # ray, local cluster: CPUs it gets (None = all)
    cpus_per_task: float = 1.0  # ray: CPUs (and torch threads) per shard
    gpus_per_task: float | None = None  # ray: None = 1 where the cluster has GPUs, else 0


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
    rq1: RQ1Config = field(default_factory=RQ1Config)
    adaptive: AdaptiveConfig = field(default_factory=AdaptiveConfig)
    shards: ShardsConfig = field(default_factory=ShardsConfig)


# The names the schema accepts. Each registry owns the implementations behind them; these are
# the names only, so that validation imports no attack, model or baseline. tests/test_config.py
# holds each equal to its registry (in order), so a new attack needs its name added here too.
CRAFT_ATTACK_NAMES = ("fgsm", "bim-a", "bim-b", "jsma", "cw", "deepfool", "bb", "fgm")
"""Keys of :data:`a2d.attacks.CRAFT_ATTACKS` (paper Tables 5 and 6's crafting attacks)."""
COST_ATTACK_NAMES = ("bim", "bim2", "jsma", "dba", "fgsm", "cw", "lbfgs", "lsa")
"""Keys of :data:`a2d.costs.COST_ATTACKS` (the paper's four attacks_d, then RQ1's other four)."""
ARCHITECTURE_NAMES = (
    "env1_mnist_cnn",
    "env1_cifar10_convnet",
    "env2_mnist_lenet5",
    "env2_cifar10_googlenet",
    "env2_cifar10_googlenet_quarter",
    "imagenet_resnet101",
)
"""Keys of :data:`a2d.models.ARCHITECTURES`."""
CLEVER_TARGETS = ("untargeted", "target2", "target5", "llc")
""":data:`a2d.robustness.TARGETS`: the CLEVER label types of Table 1."""
CLASSIFIERS = ("knn", "svm", "dtc", "rfc")
"""Keys of :data:`a2d.detectors.experiments.CLASSIFIERS`: Table 7's classifiers (our K-NN, and
scikit-learn's SVC, DecisionTree and RandomForest)."""
DEVICE_CHOICES = ("auto", "cpu", "cuda")
""":data:`a2d.utils.device.DEVICE_CHOICES`; ``cuda:N`` is accepted too."""
SHARD_ENGINES = ("local", "ray")
"""Where sharded work runs (:func:`a2d.pipeline.shards.open_runner`)."""
MUTATION_OPERATORS = ("GF", "WS", "NS", "NAI")
""":data:`a2d.baselines.mutation.OPERATORS`: BL3's model mutation operators."""
NOISE_RULE_NAMES = ("flip", "l2")
"""The named noise rules of :func:`a2d.baselines.noise.check_noise_rule` (else a positive std)."""
CW_PRESET_NAMES = ("paper", "authors", "foolbox3", "magnet")
"""Keys of :data:`a2d.attacks.cw.CW_PRESETS` (the C&W settings)."""
ADAPTIVE_DEFENCES = ("a2d", "ae")
"""Figure 7's detectors (:mod:`a2d.adaptive.success`): A2D, MagNet's autoencoder ("AE")."""
GRID_LAYOUTS = ("kappas", "pairs")
"""Image grid layouts (:mod:`a2d.adaptive.grids`): one pair per row and a kappa per column
(Figure 8), or every label pair at one kappa (Figures 11-13)."""


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
                f"models.{name}.train.optimizer={model.train.optimizer!r}; expected 'adadelta' or 'sgd' "
                "(the environments' optimizers) or 'adam'"
            )
        if model.train is not None and model.train.augment not in AUGMENTATIONS:
            raise ConfigError(
                f"models.{name}.train.augment={model.train.augment!r}; expected one of "
                f"{', '.join(AUGMENTATIONS)}"
            )
        if model.train is not None and not model.train.weight_decay >= 0:
            raise ConfigError(
                f"models.{name}.train.weight_decay={model.train.weight_decay}; expected >= 0"
            )
    _validate_attacks(params)
    _validate_detector(params)
    _validate_clever(params.clever)
    _validate_stage_targets(params)
    _validate_rq1(params)
    _validate_adaptive(params)
    validate_shards(params.shards)


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
    for target in params.craft.protocol:
        if target not in params.models:
            raise ConfigError(
                f"craft.protocol.{target} is not a model{_suggest(target, list(params.models))}; "
                f"valid: {', '.join(sorted(params.models))}"
            )
    for name, n in params.craft.train_subset.items():
        if name not in CRAFT_ATTACK_NAMES or n < 1:
            raise ConfigError(
                f"craft.train_subset.{name}={n}: expected a crafting attack "
                f"({', '.join(sorted(CRAFT_ATTACK_NAMES))}) and a count >= 1"
            )
    rows = params.costs.fixed_rows
    if rows is not None and (isinstance(rows, bool) or int(rows) != rows or rows < 1):
        raise ConfigError(
            f"costs.fixed_rows={rows!r}: expected null or a positive integer (the rows of every "
            "model call), e.g. costs.fixed_rows=16"
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


def validate_shards(cfg: ShardsConfig) -> None:
    """The ``shards`` config's values (also what the command line's ``--ray`` builds)."""
    if cfg.engine not in SHARD_ENGINES:
        raise ConfigError(
            f"shards.engine={cfg.engine!r}{_suggest(cfg.engine, list(SHARD_ENGINES))}; "
            f"expected one of {', '.join(SHARD_ENGINES)}"
        )
    if cfg.size is not None and cfg.size < 1:
        raise ConfigError(f"shards.size={cfg.size}; expected inputs per shard >= 1, or null")
    if cfg.engine == "ray" and cfg.size is None:
        raise ConfigError(
            "shards.engine=ray needs shards.size (inputs per task), e.g. shards.size=256"
        )
    if cfg.num_cpus is not None and cfg.num_cpus < 1:
        raise ConfigError(f"shards.num_cpus={cfg.num_cpus}; expected >= 1, or null (all)")
    if not cfg.cpus_per_task > 0:
        raise ConfigError(f"shards.cpus_per_task={cfg.cpus_per_task}; expected > 0")
    if cfg.gpus_per_task is not None and not cfg.gpus_per_task >= 0:
        raise ConfigError(f"shards.gpus_per_task={cfg.gpus_per_task}; expected >= 0, or null")


def _validate_stage_targets(params: Params) -> None:
    """Each per-target stage runs on crafted targets only, and each crafted target is detected once.

    The detect stage and detect_bl3 write the same files for a target, so a target in both
    lists would have two stages writing one output (DVC refuses), and a target in neither
    would have no Table 3 at all.
    """
    crafted = params.craft.targets
    lists = {
        "clever.models": params.clever.models,
        "baselines.targets": params.baselines.targets,
        "baselines.bl3.targets": params.baselines.bl3.targets,
        "detector.targets": params.detector.targets,
    }
    for key, targets in lists.items():
        for target in targets:
            if target not in crafted:
                raise ConfigError(
                    f"{key} has {target!r}, which craft.targets does not craft"
                    f"{_suggest(target, crafted)}; add it there or drop it here "
                    f"({key}=[{','.join(t for t in targets if t in crafted)}])"
                )
    detected = [*params.detector.targets, *params.baselines.bl3.targets]
    for target in crafted:
        if detected.count(target) != 1:
            raise ConfigError(
                f"craft.targets has {target!r} in {detected.count(target)} of detector.targets "
                f"{params.detector.targets} and baselines.bl3.targets "
                f"{params.baselines.bl3.targets}; put it in exactly one (bl3: Env2 targets)"
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


def _validate_rq1(params: Params) -> None:
    """RQ1's targets must be crafted; its attacks and sets must be ones the pipeline makes."""
    rq1 = params.rq1
    for target in rq1.targets:
        if target not in params.craft.targets:
            raise ConfigError(
                f"rq1.targets has {target!r}, which craft.targets does not craft"
                f"{_suggest(target, params.craft.targets)}; add it there or drop it here"
            )
    for target, attacks in rq1.craft.items():
        if target not in params.models:
            raise ConfigError(
                f"rq1.craft.{target} is not a model{_suggest(target, list(params.models))}"
            )
        for name in attacks:
            if name not in CRAFT_ATTACK_NAMES:
                raise ConfigError(
                    f"rq1.craft.{target}.{name} is not a crafting attack"
                    f"{_suggest(name, list(CRAFT_ATTACK_NAMES))}; valid: {', '.join(sorted(CRAFT_ATTACK_NAMES))}"
                )
    fig4, fig3 = rq1.fig4, rq1.fig3
    for name in [*fig4.attacks, *fig4.max_inputs]:
        if name not in COST_ATTACK_NAMES:
            raise ConfigError(
                f"rq1.fig4 names {name!r}, not a cost attack{_suggest(name, list(COST_ATTACK_NAMES))}; "
                f"valid: {', '.join(COST_ATTACK_NAMES)}"
            )
    kinds = ["benign", *CRAFT_ATTACK_NAMES]
    for key, sets in (("rq1.fig4.sets", fig4.sets), ("rq1.fig3.sets", fig3.sets)):
        for kind in sets:
            if kind not in kinds:
                raise ConfigError(
                    f"{key} has {kind!r}, not a set kind{_suggest(kind, kinds)}; valid: {', '.join(kinds)}"
                )
        if "benign" not in sets:
            raise ConfigError(f"{key}={sets} has no 'benign'; the figure compares against it")
    if not fig4.attacks or fig4.n_examples < 1 or any(n < 1 for n in fig4.max_inputs.values()):
        raise ConfigError(
            f"rq1.fig4 needs attacks and counts >= 1, got attacks={fig4.attacks}, "
            f"n_examples={fig4.n_examples}, max_inputs={fig4.max_inputs}"
        )
    if fig3.attack not in params.costs.attacks:
        raise ConfigError(
            f"rq1.fig3.attack={fig3.attack!r} is not in costs.attacks {params.costs.attacks} "
            "(Figure 3 reads its costs from the costs stage)"
        )
    if rq1.craft_inputs is not None and rq1.craft_inputs < 1:
        raise ConfigError(
            f"rq1.craft_inputs={rq1.craft_inputs}; expected a count >= 1 or null (all)"
        )
    if fig3.n_examples < 2:
        raise ConfigError(f"rq1.fig3.n_examples={fig3.n_examples}; two halves need at least 2")
    for target in rq1.targets:
        crafted = {"benign", *params.craft.attacks.get(target, {})}
        absent = [kind for kind in fig4.sets if kind not in crafted]
        if absent:
            raise ConfigError(
                f"rq1.fig4.sets has {absent} but craft.attacks.{target} does not craft it; "
                "Figure 4 times the craft stage's sets"
            )
        made = crafted | set(rq1.craft.get(target, {}))
        missing = [kind for kind in fig3.sets if kind not in made]
        if missing:
            raise ConfigError(
                f"rq1.fig3.sets has {missing} but neither craft.attacks.{target} nor "
                f"rq1.craft.{target} crafts it; add it to rq1.craft.{target}"
            )


def _validate_adaptive(params: Params) -> None:
    """Section 6: every model and target named must exist, every sweep a stage needs must be run."""
    cfg = params.adaptive
    for key, model, sets in [
        *(("sweeps", m, t) for m, t in cfg.sweeps.items()),
        *(("defended", m, t) for m, t in cfg.defended.items()),
        *((f"grids.{g}", s.model, s.sets) for g, s in cfg.grids.items()),
    ]:
        if model not in params.models:
            raise ConfigError(
                f"adaptive.{key} attacks {model!r}, not a model{_suggest(model, list(params.models))}"
            )
        if sets not in params.craft.targets:
            raise ConfigError(
                f"adaptive.{key}: the benign sets of {sets!r} come from the craft stage, but "
                f"craft.targets {params.craft.targets} does not craft it"
            )
        if params.models[model].dataset != params.models[sets].dataset:
            raise ConfigError(
                f"adaptive.{key}: {model!r} and the sets of {sets!r} are on different datasets"
            )
    for target in cfg.targets:
        if cfg.sweeps.get(target) != target:
            raise ConfigError(
                f"adaptive.targets has {target!r}: Table 4 needs its own sweep, "
                f"adaptive.sweeps.{target}: {target}"
            )
    for model, sets in cfg.defended.items():
        if cfg.sweeps.get(model) != sets:
            raise ConfigError(
                f"adaptive.defended.{model}: Figure 7 reads its kappa sweep; add "
                f"adaptive.sweeps.{model}: {sets}"
            )
        dataset = params.models[model].dataset
        if dataset not in cfg.caps or dataset not in cfg.defences:
            raise ConfigError(
                f"adaptive.caps.{dataset} and adaptive.defences.{dataset} must be set for "
                f"Figure 7 of {model!r}"
            )
    for dataset, names in cfg.defences.items():
        bad = [n for n in names if n not in ADAPTIVE_DEFENCES]
        if bad:
            raise ConfigError(
                f"adaptive.defences.{dataset} has {bad[0]!r}{_suggest(bad[0], list(ADAPTIVE_DEFENCES))}; "
                f"valid: {', '.join(ADAPTIVE_DEFENCES)}"
            )
        if "ae" in names and dataset != cfg.magnet.dataset:
            raise ConfigError(
                f"adaptive.defences.{dataset} has 'ae' but MagNet's autoencoders are trained on "
                f"{cfg.magnet.dataset!r} (adaptive.magnet.dataset)"
            )
    kappas = [*cfg.kappas, *cfg.table4_kappas, *cfg.aware.compare_kappas]
    if not cfg.kappas or any(not k >= 0 for k in kappas):
        raise ConfigError(f"adaptive kappas must be non-empty lists of numbers >= 0, got {kappas}")
    for key, subset in (
        ("table4_kappas", cfg.table4_kappas),
        ("aware.compare_kappas", cfg.aware.compare_kappas),
    ):
        missing = [k for k in subset if k not in cfg.kappas]
        if missing:
            raise ConfigError(
                f"adaptive.{key} has {missing}, which adaptive.kappas {cfg.kappas} does not sweep"
            )
    if cfg.cw.preset not in CW_PRESET_NAMES:
        raise ConfigError(
            f"adaptive.cw.preset={cfg.cw.preset!r}{_suggest(cfg.cw.preset, list(CW_PRESET_NAMES))}; "
            f"valid: {', '.join(CW_PRESET_NAMES)}"
        )
    if "confidence" in cfg.cw.overrides:
        raise ConfigError("adaptive.cw.overrides sets 'confidence'; the kappas are adaptive.kappas")
    if cfg.a2d.attack not in params.costs.attacks:
        raise ConfigError(
            f"adaptive.a2d.attack={cfg.a2d.attack!r} is not in costs.attacks "
            f"{params.costs.attacks}{_suggest(cfg.a2d.attack, params.costs.attacks)} (A2D keeps "
            "the costs stage's pool costs where they were measured on the defended model)"
        )
    counts = {
        "n_images": cfg.n_images,
        "a2d.n_fit": cfg.a2d.n_fit,
        "a2d.n_holdout": cfg.a2d.n_holdout,
        "magnet.n_validation": cfg.magnet.n_validation,
    }
    for key, value in counts.items():
        if value < 2:
            raise ConfigError(f"adaptive.{key}={value}; expected a count >= 2")
    if not 0 < cfg.a2d.fpr < 1 or not 0 <= cfg.magnet.fpr < 1:
        raise ConfigError(
            f"adaptive.a2d.fpr={cfg.a2d.fpr} and adaptive.magnet.fpr={cfg.magnet.fpr} must be rates in [0, 1)"
        )
    if len(cfg.magnet.structures) != len(cfg.magnet.norms) or not cfg.magnet.structures:
        raise ConfigError(
            f"adaptive.magnet needs one norm per autoencoder: {len(cfg.magnet.structures)} "
            f"structure(s), norms={cfg.magnet.norms}"
        )
    for name, grid in cfg.grids.items():
        _validate_grid(name, grid)


def _validate_grid(name: str, grid: AdaptiveGridConfig) -> None:
    if grid.layout not in GRID_LAYOUTS:
        raise ConfigError(
            f"adaptive.grids.{name}.layout={grid.layout!r}{_suggest(grid.layout, list(GRID_LAYOUTS))}; "
            f"valid: {', '.join(GRID_LAYOUTS)}"
        )
    if grid.layout == "pairs" and len(grid.kappas) != 1:
        raise ConfigError(
            f"adaptive.grids.{name}: the pairs layout runs one kappa, got kappas={grid.kappas}"
        )
    if grid.layout == "kappas" and (not grid.kappas or not grid.pairs):
        raise ConfigError(
            f"adaptive.grids.{name}: the kappas layout needs kappas and pairs ([source, target] "
            f"rows), got kappas={grid.kappas}, pairs={grid.pairs}"
        )
    bad = [p for p in grid.pairs if len(p) != 2 or p[0] == p[1]]
    if bad:
        raise ConfigError(
            f"adaptive.grids.{name}.pairs has {bad[0]}; expected [source class, other target class]"
        )
    if grid.classes is not None and len(set(grid.classes)) < 2:
        raise ConfigError(
            f"adaptive.grids.{name}.classes={grid.classes}; expected two classes or more"
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
    _validate_bl3(params)
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


def _validate_bl3(params: Params) -> None:
    bl3 = params.baselines.bl3
    for name in bl3.operators:
        if name not in MUTATION_OPERATORS:
            raise ConfigError(
                f"baselines.bl3.operators has {name!r}{_suggest(name, list(MUTATION_OPERATORS))}; "
                f"valid: {', '.join(MUTATION_OPERATORS)}"
            )
    if bl3.report_operator not in bl3.operators:
        raise ConfigError(
            f"baselines.bl3.report_operator={bl3.report_operator!r} is not one of "
            f"baselines.bl3.operators {bl3.operators}; the paper's BL3 numbers are NAI's"
        )
    for target in bl3.targets:
        if target not in params.models:
            raise ConfigError(
                f"baselines.bl3.targets has {target!r}, which is not a model"
                f"{_suggest(target, list(params.models))}; valid: {', '.join(params.models)}"
            )
    for dataset, rate in bl3.rate.items():
        if dataset not in params.datasets:
            raise ConfigError(
                f"baselines.bl3.rate.{dataset} is not a dataset{_suggest(dataset, list(params.datasets))}"
            )
        if not 0 < rate <= 1:
            raise ConfigError(f"baselines.bl3.rate.{dataset} must be in (0, 1], got {rate}")
    sprt = bl3.sprt
    if bl3.n_mutants < 1 or sprt.max_mutants < 1 or bl3.batch_size < 1:
        raise ConfigError(
            f"baselines.bl3 n_mutants={bl3.n_mutants}, sprt.max_mutants={sprt.max_mutants}, "
            f"batch_size={bl3.batch_size}: each must be >= 1"
        )
    if not 0 < bl3.tolerance <= 1 or not 0 < sprt.confidence < 1:
        raise ConfigError(
            f"baselines.bl3.tolerance={bl3.tolerance} must be in (0, 1] and "
            f"sprt.confidence={sprt.confidence} in (0, 1)"
        )
    if not (0 < sprt.alpha < 0.5 and 0 < sprt.beta < 0.5 and 0 < sprt.relax_scale < 1):
        raise ConfigError(
            f"baselines.bl3.sprt alpha={sprt.alpha}, beta={sprt.beta} must be in (0, 0.5) and "
            f"relax_scale={sprt.relax_scale} in (0, 1)"
        )


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


def rq1_craft_attacks(params: Params, target: str) -> dict[str, dict[str, Any]]:
    """Figure 3's extra crafting attacks for ``target`` (``rq1.craft.<target>``; copies, may be empty)."""
    target_config(params, target)
    return {name: dict(hp) for name, hp in params.rq1.craft.get(target, {}).items()}


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


def craft_protocol(params: Params, target: str) -> CraftProtocolConfig:
    """What happens to ``target``'s adversarial sets after the attack (``craft.protocol.<target>``).

    A target without an entry gets the default: nothing (Env1 keeps every set as crafted).
    """
    target_config(params, target)
    return params.craft.protocol.get(target, CraftProtocolConfig())


def bl3_settings(params: Params, target: str) -> MutationConfig:
    """``baselines.bl3``, checked to hold a mutation rate for ``target``'s dataset.

    Raises:
        ConfigError: no ``baselines.bl3.rate.<dataset>`` (conf/baselines/env2.yaml).
    """
    dataset = dataset_of(params, target)
    if dataset not in params.baselines.bl3.rate:
        raise ConfigError(
            f"baselines.bl3.rate.{dataset} is not set (conf/baselines/env2.yaml); BL3 used "
            "0.05 for MNIST and 0.005 for CIFAR-10"
        )
    return params.baselines.bl3


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


def adaptive_grid(params: Params, name: str) -> AdaptiveGridConfig:
    """The image grid ``name`` of ``adaptive.grids`` (conf/adaptive/).

    Raises:
        ConfigError: no such grid, naming the closest and all configured ones.
    """
    grids = params.adaptive.grids
    if name not in grids:
        raise ConfigError(
            f"adaptive.grids has no {name!r}{_suggest(name, list(grids))}; "
            f"configured: {', '.join(sorted(grids)) or 'none'}"
        )
    return grids[name]


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
