"""C&W_d: Carlini & Wagner's L2 attack as a cost attack (foolbox 1.8 semantics, RQ1 only).

The A2D authors changed foolbox 1.8's ``carlini_wagner.py`` to return at the first adversarial
iterate and to record the Adam iteration it appeared at, counted within the current step of the
binary search over the constant c (spec/official-code.md section 1). The paper found C&W_d's
benign/adversarial difference unstable (Section 5.1): the count restarts at every search step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from a2d.costs.base import Bounds, CostAttack, State, StepOutcome
from a2d.errors import ConfigError

TANH_SHRINK = 0.999999
"""Foolbox 1.8 maps [lo, hi] to [-1, 1], then multiplies by this before ``arctanh``."""
ADAM_BETAS = (0.9, 0.999)
"""Foolbox 1.8's ``AdamOptimizer`` decay rates."""
ADAM_EPSILON = 10e-8
"""Foolbox 1.8's ``AdamOptimizer`` epsilon, written ``10e-8`` there (= 1e-7)."""
ABORT_PROGRESS = 0.9999
"""Early abort: the loss must fall below this fraction of the loss at the previous check."""
LAST_STEP_CONST = 1e10
"""Foolbox's last search step (when there are >= 10) uses min(1e10, upper bound) as c."""


class CWCost(CostAttack):
    """C&W_d: Adam iterations of the untargeted C&W-L2 attack until its first adversarial.

    The attack minimises ``||x - x_rec||^2 / range^2 + c * max(z_y - max_{j != y} z_j +
    confidence, 0)`` over ``w`` with ``x = tanh(w) * range / 2 + mid``, by Adam from ``w_0 =
    arctanh((x_0 - mid) / (range / 2) * 0.999999)`` (``x_rec`` is that point mapped back), where
    ``y`` is the model's own prediction. Each binary-search step restarts Adam from ``w_0``
    with ``c`` ten times the previous one (no adversarial found yet, so the upper bound is
    infinite); a step ends after ``max_iterations`` Adam iterations or when the loss has not
    fallen by 0.01% since the previous check (``abort_early``; checks every tenth of
    ``max_iterations``, the first at iteration 0). Every iterate is checked before Adam moves
    it; the first misclassified one ends the attack.

    Args:
        binary_search_steps: search steps (values of c); default 5. After the last, a failure.
        max_iterations: Adam iterations per search step; default 1000. Failure = 1000.
        confidence: kappa, the logit margin of the loss; default 0.
        learning_rate: Adam's learning rate; default 5e-3.
        initial_const: c of the first search step; default 1e-2.
        abort_early: end a search step early when the loss stops falling; default True.
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; label = the model's own prediction.
    Cost: the 0-based Adam iteration, within its binary-search step, of the first
    misclassified iterate (the authors' count); failure (no adversarial in any search step) =
    ``max_iterations``. ``extras["search_step"]``: the 0-based search step of the success
    (``binary_search_steps`` on failure). Queries: 1 for the label, then 1 per Adam iteration
    over all search steps (the gradient evaluation also checks the iterate).

    References:
        Carlini, Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017;
        foolbox 1.8 ``CarliniWagnerL2Attack``; Zhao et al., ISSTA 2021 (C&W_d, Figure 4e).

    Notes:
        * The authors' change returns at the first adversarial iterate, so the binary search
          never bisects: c only grows (x10) until an adversarial appears. The cost they
          record restarts at 0 in every search step; ``extras["search_step"]`` and the
          queries say how much work came before.
        * Foolbox computes the label with one forward pass and then evaluates the logits and
          the gradient of the margin in two calls per iteration; here one forward/backward
          pass gives both (1 query per iteration).
        * Adam runs in the input's dtype (foolbox mixes float32 iterates with float64 moments).
    """

    name = "cw"
    recorded = ("search_step",)

    def __init__(
        self,
        *,
        binary_search_steps: int = 5,
        max_iterations: int = 1000,
        confidence: float = 0.0,
        learning_rate: float = 5e-3,
        initial_const: float = 1e-2,
        abort_early: bool = True,
        bounds: Bounds = (0.0, 1.0),
    ) -> None:
        super().__init__(max_iterations=max_iterations, bounds=bounds)
        if isinstance(binary_search_steps, bool) or int(binary_search_steps) != binary_search_steps:
            raise ConfigError(
                f"binary_search_steps must be an integer, got {binary_search_steps!r}"
            )
        if binary_search_steps < 1:
            raise ConfigError(f"binary_search_steps must be >= 1, got {binary_search_steps}")
        if not confidence >= 0:
            raise ConfigError(f"confidence must be >= 0, got {confidence!r}")
        for name, value in (("learning_rate", learning_rate), ("initial_const", initial_const)):
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        self.binary_search_steps = int(binary_search_steps)
        self.confidence = float(confidence)
        self.learning_rate = float(learning_rate)
        self.initial_const = float(initial_const)
        self.abort_early = bool(abort_early)

    @property
    def max_steps(self) -> int:
        return self.binary_search_steps * self.max_iterations + 1

    @property
    def check_every(self) -> int:
        """Iterations between two early-abort checks (foolbox: ``ceil(max_iterations / 10)``)."""
        return math.ceil(self.max_iterations / 10)

    def const_of_step(self, search_step: int) -> float:
        """c of a 0-based search step: ``initial_const * 10**step``, and foolbox's last-step rule."""
        if search_step == self.binary_search_steps - 1 and self.binary_search_steps >= 10:
            return LAST_STEP_CONST
        return self.initial_const * 10.0**search_step

    def _start(self, model: nn.Module, x: Tensor, ids: Tensor) -> tuple[State, Tensor]:
        k, dev = x.shape[0], x.device
        with torch.no_grad():
            label = model(x).argmax(1)
        w0 = to_attack_space(x, self.bounds)
        state = {
            "x": x.clone(),
            "label": label,
            "w0": w0,
            "x_rec": to_model_space(w0, self.bounds)[0],
            "delta": torch.zeros_like(x),
            "m": torch.zeros_like(x),
            "v": torch.zeros_like(x),
            "iteration": torch.zeros(k, dtype=torch.long, device=dev),
            "search_step": torch.zeros(k, dtype=torch.long, device=dev),
            "const": torch.full((k,), self.const_of_step(0), dtype=x.dtype, device=dev),
            "loss_prev": torch.full((k,), math.inf, dtype=x.dtype, device=dev),
        }
        return state, torch.ones(k, dtype=torch.long, device=dev)

    def _step(self, model: nn.Module, state: State, steps: Tensor) -> StepOutcome:
        label, const, iteration = state["label"], state["const"], state["iteration"]
        xm, dxdp = to_model_space(state["w0"] + state["delta"], self.bounds)
        state["x"] = xm
        with torch.enable_grad():
            xg = xm.detach().requires_grad_(True)
            logits = model(xg)
            margin = margin_to_best_other(logits, label)
            (margin_grad,) = torch.autograd.grad(margin.sum(), xg)
        won = logits.detach().argmax(1) != label
        ones = torch.ones_like(steps)

        loss, grad = self._loss_and_gradient(
            xm, state["x_rec"], margin.detach(), margin_grad, const
        )
        grad = grad * dxdp
        m, v, delta = self._adam(state["m"], state["v"], state["delta"], grad, iteration)

        if self.abort_early:
            checked = iteration % self.check_every == 0
        else:
            checked = torch.zeros_like(won)
        aborted = checked & ~(loss <= ABORT_PROGRESS * state["loss_prev"])
        loss_prev = torch.where(checked & ~aborted, loss, state["loss_prev"])
        finished = ~won & (aborted | (iteration + 1 >= self.max_iterations))
        search_step = state["search_step"] + finished.long()
        exhausted = search_step >= self.binary_search_steps

        restart = _expand(finished, xm)
        state["delta"] = torch.where(restart, torch.zeros_like(delta), delta)
        state["m"] = torch.where(restart, torch.zeros_like(m), m)
        state["v"] = torch.where(restart, torch.zeros_like(v), v)
        state["iteration"] = torch.where(finished, torch.zeros_like(iteration), iteration + 1)
        state["loss_prev"] = torch.where(finished, torch.full_like(loss_prev, math.inf), loss_prev)
        state["search_step"] = search_step
        if bool(finished.any()):
            steps_now = search_step.tolist()
            state["const"] = torch.tensor(
                [
                    self.const_of_step(s) if f else float(c)
                    for s, f, c in zip(steps_now, finished.tolist(), const.tolist(), strict=True)
                ],
                dtype=const.dtype,
                device=const.device,
            )
        return StepOutcome(success=won, queries=ones, stalled=exhausted, cost=iteration)

    def _loss_and_gradient(
        self, xm: Tensor, x_rec: Tensor, margin: Tensor, margin_grad: Tensor, const: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(R,) loss and its gradient w.r.t. the model-space iterate (foolbox's loss_function)."""
        adv_loss = (margin + self.confidence).clamp_min(0)
        diff = xm - x_rec
        scale = 1.0 / (self.range * self.range)
        loss = (diff * diff).flatten(1).sum(1) * scale + const * adv_loss
        # foolbox sets the margin's gradient to 0 once the margin term is 0
        live = _expand(adv_loss > 0, xm)
        adv_grad = torch.where(live, margin_grad, torch.zeros_like(margin_grad))
        return loss, (2 * scale) * diff + _expand(const, xm) * adv_grad

    def _adam(
        self, m: Tensor, v: Tensor, delta: Tensor, grad: Tensor, iteration: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One step of foolbox 1.8's ``AdamOptimizer`` (step count = iteration + 1)."""
        b1, b2 = ADAM_BETAS
        t = (iteration + 1).to(grad.dtype)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        m_hat = m / _expand(1 - b1**t, grad)
        v_hat = v / _expand(1 - b2**t, grad)
        return m, v, delta - self.learning_rate * m_hat / (v_hat.sqrt() + ADAM_EPSILON)


def to_attack_space(x: Tensor, bounds: Bounds) -> Tensor:
    """Foolbox 1.8's map from the box to tanh space: ``arctanh((x - mid) / half * 0.999999)``."""
    lo, hi = bounds
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    return torch.atanh((x - mid) / half * TANH_SHRINK)


def to_model_space(w: Tensor, bounds: Bounds) -> tuple[Tensor, Tensor]:
    """``tanh(w) * half + mid`` and its elementwise derivative w.r.t. ``w``."""
    lo, hi = bounds
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    t = torch.tanh(w)
    return t * half + mid, (1 - t * t) * half


def margin_to_best_other(logits: Tensor, label: Tensor) -> Tensor:
    """(R,) ``z_label - max_{j != label} z_j``: negative once the input is misclassified."""
    own = logits.gather(1, label.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, label.view(-1, 1), -math.inf)
    best = others.argmax(1, keepdim=True)
    return own - logits.gather(1, best).squeeze(1)


def _expand(values: Tensor, like: Tensor) -> Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))
