"""DBA_d: the decision-based boundary attack as a cost attack (foolbox 1.8 semantics).

Brendel, Rauber, Bethge's boundary attack walks along the decision boundary from an
adversarial starting point towards the input; the A2D authors stop it as soon as the
normalised MSE of the current best adversarial falls below a threshold and record the outer
step at that moment.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from a2d.costs.base import Bounds, CostAttack, State, StepOutcome
from a2d.errors import ConfigError

SPHERICAL_STATS = 100
"""Length of the history of spherical-candidate outcomes (foolbox 1.x)."""
STEP_STATS = 30
"""Length of the history of source-step outcomes (foolbox 1.x)."""
CONVERGENCE_STEPS = 100
"""Steps foolbox 1.x waits, after a reset, before it accepts convergence."""
RESET_STEP = 1e-2
"""Both step sizes after foolbox 1.x's convergence reset (hard-coded there)."""


def example_generator(seed: int, example_id: int, device: torch.device | str) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``(seed, example_id)`` alone.

    The two integers go through numpy's ``SeedSequence`` so that neighbouring ids give
    unrelated streams; a result never depends on which other examples share a batch.
    """
    words = np.random.SeedSequence([int(seed), int(example_id)]).generate_state(2, np.uint32)
    generator = torch.Generator(device=device)
    generator.manual_seed((int(words[0]) << 32) | int(words[1]))
    return generator


def normalized_mse(a: Tensor, b: Tensor, value_range: float) -> Tensor:
    """Foolbox 1's MSE per row: ``sum((a - b)^2) / (n * range^2)`` over the trailing dims."""
    diff = (a - b).flatten(1)
    return (diff * diff).sum(1) / (diff.shape[1] * value_range * value_range)


def _extend_history(buf: Tensor, n: Tensor, flags: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Append the ``valid`` ``flags`` (in order) to per-row FIFOs of at most ``buf.shape[1]``.

    ``buf`` (R, L) holds the ``n`` (R,) most recent items right-aligned, zeros elsewhere, so the
    mean of a full history is ``buf.sum(1) / L``.
    """
    length = buf.shape[1]
    pos = torch.arange(length, device=buf.device)
    old_valid = pos.unsqueeze(0) >= (length - n).unsqueeze(1)
    all_valid = torch.cat([old_valid, valid], 1)
    all_flags = torch.cat([buf, flags], 1) & all_valid
    order = torch.sort(all_valid.to(torch.int32), dim=1, stable=True).indices
    merged = all_flags.gather(1, order)[:, -length:]
    return merged, (n + valid.sum(1)).clamp(max=length)


class BoundaryCost(CostAttack):
    """DBA_d: boundary-attack steps until the best adversarial is within an MSE threshold.

    Initialisation (foolbox 1.x ``BlendedUniformNoiseAttack``): uniform noise images are drawn
    until one is misclassified (at most ``init_directions``), then the blends
    ``(1 - e) x + e noise`` for ``e`` in ``1/init_steps, 2/init_steps, ..., 1`` are tried in
    order and the first misclassified one is the starting point. Each outer step then draws
    ``max_directions`` Gaussian directions, makes for each a spherical candidate (an
    orthogonal step of relative size ``spherical_step`` on the sphere around the input) and a
    candidate (that point moved towards the input by ``source_step`` of the distance), and
    accepts the first misclassified candidate if it is closer. Every 10th step the spherical
    candidates are checked first and only candidates whose spherical candidate is adversarial
    are evaluated; the success rates of both (histories of 100 and 30) adapt the step sizes by
    ``step_adaptation`` (spherical > 0.5: both up, < 0.2: both down; source > 0.5: source up,
    < 0.2: down). A source step below 1e-7 counts as convergence (foolbox's reset and
    100-step confirmation included).

    Args:
        max_iterations: outer-step cap; default 5000. Failure = 5000.
        max_directions: candidates per step; default 25.
        spherical_step: initial relative orthogonal step; default 1e-2.
        source_step: initial relative step towards the input; default 1e-2.
        step_adaptation: factor of the step-size adaptation; default 1.5.
        mse_threshold: stop when the normalised MSE ``sum(d^2) / (n range^2)`` of the accepted
            adversarial falls below it; default 0.02 (the paper's value).
        init_directions: noise draws for the initialisation; default 1000.
        init_steps: blend factors of the initial linear search; default 1000.
        init_chunk: noise images / blends evaluated per forward pass during the
            initialisation; default 50. Changes queries (whole chunks are counted), never the
            starting point.
        seed: base seed; example ``i`` uses ``example_generator(seed, ids[i])``. Default 0.
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; label = the model's own prediction.
    Cost: the 1-based outer step whose accepted candidate brings the MSE below the threshold
    (so success is possible at exactly the cap; check ``success``); failure = ``max_iterations``
    (also when the initialisation finds no adversarial, or the attack converges first).
    Queries: 1 for the label, every initialisation image evaluated, then per step
    ``max_directions`` candidates, plus on every 10th step the spherical candidates evaluated
    before them (``max_directions`` spherical + the gated candidates).

    References:
        Brendel, Rauber, Bethge, "Decision-Based Adversarial Attacks: Reliable Attacks Against
        Black-Box Machine Learning Models", ICLR 2018; foolbox 1.8 ``BoundaryAttack``;
        Zhao et al., ISSTA 2021 (DBA_d).

    Notes:
        * All ``max_directions`` candidates of a step are generated and evaluated at once
          (foolbox ``batch_size=max_directions, tune_batch_size=False``); foolbox's default
          evaluates one at a time and re-tunes the batch size from timings, which changes the
          step-size statistics and made the authors' runs nondeterministic.
        * Random numbers come from one ``torch.Generator`` per example (foolbox 1.8: four
          threads of randomgen with fixed seeds feeding a shared queue), so the numbers
          differ from the authors' but are reproducible and independent of batching.
        * The initialisation evaluates ``init_chunk`` images per forward pass instead of one;
          the starting point is the same, the query count can be up to ``init_chunk - 1``
          higher. If no noise image is adversarial, foolbox still searches blends with the last
          one; so does this.
        * When the attack converges or the initialisation fails, the authors' code wrote the
          sentinel -5000 as the cost (a bug); here it is the cap, with ``success`` False.
        * Candidates are computed in float64 and evaluated in the input dtype, as in foolbox.
          The >1000-numerical-problems stop of later foolbox 1.x versions is not reproduced
          (a candidate that is not closer is simply not accepted).
    """

    name = "dba"
    check_at_cap = False
    cost_offset = 1
    seeded = True

    def __init__(
        self,
        *,
        max_iterations: int = 5000,
        max_directions: int = 25,
        spherical_step: float = 1e-2,
        source_step: float = 1e-2,
        step_adaptation: float = 1.5,
        mse_threshold: float = 0.02,
        init_directions: int = 1000,
        init_steps: int = 1000,
        init_chunk: int = 50,
        seed: int = 0,
        bounds: Bounds = (0.0, 1.0),
    ) -> None:
        super().__init__(max_iterations=max_iterations, bounds=bounds)
        for name, value in (
            ("max_directions", max_directions),
            ("init_directions", init_directions),
            ("init_steps", init_steps),
            ("init_chunk", init_chunk),
        ):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name, size in (
            ("spherical_step", spherical_step),
            ("source_step", source_step),
            ("mse_threshold", mse_threshold),
        ):
            if not size > 0:
                raise ConfigError(f"{name} must be > 0, got {size!r}")
        if not step_adaptation > 1:
            raise ConfigError(f"step_adaptation must be > 1, got {step_adaptation!r}")
        if int(seed) != seed or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        self.max_directions = int(max_directions)
        self.spherical_step = float(spherical_step)
        self.source_step = float(source_step)
        self.step_adaptation = float(step_adaptation)
        self.mse_threshold = float(mse_threshold)
        self.init_directions = int(init_directions)
        self.init_steps = int(init_steps)
        self.init_chunk = int(init_chunk)
        self.seed = int(seed)

    # ------------------------------------------------------------------ initialisation

    def _start(self, model: nn.Module, x: Tensor, ids: Tensor) -> tuple[State, Tensor]:
        k, dev = x.shape[0], x.device
        gens = [example_generator(self.seed, int(i), dev) for i in ids.tolist()]
        with torch.no_grad():
            label = model(x).argmax(1)
        start, ok, spent = self._initial_points(model, x, label, gens)
        start = start.double()
        state = {
            "x": start,
            "x0": x.clone(),
            "label": label,
            "mse": normalized_mse(start, x.double(), self.range),
            "alive": ok,
            "spherical_step": torch.full(
                (k,), self.spherical_step, dtype=torch.float64, device=dev
            ),
            "source_step": torch.full((k,), self.source_step, dtype=torch.float64, device=dev),
            "spherical_hist": torch.zeros((k, SPHERICAL_STATS), dtype=torch.bool, device=dev),
            "spherical_n": torch.zeros(k, dtype=torch.long, device=dev),
            "step_hist": torch.zeros((k, STEP_STATS), dtype=torch.bool, device=dev),
            "step_n": torch.zeros(k, dtype=torch.long, device=dev),
            "resetted": torch.zeros(k, dtype=torch.bool, device=dev),
            "convergence": torch.full((k,), CONVERGENCE_STEPS, dtype=torch.long, device=dev),
            "generators": gens,
        }
        return state, spent + 1

    def _initial_points(
        self, model: nn.Module, x: Tensor, label: Tensor, gens: list[torch.Generator]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Blended-uniform-noise starting points (K, ...), found flags (K,), queries (K,)."""
        k, dev = x.shape[0], x.device
        lo, hi = self.bounds
        spent = torch.zeros(k, dtype=torch.long, device=dev)
        noise = x.clone()
        found = torch.zeros(k, dtype=torch.bool, device=dev)
        drawn = 0
        while drawn < self.init_directions and not bool(found.all()):
            c = min(self.init_chunk, self.init_directions - drawn)
            rows = (~found).nonzero().squeeze(1)
            draws = torch.stack(
                [
                    torch.rand((c, *x.shape[1:]), generator=gens[i], dtype=x.dtype, device=dev)
                    for i in rows.tolist()
                ]
            )
            draws = draws * (hi - lo) + lo
            adv = _misclassified(model, draws, label[rows], x.dtype)
            spent[rows] += c
            has = adv.any(1)
            pick = torch.where(has, adv.to(torch.int64).argmax(1), torch.full_like(rows, c - 1))
            noise[rows] = draws[torch.arange(len(rows), device=dev), pick]
            found[rows] = has
            drawn += c

        eps = torch.arange(1, self.init_steps + 1, dtype=torch.float64) / self.init_steps
        start = x.clone()
        ok = torch.zeros(k, dtype=torch.bool, device=dev)
        tried = 0
        while tried < self.init_steps and not bool(ok.all()):
            c = min(self.init_chunk, self.init_steps - tried)
            e = eps[tried : tried + c].to(dev)
            shape = (1, c) + (1,) * (x.dim() - 1)
            a, b = (1 - e).to(x.dtype).view(shape), e.to(x.dtype).view(shape)
            rows = (~ok).nonzero().squeeze(1)
            blends = (a * x[rows].unsqueeze(1) + b * noise[rows].unsqueeze(1)).clamp(lo, hi)
            adv = _misclassified(model, blends, label[rows], x.dtype)
            spent[rows] += c
            has = adv.any(1)
            first = adv.to(torch.int64).argmax(1)
            sel = has.nonzero().squeeze(1)
            start[rows[sel]] = blends[sel, first[sel]]
            ok[rows] = has
            tried += c
        return start, ok, spent

    # ------------------------------------------------------------------ one outer step

    def _step(self, model: nn.Module, state: State, steps: Tensor) -> StepOutcome:
        r, dev = steps.numel(), steps.device
        queries = torch.zeros(r, dtype=torch.long, device=dev)
        won = torch.zeros(r, dtype=torch.bool, device=dev)

        # foolbox 1.x convergence check: reset the step sizes once, then confirm for 100 steps
        src, sph = state["source_step"], state["spherical_step"]
        resetted, conv = state["resetted"], state["convergence"]
        strict = conv == CONVERGENCE_STEPS
        converged = torch.where(strict, src < 1e-7, src < 2e-7)
        confirm = converged & resetted
        conv = torch.where(confirm, conv - 1, conv)
        stop = confirm & (conv == 0)
        reset = converged & ~resetted
        resetted = resetted | reset
        sph = torch.where(reset, torch.full_like(sph, RESET_STEP), sph)
        src = torch.where(reset, torch.full_like(src, RESET_STEP), src)
        recover = ~converged & (conv < CONVERGENCE_STEPS)
        conv = torch.where(recover, torch.full_like(conv, CONVERGENCE_STEPS), conv)
        resetted = resetted & ~recover
        stalled = ~state["alive"] | stop
        go = ~stalled

        rows = go.nonzero().squeeze(1)
        if rows.numel():
            m = self.max_directions
            x0 = state["x0"][rows].flatten(1).double()
            dtype = state["x0"].dtype
            cur = state["x"][rows].flatten(1)
            gens = state["generators"]
            noise = torch.stack(
                [
                    torch.randn(
                        (m, x0.shape[1]), generator=gens[i], dtype=torch.float64, device=dev
                    )
                    for i in rows.tolist()
                ]
            )
            cand, sph_cand = self._candidates(x0, cur, noise, sph[rows], src[rows])
            label = state["label"][rows]
            spherical = ((steps[rows] + 1) % 10 == 0) | resetted[rows]
            shape = state["x"].shape[1:]

            # spherical candidates of spherical steps and all candidates of the others: one pass
            first = torch.cat([sph_cand[spherical], cand[~spherical]])
            first_labels = torch.cat([label[spherical], label[~spherical]])
            flags = _misclassified(model, first.view(-1, m, *shape), first_labels, dtype)
            n_sph = int(spherical.sum())
            sph_adv = flags[:n_sph]
            is_adv = torch.zeros((len(rows), m), dtype=torch.bool, device=dev)
            is_adv[~spherical] = flags[n_sph:]
            gate = torch.zeros_like(is_adv)
            gate[spherical] = sph_adv
            spent = torch.full((len(rows),), m, dtype=torch.long, device=dev)
            if bool(gate.any()):
                gated_labels = label.unsqueeze(1).expand(-1, m)[gate]
                gated = _misclassified(model, cand[gate].view(-1, 1, *shape), gated_labels, dtype)
                is_adv[gate] = gated.squeeze(1)
                spent += gate.sum(1)
            queries[rows] = spent

            # step-size statistics, from the spherical steps only
            sph_rows = rows[spherical]
            if sph_rows.numel():
                h, n = _extend_history(
                    state["spherical_hist"][sph_rows],
                    state["spherical_n"][sph_rows],
                    sph_adv,
                    torch.ones_like(sph_adv),
                )
                state["spherical_hist"][sph_rows], state["spherical_n"][sph_rows] = h, n
                h, n = _extend_history(
                    state["step_hist"][sph_rows],
                    state["step_n"][sph_rows],
                    is_adv[spherical],
                    gate[spherical],
                )
                state["step_hist"][sph_rows], state["step_n"][sph_rows] = h, n

            # accept the first adversarial candidate if it is closer
            has = is_adv.any(1)
            pick = is_adv.to(torch.int64).argmax(1)
            chosen = cand[torch.arange(len(rows), device=dev), pick]
            new_mse = normalized_mse(chosen, x0, self.range)
            accept = has & (new_mse < state["mse"][rows])
            acc = rows[accept]
            state["x"][acc] = chosen[accept].view(-1, *shape)
            state["mse"][acc] = new_mse[accept]
            won[acc] = new_mse[accept] < self.mse_threshold

        sph, src = self._adapt(state, sph, src)
        state["spherical_step"], state["source_step"] = sph, src
        state["resetted"], state["convergence"] = resetted, conv
        return StepOutcome(success=won, queries=queries, stalled=stalled)

    def _candidates(
        self, x0: Tensor, cur: Tensor, noise: Tensor, sph: Tensor, src: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Candidates and spherical candidates (A, m, D) from inputs and iterates (A, D)."""
        lo, hi = self.bounds
        source = x0 - cur
        source_norm = (source * source).sum(1).sqrt()
        direction = source / source_norm.unsqueeze(1)
        dot = (noise * direction.unsqueeze(1)).sum(2)
        noise = noise - dot.unsqueeze(2) * direction.unsqueeze(1)
        noise_norm = (noise * noise).sum(2).sqrt()
        noise = noise * ((sph * source_norm).unsqueeze(1) / noise_norm).unsqueeze(2)
        shrink = 1 / (sph * sph + 1).sqrt()
        sph_cand = x0.unsqueeze(1) + shrink.view(-1, 1, 1) * (noise - source.unsqueeze(1))
        sph_cand = sph_cand.clamp(lo, hi)
        new_source = x0.unsqueeze(1) - sph_cand
        new_norm = (new_source * new_source).sum(2).sqrt()
        length = (src * source_norm).unsqueeze(1) + (new_norm - source_norm.unsqueeze(1))
        length = length.clamp(min=0) / new_norm
        cand = (sph_cand + length.unsqueeze(2) * new_source).clamp(lo, hi)
        return cand, sph_cand

    def _adapt(self, state: State, sph: Tensor, src: Tensor) -> tuple[Tensor, Tensor]:
        """Foolbox 1.x ``update_step_sizes``: adapt on full histories, then clear them."""
        a = self.step_adaptation
        full = state["spherical_n"] == SPHERICAL_STATS
        p = state["spherical_hist"].sum(1).double() / SPHERICAL_STATS
        up, down = full & (p > 0.5), full & (p < 0.2)
        sph = torch.where(up, sph * a, torch.where(down, sph / a, sph))
        src = torch.where(up, src * a, torch.where(down, src / a, src))
        clear = up | down
        state["spherical_hist"] = state["spherical_hist"] & ~clear.unsqueeze(1)
        state["spherical_n"] = torch.where(clear, 0, state["spherical_n"])

        full = state["step_n"] == STEP_STATS
        p = state["step_hist"].sum(1).double() / STEP_STATS
        up, down = full & (p > 0.5), full & (p < 0.2)
        src = torch.where(up, src * a, torch.where(down, src / a, src))
        clear = up | down
        state["step_hist"] = state["step_hist"] & ~clear.unsqueeze(1)
        state["step_n"] = torch.where(clear, 0, state["step_n"])
        return sph, src


def _misclassified(model: nn.Module, inputs: Tensor, labels: Tensor, dtype: torch.dtype) -> Tensor:
    """(A, c) flags: is each of the (A, c, ...) ``inputs``, cast to ``dtype``, predicted as
    something else than its row's label (``labels``: (A,))?"""
    a, c = inputs.shape[:2]
    if a * c == 0:
        return torch.zeros((a, c), dtype=torch.bool, device=inputs.device)
    with torch.no_grad():
        pred = model(inputs.flatten(0, 1).to(dtype)).argmax(1)
    return (pred != labels.repeat_interleave(c)).view(a, c)
