"""Benchmark BIM_d cost computation: per-example (authors' way) vs plain batching vs ours vs the machine limit.

    python -m benchmarks.costs [--target env1_mnist] [--batch-size 500] [--reference-fraction 1.0]

Inputs: the target's evaluation sets from the craft stage (benign + FGSM + BIM-A, 1000 each on
the paper profile); without them, the first 1000 correctly classified test images (benign only).
Writes results/bench/costs.json with raw times, costs and ratios.

* (a) reference: one input at a time, per iteration one gradient call and one prediction call
  (the authors' ``attack_for_input`` with foolbox 1.8).
* (b) plain batching: fixed batches that run until their last example is done, every example
  updated at every iteration (what the unofficial PyTorch port does).
* (c) ours: :class:`a2d.costs.LinfBIMCost` (continuous batching, finished examples frozen).
* limit: sum over examples of the forward+backward evaluations each needs, divided by the best
  forward+backward throughput measured for this model at any batch size.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.config import PROJECT_ROOT, load_params
from a2d.costs import LinfBIMCost, make_cost_attack
from a2d.data import first_correct, load_split
from a2d.data.sets import load_set
from a2d.utils.batching import best_batch_size
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from benchmarks._common import frozen_target, start_bench
from stages._common import data_root

log = logging.getLogger("a2d.bench.costs")


def reference_bim(attack: LinfBIMCost, model: nn.Module, x: Tensor) -> list[int]:
    """The authors' loop: one input at a time; per iteration a gradient call and a prediction call."""
    lo, hi = attack.bounds
    costs = []
    for i in range(len(x)):
        x0 = x[i : i + 1]
        with torch.no_grad():
            label = model(x0).argmax(1)
        xt, cost = x0.clone(), attack.cap
        for t in range(attack.max_iterations):
            xg = xt.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), label), xg)
            xt = torch.min(
                torch.max(xt + attack.step * (hi - lo) * grad.sign(), x0 - attack.epsilon),
                x0 + attack.epsilon,
            )
            xt = xt.clamp(lo, hi)
            with torch.no_grad():
                if int(model(xt).argmax(1)) != int(label):
                    cost = t
                    break
        costs.append(cost)
    return costs


def plain_batched_bim(
    attack: LinfBIMCost, model: nn.Module, x: Tensor, batch_size: int
) -> list[int]:
    """Fixed batches run to their slowest example; finished examples keep being updated."""
    lo, hi = attack.bounds
    costs: list[int] = []
    for start in range(0, len(x), batch_size):
        x0 = x[start : start + batch_size]
        with torch.no_grad():
            label = model(x0).argmax(1)
        xt = x0.clone()
        cost = torch.full((len(x0),), attack.cap, dtype=torch.long)
        for t in range(attack.max_iterations):
            xg = xt.clone().requires_grad_(True)
            logits = model(xg)
            if t > 0:
                flipped = (logits.argmax(1) != label) & (cost == attack.cap)
                cost[flipped] = t - 1
                if bool((cost < attack.cap).all()):
                    break
            (grad,) = torch.autograd.grad(F.cross_entropy(logits, label, reduction="sum"), xg)
            xt = torch.min(
                torch.max(xt + attack.step * (hi - lo) * grad.sign(), x0 - attack.epsilon),
                x0 + attack.epsilon,
            )
            xt = xt.clamp(lo, hi).detach()
        else:
            with torch.no_grad():
                flipped = (model(xt).argmax(1) != label) & (cost == attack.cap)
            cost[flipped] = attack.max_iterations - 1
        costs.extend(cost.tolist())
    return costs


def best_throughput(
    model: nn.Module, shape: tuple[int, ...], batch_sizes: list[int], seconds: float = 3.0
) -> dict[int, float]:
    """Forward+backward (input gradient) evaluations per second at each batch size."""
    rates = {}
    for bs in batch_sizes:
        x = torch.rand(bs, *shape)
        label = torch.zeros(bs, dtype=torch.long)
        done, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds or done < 3:
            xg = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xg), label, reduction="sum"), xg)
            done += 1
        rates[bs] = bs * done / (time.perf_counter() - began)
        log.info("throughput at batch %d: %.0f example-steps/s", bs, rates[bs])
    return rates


def _inputs(params, target: str, model: nn.Module) -> tuple[Tensor, dict[str, int]]:  # noqa: ANN001
    folder = PROJECT_ROOT / "data" / "craft" / target
    names = ["benign_eval", "fgsm_eval", "bim-a_eval"]
    if all((folder / f"{n}.pt").is_file() for n in names):
        sets = [load_set(folder / f"{n}.pt") for n in names]
        return torch.cat([s.x for s in sets]), {n: len(s) for n, s in zip(names, sets, strict=True)}
    log.warning("no crafted sets in %s: benchmarking on benign inputs only", folder)
    dataset = params.datasets[params.models[target].dataset]
    test = load_split(dataset.torchvision_class, data_root(params), train=False)
    chosen = first_correct(model, test, params.sets.n_eval)
    return chosen.x, {"benign_eval": len(chosen)}


def _agreement(a: list[int], b: list[int]) -> dict[str, float]:
    diffs = [abs(x - y) for x, y in zip(a, b, strict=True)]
    return {
        "n": len(diffs),
        "equal": sum(d == 0 for d in diffs),
        "max_abs_diff": max(diffs, default=0),
    }


def _unshuffle(values: Tensor, order: Tensor) -> Tensor:
    out = torch.empty_like(values)
    out[order] = values
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.costs", description=__doc__.splitlines()[0]
    )
    p.add_argument("--target", default="env1_mnist")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batch size of (b) and (c); default: the measured fastest (as the costs stage)",
    )
    p.add_argument(
        "--reference-fraction",
        type=float,
        default=1.0,
        help="time (a) on this fraction of inputs and extrapolate",
    )
    p.add_argument("--out", default=str(PROJECT_ROOT / "results" / "bench" / "costs.json"))
    args = p.parse_args()
    start_bench()
    params = load_params()
    device = resolve_device(params.device)
    model = frozen_target(params, args.target, device)
    hp = dict(params.costs.params[params.models[args.target].dataset]["bim"])
    attack = make_cost_attack("bim", **hp)
    x, composition = _inputs(params, args.target, model)
    # interleave the sets (fixed seed): a stream of inputs mixes cheap adversarial and expensive
    # benign ones, which is where batches that wait for their slowest member lose
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(params.seed))
    x = x[order].to(device)
    log.info("inputs: %s, interleaved", composition)
    if args.batch_size is None:
        args.batch_size = best_batch_size(model, tuple(x.shape[1:]), device=device)

    began = time.perf_counter()
    ours = attack(model, x, batch_size=args.batch_size)
    t_ours = time.perf_counter() - began
    log.info("(c) ours: %.1f s", t_ours)

    began = time.perf_counter()
    plain = plain_batched_bim(attack, model, x, args.batch_size)
    t_plain = time.perf_counter() - began
    log.info("(b) plain batching: %.1f s", t_plain)

    count = max(1, int(round(len(x) * args.reference_fraction)))
    pick = torch.linspace(0, len(x) - 1, count).round().long().unique()
    began = time.perf_counter()
    ref = reference_bim(attack, model, x[pick])
    t_ref_measured = time.perf_counter() - began
    t_ref = t_ref_measured * len(x) / len(pick)
    log.info(
        "(a) reference: %.1f s on %d inputs (%.1f s for all)", t_ref_measured, len(pick), t_ref
    )

    rates = best_throughput(model, tuple(x.shape[1:]), [1, 16, 64, 128, 256, 512, 1000])
    needed = int(ours.queries.sum())
    t_limit = needed / max(rates.values())
    report = {
        "target": args.target,
        "inputs": composition,
        "attack": {"name": "bim", **hp},
        "batch_size": args.batch_size,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "seconds": {
            "reference": round(t_ref, 2),
            "reference_measured": round(t_ref_measured, 2),
            "reference_inputs_timed": len(pick),
            "plain_batching": round(t_plain, 2),
            "ours": round(t_ours, 2),
            "machine_limit": round(t_limit, 2),
        },
        "example_steps_needed": needed,
        "throughput_by_batch_size": {str(k): round(v, 1) for k, v in rates.items()},
        "ratios": {
            "ours_over_limit": round(t_ours / t_limit, 3),
            "reference_over_ours": round(t_ref / t_ours, 2),
            "plain_over_ours": round(t_plain / t_ours, 2),
        },
        "costs_agree": {
            "plain_vs_ours": plain == ours.cost.cpu().tolist(),
            "reference_vs_ours": ref == ours.cost.cpu()[pick.cpu()].tolist(),
        },
        "mean_cost": {
            n: round(float(c.float().mean()), 2)
            for n, c in zip(
                composition,
                _unshuffle(ours.cost.cpu(), order).split(list(composition.values())),
                strict=True,
            )
        },
        "targets": {
            "ours_over_limit_max": 1.3,
            "reference_over_ours_min": 3.0,
            "plain_over_ours_min": 3.0,
        },
    }
    write_json_atomic(args.out, report)
    print(json.dumps(report["seconds"] | report["ratios"], indent=2))


if __name__ == "__main__":
    main()
