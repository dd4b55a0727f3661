"""Run several attacks_d on one model and collect their costs: the one cost path of a2d.

The ``costs`` stage (one attack_d over every example set of a target) and the public detector
:class:`a2d.AttackAsDefense` (every attack_d over the user's inputs) both measure costs through
:class:`CostSuite`, so a detector fitted by the pipeline scores a user's inputs with exactly the
attacks, hyperparameters, seeds and model handling that produced the paper's tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from a2d.costs import CostAttack, make_cost_attack
from a2d.costs.base import FixedRows, _as_ids
from a2d.errors import DataError, error_line
from a2d.models.wrapper import ClassifierWrapper
from a2d.pipeline.shards import ShardRunner, active_runner, on_device, run_shards


@dataclass(frozen=True)
class AttackCosts:
    """The costs of N inputs under each attack_d: one row per input, one column per attack.

    Attributes:
        attacks: the attack_d names, in column order.
        cost: (N, A) int64 attack costs (a failure is the attack's cap).
        queries: (N, A) int64 model evaluations each attack spent on each input.
        success: (N, A) bool, the attack changed the model's prediction within its cap.
        label: (N,) int64, the model's prediction on each input (the label that was attacked).
        caps: the cap of each attack_d, in column order (the cost recorded for a failure).
    """

    attacks: tuple[str, ...]
    cost: np.ndarray
    queries: np.ndarray
    success: np.ndarray
    label: np.ndarray
    caps: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.cost.shape[0])

    @property
    def total_queries(self) -> np.ndarray:
        """(N,) queries over all attacks_d: what deciding each input cost."""
        return self.queries.sum(axis=1)


class CostSuite:
    """A model and its attacks_d, ready to measure the cost of inputs.

    Args:
        model: a :class:`~a2d.models.ClassifierWrapper` (it declares the input bounds).
        attacks: attack_d name -> hyperparameters for :func:`a2d.costs.make_cost_attack`
            (see :func:`a2d.costs.settings.cost_attack_specs` for the paper's per-dataset values).
            The model's bounds are given to every attack; an attack that declares other bounds
            is an error.
        batch_size: inputs each attack keeps active at once (``None`` = all).
        fixed_rows: the model sees only batches of exactly this many rows, so costs are
            byte-identical however the inputs are split into calls or shards
            (:class:`a2d.costs.base.FixedRows`); ``None`` (default): the active rows as they are.

    Input contract: finite (N, C, H, W) float tensors inside the model's bounds. The model is
    attacked in eval mode whatever mode it is handed in, and is handed back unchanged: the same
    mode in every submodule, the same parameters and buffers.
    """

    def __init__(
        self,
        model: ClassifierWrapper,
        attacks: Mapping[str, Mapping[str, Any]],
        *,
        batch_size: int | None = None,
        fixed_rows: int | None = None,
    ) -> None:
        if not isinstance(model, ClassifierWrapper):
            raise ValueError(
                f"CostSuite needs a ClassifierWrapper (it declares the bounds), got "
                f"{type(model).__name__}; wrap it with a2d.models.ClassifierWrapper(net, bounds=...)"
            )
        if not attacks:
            raise ValueError("attacks is empty; name at least one attack_d, e.g. {'bim': {...}}")
        self.model = model
        self.bounds = tuple(float(b) for b in model.bounds)
        self.specs = {name: dict(hp) for name, hp in attacks.items()}
        self.attacks = {name: self._build(name, hp) for name, hp in attacks.items()}
        self.batch_size = batch_size
        if fixed_rows is not None:
            FixedRows(model, fixed_rows)  # checks the value now, not at the first attack
        self.fixed_rows = fixed_rows

    @property
    def options(self) -> dict[str, Any]:
        """How the attacks run (not what they compute): what a shard's copy of the suite needs."""
        return {"batch_size": self.batch_size, "fixed_rows": self.fixed_rows}

    def on(self, device: torch.device | None) -> CostSuite:
        """This suite with its model on ``device`` (``None``: where it is): a worker's copy."""
        return CostSuite(on_device(self.model, device), self.specs, **self.options)

    def _build(self, name: str, hyperparameters: Mapping[str, Any]) -> CostAttack:
        given = hyperparameters.get("bounds")
        if given is not None and tuple(float(b) for b in given) != self.bounds:
            raise ValueError(
                f"attack {name!r} has bounds={tuple(given)!r} but the model declares "
                f"{self.bounds!r}; drop the attack's bounds"
            )
        return make_cost_attack(name, **{**hyperparameters, "bounds": self.bounds})

    def costs(
        self, inputs: torch.Tensor, *, ids: torch.Tensor | Sequence[int] | None = None
    ) -> AttackCosts:
        """Run every attack_d on ``inputs``; one column per attack, in the order given.

        Args:
            inputs: (N, C, H, W) float tensor inside the model's bounds (moved to its device).
            ids: (N,) non-negative example ids that seed random attacks (DBA_d) per example;
                default ``arange(N)``. The pipeline passes the source test indices, so an
                input's cost does not depend on which other inputs share its set or batch.

        Inside :func:`a2d.pipeline.shards.sharded` the inputs run in that runner's shards
        (e.g. Ray tasks), by index, with the same ids: the same rows, put back in input order.

        Raises:
            ValueError: inputs that are not a non-empty 4-D float tensor inside the bounds.
            DataError: inputs contain NaN or inf.
        """
        runner = active_runner()
        if runner is not None:
            return _sharded_costs(self, check_inputs(inputs, self.bounds), ids, runner)
        x = check_inputs(inputs, self.bounds).to(device_of(self.model))
        with eval_mode(self.model):
            columns = [
                attack(self.model, x, ids=ids, **self.options).to("cpu")
                for attack in self.attacks.values()
            ]
        return AttackCosts(
            attacks=tuple(self.attacks),
            cost=np.stack([c.cost.numpy() for c in columns], axis=1),
            queries=np.stack([c.queries.numpy() for c in columns], axis=1),
            success=np.stack([c.success.numpy() for c in columns], axis=1),
            label=columns[0].label.numpy(),
            caps=tuple(int(c.cap) for c in columns),
        )


@dataclass(frozen=True)
class _SuiteJob:
    """What every shard of a sharded :meth:`CostSuite.costs` call shares."""

    suite: CostSuite
    x: torch.Tensor
    ids: torch.Tensor


def _suite_shard(job: _SuiteJob, start: int, stop: int, device: torch.device | None) -> AttackCosts:
    return job.suite.on(device).costs(job.x[start:stop], ids=job.ids[start:stop])


def _sharded_costs(
    suite: CostSuite,
    x: torch.Tensor,
    ids: torch.Tensor | Sequence[int] | None,
    runner: ShardRunner,
) -> AttackCosts:
    """:meth:`CostSuite.costs` in ``runner``'s shards; every input keeps its id, so its row."""
    job = _SuiteJob(suite, x.cpu(), _as_ids(ids, len(x)))
    parts = run_shards(_suite_shard, job, len(x), runner, what="attack costs")
    return AttackCosts(
        attacks=parts[0].attacks,
        cost=np.concatenate([p.cost for p in parts]),
        queries=np.concatenate([p.queries for p in parts]),
        success=np.concatenate([p.success for p in parts]),
        label=np.concatenate([p.label for p in parts]),
        caps=parts[0].caps,
    )


def wrap_model(
    model: nn.Module,
    *,
    bounds: tuple[float, float] | None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ClassifierWrapper:
    """A user's logits network as the one wrapper the attacks take; bounds declared, never guessed.

    The attacks clip to the bounds and their step sizes are fractions of ``hi - lo``, so a
    wrong guess would silently change every cost. A ``ClassifierWrapper`` comes with its own
    bounds and normalisation; giving others beside it is an error.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"model must be a torch.nn.Module returning logits, got {type(model).__name__}"
        )
    if isinstance(model, ClassifierWrapper):
        own = tuple(float(b) for b in model.bounds)
        if bounds is not None and tuple(float(b) for b in bounds) != own:
            raise ValueError(
                f"bounds={tuple(bounds)!r} but the ClassifierWrapper declares {own!r}; "
                "pass one of them"
            )
        if mean is not None or std is not None:
            raise ValueError(
                "the model is a ClassifierWrapper, which already normalises its inputs; "
                "leave mean and std unset"
            )
        return model
    if bounds is None:
        raise ValueError(
            "bounds is not set: declare the input box the model expects, e.g. "
            "bounds=(0, 1) or bounds=(0, 255); a2d never guesses it"
        )
    lo, hi = check_bounds(bounds)
    _check_normalisation(mean, std)
    return ClassifierWrapper(model, mean=mean, std=std, bounds=(lo, hi)).to(device_of(model))


def check_bounds(bounds: Sequence[float]) -> tuple[float, float]:
    """``(lo, hi)`` as finite floats, lo < hi."""
    lo, hi = (float(b) for b in bounds)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(
            f"bounds must be finite (lo, hi) with lo < hi, got {tuple(bounds)!r}; declare the "
            "input box the model expects, e.g. bounds=(0, 1)"
        )
    return lo, hi


def _check_normalisation(mean: Sequence[float] | None, std: Sequence[float] | None) -> None:
    """Finite per-channel means and positive finite stds: anything else gives NaN or inf logits."""
    for name, values in (("mean", mean), ("std", std)):
        if values is None:
            continue
        given = [float(v) for v in values]
        if not given or not all(math.isfinite(v) for v in given):
            raise ValueError(
                f"{name} must be finite numbers, one per channel, got {list(values)}; give the "
                f"per-channel {name} the model normalises with"
            )
        if name == "std" and min(given) <= 0:
            raise ValueError(
                f"std must be > 0 for every channel, got {list(values)}; give the per-channel "
                "std the model normalises with"
            )


def check_logits(model: nn.Module, x: torch.Tensor, *, chunk: int = 256) -> None:
    """Run ``model`` once on every input: it must give finite (N, classes >= 2) logits.

    A model that returns NaN or inf logits, or a single logit, would let every attack fail and
    report the cap, so the input would look benign: a wrong number, not an error. A model that
    fails on the inputs (wrong size, channels or dtype) fails here with one line instead of deep
    inside an attack.

    Raises:
        DataError: the model fails on the inputs, or its logits are not finite (N, >= 2).
    """
    device = device_of(model)
    try:
        with torch.no_grad(), eval_mode(model):
            logits = torch.cat([model(part.to(device)) for part in x.split(chunk)])
    except torch.cuda.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise DataError(
            f"the model fails on inputs of shape {tuple(x.shape)} and dtype {x.dtype} "
            f"({error_line(exc)}); give (N, C, H, W) inputs of the size, channels and dtype "
            "the model takes"
        ) from None
    if logits.dim() != 2 or logits.shape[0] != x.shape[0] or logits.shape[1] < 2:
        raise DataError(
            f"the model returns shape {tuple(logits.shape)} for {x.shape[0]} inputs; a2d needs "
            "(N, classes) logits with at least 2 classes"
        )
    bad = (~torch.isfinite(logits).all(dim=1)).nonzero().flatten()
    if bad.numel():
        raise DataError(
            f"the model returns NaN or inf logits for {bad.numel()} of {len(logits)} input(s) "
            f"(first at index {int(bad[0])}); every attack would fail on them and they would "
            "look benign, so fix the model (weights, mean/std) or drop those inputs"
        )


def check_inputs(inputs: Any, bounds: Sequence[float]) -> torch.Tensor:
    """A non-empty, finite (N, C, H, W) float tensor inside ``bounds``, or a one-line error."""
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or not inputs.is_floating_point():
        got = (
            f"a {inputs.dim()}-D {inputs.dtype} tensor"
            if isinstance(inputs, torch.Tensor)
            else type(inputs).__name__
        )
        raise ValueError(f"inputs must be a 4-D float tensor (N, C, H, W), got {got}")
    if inputs.shape[0] == 0:
        raise ValueError("inputs is empty; pass at least one input")
    _check_finite(inputs)
    lo, hi = float(inputs.min()), float(inputs.max())
    tol = 1e-6 * (bounds[1] - bounds[0])
    if lo < bounds[0] - tol or hi > bounds[1] + tol:
        raise ValueError(
            f"inputs span [{lo:.4g}, {hi:.4g}], outside the declared bounds {tuple(bounds)}; "
            "rescale the inputs or declare the bounds the model really uses"
        )
    return inputs


def _check_finite(inputs: torch.Tensor) -> None:
    """Reject NaN / inf inputs: the attacks would silently report them as costly, i.e. benign."""
    finite = torch.isfinite(inputs.detach()).flatten(1).all(dim=1)
    if bool(finite.all()):
        return
    bad = (~finite).nonzero().flatten()
    raise DataError(
        f"inputs must be finite; {bad.numel()} of {finite.numel()} input(s) contain NaN or inf "
        f"(first at index {int(bad[0])}); drop or repair them before fit/score/predict/"
        "calibrate, e.g. x = x[torch.isfinite(x).flatten(1).all(dim=1)]"
    )


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` in eval mode, then give every submodule back the mode it had.

    ``module.train(flag)`` would set one flag on all submodules; a model handed in with mixed
    modes (e.g. frozen BatchNorm layers inside a training model) keeps them only if each
    submodule's own flag is restored. Parameters and buffers are never touched.
    """
    modes = [(sub, sub.training) for sub in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for sub, training in modes:
            sub.training = training


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter, else of its first buffer (a parameter-free
    network that keeps its weights in buffers), else the CPU (a plain function)."""
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")
