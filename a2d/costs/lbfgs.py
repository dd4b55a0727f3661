"""L-BFGS_d: Szegedy et al.'s box-constrained L-BFGS attack as a cost attack (RQ1 only).

Foolbox 1.8's ``LBFGSAttack`` minimises ``MSE(x, x_0) + c * CE(logits(x), target)`` with
scipy's L-BFGS-B, starting from ``x_0`` for ``c = 2e-5, 4e-5, ...`` (doubling) until the
result is adversarial. Every loss evaluation goes through foolbox's ``Adversarial``, which
notes the first misclassified point; the cost here counts the optimiser's iterations up to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.costs.base import Bounds, CostAttack, State, StepOutcome
from a2d.errors import ConfigError

LOSS_SCALE = 1e10
"""Foolbox multiplies the loss by 1e10 before scipy sees it; the tolerances act on that scale."""
SUFFICIENT_DECREASE = 1e-3
"""Armijo constant of the line search (scipy's L-BFGS-B line search, ``dcsrch``, uses 1e-3)."""
BACKTRACK = 0.5
"""Factor by which a rejected step length shrinks."""
CURVATURE_EPS = 2.220446049250313e-16
"""A pair (s, y) is stored only if ``s.y > eps * y.y`` (scipy skips the others)."""


class LBFGSCost(CostAttack):
    """L-BFGS_d: box-constrained L-BFGS iterations until the first misclassified point.

    Target = the second most likely class at ``x_0`` (the paper's rule for attacks that only
    support a target: target-2); success = any evaluated point is misclassified (foolbox's
    ``Misclassification``). For ``c = 2 * initial_const, 4 * initial_const, ...`` (at most
    ``const_doublings`` values) a fresh optimisation starts at ``x_0`` and minimises
    ``f(x) = sum((x - x_0)^2) / (n * range^2) + c * CE(logits(x), target)`` over the box with a
    projected L-BFGS (memory ``history``): the direction is the two-loop product on the
    variables not held at a bound, the step is ``1 / ||d||`` on an empty memory and 1
    otherwise, halved until the sufficient-decrease condition holds (at most ``max_backtracks``
    times, then the run ends). A run ends after ``iterations_per_const`` iterations, when an
    iteration lowers the 1e10-scaled loss by at most ``ftol`` relative to ``max(|f|, 1)``
    (scipy's ``factr * eps``), or when the largest free gradient component of the scaled loss
    is at most ``gtol`` (scipy's ``pgtol``).

    Args:
        max_iterations: cap on the iterations over all values of c; default 4500 (30 x 150,
            foolbox's worst case before its bisection). Failure = 4500.
        iterations_per_const: iterations of one run (foolbox ``maxiter``); default 150.
        const_doublings: values of c tried (foolbox: 30); default 30.
        initial_const: foolbox's ``epsilon``; the first c is twice it; default 1e-5.
        history: pairs kept by L-BFGS (scipy ``m``, foolbox 15); default 15.
        max_backtracks: step halvings before a line search gives up; default 20.
        ftol: relative loss decrease that ends a run (scipy ``factr * eps``); default 2.22e-9.
        gtol: free-gradient size that ends a run (scipy ``pgtol``); default 1e-5.
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; label = the model's own prediction.
    Cost: the number of L-BFGS iterations completed, over all values of c, before the
    evaluation that found the first misclassified point (0 = during the first line search);
    failure (every c tried, or the cap reached) = ``max_iterations``. Queries: 1 evaluation at
    ``x_0`` (label, target and the gradient every run starts from), then 1 per line-search
    trial.

    References:
        Szegedy et al., "Intriguing properties of neural networks", ICLR 2014; Tabacof, Valle,
        "Exploring the Space of Adversarial Images", 2016 (foolbox's algorithm 1); foolbox 1.8
        ``LBFGSAttack``; Zhao et al., ISSTA 2021 (L-BFGS_d, Figure 4f).

    Notes:
        * scipy's L-BFGS-B (Fortran: generalised Cauchy point, subspace minimisation, a
          Moré-Thuente line search) is replaced by a projected L-BFGS with backtracking that
          runs batched on the device. Both minimise the same loss in the same box with the
          same memory and stopping rules; iteration counts are not the same numbers.
        * Foolbox picks the target with its ``GradientAttack``; here it is the second most
          likely class (the paper's target-2 rule, as JSMA_d).
        * Every run starts from ``x_0``, whose loss and gradient foolbox recomputes; they are
          ``c`` times those of the first evaluation and are reused (fewer queries).
        * The search stops at the first adversarial point, so foolbox's bisection of c never
          runs.
    """

    name = "lbfgs"

    def __init__(
        self,
        *,
        max_iterations: int = 4500,
        iterations_per_const: int = 150,
        const_doublings: int = 30,
        initial_const: float = 1e-5,
        history: int = 15,
        max_backtracks: int = 20,
        ftol: float = 2.220446049250313e-09,
        gtol: float = 1e-5,
        bounds: Bounds = (0.0, 1.0),
    ) -> None:
        super().__init__(max_iterations=max_iterations, bounds=bounds)
        for name, count in (
            ("iterations_per_const", iterations_per_const),
            ("const_doublings", const_doublings),
            ("history", history),
            ("max_backtracks", max_backtracks),
        ):
            if isinstance(count, bool) or int(count) != count or count < 1:
                raise ConfigError(f"{name} must be a positive integer, got {count!r}")
        for name, value in (("initial_const", initial_const), ("ftol", ftol), ("gtol", gtol)):
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        self.iterations_per_const = int(iterations_per_const)
        self.const_doublings = int(const_doublings)
        self.initial_const = float(initial_const)
        self.history = int(history)
        self.max_backtracks = int(max_backtracks)
        self.ftol = float(ftol)
        self.gtol = float(gtol)

    @property
    def max_steps(self) -> int:
        trials = self.max_backtracks + 1
        return (self.max_iterations + self.const_doublings) * trials + 1

    # ------------------------------------------------------------------ evaluation

    def _evaluate(
        self, model: nn.Module, point: Tensor, target: Tensor, like: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits, (R,) cross-entropy w.r.t. ``target`` and its float64 (R, n) input gradient."""
        with torch.enable_grad():
            xg = point.to(like.dtype).view_as(like).detach().requires_grad_(True)
            logits = model(xg)
            ce = F.cross_entropy(logits, target, reduction="none")
            (grad,) = torch.autograd.grad(ce.sum(), xg)
        return logits.detach(), ce.detach().double(), grad.flatten(1).double()

    def _start(self, model: nn.Module, x: Tensor, ids: Tensor) -> tuple[State, Tensor]:
        k, dev = x.shape[0], x.device
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = model(xg)
            top2 = logits.detach().topk(2, dim=1).indices
            ce = F.cross_entropy(logits, top2[:, 1], reduction="none")
            (grad,) = torch.autograd.grad(ce.sum(), xg)
        x0 = x.flatten(1).double()
        n = x0.shape[1]
        state: State = {
            "x": x.clone(),
            "label": top2[:, 0],
            "target": top2[:, 1],
            "x0": x0,
            "ce0": ce.detach().double(),
            "gce0": grad.flatten(1).double(),
            "const": torch.full((k,), 2 * self.initial_const, dtype=torch.float64, device=dev),
            "doublings": torch.zeros(k, dtype=torch.long, device=dev),
            "run_iterations": torch.zeros(k, dtype=torch.long, device=dev),
            "iterations": torch.zeros(k, dtype=torch.long, device=dev),
            "S": torch.zeros((k, self.history, n), dtype=torch.float64, device=dev),
            "Y": torch.zeros((k, self.history, n), dtype=torch.float64, device=dev),
            "count": torch.zeros(k, dtype=torch.long, device=dev),
            "backtracks": torch.zeros(k, dtype=torch.long, device=dev),
        }
        for key in ("xk", "gk", "d", "trial"):
            state[key] = torch.zeros_like(x0)
        for key in ("fk", "t"):
            state[key] = torch.zeros(k, dtype=torch.float64, device=dev)
        # a zero gradient at x_0 leaves the first trial at x_0; the run then ends at once and
        # the restart of the next c reports the stall
        self._restart(state, torch.ones(k, dtype=torch.bool, device=dev))
        return state, torch.ones(k, dtype=torch.long, device=dev)

    # ------------------------------------------------------------------ one evaluation

    def _step(self, model: nn.Module, state: State, steps: Tensor) -> StepOutcome:
        like = state["x"]
        trial = state["trial"]
        logits, ce, gce = self._evaluate(model, trial, state["target"], like)
        state["x"] = trial.to(like.dtype).view_as(like)
        won = logits.argmax(1) != state["label"]
        cost = state["iterations"].clone()
        ones = torch.ones_like(steps)

        x0, c = state["x0"], state["const"]
        diff = trial - x0
        n = x0.shape[1]
        scale = 1.0 / (n * self.range * self.range)
        f = (diff * diff).sum(1) * scale + c * ce
        g = (2 * scale) * diff + c.unsqueeze(1) * gce

        xk, fk, gk = state["xk"], state["fk"], state["gk"]
        accept = ~won & (f <= fk + SUFFICIENT_DECREASE * ((trial - xk) * gk).sum(1))
        reject = ~won & ~accept
        end_run = torch.zeros_like(won)

        if bool(accept.any()):
            self._remember(state, accept, trial - xk, g - gk)
            state["iterations"] = state["iterations"] + accept.long()
            state["run_iterations"] = state["run_iterations"] + accept.long()
            scaled_drop = (fk - f) * LOSS_SCALE
            floor = torch.maximum(torch.maximum(fk.abs(), f.abs()) * LOSS_SCALE, torch.ones_like(f))
            free_g = torch.where(_held(g, trial, self.bounds), torch.zeros_like(g), g)
            flat = free_g.abs().amax(1) * LOSS_SCALE <= self.gtol
            converged = (scaled_drop <= self.ftol * floor) | flat
            converged |= state["run_iterations"] >= self.iterations_per_const
            end_run |= accept & converged
            moving = accept & ~converged
            state["xk"] = torch.where(accept.unsqueeze(1), trial, xk)
            state["fk"] = torch.where(accept, f, fk)
            state["gk"] = torch.where(accept.unsqueeze(1), g, gk)
            if bool(moving.any()):
                self._new_direction(state, moving)

        if bool(reject.any()):
            backtracks = state["backtracks"] + reject.long()
            state["backtracks"] = backtracks
            gave_up = reject & (backtracks > self.max_backtracks)
            end_run |= gave_up
            shrink = reject & ~gave_up
            state["t"] = torch.where(shrink, state["t"] * BACKTRACK, state["t"])
            self._set_trial(state, shrink)

        stalled = torch.zeros_like(won)
        if bool(end_run.any()):
            doublings = state["doublings"] + end_run.long()
            state["doublings"] = doublings
            out_of_c = end_run & (doublings >= self.const_doublings)
            stalled |= out_of_c
            again = end_run & ~out_of_c
            state["const"] = torch.where(again, state["const"] * 2, state["const"])
            if bool(again.any()):
                stalled |= self._restart(state, again)
        stalled |= ~won & (state["iterations"] >= self.max_iterations)
        return StepOutcome(success=won, queries=ones, stalled=stalled, cost=cost)

    # ------------------------------------------------------------------ L-BFGS pieces

    def _restart(self, state: State, rows: Tensor) -> Tensor:
        """Start the run of the current c at ``x_0`` for ``rows``; return rows with no descent."""
        c = state["const"].unsqueeze(1)
        state["xk"] = torch.where(rows.unsqueeze(1), state["x0"], state["xk"])
        state["fk"] = torch.where(rows, state["const"] * state["ce0"], state["fk"])
        state["gk"] = torch.where(rows.unsqueeze(1), c * state["gce0"], state["gk"])
        state["count"] = torch.where(rows, torch.zeros_like(state["count"]), state["count"])
        state["S"] = torch.where(rows.view(-1, 1, 1), torch.zeros_like(state["S"]), state["S"])
        state["Y"] = torch.where(rows.view(-1, 1, 1), torch.zeros_like(state["Y"]), state["Y"])
        state["run_iterations"] = torch.where(
            rows, torch.zeros_like(state["run_iterations"]), state["run_iterations"]
        )
        return self._new_direction(state, rows)

    def _new_direction(self, state: State, rows: Tensor) -> Tensor:
        """Direction, first step length and trial point for ``rows``; rows with d = 0 returned."""
        xk, gk = state["xk"], state["gk"]
        held = _held(gk, xk, self.bounds)
        free_g = torch.where(held, torch.zeros_like(gk), gk)
        d = -two_loop(state["S"], state["Y"], state["count"], free_g)
        d = torch.where(held, torch.zeros_like(d), d)
        uphill = (d * free_g).sum(1) >= 0
        reset = rows & uphill & (state["count"] > 0)
        if bool(reset.any()):
            # not a descent direction: forget the memory and go down the gradient
            state["count"] = torch.where(reset, torch.zeros_like(state["count"]), state["count"])
            d = torch.where(reset.unsqueeze(1), -free_g, d)
        norm = d.norm(dim=1)
        empty = state["count"] == 0
        first = torch.where(norm > 0, 1.0 / norm, torch.zeros_like(norm))
        state["t"] = torch.where(rows, torch.where(empty, first, torch.ones_like(norm)), state["t"])
        state["d"] = torch.where(rows.unsqueeze(1), d, state["d"])
        state["backtracks"] = torch.where(
            rows, torch.zeros_like(state["backtracks"]), state["backtracks"]
        )
        self._set_trial(state, rows)
        return rows & (norm == 0)

    def _set_trial(self, state: State, rows: Tensor) -> None:
        lo, hi = self.bounds
        point = (state["xk"] + state["t"].unsqueeze(1) * state["d"]).clamp(lo, hi)
        state["trial"] = torch.where(rows.unsqueeze(1), point, state["trial"])

    def _remember(self, state: State, rows: Tensor, s: Tensor, y: Tensor) -> None:
        """Append (s, y) to the memory of ``rows`` whose curvature is positive."""
        sy, yy = (s * y).sum(1), (y * y).sum(1)
        add = rows & (sy > CURVATURE_EPS * yy)
        if not bool(add.any()):
            return
        shifted_s = torch.cat([state["S"][:, 1:], s.unsqueeze(1)], 1)
        shifted_y = torch.cat([state["Y"][:, 1:], y.unsqueeze(1)], 1)
        state["S"] = torch.where(add.view(-1, 1, 1), shifted_s, state["S"])
        state["Y"] = torch.where(add.view(-1, 1, 1), shifted_y, state["Y"])
        state["count"] = torch.where(
            add, (state["count"] + 1).clamp(max=self.history), state["count"]
        )


def two_loop(S: Tensor, Y: Tensor, count: Tensor, g: Tensor) -> Tensor:
    """The L-BFGS product ``H g`` per row; the newest ``count`` pairs sit at the end of S, Y.

    Slots without a pair contribute exact zeros, so a row's result equals the plain two-loop
    recursion over its own pairs (newest first, then oldest first).
    """
    m = S.shape[1]
    valid = torch.arange(m, device=S.device).unsqueeze(0) >= (m - count).unsqueeze(1)
    sy = (S * Y).sum(2)
    rho = torch.where(
        valid, 1.0 / torch.where(valid, sy, torch.ones_like(sy)), torch.zeros_like(sy)
    )
    q = g.clone()
    alpha = torch.zeros_like(sy)
    for i in reversed(range(m)):
        a = rho[:, i] * (S[:, i] * q).sum(1)
        alpha[:, i] = a
        q = q - a.unsqueeze(1) * Y[:, i]
    newest_yy = (Y[:, m - 1] * Y[:, m - 1]).sum(1)
    has = count > 0
    gamma = torch.where(
        has,
        sy[:, m - 1] / torch.where(has, newest_yy, torch.ones_like(newest_yy)),
        torch.ones_like(newest_yy),
    )
    r = gamma.unsqueeze(1) * q
    for i in range(m):
        b = rho[:, i] * (Y[:, i] * r).sum(1)
        r = r + S[:, i] * (alpha[:, i] - b).unsqueeze(1)
    return r


def _held(g: Tensor, x: Tensor, bounds: Bounds) -> Tensor:
    """Variables at a bound whose descent direction (-g) points out of the box."""
    lo, hi = bounds
    return ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))
