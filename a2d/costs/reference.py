"""Plain per-example reference loops of the cost attacks: for tests and benchmarks only.

Each function attacks one input at a time with a straightforward loop written after the
foolbox 1.8 code the A2D authors ran (no active masks, no pool, no stall detection: a stalled
JSMA or BIM example burns its steps to the cap). The batched attacks in :mod:`a2d.costs` must
return the same costs, success flags and adversarials, example for example; queries agree
except for examples that the batched loop stops early on a provable stall. The arithmetic is
kept in the same order and dtype as the batched code so that the comparison can be exact.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.costs.base import CostAttack, CostResult, _as_ids
from a2d.costs.bim import L2BIMCost, LinfBIMCost, _BIMCost
from a2d.costs.boundary import (
    CONVERGENCE_STEPS,
    RESET_STEP,
    SPHERICAL_STATS,
    STEP_STATS,
    BoundaryCost,
    example_generator,
    normalized_mse,
)
from a2d.costs.cw import CWCost
from a2d.costs.fgsm import FGSMCost
from a2d.costs.jsma import JSMACost
from a2d.costs.lbfgs import LBFGSCost
from a2d.costs.lsa import LocalSearchCost


def reference_costs(
    attack: CostAttack,
    model: nn.Module,
    x: Tensor,
    *,
    ids: Tensor | Sequence[int] | None = None,
) -> CostResult:
    """Run the plain per-example loop matching ``attack`` (its hyperparameters) on ``x``."""
    was_training = model.training
    model.eval()
    extras: dict[str, list[int]] = {}
    try:
        x = x.detach()
        ids_t = _as_ids(ids, len(x)).tolist()
        one = [x[i : i + 1] for i in range(len(x))]
        if isinstance(attack, FGSMCost):
            rows = [_fgsm_one(attack, model, xi) for xi in one]
        elif isinstance(attack, _BIMCost):
            rows = [_bim_one(attack, model, xi) for xi in one]
        elif isinstance(attack, JSMACost):
            rows = [_jsma_one(attack, model, xi) for xi in one]
        elif isinstance(attack, BoundaryCost):
            rows = [_boundary_one(attack, model, xi, i) for xi, i in zip(one, ids_t, strict=True)]
        elif isinstance(attack, CWCost):
            runs = [_cw_one(attack, model, xi) for xi in one]
            rows, extras["search_step"] = [r[0] for r in runs], [r[1] for r in runs]
        elif isinstance(attack, LBFGSCost):
            rows = [_lbfgs_one(attack, model, xi) for xi in one]
        elif isinstance(attack, LocalSearchCost):
            rows = [_lsa_one(attack, model, xi, i) for xi, i in zip(one, ids_t, strict=True)]
        else:
            raise TypeError(f"no reference loop for {type(attack).__name__}")
    finally:
        model.train(was_training)
    dev = x.device
    return CostResult(
        adversarial=torch.cat([r[0] for r in rows]) if rows else x.clone(),
        success=torch.tensor([r[1] for r in rows], dtype=torch.bool, device=dev),
        cost=torch.tensor([r[2] for r in rows], dtype=torch.long, device=dev),
        queries=torch.tensor([r[3] for r in rows], dtype=torch.long, device=dev),
        label=torch.tensor([r[4] for r in rows], dtype=torch.long, device=dev),
        cap=attack.cap,
        extras={k: torch.tensor(v, dtype=torch.long, device=dev) for k, v in extras.items()},
    )


Row = tuple[Tensor, bool, int, int, int]


def _logits_and_grad(
    model: nn.Module, x: Tensor, label: int | None
) -> tuple[Tensor, Tensor | None, int]:
    """Logits at x, the input gradient of CE(logits, label) (label None: the prediction)."""
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        logits = model(xg)
        if label is None:
            label = int(logits.argmax(1))
        loss = F.cross_entropy(logits, torch.tensor([label], device=x.device), reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    return logits.detach(), grad, label


def _bim_one(attack: _BIMCost, model: nn.Module, x0: Tensor) -> Row:
    """foolbox 1.8 BIM loop with return_early, counting the index of the successful update."""
    lo, hi = attack.bounds
    s = hi - lo
    x = x0.clone()
    queries = 0
    label = -1
    for t in range(attack.max_iterations + 1):
        # the gradient evaluation at x_t also tells whether x_t (after t updates) is adversarial
        logits, grad, lab = _logits_and_grad(model, x, None if t == 0 else label)
        queries += 1
        if t == 0:
            label = lab
        elif int(logits.argmax(1)) != label:
            return x, True, t - 1, queries, label
        if t == attack.max_iterations:
            break
        assert grad is not None
        if isinstance(attack, LinfBIMCost):
            gradient = torch.sign(grad) * s
        elif isinstance(attack, L2BIMCost):
            rms = torch.sqrt(torch.mean(torch.square(grad).flatten(1), dim=1))
            gradient = grad / rms * s if float(rms) > 0 else torch.zeros_like(grad)
        else:
            raise TypeError(type(attack).__name__)
        x = x + attack.step * gradient
        perturbation = x - x0
        if isinstance(attack, LinfBIMCost):
            perturbation = torch.clamp(perturbation, -attack.epsilon * s, attack.epsilon * s)
        else:
            rms = torch.sqrt(torch.mean(torch.square(perturbation).flatten(1), dim=1))
            norm = float(torch.clamp(rms, min=1e-12))
            factor = min(1.0, attack.epsilon * s / norm)
            perturbation = perturbation * torch.tensor(factor, dtype=x.dtype, device=x.device)
        x = torch.clamp(perturbation + x0, lo, hi)
    return x, False, attack.cap, queries, label


def _jsma_one(attack: JSMACost, model: nn.Module, x0: Tensor) -> Row:
    """foolbox 1.8 SaliencyMapAttack(fast=True) with TargetClass(second most likely)."""
    lo, hi = attack.bounds
    s = hi - lo
    x = x0.clone()
    n = x.numel()
    mask = torch.ones(n, dtype=x.dtype, device=x.device)
    counts = [0] * n
    label = target = -1
    queries = 0
    for step in range(attack.max_iterations):
        with torch.enable_grad():
            xg = x.clone().requires_grad_(True)
            logits = model(xg)
            if step == 0:
                order = torch.argsort(logits.detach()[0], descending=True)
                label, target = int(order[0]), int(order[1])
            loss = F.cross_entropy(logits, torch.tensor([target], device=x.device), reduction="sum")
            (grad,) = torch.autograd.grad(loss, xg)
        queries += 1
        if int(logits.argmax(1)) == target:
            return x, True, step, queries, label
        if step == attack.max_iterations - 1:
            break  # an edit after the last check cannot change the cost
        alphas = grad.flatten() * mask
        betas = -torch.ones_like(alphas)
        salmap = torch.abs(alphas) * torch.abs(betas) * torch.sign(alphas * betas)
        idx = int(torch.argmin(salmap))
        p_sign = float(torch.sign(alphas[idx]))
        flat = x.flatten().clone()
        value = float(flat[idx]) - p_sign * (attack.theta * s)
        value = float(torch.tensor(value, dtype=x.dtype))
        counts[idx] += 1
        if value <= lo or value >= hi:
            mask[idx] = 0
        if counts[idx] >= attack.max_perturbations_per_feature:
            mask[idx] = 0
        flat[idx] = min(max(value, lo), hi)
        x = flat.view_as(x)
    return x, False, attack.cap, queries, label


def _boundary_one(attack: BoundaryCost, model: nn.Module, x: Tensor, example_id: int) -> Row:
    """foolbox 1.8 BoundaryAttack (batch of all directions) with the A2D MSE stop."""
    lo, hi = attack.bounds
    s = hi - lo
    dev, dtype = x.device, x.dtype
    gen = example_generator(attack.seed, example_id, dev)

    def predict(batch: Tensor) -> Tensor:
        with torch.no_grad():
            return model(batch.to(dtype)).argmax(1)

    label = int(predict(x))
    queries = 1

    # BlendedUniformNoiseAttack, images evaluated init_chunk at a time
    noise = None
    found = False
    drawn = 0
    while drawn < attack.init_directions and not found:
        c = min(attack.init_chunk, attack.init_directions - drawn)
        draws = torch.rand((c, *x.shape[1:]), generator=gen, dtype=dtype, device=dev) * s + lo
        preds = predict(draws).tolist()
        queries += c
        drawn += c
        noise = draws[c - 1]
        for j in range(c):
            if preds[j] != label:
                noise, found = draws[j], True
                break
    assert noise is not None
    start = None
    tried = 0
    while tried < attack.init_steps and start is None:
        c = min(attack.init_chunk, attack.init_steps - tried)
        blends = []
        for j in range(tried, tried + c):
            e = torch.tensor((j + 1) / attack.init_steps, dtype=torch.float64)
            keep, mix = (1 - e).to(dtype), e.to(dtype)
            blends.append(torch.clamp(keep * x[0] + mix * noise, lo, hi))
        preds = predict(torch.stack(blends)).tolist()
        queries += c
        tried += c
        for j in range(c):
            if preds[j] != label:
                start = blends[j]
                break
    if start is None:
        return x.clone(), False, attack.cap, queries, label

    original = x.double().flatten()
    perturbed = start.double().flatten()
    distance = float(normalized_mse(perturbed[None], original[None], s))
    spherical_step, source_step = attack.spherical_step, attack.source_step
    stats_spherical: collections.deque[bool] = collections.deque(maxlen=SPHERICAL_STATS)
    stats_step: collections.deque[bool] = collections.deque(maxlen=STEP_STATS)
    convergence_steps = CONVERGENCE_STEPS
    resetted = False
    m = attack.max_directions

    for step in range(1, attack.max_iterations + 1):
        strict = convergence_steps == CONVERGENCE_STEPS
        if source_step < (1e-7 if strict else 2e-7):
            if resetted:
                convergence_steps -= 1
                if convergence_steps == 0:
                    break
            else:
                resetted = True
                spherical_step, source_step = RESET_STEP, RESET_STEP
        elif convergence_steps < CONVERGENCE_STEPS:
            convergence_steps = CONVERGENCE_STEPS
            resetted = False

        source = original - perturbed
        source_norm = torch.sqrt(torch.sum(source * source))
        direction = source / source_norm
        gaussian = torch.randn(
            (m, original.numel()), generator=gen, dtype=torch.float64, device=dev
        )
        # the max_directions candidates of this one input, computed side by side
        p = gaussian - torch.sum(gaussian * direction, dim=1, keepdim=True) * direction
        p = p * (spherical_step * source_norm / torch.sqrt(torch.sum(p * p, dim=1, keepdim=True)))
        shrink = 1 / math.sqrt(spherical_step * spherical_step + 1)
        sphericals = torch.clamp(original + shrink * (p - source), lo, hi)
        new_source = original - sphericals
        new_norm = torch.sqrt(torch.sum(new_source * new_source, dim=1, keepdim=True))
        length = source_step * source_norm + (new_norm - source_norm)
        length = torch.clamp(length, min=0) / new_norm
        candidates = torch.clamp(sphericals + length * new_source, lo, hi)

        shape = x.shape[1:]
        new_perturbed = None
        if step % 10 == 0 or resetted:
            sph_preds = predict(sphericals.view(m, *shape)).tolist()
            queries += m
            indices = []
            for j in range(m):
                stats_spherical.appendleft(sph_preds[j] != label)
                if sph_preds[j] != label:
                    indices.append(j)
            if indices:
                gated = predict(candidates[indices].view(-1, *shape)).tolist()
                queries += len(indices)
                flags = [g != label for g in gated]
                stats_step.extendleft(flags)
                for j, flag in zip(indices, flags, strict=True):
                    if flag:
                        new_perturbed = candidates[j]
                        break
        else:
            preds = predict(candidates.view(m, *shape)).tolist()
            queries += m
            for j in range(m):
                if preds[j] != label:
                    new_perturbed = candidates[j]
                    break

        if new_perturbed is not None:
            new_distance = float(normalized_mse(new_perturbed[None], original[None], s))
            if new_distance < distance:
                perturbed, distance = new_perturbed, new_distance
                if distance < attack.mse_threshold:
                    return perturbed.view_as(x).to(dtype), True, step, queries, label

        # update_step_sizes
        a = attack.step_adaptation
        if len(stats_spherical) == SPHERICAL_STATS:
            p_spherical = sum(stats_spherical) / SPHERICAL_STATS
            if p_spherical > 0.5:
                spherical_step, source_step = spherical_step * a, source_step * a
                stats_spherical.clear()
            elif p_spherical < 0.2:
                spherical_step, source_step = spherical_step / a, source_step / a
                stats_spherical.clear()
        if len(stats_step) == STEP_STATS:
            p_step = sum(stats_step) / STEP_STATS
            if p_step > 0.5:
                source_step *= a
                stats_step.clear()
            elif p_step < 0.2:
                source_step /= a
                stats_step.clear()

    return perturbed.view_as(x).to(dtype), False, attack.cap, queries, label


def _fgsm_one(attack: FGSMCost, model: nn.Module, x0: Tensor) -> Row:
    """foolbox 1.8 GradientSignAttack at one epsilon: one step, then one check."""
    lo, hi = attack.bounds
    logits, grad, label = _logits_and_grad(model, x0, None)
    assert grad is not None
    x = torch.clamp(x0 + attack.epsilon * torch.sign(grad) * (hi - lo), lo, hi)
    if torch.equal(x, x0):
        return x, False, attack.cap, 1, label  # nothing moved: the check is skipped
    with torch.no_grad():
        adversarial = int(model(x).argmax(1)) != label
    return x, adversarial, 0 if adversarial else attack.cap, 2, label


def _cw_one(attack: CWCost, model: nn.Module, x0: Tensor) -> tuple[Row, int]:
    """foolbox 1.8 CarliniWagnerL2Attack (untargeted) as the authors changed it: return at the
    first adversarial iterate, recording the Adam iteration within the search step."""
    lo, hi = attack.bounds
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    s2 = (hi - lo) * (hi - lo)
    with torch.no_grad():
        label = int(model(x0).argmax(1))
    queries = 1
    lab = torch.tensor([label], device=x0.device)
    att_original = torch.atanh((x0 - mid) / half * 0.999999)
    reconstructed = torch.tanh(att_original) * half + mid
    x = x0.clone()
    for search_step in range(attack.binary_search_steps):
        const = torch.tensor([attack.const_of_step(search_step)], dtype=x0.dtype, device=x0.device)
        perturbation = torch.zeros_like(x0)
        m, v = torch.zeros_like(x0), torch.zeros_like(x0)
        loss_at_previous_check = torch.tensor([math.inf], dtype=x0.dtype, device=x0.device)
        for iteration in range(attack.max_iterations):
            tanh = torch.tanh(att_original + perturbation)
            x, dxdp = tanh * half + mid, (1 - tanh * tanh) * half
            with torch.enable_grad():
                xg = x.clone().requires_grad_(True)
                logits = model(xg)
                other = int(logits.detach()[0].scatter(0, lab, -math.inf).argmax())
                margin = logits[0, label] - logits[0, other]
                (margin_grad,) = torch.autograd.grad(margin, xg)
            queries += 1
            if int(logits.argmax(1)) != label:
                return (x, True, iteration, queries, label), search_step
            is_adv_loss = torch.clamp(margin.detach().view(1) + attack.confidence, min=0)
            diff = x - reconstructed
            loss = (diff * diff).flatten(1).sum(1) * (1.0 / s2) + const * is_adv_loss
            if float(is_adv_loss) == 0:
                margin_grad = torch.zeros_like(margin_grad)
            gradient = (2 * (1.0 / s2)) * diff + const.view(1, 1, 1, 1) * margin_grad
            gradient = gradient * dxdp
            t = torch.tensor([iteration + 1], dtype=x0.dtype, device=x0.device)
            m = 0.9 * m + (1 - 0.9) * gradient
            v = 0.999 * v + (1 - 0.999) * gradient * gradient
            m_hat = m / (1 - 0.9**t).view(1, 1, 1, 1)
            v_hat = v / (1 - 0.999**t).view(1, 1, 1, 1)
            perturbation = perturbation - attack.learning_rate * m_hat / (v_hat.sqrt() + 10e-8)
            if attack.abort_early and iteration % math.ceil(attack.max_iterations / 10) == 0:
                if not bool(loss <= 0.9999 * loss_at_previous_check):
                    break
                loss_at_previous_check = loss
    return (x, False, attack.cap, queries, label), attack.binary_search_steps


def _lbfgs_one(attack: LBFGSCost, model: nn.Module, x_in: Tensor) -> Row:
    """Projected L-BFGS on MSE + c * CE(target-2), c doubling, stopped at the first
    misclassified evaluation; one input, memory as a list of (s, y) pairs."""
    lo, hi = attack.bounds
    dtype, shape = x_in.dtype, x_in.shape
    x0 = x_in.flatten(1).double()
    n = x0.shape[1]
    scale = 1.0 / (n * (hi - lo) * (hi - lo))

    def evaluate(point: Tensor, target: int | None) -> tuple[Tensor, Tensor, Tensor, int]:
        with torch.enable_grad():
            xg = point.to(dtype).view(shape).clone().requires_grad_(True)
            logits = model(xg)
            if target is None:
                target = int(logits.detach().topk(2, dim=1).indices[0, 1])
            ce = F.cross_entropy(logits, torch.tensor([target], device=xg.device), reduction="none")
            (grad,) = torch.autograd.grad(ce.sum(), xg)
        return logits.detach(), ce.detach().double(), grad.flatten(1).double(), target

    logits0, ce0, gce0, target = evaluate(x0, None)
    label = int(logits0.argmax(1))
    queries, iterations = 1, 0
    point = x0
    c = 2 * attack.initial_const
    for doubling in range(attack.const_doublings):
        xk, fk, gk = x0, c * ce0, c * gce0
        pairs: list[tuple[Tensor, Tensor]] = []
        d, t = _lbfgs_direction(attack, xk, gk, pairs)
        if float(d.norm()) == 0:
            # no direction for any c: a failure (the batched loop sees it one evaluation later)
            queries += 1 if doubling == 0 else 0
            break
        for _run_iteration in range(attack.iterations_per_const):
            accepted = False
            for _backtrack in range(attack.max_backtracks + 1):
                point = torch.clamp(xk + t * d, lo, hi)
                logits, ce, gce, _ = evaluate(point, target)
                queries += 1
                if int(logits.argmax(1)) != label:
                    return point.to(dtype).view(shape), True, iterations, queries, label
                diff = point - x0
                f = (diff * diff).sum(1) * scale + c * ce
                g = (2 * scale) * diff + c * gce
                if bool(f <= fk + 1e-3 * ((point - xk) * gk).sum(1)):
                    accepted = True
                    break
                t = t * 0.5
            if not accepted:
                break  # the line search gave up: this c is done
            s_vec, y_vec = point - xk, g - gk
            if bool((s_vec * y_vec).sum(1) > 2.220446049250313e-16 * (y_vec * y_vec).sum(1)):
                pairs = [*pairs, (s_vec, y_vec)][-attack.history :]
            iterations += 1
            if iterations >= attack.max_iterations:
                return point.to(dtype).view(shape), False, attack.cap, queries, label
            drop = (fk - f) * 1e10
            floor = torch.clamp(torch.maximum(fk.abs(), f.abs()) * 1e10, min=1.0)
            held = ((point <= lo) & (g > 0)) | ((point >= hi) & (g < 0))
            free_max = torch.where(held, torch.zeros_like(g), g).abs().amax(1) * 1e10
            xk, fk, gk = point, f, g
            if bool(drop <= attack.ftol * floor) or bool(free_max <= attack.gtol):
                break
            d, t = _lbfgs_direction(attack, xk, gk, pairs)
        c = 2 * c
    return point.to(dtype).view(shape), False, attack.cap, queries, label


def _lbfgs_direction(
    attack: LBFGSCost, xk: Tensor, gk: Tensor, pairs: list[tuple[Tensor, Tensor]]
) -> tuple[Tensor, Tensor]:
    """Two-loop direction on the free variables and its first step length (pairs may be
    emptied in place when the direction is not downhill)."""
    lo, hi = attack.bounds
    held = ((xk <= lo) & (gk > 0)) | ((xk >= hi) & (gk < 0))
    g = torch.where(held, torch.zeros_like(gk), gk)
    q = g.clone()
    alphas = []
    for s_vec, y_vec in reversed(pairs):
        a = (1.0 / (s_vec * y_vec).sum(1)) * (s_vec * q).sum(1)
        alphas.append(a)
        q = q - a.unsqueeze(1) * y_vec
    if pairs:
        s_new, y_new = pairs[-1]
        q = ((s_new * y_new).sum(1) / (y_new * y_new).sum(1)).unsqueeze(1) * q
    for (s_vec, y_vec), a in zip(pairs, reversed(alphas), strict=True):
        b = (1.0 / (s_vec * y_vec).sum(1)) * (y_vec * q).sum(1)
        q = q + s_vec * (a - b).unsqueeze(1)
    d = torch.where(held, torch.zeros_like(q), -q)
    if pairs and bool((d * g).sum(1) >= 0):
        pairs.clear()
        d = -g
    if pairs:
        return d, torch.ones(1, dtype=d.dtype, device=d.device)
    norm = d.norm(dim=1)
    return d, torch.where(norm > 0, 1.0 / norm, torch.zeros_like(norm))


def _lsa_one(attack: LocalSearchCost, model: nn.Module, x: Tensor, example_id: int) -> Row:
    """foolbox 1.8 LocalSearchAttack, returning at the first misclassified round."""
    lo, hi = attack.bounds
    gen = example_generator(attack.seed, example_id, x.device)
    _, channels, h, w = x.shape
    with torch.no_grad():
        label = int(model(x).argmax(1))
    queries = 1
    image = (x[0] - (lo + hi) / 2) / (hi - lo)

    def unnormalize(u: Tensor) -> Tensor:
        return u * (hi - lo) + (lo + hi) / 2

    n_start = min(int(attack.initial_fraction * h * w), attack.max_candidates)
    start = torch.randperm(h * w, generator=gen, device=x.device)[:n_start].tolist()
    locations = sorted(start)
    for round_index in range(attack.max_iterations):
        order = torch.randperm(len(locations), generator=gen, device=x.device)
        chosen = [locations[i] for i in order[: attack.max_candidates].tolist()]
        probes = []
        for loc in chosen:
            probe = image.clone()
            row, col = divmod(loc, w)
            probe[:, row, col] = attack.sensitivity * torch.sign(probe[:, row, col])
            probes.append(probe)
        scores = torch.empty(0, dtype=x.dtype, device=x.device)
        if probes:
            with torch.no_grad():
                probs = F.softmax(model(unnormalize(torch.stack(probes))), dim=1)
            scores = probs[:, label]
        queries += len(probes) + 1
        best = torch.sort(scores, stable=True).indices[: attack.pixels_per_round].tolist()
        star = [chosen[i] for i in best]
        for loc in star:
            row, col = divmod(loc, w)
            for b in range(channels):
                value = attack.cyclic_factor * image[b, row, col]
                if value < -0.5:
                    value = value + 1.0
                elif value > 0.5:
                    value = value - 1.0
                image[b, row, col] = value
        adversarial = unnormalize(image).unsqueeze(0)
        with torch.no_grad():
            if int(model(adversarial).argmax(1)) != label:
                return adversarial, True, round_index, queries, label
        d = attack.neighbourhood
        near = set()
        for loc in star:
            row, col = divmod(loc, w)
            for r in range(row - d, row + d + 1):
                for c in range(col - d, col + d + 1):
                    if 0 <= r < h and 0 <= c < w:
                        near.add(r * w + c)
        locations = sorted(near)
    return unnormalize(image).unsqueeze(0), False, attack.cap, queries, label
