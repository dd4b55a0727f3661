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
