"""The one batched early-stop loop shared by the cost attacks ("attack as defence").

A cost attack measures how hard an input is to attack: it attacks the model's *own prediction*
and records how many steps it needed (the cost), with failure censored at the cap. The loop
here is the only place that knows about batching, freezing, censoring and query counting; each
attack supplies two hooks (foolbox-3 style: the base owns ``__call__``):

* :meth:`CostAttack._start` builds the per-example state of newly admitted examples;
* :meth:`CostAttack._step` runs one step on the active examples and says which succeeded.

**Continuous batching.** Up to ``batch_size`` examples are active at once. An example that
succeeds or fails leaves the pool at once (it is frozen: its rows are no longer fed to the
model), and waiting examples from the queue take the free places at the start of the next
step, so the device keeps working at its efficient batch size until the queue drains. Every
example's trajectory depends only on its own input (and, for random attacks, on its own
generator), so batch size and order never change a cost, up to the floating-point effects of
the backend computing a batch of rows instead of one.

**Fixed rows.** Those effects are real: CPU kernels pick their algorithm by the number of rows
(measured on the Env1 models, one thread: every batch of fewer than 16 rows rounds a row
differently than a batch of 128 does; two threads: up to 56 rows on CIFAR-10), so a tail batch
of a few examples can move a cost by a step. With ``fixed_rows=k`` the model only ever sees
batches of exactly ``k`` rows (:class:`FixedRows`: the active rows cut into chunks of ``k``,
the last one padded), and a row's numbers then depend on its input alone (measured: permuting
or replacing the other rows of a fixed-size batch leaves every row's logits and input gradient
bit-equal). That makes costs byte-identical however the inputs are split (shards, workers,
resumed chunks), at the price of at most ``k - 1`` padding rows per model call.
"""

from __future__ import annotations

import itertools
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, final

import torch
from torch import Tensor, nn

from a2d.errors import ConfigError
from a2d.utils.progress import progress

logger = logging.getLogger(__name__)

Bounds = tuple[float, float]
"""The input box ``(lo, hi)``; every iterate stays inside it."""

State = dict[str, Any]
"""Per-example attack state: tensors with one row per active example (or lists, one item each).

Two keys are required: ``"x"``, the current iterate (returned as ``adversarial`` when the
example finishes; any float dtype, cast to the input's) and ``"label"``, the model's prediction
on the input (``-1`` until known).
"""


@dataclass(frozen=True)
class CostResult:
    """What a cost attack returns: one row per input, in input order, on the input's device.

    Attributes:
        adversarial: (N, C, H, W) final iterate: the first successful one, else the last
            checked one, so ``success`` agrees with the model on it (BIM, JSMA). DBA: the
            closest adversarial found (misclassified even on failure, where it is merely not
            close enough), or the input if the initialisation failed.
        success: (N,) bool, the attack's success criterion was met within the cap.
        cost: (N,) int64, the attack's step count at success (see each attack); exactly ``cap``
            on failure.
        queries: (N,) int64, model evaluations spent on the example (see :class:`CostAttack`).
        label: (N,) int64, the model's prediction on the input (the label that is attacked).
        cap: the iteration cap (``max_iterations``), i.e. the cost written for a failure.
        extras: name -> (N,) int64 counters an attack records beside its cost (its
            :attr:`CostAttack.recorded` state keys, e.g. C&W_d's ``search_step``); empty for
            most attacks.
    """

    adversarial: Tensor
    success: Tensor
    cost: Tensor
    queries: Tensor
    label: Tensor
    cap: int
    extras: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.cost.shape[0])

    def to(self, device: torch.device | str) -> CostResult:
        """The same result with every tensor on ``device``."""
        return CostResult(
            adversarial=self.adversarial.to(device),
            success=self.success.to(device),
            cost=self.cost.to(device),
            queries=self.queries.to(device),
            label=self.label.to(device),
            cap=self.cap,
            extras={name: value.to(device) for name, value in self.extras.items()},
        )


@dataclass(frozen=True)
class StepOutcome:
    """What one step of an attack reports for each active example (all (R,) tensors).

    Attributes:
        success: the example is done and successful (its cost is ``steps + cost_offset``).
        queries: model evaluations spent on the example in this step.
        stalled: the example can provably never succeed (it is recorded as a failure now,
            with cost = cap, instead of burning the remaining steps); ``None`` = none. Attacks
            that end their own search (C&W_d, L-BFGS_d) report its end here too.
        cost: the cost of the examples that succeed in this step, for attacks whose cost is
            not the number of loop steps (C&W_d: the Adam iteration within its binary-search
            step); ``None`` = ``steps + cost_offset``.
    """

    success: Tensor
    queries: Tensor
    stalled: Tensor | None = None
    cost: Tensor | None = None


class CostAttack(ABC):
    """Base class of the cost attacks: the batched, early-stopping, censoring loop.

    Args:
        max_iterations: the cap; a failure is recorded as exactly this cost.
        bounds: the input box ``(lo, hi)``, default (0, 1).

    Call ``attack(model, x, batch_size=None, ids=None)``: ``model`` is any ``nn.Module`` mapping
    (N, C, H, W) inputs in ``bounds`` to (N, classes) logits, on the same device as ``x``. The
    model is put in eval mode for the call (its previous mode is restored) and never modified;
    gradients are taken with respect to the input only.

    Query convention: one *query* is one example's row in one model evaluation, whether a plain
    forward pass or a forward pass followed by a backward pass for an input gradient; the
    logits of a gradient evaluation are reused for the success check of the same iterate, and
    the evaluation that yields the label counts too. Rows of a batched forward pass are charged
    to the example they belong to, so queries never depend on batching. Examples that stop
    early (success, or a provable stall) are charged only for what they used.

    Subclasses set :attr:`check_at_cap` (the iterate after the last allowed step is still
    checked: BIM) and :attr:`cost_offset` (cost = number of steps completed before the step
    that reports success, plus this offset). A random attack sets :attr:`seeded` and takes a
    ``seed`` keyword, so the config resolver gives it the run's seed and nobody else has to know
    which attacks are random. An attack whose cost is not its loop step count reports it in
    :attr:`StepOutcome.cost`, ends its own search with ``stalled`` and raises :attr:`max_steps`
    above the cap; state keys named in :attr:`recorded` come back in :attr:`CostResult.extras`.
    """

    name: ClassVar[str] = "cost"
    check_at_cap: ClassVar[bool] = False
    cost_offset: ClassVar[int] = 0
    seeded: ClassVar[bool] = False
    recorded: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, max_iterations: int, bounds: Bounds = (0.0, 1.0)) -> None:
        if isinstance(max_iterations, bool) or int(max_iterations) != max_iterations:
            raise ConfigError(f"max_iterations must be an integer, got {max_iterations!r}")
        if max_iterations < 1:
            raise ConfigError(f"max_iterations must be >= 1, got {max_iterations}")
        lo, hi = (float(b) for b in bounds)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            # an infinite box would make every step (a fraction of hi - lo) infinite
            raise ConfigError(f"bounds must be finite (lo, hi) with lo < hi, got {tuple(bounds)!r}")
        self.max_iterations = int(max_iterations)
        self.bounds: Bounds = (lo, hi)

    @property
    def cap(self) -> int:
        """The cost recorded for a failure (= ``max_iterations``)."""
        return self.max_iterations

    @property
    def max_steps(self) -> int:
        """Loop steps an example may take before it is a failure (default: the cap).

        Attacks that count something other than loop steps (C&W_d's Adam iterations restart at
        every binary-search step; L-BFGS_d's line searches take several evaluations per
        iteration) end their examples themselves and set a bound they can never reach first.
        """
        return self.cap

    @property
    def range(self) -> float:
        """``hi - lo``: step sizes and radii are given as fractions of it (foolbox 1 style)."""
        return self.bounds[1] - self.bounds[0]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def _start(self, model: nn.Module, x: Tensor, ids: Tensor) -> tuple[State, Tensor]:
        """State of newly admitted examples ``x`` (K, ...) and the queries spent on them (K,)."""

    @abstractmethod
    def _step(self, model: nn.Module, state: State, steps: Tensor) -> StepOutcome:
        """One step on every active example; ``steps`` (R,) counts the steps each completed.

        Update ``state`` in place (assign new tensors to its keys) for the examples that go on.
        """

    @final
    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        *,
        batch_size: int | None = None,
        ids: Tensor | Sequence[int] | None = None,
        fixed_rows: int | None = None,
    ) -> CostResult:
        """Run the attack on every input and return one :class:`CostResult`.

        Args:
            model: logits model on ``x.device``.
            x: (N, C, H, W) inputs in ``bounds``.
            batch_size: how many examples are active at once (default: all N).
            ids: (N,) non-negative global example ids; random attacks seed one generator per
                example from ``(seed, id)``. Default ``arange(N)``; pass global indices when
                a dataset is attacked in chunks so the chunks give the same costs.
            fixed_rows: feed the model batches of exactly this many rows (:class:`FixedRows`),
                so that costs do not depend on how the inputs are split into calls; ``None``
                (default) passes the active rows as they are.
        """
        x = self._check_input(model, x)
        n = int(x.shape[0])
        ids_t = _as_ids(ids, n)
        if batch_size is None:
            batch_size = max(n, 1)
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        batch_size = int(batch_size)
        if fixed_rows is not None:
            model = FixedRows(model, fixed_rows)

        dev = x.device
        cap, limit = self.cap, self.max_steps
        adversarial = x.clone()
        success = torch.zeros(n, dtype=torch.bool, device=dev)
        cost = torch.full((n,), cap, dtype=torch.long, device=dev)
        queries = torch.zeros(n, dtype=torch.long, device=dev)
        label = torch.full((n,), -1, dtype=torch.long, device=dev)
        extras = {key: torch.full((n,), -1, dtype=torch.long, device=dev) for key in self.recorded}

        state: State = {}
        index = torch.empty(0, dtype=torch.long, device=dev)
        steps = torch.empty(0, dtype=torch.long, device=dev)
        spent = torch.empty(0, dtype=torch.long, device=dev)
        queued = 0
        ticks = 0
        was_training = model.training
        model.eval()
        try:
            for tick in progress(itertools.count(1), desc=f"{self.name} cost", unit="step"):
                ticks = tick
                free = batch_size - int(index.numel())
                if free > 0 and queued < n:
                    k = min(free, n - queued)
                    new_state, new_spent = self._start(
                        model, x[queued : queued + k], ids_t[queued : queued + k]
                    )
                    state = _cat_state(state, new_state) if index.numel() else new_state
                    new_index = torch.arange(queued, queued + k, device=dev)
                    index = torch.cat([index, new_index])
                    steps = torch.cat([steps, torch.zeros(k, dtype=torch.long, device=dev)])
                    spent = torch.cat([spent, new_spent.to(dev)])
                    queued += k
                if index.numel() == 0:
                    break

                out = self._step(model, state, steps)
                spent = spent + out.queries
                won = out.success
                lost = torch.zeros_like(won) if out.stalled is None else out.stalled & ~won
                if self.check_at_cap:
                    lost = lost | (~won & (steps >= limit))
                done = won | lost
                steps = torch.where(done, steps, steps + 1)
                if not self.check_at_cap:
                    over = ~done & (steps >= limit)
                    lost, done = lost | over, done | over

                if bool(done.any()):
                    rows = index[done]
                    adversarial[rows] = state["x"][done].to(adversarial.dtype)
                    success[rows] = won[done]
                    counted = steps + self.cost_offset if out.cost is None else out.cost
                    cost[rows] = torch.where(won[done], counted[done], torch.full_like(rows, cap))
                    queries[rows] = spent[done]
                    label[rows] = state["label"][done]
                    for key, values in extras.items():
                        values[rows] = state[key][done].long()
                    keep = ~done
                    state = _select_state(state, keep)
                    index, steps, spent = index[keep], steps[keep], spent[keep]
        finally:
            model.train(was_training)
        logger.debug(
            "%s: %d inputs, %d succeeded, %d loop steps, %d queries",
            self.name,
            n,
            int(success.sum()),
            ticks,
            int(queries.sum()),
        )
        return CostResult(adversarial, success, cost, queries, label, cap, extras)

    def _check_input(self, model: nn.Module, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
            got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
            raise ValueError(f"x must be a floating (N, C, H, W) tensor, got {got}")
        param = next(itertools.chain(model.parameters(), model.buffers()), None)
        if param is not None and param.device != x.device:
            raise ValueError(
                f"model is on {param.device} but x is on {x.device}; "
                f"move the inputs with x.to({str(param.device)!r})"
            )
        lo, hi = self.bounds
        if x.numel():
            tol = 1e-6 * (hi - lo)
            x_min, x_max = float(x.min()), float(x.max())
            if x_min < lo - tol or x_max > hi + tol:
                raise ValueError(
                    f"inputs must lie in bounds {self.bounds}, got values in "
                    f"[{x_min:.4g}, {x_max:.4g}]; give the attack the model's bounds"
                )
        return x.detach().clamp(lo, hi)


class FixedRows(nn.Module):
    """``model`` fed only batches of exactly ``rows`` rows: short batches padded, long ones split.

    Why: a backend may compute a row differently in batches of different sizes (see the module
    notes), so costs measured in differently split runs can differ by a step. Padding rows are
    copies of the first row, detached, so no gradient reaches the real inputs through them.
    """

    def __init__(self, model: nn.Module, rows: int) -> None:
        if isinstance(rows, bool) or int(rows) != rows or rows < 1:
            raise ValueError(f"fixed_rows must be a positive integer or None, got {rows!r}")
        super().__init__()
        self.model = model
        self.rows = int(rows)

    def forward(self, x: Tensor) -> Tensor:
        n = int(x.shape[0])
        if n == self.rows or n == 0:
            return self.model(x)
        pad = -n % self.rows
        if pad:
            x = torch.cat([x, x[:1].detach().expand(pad, *x.shape[1:])])
        return torch.cat([self.model(chunk) for chunk in x.split(self.rows)])[:n]


def _as_ids(ids: Tensor | Sequence[int] | None, n: int) -> Tensor:
    if ids is None:
        return torch.arange(n)
    ids_t = torch.as_tensor(ids).detach().cpu()
    if ids_t.shape != (n,) or ids_t.is_floating_point() or ids_t.dtype == torch.bool:
        raise ValueError(f"ids must be {n} integers (one per input), got {tuple(ids_t.shape)}")
    if n and int(ids_t.min()) < 0:
        raise ValueError("ids must be non-negative")
    return ids_t.long()


def _cat_state(a: State, b: State) -> State:
    if a.keys() != b.keys():
        raise RuntimeError(f"state keys differ: {sorted(a)} vs {sorted(b)}")
    return {k: a[k] + b[k] if isinstance(a[k], list) else torch.cat([a[k], b[k]]) for k in a}


def _select_state(state: State, keep: Tensor) -> State:
    flags = keep.tolist()
    return {
        k: [item for item, f in zip(v, flags, strict=True) if f] if isinstance(v, list) else v[keep]
        for k, v in state.items()
    }
