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
from a2d.costs.jsma import JSMACost


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
    try:
        x = x.detach()
        if isinstance(attack, _BIMCost):
            rows = [_bim_one(attack, model, x[i : i + 1]) for i in range(len(x))]
        elif isinstance(attack, JSMACost):
            rows = [_jsma_one(attack, model, x[i : i + 1]) for i in range(len(x))]
        elif isinstance(attack, BoundaryCost):
            ids_t = _as_ids(ids, len(x)).tolist()
            rows = [_boundary_one(attack, model, x[i : i + 1], ids_t[i]) for i in range(len(x))]
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
