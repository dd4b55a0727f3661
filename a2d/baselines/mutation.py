"""BL3: model mutation testing, Wang et al. ICSE'19 (Env2): label change rate and its SPRT detector.

An adversarial input sits close to a decision boundary, so small random changes of the model
(mutants) flip its label far more often than a normal input's. BL3 makes mutants of the seed
model with four operators, keeps those that stay accurate, and scores an input by its label
change rate (LCR): the fraction of mutants whose label differs from the seed model's. Table 2
reports the AUROC of the LCR; Table 3 reports BL3's sequential probability ratio test (SPRT),
which reads mutants one at a time and stops as soon as it can decide.

- :func:`mutate_` applies one operator (GF, WS, NS, NAI) in place and returns what it changed.
- :class:`MutantBank` is a seeded, cached set of accepted mutants: one seed per mutant, so a
  mutant is rebuilt exactly from the seed model in milliseconds, and the file is a small JSON.
- :func:`label_changes` / :func:`label_change_rate`: the (inputs x mutants) label-change matrix
  and the LCR; :func:`lcr_threshold`: BL3's normal LCR bound (mean + 99% half-width).
- :class:`SPRTDetector`: the textbook SPRT, or BL3's own loop with ``compat=True``.
- :func:`evaluate_mutation`: all of it on a target's example sets (the library call behind
  the ``bl3`` stage); :func:`report_view`: one operator's numbers laid out for Table 2 (a
  baselines document's ``bl3`` key) and Table 3 (``bl3_sprt``).

References:
    Wang, Dong, Sun, Wang, Zhang. Adversarial Sample Detection for Deep Neural Network through
    Model Mutation Testing, ICSE 2019 (dgl-prc/m_testing_adversatial_sample d45cf9b:
    ``model_mutation/operator.py``, ``lcr_auc/``, ``detect/detector.py``,
    ``detect/adv_detect.py``); spec/baselines.md section 3.

Notes:
    * Operators as BL3's code runs them, which departs from the paper in places: GF replaces
      the chosen entries with draws from N(mean, std) *of their tensor* (the paper perturbs
      around each weight); WS permutes the incoming weights of whole rows (conv filters, linear
      rows); NS permutes ``m`` chosen rows of a weight tensor with at least 10 rows among
      themselves (``m = floor(rate * rows)`` if that product exceeds 2, else ``ceil``), biases
      untouched, and a permutation may leave a row in place; NAI negates chosen rows and the
      matching entries of the next 1-D parameter (the bias). Counts are ``int(rate * total)``.
    * Acceptance: a mutant is kept when its test accuracy, rounded to 2 decimals, is at least
      ``round(tolerance * seed accuracy, 2)``; rejected candidates are replaced by new ones.
    * Randomness: candidate ``j`` of an operator draws everything from a CPU generator seeded
      by ``(seed, operator, j)``. BL3 used numpy's global generator, so our mutants differ from
      its files while following the same law.
    * The threshold uses the first ``max_mutants`` mutants on the normal reference inputs; BL3
      computed it offline from its log files with the same rule.
    * SPRT, textbook: after each mutant, the log-likelihood ratio of ``c`` label changes in
      ``n`` mutants is compared with both bounds; at the cap, the side the ratio favours
      (``> 0`` = adversarial) decides, and ``n = max_mutants`` mutants were used.
      ``compat=True`` is BL3's loop: the ratio is computed with ``c`` *before* counting the
      current mutant and tested only when the current mutant changes the label; an input that
      reaches the cap is declared normal after ``max_mutants + 1`` counted mutants. That is why
      BL3's benign inputs use about 463 (MNIST) mutants in paper Table 3.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from a2d.data.sets import ExampleSet, load_sets
from a2d.detectors.roc import auroc
from a2d.errors import ConfigError, DataError
from a2d.pipeline.resume import fingerprint
from a2d.utils.io import write_json_atomic
from a2d.utils.progress import progress

if TYPE_CHECKING:
    from a2d.config import MutationConfig

log = logging.getLogger(__name__)

Operator = Literal["GF", "WS", "NS", "NAI"]
"""BL3's mutation operators: Gaussian fuzzing, weight shuffling, neuron switch, activation inverse."""
OPERATORS: tuple[Operator, ...] = ("GF", "WS", "NS", "NAI")
NS_MIN_ROWS = 10
"""NS leaves weight tensors with fewer rows (filters, units) than this alone (BL3's ``skip``)."""


@dataclass(frozen=True)
class Mutation:
    """What one operator changed in a network.

    Attributes:
        operator: the operator applied.
        sites: parameter name -> sorted int64 indices it changed: flat entries for GF, rows
            (output units) for WS, NS and NAI; NAI also lists the bias entries it negated.
    """

    operator: Operator
    sites: dict[str, Tensor]


def check_operator(operator: object) -> Operator:
    """``operator`` if it is one of :data:`OPERATORS`, else a :class:`ConfigError`."""
    for name in OPERATORS:
        if operator == name:
            return name
    raise ConfigError(f"unknown mutation operator {operator!r}; choose from {', '.join(OPERATORS)}")


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise ConfigError(f"mutation rate must be a fraction in (0, 1], got {rate!r}")
    return float(rate)


def _global_choice(total: int, k: int, generator: torch.Generator) -> Tensor:
    return torch.randperm(total, generator=generator)[:k].sort().values


def _split(chosen: Tensor, sizes: Sequence[int]) -> list[Tensor]:
    """The global indices ``chosen`` as local indices of consecutive blocks of ``sizes``."""
    out, offset = [], 0
    for size in sizes:
        inside = chosen[(chosen >= offset) & (chosen < offset + size)]
        out.append(inside - offset)
        offset += size
    return out


@torch.no_grad()
def mutate_(
    net: nn.Module, operator: Operator, *, rate: float, generator: torch.Generator
) -> Mutation:
    """Apply one of BL3's operators to ``net``'s parameters in place; return what changed.

    Args:
        net: any network; all its parameters take part (a
            :class:`~a2d.models.wrapper.ClassifierWrapper` has none of its own).
        operator: ``"GF"``, ``"WS"``, ``"NS"`` or ``"NAI"`` (module Notes).
        rate: the mutated fraction: of all parameter entries (GF), of all rows of the weight
            tensors (WS, NAI), of each weight tensor's rows (NS).
        generator: a CPU generator; every random draw comes from it, in a fixed order.

    Raises:
        ConfigError: an unknown operator or a rate outside (0, 1].
    """
    operator = check_operator(operator)
    rate = _check_rate(rate)
    named = [(name, p) for name, p in net.named_parameters()]
    sites: dict[str, Tensor] = {}
    if operator == "GF":
        sizes = [p.numel() for _, p in named]
        chosen = _global_choice(sum(sizes), int(sum(sizes) * rate), generator)
        for (name, p), local in zip(named, _split(chosen, sizes), strict=True):
            if local.numel() == 0:
                continue
            flat = p.detach().reshape(-1)
            mean = float(flat.double().mean())
            std = float(flat.double().std()) if flat.numel() > 1 else 0.0
            draws = torch.normal(mean, std, (local.numel(),), generator=generator)
            flat[local.to(flat.device)] = draws.to(dtype=flat.dtype, device=flat.device)
            sites[name] = local
        return Mutation(operator, sites)
    weights = [(name, p) for name, p in named if p.dim() > 1]
    if operator == "NS":
        for name, p in weights:
            units = p.shape[0]
            if units < NS_MIN_ROWS:
                continue
            share = units * rate
            m = min(units, math.floor(share) if share > 2 else math.ceil(share))
            picked = torch.randperm(units, generator=generator)[:m]
            switched = picked[torch.randperm(m, generator=generator)]
            p[picked.to(p.device)] = p[switched.to(p.device)].clone()
            sites[name] = picked.sort().values
        return Mutation(operator, sites)
    sizes = [p.shape[0] for _, p in weights]
    chosen = _global_choice(sum(sizes), int(sum(sizes) * rate), generator)
    local_rows = dict(zip([name for name, _ in weights], _split(chosen, sizes), strict=True))
    if operator == "WS":
        for name, p in weights:
            rows = local_rows[name]
            for row in rows.tolist():
                flat = p[row].reshape(-1)
                order = torch.randperm(flat.numel(), generator=generator).to(p.device)
                p[row] = flat[order].reshape(p[row].shape)
            if rows.numel():
                sites[name] = rows
        return Mutation(operator, sites)
    # NAI: negate the chosen rows and the same entries of the next 1-D parameter (the bias)
    last = torch.empty(0, dtype=torch.long)
    for name, p in named:
        if p.dim() > 1:
            last = local_rows[name]
            target = last
        else:
            target = last[last < p.shape[0]] if p.dim() == 1 else last[:0]
            last = torch.empty(0, dtype=torch.long)
        if target.numel():
            p[target.to(p.device)] = -p[target.to(p.device)]
            sites[name] = target
    return Mutation(operator, sites)


def candidate_seed(seed: int, operator: Operator, index: int) -> int:
    """The generator seed of candidate ``index`` of ``operator``: stable across machines."""
    sequence = np.random.SeedSequence(
        entropy=int(seed), spawn_key=(OPERATORS.index(operator), index)
    )
    return int(sequence.generate_state(1, dtype=np.uint64)[0])


def make_mutant(model: nn.Module, operator: Operator, *, rate: float, seed: int) -> nn.Module:
    """A mutated deep copy of ``model`` (eval mode, same device): ``operator`` with ``seed``."""
    mutant = copy.deepcopy(model)
    mutate_(mutant, operator, rate=rate, generator=torch.Generator().manual_seed(seed))
    return mutant.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> float:
    """Fraction of ``x`` that ``model`` labels ``y`` (eval mode; inputs moved to its device)."""
    return float((predict(model, x, batch_size=batch_size) == y.cpu()).double().mean())


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, *, batch_size: int = 1000) -> Tensor:
    """(N,) int64 labels on the CPU, in eval mode (the previous mode is restored)."""
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters())).device
    try:
        parts = [
            model(x[i : i + batch_size].to(device)).argmax(1).cpu()
            for i in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)


@dataclass
class MutantBank:
    """The accepted mutants of one operator, as seeds: rebuilt on demand, cached as JSON.

    Attributes:
        operator, rate: how the mutants are made.
        seeds: the generator seed of each accepted mutant, in acceptance order.
        accuracies: each accepted mutant's accuracy on the filter images.
        seed_accuracy: the seed model's accuracy there; ``min_accuracy`` the bar (module Notes).
        candidates: candidates generated so far (accepted + rejected); the next one is this index.
        key: the fingerprint of what made the bank (model, operator, rate, seed, filter).
    """

    operator: Operator
    rate: float
    seed_accuracy: float
    min_accuracy: float
    key: str
    seeds: list[int] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    candidates: int = 0

    def __len__(self) -> int:
        return len(self.seeds)

    def mutant(self, model: nn.Module, index: int) -> nn.Module:
        """Accepted mutant ``index`` of ``model`` (the seed model the bank was made from)."""
        return make_mutant(model, self.operator, rate=self.rate, seed=self.seeds[index])

    def head(self, n: int) -> MutantBank:
        """The first ``n`` accepted mutants (they are the bank a run asking for ``n`` makes)."""
        return MutantBank(
            **{**asdict(self), "seeds": self.seeds[:n], "accuracies": self.accuracies[:n]}
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the bank as JSON, atomically."""
        write_json_atomic(path, asdict(self))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MutantBank:
        """Read a bank written by :meth:`save`."""
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(
                f"mutant bank '{path}' is unreadable ({type(exc).__name__}); delete it to regenerate"
            ) from None


def generate_mutants(
    model: nn.Module,
    operator: Operator,
    *,
    rate: float,
    n: int,
    x: Tensor,
    y: Tensor,
    seed: int,
    tolerance: float = 0.9,
    max_candidates: int | None = None,
    batch_size: int = 1000,
    bank: MutantBank | None = None,
    key: str = "",
) -> MutantBank:
    """Make (or extend ``bank`` to) ``n`` accepted mutants of ``model`` with ``operator``.

    Args:
        model: the seed model (wrapped), on its device.
        operator, rate: the mutation.
        n: accepted mutants wanted.
        x, y: the filter images and labels (BL3: the whole test set).
        seed: the run's seed; candidate ``j`` uses :func:`candidate_seed` ``(seed, operator, j)``.
        tolerance: a mutant must keep ``round(tolerance * seed accuracy, 2)`` (rounded accuracy).
        max_candidates: give up after this many candidates (default ``20 * n``).
        bank: an earlier bank of the same key to extend (its candidates are not redone).
        key: the fingerprint stored in a new bank.

    Raises:
        DataError: fewer than ``n`` of ``max_candidates`` candidates were accurate enough.
    """
    operator = check_operator(operator)
    if bank is None:
        seed_accuracy = accuracy(model, x, y, batch_size=batch_size)
        bank = MutantBank(
            operator=operator,
            rate=_check_rate(rate),
            seed_accuracy=seed_accuracy,
            min_accuracy=round(tolerance * seed_accuracy, 2),
            key=key,
        )
    limit = max_candidates if max_candidates is not None else 20 * n
    started = time.perf_counter()
    for _ in progress(range(len(bank), n), desc=f"bl3 {operator} mutants", unit="mutant"):
        while True:  # candidates until one is accurate enough
            if bank.candidates >= limit:
                raise DataError(
                    f"only {len(bank)} of {bank.candidates} {operator} mutants (rate {rate}) keep "
                    f"accuracy >= {bank.min_accuracy}; need {n}: lower the rate or raise "
                    "max_candidates"
                )
            mutant_seed = candidate_seed(seed, operator, bank.candidates)
            bank.candidates += 1
            mutant = make_mutant(model, operator, rate=bank.rate, seed=mutant_seed)
            mutant_accuracy = accuracy(mutant, x, y, batch_size=batch_size)
            if round(mutant_accuracy, 2) >= bank.min_accuracy:
                bank.seeds.append(mutant_seed)
                bank.accuracies.append(round(mutant_accuracy, 6))
                break
    log.info(
        "bl3 %s: %d mutants accepted of %d candidates (bar %.2f), %.0f s",
        operator,
        len(bank),
        bank.candidates,
        bank.min_accuracy,
        time.perf_counter() - started,
    )
    return bank


def mutant_bank(
    path: str | os.PathLike[str],
    model: nn.Module,
    operator: Operator,
    *,
    rate: float,
    n: int,
    x: Tensor,
    y: Tensor,
    seed: int,
    model_hash: str,
    tolerance: float = 0.9,
    max_candidates: int | None = None,
    batch_size: int = 1000,
) -> MutantBank:
    """The first ``n`` mutants of the cached bank at ``path``, made or extended as needed.

    The bank is reused when its key (model hash, operator, rate, seed, tolerance, filter set
    size) matches; a bank with fewer mutants is extended from its next candidate and saved
    again, so the mutants are generated once and every later run reads the same ones.
    """
    key = fingerprint(model_hash, operator, float(rate), int(seed), float(tolerance), len(x))
    bank = None
    if Path(path).is_file():
        found = MutantBank.load(path)
        if found.key == key:
            bank = found
        else:
            log.info("ignoring %s: it was made from other inputs (fingerprint differs)", path)
    if bank is None or len(bank) < n:
        bank = generate_mutants(
            model,
            operator,
            rate=rate,
            n=n,
            x=x,
            y=y,
            seed=seed,
            tolerance=tolerance,
            max_candidates=max_candidates,
            batch_size=batch_size,
            bank=bank,
            key=key,
        )
        bank.save(path)
    return bank.head(n)


@torch.no_grad()
def label_changes(
    model: nn.Module,
    bank: MutantBank,
    x: Tensor,
    *,
    reference: Tensor | None = None,
    batch_size: int = 1000,
) -> Tensor:
    """(N, M) bool: does mutant ``j`` of ``bank`` label input ``i`` differently from the reference?

    ``reference`` defaults to the seed model's own labels (BL3: for an adversarial input, its
    adversarial label). Each mutant is rebuilt once and runs over all inputs.
    """
    if reference is None:
        reference = predict(model, x, batch_size=batch_size)
    reference = reference.cpu()
    changes = torch.zeros((len(x), len(bank)), dtype=torch.bool)
    for j in progress(range(len(bank)), desc=f"bl3 {bank.operator} LCR", unit="mutant"):
        changes[:, j] = predict(bank.mutant(model, j), x, batch_size=batch_size) != reference
    return changes


def label_change_rate(changes: ArrayLike, n_mutants: int | None = None) -> np.ndarray:
    """(N,) LCR: the fraction of the first ``n_mutants`` (default all) columns that are True."""
    matrix = _changes(changes)
    if n_mutants is not None:
        matrix = matrix[:, :n_mutants]
    return matrix.mean(1) if matrix.shape[1] else np.zeros(matrix.shape[0])


def lcr_threshold(normal_lcr: ArrayLike, *, confidence: float = 0.99) -> float:
    """BL3's bound on a normal input's LCR: mean + z * sd / sqrt(n), a two-sided ``confidence`` half-width.

    ``sd`` is the sample standard deviation (ddof 1) and ``z`` the normal quantile at
    ``1 - (1 - confidence) / 2`` (2.576 for 99%).
    """
    values = np.asarray(normal_lcr, dtype=float).ravel()
    if values.size < 2 or not np.isfinite(values).all():
        raise DataError(f"the threshold needs at least 2 finite normal LCRs, got {values.size}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    return float(values.mean() + z * values.std(ddof=1) / math.sqrt(values.size))


def _changes(changes: ArrayLike) -> np.ndarray:
    if isinstance(changes, Tensor):
        changes = changes.detach().cpu().numpy()
    matrix = np.asarray(changes)
    if matrix.ndim != 2:
        raise ValueError(
            f"label changes must be an (inputs, mutants) matrix, got shape {matrix.shape}"
        )
    return matrix.astype(bool)


@dataclass(frozen=True)
class SPRTResult:
    """The SPRT's verdict per input.

    Attributes:
        adversarial: (N,) bool, the decision.
        mutants: (N,) int64, mutants counted until the decision (BL3's "queries"; ``compat``
            counts ``max_mutants + 1`` at the cap, as BL3 does).
        changes: (N,) int64, label changes counted by then.
    """

    adversarial: np.ndarray
    mutants: np.ndarray
    changes: np.ndarray


class SPRTDetector(BaseEstimator):
    """BL3's sequential probability ratio test on label changes (a scikit-learn estimator).

    ``fit`` sets the threshold from normal inputs' label changes (unless ``threshold`` is
    given): ``threshold_ = extend_scale * t`` with ``t`` = :func:`lcr_threshold` of their LCR,
    and the indifference half-width ``sigma_ = relax_scale * t``. The test then weighs
    H1: p = p1 = threshold_ + sigma_ (adversarial) against H0: p = p0 = threshold_ - sigma_
    (normal), p the probability that a mutant changes the label: after ``n`` mutants with
    ``c`` changes, ``llr = c ln(p1/p0) + (n - c) ln((1-p1)/(1-p0))`` is compared with
    ``ln((1-beta)/alpha)`` (adversarial) and ``ln(beta/(1-alpha))`` (normal).

    Args:
        threshold: a fixed threshold t (e.g. BL3's published 0.0441 for MNIST NAI); default
            ``None`` = estimated by ``fit``.
        confidence: of the threshold's half-width; default 0.99.
        extend_scale: BL3's ``extendScale``; default 1.0.
        relax_scale: BL3's ``relaxScale``; default 0.1.
        alpha, beta: error bounds; default 0.05 each.
        max_mutants: the most mutants read per input; default 500.
        compat: BL3's counting (module Notes) instead of the textbook test; default False.

    Input contract: ``X`` is an (N, M) 0/1 label-change matrix (:func:`label_changes`) with
    M >= ``max_mutants``, columns in the order the mutants are read.
    """

    def __init__(
        self,
        *,
        threshold: float | None = None,
        confidence: float = 0.99,
        extend_scale: float = 1.0,
        relax_scale: float = 0.1,
        alpha: float = 0.05,
        beta: float = 0.05,
        max_mutants: int = 500,
        compat: bool = False,
    ) -> None:
        self.threshold = threshold
        self.confidence = confidence
        self.extend_scale = extend_scale
        self.relax_scale = relax_scale
        self.alpha = alpha
        self.beta = beta
        self.max_mutants = max_mutants
        self.compat = compat

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> SPRTDetector:
        """Estimate the threshold from normal inputs' label changes ``X``; returns self."""
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not 0 < value < 0.5:
                raise ConfigError(f"SPRT {name} must be in (0, 0.5), got {value!r}")
        if (
            isinstance(self.max_mutants, bool)
            or not isinstance(self.max_mutants, int)
            or self.max_mutants < 1
        ):
            raise ConfigError(f"SPRT max_mutants must be an integer >= 1, got {self.max_mutants!r}")
        if self.threshold is None:
            base = lcr_threshold(label_change_rate(X, self.max_mutants), confidence=self.confidence)
        else:
            base = float(self.threshold)
        self.threshold_ = self.extend_scale * base
        self.sigma_ = self.relax_scale * base
        p0, p1 = self.threshold_ - self.sigma_, self.threshold_ + self.sigma_
        if not 0 < p0 < p1 < 1:
            raise DataError(
                f"SPRT needs 0 < p0 < p1 < 1, got p0={p0:.4g}, p1={p1:.4g} (threshold "
                f"{self.threshold_:.4g}, sigma {self.sigma_:.4g}); the normal LCRs are all 0 "
                "or the scales are off"
            )
        self.p0_, self.p1_ = p0, p1
        return self

    def decide(self, X: ArrayLike) -> SPRTResult:
        """Run the test on every row of ``X``: decisions, mutants used, changes seen."""
        check_is_fitted(self, "threshold_")
        matrix = _changes(X)
        cap = self.max_mutants
        if matrix.shape[1] < cap:
            raise ValueError(
                f"the SPRT reads up to max_mutants={cap} mutants but X has {matrix.shape[1]} "
                "columns; make more mutants or lower max_mutants"
            )
        x = matrix[:, :cap].astype(np.int64)
        n = np.arange(1, cap + 1)
        counted = np.cumsum(x, axis=1)
        a = math.log(self.p1_ / self.p0_)
        b = math.log((1 - self.p1_) / (1 - self.p0_))
        accept = math.log((1 - self.beta) / self.alpha)
        deny = math.log(self.beta / (1 - self.alpha))
        tested = counted - x if self.compat else counted
        llr = tested * a + (n - tested) * b
        hit = (llr >= accept) | (llr <= deny)
        if self.compat:
            hit &= x == 1
        rows = np.arange(len(x))
        decided = hit.any(axis=1)
        first = np.where(decided, hit.argmax(axis=1), cap - 1)
        adversarial = np.where(decided, llr[rows, first] >= accept, False)
        mutants = first + 1
        if self.compat:
            mutants = np.where(decided, mutants, cap + 1)
        else:
            adversarial = np.where(decided, adversarial, llr[:, -1] > 0) if cap else adversarial
        changes = counted[rows, first] if cap else np.zeros(len(x), dtype=np.int64)
        return SPRTResult(
            adversarial=adversarial.astype(bool),
            mutants=mutants.astype(np.int64),
            changes=changes.astype(np.int64),
        )

    def predict(self, X: ArrayLike) -> np.ndarray:
        """(N,) int 1 = adversarial, 0 = normal."""
        return self.decide(X).adversarial.astype(int)

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """(N,) the LCR over the first ``max_mutants`` mutants: higher = more adversarial."""
        return label_change_rate(X, self.max_mutants)


def sprt_summary(result: SPRTResult, *, adversarial: bool) -> dict[str, float]:
    """Table 3's cells for one set: the share decided correctly and the mean mutants used."""
    if not len(result.adversarial):
        return {"accuracy": float("nan"), "mean_mutants": float("nan"), "n": 0}
    correct = result.adversarial if adversarial else ~result.adversarial
    return {
        "accuracy": round(float(correct.mean()), 4),
        "mean_mutants": round(float(result.mutants.mean()), 2),
        "n": int(len(correct)),
    }


@dataclass(frozen=True)
class MutationSettings:
    """BL3's settings for one run (the ``baselines.bl3`` config, the rate already per dataset)."""

    operators: Sequence[str] = OPERATORS
    rate: float = 0.05
    n_mutants: int = 500
    tolerance: float = 0.9
    max_candidates: int | None = None
    confidence: float = 0.99
    extend_scale: float = 1.0
    relax_scale: float = 0.1
    alpha: float = 0.05
    beta: float = 0.05
    max_mutants: int = 500
    batch_size: int = 1000

    @classmethod
    def from_config(cls, cfg: MutationConfig, *, dataset: str) -> MutationSettings:
        """The settings ``baselines.bl3`` (``cfg``) gives a target of ``dataset`` (its rate)."""
        return cls(
            operators=tuple(cfg.operators),
            rate=cfg.rate[dataset],
            n_mutants=cfg.n_mutants,
            tolerance=cfg.tolerance,
            max_candidates=cfg.max_candidates,
            batch_size=cfg.batch_size,
            **asdict(cfg.sprt),
        )


def evaluate_mutation(
    model: nn.Module,
    folder: str | os.PathLike[str],
    test_x: Tensor,
    test_y: Tensor,
    *,
    settings: MutationSettings,
    cache: str | os.PathLike[str],
    model_hash: str,
    seed: int,
) -> dict[str, Any]:
    """BL3 on a target's example sets: per operator, the LCR AUROC and both SPRTs per attack.

    Args:
        model: the seed model (wrapped), on its device.
        folder: the target's example sets (craft stage). ``benign_eval`` is the normal test
            set; the threshold is fitted on ``benign_train`` when present (else on
            ``benign_eval``, logged). Each ``<attack>_eval`` set is scored on the rows its
            protocol keeps (:meth:`ExampleSet.kept`: successful ones for Env2's sets).
        test_x, test_y: the mutants' accuracy filter (BL3: the whole test set).
        settings: operators, rate, counts and SPRT parameters.
        cache: folder of the mutant banks (``<operator>.json``), made once and reused.
        model_hash: sha256 of the seed model's weights (part of each bank's key).
        seed: the run's seed.

    Returns ``{"settings": ..., "operators": {op: {"seed_accuracy", "min_accuracy",
    "candidates", "threshold", "benign": {...}, "attacks": {attack: {"n", "auroc",
    "auroc_all" (where failed rows were dropped), "lcr_mean", "sprt", "sprt_compat"}},
    "adversarial": {"n", "sprt", "sprt_compat"}}}}`` (``adversarial``: every attack's kept
    inputs pooled, as Table 3 reports them). :func:`report_view` picks one operator for the
    tables.
    """
    eval_sets, train_sets = load_sets(folder, "eval"), load_sets(folder, "train")
    if "benign" not in eval_sets:
        raise DataError(f"'{folder}' has no benign_eval.pt; run the craft stage")
    attacks = sorted(kind for kind in eval_sets if kind != "benign")
    if not attacks:
        raise DataError(f"'{folder}' has no <attack>_eval.pt; run the craft stage")
    normal = train_sets.get("benign")
    if normal is None:
        log.warning("no benign_train set: the SPRT threshold is fitted on benign_eval")
        normal = eval_sets["benign"]
    scored: dict[str, ExampleSet] = {"normal": normal, "benign": eval_sets["benign"]}
    for attack in attacks:
        scored[attack] = eval_sets[attack]
    inputs = torch.cat([s.x for s in scored.values()])
    bounds = np.cumsum([0, *(len(s) for s in scored.values())])
    rows = {name: slice(int(bounds[i]), int(bounds[i + 1])) for i, name in enumerate(scored)}
    Path(cache).mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"settings": asdict(settings), "operators": {}}
    for name in settings.operators:
        operator = check_operator(name)
        bank = mutant_bank(
            Path(cache) / f"{operator}.json",
            model,
            operator,
            rate=settings.rate,
            n=max(settings.n_mutants, settings.max_mutants),
            x=test_x,
            y=test_y,
            seed=seed,
            model_hash=model_hash,
            tolerance=settings.tolerance,
            max_candidates=settings.max_candidates,
            batch_size=settings.batch_size,
        )
        changes = label_changes(model, bank, inputs, batch_size=settings.batch_size).numpy()
        result["operators"][operator] = _operator_scores(changes, rows, scored, bank, settings)
    return result


def _operator_scores(
    changes: np.ndarray,
    rows: Mapping[str, slice],
    sets: Mapping[str, ExampleSet],
    bank: MutantBank,
    settings: MutationSettings,
) -> dict[str, Any]:
    """One operator's numbers from the label-change matrix of every scored input."""
    lcr = label_change_rate(changes, settings.n_mutants)
    options: dict[str, Any] = dict(
        confidence=settings.confidence,
        extend_scale=settings.extend_scale,
        relax_scale=settings.relax_scale,
        alpha=settings.alpha,
        beta=settings.beta,
        max_mutants=settings.max_mutants,
    )
    detectors = {
        mode: SPRTDetector(compat=compat, **options).fit(changes[rows["normal"]])
        for mode, compat in (("sprt", False), ("sprt_compat", True))
    }
    benign = changes[rows["benign"]]
    out: dict[str, Any] = {
        "n_mutants": len(bank),
        "seed_accuracy": round(bank.seed_accuracy, 4),
        "min_accuracy": bank.min_accuracy,
        "candidates": bank.candidates,
        "threshold": round(detectors["sprt"].threshold_, 6),
        "benign": {
            "n": int(len(benign)),
            "lcr_mean": round(float(lcr[rows["benign"]].mean()), 6),
            **{m: sprt_summary(d.decide(benign), adversarial=False) for m, d in detectors.items()},
        },
        "attacks": {},
    }
    pooled: list[np.ndarray] = []  # every kept adversarial input: Table 3 pools the attacks
    for attack, example_set in sets.items():
        if attack in ("normal", "benign"):
            continue
        part = rows[attack]
        keep = (
            example_set.success.numpy().astype(bool)
            if example_set.successful_only and example_set.success is not None
            else np.ones(len(example_set), dtype=bool)
        )
        adv_lcr, adv_changes = lcr[part][keep], changes[part][keep]
        cell: dict[str, Any] = {
            "n": int(keep.sum()),
            "successful_only": example_set.successful_only,
        }
        if keep.any():
            cell["auroc"] = round(auroc(lcr[rows["benign"]], adv_lcr), 4)
            cell["lcr_mean"] = round(float(adv_lcr.mean()), 6)
            for mode, detector in detectors.items():
                cell[mode] = sprt_summary(detector.decide(adv_changes), adversarial=True)
        if not keep.all():
            cell["auroc_all"] = round(auroc(lcr[rows["benign"]], lcr[part]), 4)
            cell["n_all"] = int(len(keep))
        out["attacks"][attack] = cell
        pooled.append(adv_changes)
    adversarial = np.concatenate(pooled) if pooled else changes[:0]
    out["adversarial"] = {
        "n": int(len(adversarial)),
        **{m: sprt_summary(d.decide(adversarial), adversarial=True) for m, d in detectors.items()},
    }
    return out


REPORT_KEY = "bl3"
"""The report view's Table 2 key: crafting attack -> AUROC cell (a baselines document's key)."""
SPRT_REPORT_KEY = "bl3_sprt"
"""The report view's Table 3 key: one operator's SPRT, both countings, attacks pooled."""
SPRT_MODES = {"compat": "sprt_compat", "textbook": "sprt"}
"""The report view's SPRT countings -> :func:`evaluate_mutation`'s keys (``compat``: BL3's)."""


def report_view(scores: Mapping[str, Any], operator: str) -> dict[str, Any]:
    """Tables 2 and 3's view of :func:`evaluate_mutation`'s ``scores``: one operator's numbers.

    Args:
        scores: what :func:`evaluate_mutation` returned (or the ``bl3`` stage's JSON).
        operator: the reported operator (``baselines.bl3.report_operator``; the paper's BL3
            numbers are NAI's).

    Returns:
        ``{"report_operator": operator, "bl3": {attack: {"auroc", "n", "operator", ...}},
        "bl3_sprt": {"operator", "threshold", "max_mutants", "compat": {...}, "textbook":
        {...}}}``. ``bl3`` has a baselines document's shape (crafting attack -> ``auroc``,
        ``n``, plus ``auroc_all``/``n_all`` where failed adversarials were dropped), so Table 2
        reads it like BL1's. Each ``bl3_sprt`` counting holds Table 3's quantities: ``adv_q`` /
        ``benign_q`` (mean mutants used, one model query each), ``acc_adv`` / ``acc_benign``,
        and ``n_adv`` / ``n_benign``; adversarial inputs are pooled over the attacks.

    Raises:
        DataError: ``scores`` has no such operator, or lacks the pooled SPRT summary.
    """
    measured = scores.get("operators", {})
    if operator not in measured:
        raise DataError(
            f"the BL3 metrics have no operator {operator!r} (measured: "
            f"{', '.join(measured) or 'none'}); add it to baselines.bl3.operators and rerun the "
            "bl3 stage, or set baselines.bl3.report_operator to a measured one"
        )
    numbers = measured[operator]
    if "adversarial" not in numbers:
        raise DataError(
            f"the BL3 metrics of {operator} have no pooled adversarial SPRT summary (an older "
            "bl3 stage wrote them); rerun the bl3 stage"
        )
    table2 = {
        attack: {
            "operator": operator,
            **{k: v for k, v in cell.items() if k not in SPRT_MODES.values()},
        }
        for attack, cell in numbers["attacks"].items()
    }

    def counting(mode: str) -> dict[str, Any]:
        benign, adversarial = numbers["benign"][mode], numbers["adversarial"][mode]
        return {
            "adv_q": adversarial["mean_mutants"],
            "acc_adv": adversarial["accuracy"],
            "benign_q": benign["mean_mutants"],
            "acc_benign": benign["accuracy"],
            "n_adv": adversarial["n"],
            "n_benign": benign["n"],
        }

    table3 = {
        "operator": operator,
        "threshold": numbers["threshold"],
        "max_mutants": scores.get("settings", {}).get("max_mutants"),
        **{name: counting(mode) for name, mode in SPRT_MODES.items()},
    }
    return {"report_operator": operator, REPORT_KEY: table2, SPRT_REPORT_KEY: table3}
