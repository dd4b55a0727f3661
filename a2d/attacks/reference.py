"""Plain per-example reference loops of the crafting attacks: for tests only.

Each function attacks one input at a time, written after BL1's code: BIM runs every
iteration, stores every iterate and picks the first misclassified one afterwards; JSMA follows
cleverhans' numpy ``jsma``/``saliency_map`` (a Python set as search domain, one gradient per
class summed for beta, used features pushed out of the map by the max-gradient penalty). The
batched attacks in :mod:`a2d.attacks` must return the same inputs, example for example.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.attacks.base import Bounds


def reference_bim(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    *,
    epsilon: float,
    step_size: float,
    steps: int,
    bounds: Bounds = (0.0, 1.0),
) -> tuple[Tensor, Tensor, Tensor]:
    """BL1's BIM on each example alone.

    Returns ``(bim_a, bim_b, first)``: the first misclassified iterate (else the last), the
    last iterate, and the 0-based index of the iterate BIM-A picked (``steps - 1`` if none).
    """
    lo, hi = bounds
    bim_a, bim_b, first = [], [], []
    for k in range(x.shape[0]):
        x0, y = x[k : k + 1], labels[k : k + 1]
        lower, upper = x0 - epsilon, x0 + epsilon
        current = x0.clone()
        iterates = []
        for _ in range(steps):
            xg = current.detach().requires_grad_(True)
            loss = F.cross_entropy(model(xg), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, xg)
            current = (xg.detach() + step_size * grad.sign()).clamp(lo, hi)
            current = torch.minimum(torch.maximum(current, lower), upper)
            iterates.append(current)
        with torch.no_grad():
            wrong = [int(model(it).argmax(1)) != int(y) for it in iterates]
        index = wrong.index(True) if any(wrong) else steps - 1
        bim_a.append(iterates[index])
        bim_b.append(iterates[-1])
        first.append(index)
    return torch.cat(bim_a), torch.cat(bim_b), torch.tensor(first)


def reference_jsma(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    theta: float = 1.0,
    gamma: float = 0.1,
    saliency: str = "logits",
    bounds: Bounds = (0.0, 1.0),
) -> tuple[Tensor, Tensor]:
    """cleverhans' numpy JSMA on each example alone; returns ``(adversarial, iterations)``."""
    lo, hi = bounds
    increase = theta > 0
    out_adv, out_iters = [], []
    for k in range(x.shape[0]):
        shape = x[k : k + 1].shape
        adv = x[k].reshape(-1).clone()
        n_features = adv.numel()
        t = int(target[k])
        max_iters = math.floor(n_features * gamma / 2)
        if increase:
            domain = {i for i in range(n_features) if float(adv[i]) < hi}
        else:
            domain = {i for i in range(n_features) if float(adv[i]) > lo}

        iteration = 0
        with torch.no_grad():
            current = int(_outputs(model, adv, shape, saliency).argmax(1))
        while current != t and iteration < max_iters and len(domain) > 1:
            xg = adv.detach().requires_grad_(True)
            z = _outputs(model, xg, shape, saliency)[0]
            jacobian = [
                torch.autograd.grad(z[c], xg, retain_graph=True)[0] for c in range(z.shape[0])
            ]
            grads_target = jacobian[t].clone()
            grads_other = sum(g for c, g in enumerate(jacobian) if c != t)
            assert isinstance(grads_other, Tensor)
            invalid = sorted(set(range(n_features)) - domain)
            sign = 1.0 if increase else -1.0
            grads_target[invalid] = -sign * grads_target.abs().max()
            grads_other[invalid] = sign * grads_other.abs().max()
            target_sum = grads_target.view(1, -1) + grads_target.view(-1, 1)
            other_sum = grads_other.view(1, -1) + grads_other.view(-1, 1)
            if increase:
                mask = (target_sum > 0) & (other_sum < 0)
            else:
                mask = (target_sum < 0) & (other_sum > 0)
            scores = mask * (-target_sum * other_sum)
            scores.fill_diagonal_(0)
            best = int(scores.argmax())
            p1, p2 = best % n_features, best // n_features
            domain.discard(p1)
            domain.discard(p2)
            for p in (p1, p2):
                moved = adv[p] + theta
                adv[p] = min(float(moved), hi) if increase else max(float(moved), lo)
            with torch.no_grad():
                current = int(_outputs(model, adv, shape, saliency).argmax(1))
            iteration += 1
        out_adv.append(adv.view(shape))
        out_iters.append(iteration)
    return torch.cat(out_adv), torch.tensor(out_iters)


def _outputs(model: nn.Module, v: Tensor, shape: torch.Size, saliency: str) -> Tensor:
    z = model(v.view(shape))
    return z.softmax(1) if saliency == "probabilities" else z


def reference_jsma_single(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    theta: float = 1.0,
    gamma: float = 0.12,
    saliency: str = "logits",
    bounds: Bounds = (0.0, 1.0),
) -> tuple[Tensor, Tensor]:
    """BL3's single-feature JSMA on each example alone; returns ``(adversarial, iterations)``.

    ``theta`` is in input units. One Jacobian column per class; ``beta`` = the sum of all
    columns minus the target's (BL3's ``saliency_map_optimal``); the map is
    ``alpha * |beta|`` where ``alpha >= 0`` and ``beta <= 0`` (reversed for ``theta < 0``),
    times the search domain; its first argmax gets ``theta`` (clipped) and leaves the domain.
    """
    lo, hi = bounds
    increase = theta > 0
    out_adv, out_iters = [], []
    for k in range(x.shape[0]):
        shape = x[k : k + 1].shape
        adv = x[k].reshape(-1).clone()
        n_features = adv.numel()
        t = int(target[k])
        max_iters = math.floor(n_features * gamma)
        domain = [(float(v) < hi) if increase else (float(v) > lo) for v in adv]
        iteration = 0
        with torch.no_grad():
            current = int(_outputs(model, adv, shape, saliency).argmax(1))
        while current != t and iteration < max_iters and any(domain):
            xg = adv.detach().requires_grad_(True)
            z = _outputs(model, xg, shape, saliency)[0]
            jacobian = [
                torch.autograd.grad(z[c], xg, retain_graph=True)[0] for c in range(z.shape[0])
            ]
            alpha = jacobian[t]
            beta = sum(jacobian) - alpha
            assert isinstance(beta, Tensor)
            best, best_score = 0, 0.0
            for i in range(n_features):
                a, b = float(alpha[i]), float(beta[i])
                if not increase:
                    a, b = -a, -b
                score = a * abs(b) if (a >= 0 and b <= 0 and domain[i]) else 0.0
                if score > best_score:
                    best, best_score = i, score
            moved = float(adv[best]) + theta
            adv[best] = min(moved, hi) if increase else max(moved, lo)
            domain[best] = False
            with torch.no_grad():
                current = int(_outputs(model, adv, shape, saliency).argmax(1))
            iteration += 1
        out_adv.append(adv.view(shape))
        out_iters.append(iteration)
    return torch.cat(out_adv), torch.tensor(out_iters)


def reference_deepfool(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    *,
    steps: int = 50,
    overshoot: float = 0.02,
    candidates: int = 10,
    bounds: Bounds = (0.0, 1.0),
) -> Tensor:
    """DeepFool-L2 on each example alone, written after the paper (with foolbox's constants).

    The candidate classes are the input's top ``candidates``; each step takes, among them, the
    class ``k`` whose linearised boundary ``|z_k - z_0| / ||grad(z_k - z_0)||`` is nearest
    (``z_0`` the input's top class), adds that step (distance + 1e-4, as foolbox) to the total
    and moves to ``clip(x0 + (1 + overshoot) * total)``, until misclassified or ``steps``.
    """
    lo, hi = bounds
    out = []
    for k in range(x.shape[0]):
        x0 = x[k : k + 1]
        with torch.no_grad():
            classes = model(x0)[0].argsort(descending=True)[:candidates].tolist()
        current, total = x0.clone(), torch.zeros_like(x0)
        for _ in range(steps):
            xg = current.detach().requires_grad_(True)
            z = model(xg)[0]
            if int(z.argmax()) != int(labels[k]):
                break
            best = None
            for c in classes[1:]:
                difference = z[c] - z[classes[0]]
                (grad,) = torch.autograd.grad(difference, xg, retain_graph=True)
                norm = float(grad.norm())
                distance = abs(float(difference.detach())) / (norm + 1e-8)
                if best is None or distance < best[0]:
                    best = (distance, grad, norm)
            assert best is not None
            distance, grad, norm = best
            total = total + (distance + 1e-4) / (norm + 1e-8) * grad
            current = (x0 + (1.0 + overshoot) * total).clamp(lo, hi)
        out.append(current.detach())
    return torch.cat(out)
