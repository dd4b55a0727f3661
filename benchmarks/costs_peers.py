"""Benchmark BIM_d costs against what a user would write with torchattacks or foolbox 3.

    python -m benchmarks.costs_peers [--target env1_mnist] [--n 300] [--batch-size N]
        [--out results/bench/costs_peers.json]

The question each method answers: at which iteration does BIM (L-inf, the cost attack's
epsilon, step and cap from params.yaml) first change the model's own prediction? All four read
the same inputs: the first ``n / 3`` of each of the benign, FGSM and BIM-A evaluation sets of the
craft stage, interleaved with a seeded permutation (as :mod:`benchmarks.costs` does).

* ``ours``: :class:`a2d.costs.suite.CostSuite` with the ``bim`` attack_d (continuous batching,
  finished examples leave the batch, provable stalls stop early).
* ``torchattacks_loop``: one input at a time, ``torchattacks.BIM(steps=1)`` re-fed with its own
  output, the iterate projected back onto the epsilon-ball of the *original* input, one
  prediction call per iteration to find the first misclassified iterate.
* ``foolbox_loop``: the same with foolbox 3's ``LinfBasicIterativeAttack(steps=1).run``.
* ``torchattacks_batched``: the same one-step loop over fixed batches (``--batch-size``) that run
  until their last example is done, every example updated at every iteration.

Why one step at a time: ``BIM(steps=k)`` from the input reproduces the k-th iterate too, but
finding the first success that way reruns the whole trajectory for every k (sum over inputs of
k (k + 1) / 2 gradient steps); :func:`torchattacks_rerun` is that loop, checked in
tests/test_bench_peers.py, and its time is *estimated* here from the one-step loop's time per
gradient step (``seconds_estimated.torchattacks_rerun``).

Semantics lined up with :class:`a2d.costs.LinfBIMCost` (a2d/costs/bim.py): label = the model's
prediction on the input; step ``step * range``, ball ``epsilon * range`` (absolute units below);
the ball projection ``x0 + clamp(x - x0, -eps, eps)`` (foolbox's form and ours; torchattacks'
own ``min(max(x, x0 - eps), x0 + eps)`` differs from it by float rounding only); cost = 0-based
index of the update after which the iterate is misclassified, the cap (``max_iterations``) on
failure. A torchattacks or foolbox step from x_t with the full epsilon never meets its own ball
(step <= epsilon), so it is exactly the clipped gradient-sign step of BIM_d.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import platform
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from a2d.config import PROJECT_ROOT, load_params
from a2d.costs import LinfBIMCost, make_cost_attack
from a2d.costs.suite import CostSuite
from a2d.data.sets import load_set
from a2d.models.wrapper import ClassifierWrapper
from a2d.utils.batching import best_batch_size
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from benchmarks._common import frozen_target, start_bench

log = logging.getLogger("a2d.bench.costs_peers")

SETS = ("benign_eval", "fgsm_eval", "bim-a_eval")
METHODS = ("ours", "torchattacks_loop", "foolbox_loop", "torchattacks_batched")


@dataclass(frozen=True)
class BIMSpec:
    """BIM_d's hyperparameters in absolute input units (what torchattacks and foolbox take)."""

    epsilon: float
    step: float
    max_iterations: int
    bounds: tuple[float, float]

    @classmethod
    def of(cls, attack: LinfBIMCost) -> BIMSpec:
        return cls(
            epsilon=attack.epsilon * attack.range,
            step=attack.step * attack.range,
            max_iterations=attack.max_iterations,
            bounds=attack.bounds,
        )

    def check(self) -> None:
        if self.step > self.epsilon:
            raise ValueError(
                f"step {self.step} > epsilon {self.epsilon}: a one-step peer attack would meet "
                "its own ball around the iterate, which BIM_d has not"
            )


def project(x: Tensor, x0: Tensor, spec: BIMSpec) -> Tensor:
    """Onto the epsilon-ball of the original input, then the box (BIM_d's and foolbox's form)."""
    return (x0 + (x - x0).clamp(-spec.epsilon, spec.epsilon)).clamp(*spec.bounds)


def _torchattacks_bim(model: nn.Module, spec: BIMSpec, steps: int):  # noqa: ANN202
    import torchattacks

    if tuple(spec.bounds) != (0.0, 1.0):
        raise ValueError(f"torchattacks clips to [0, 1]; the model's bounds are {spec.bounds}")
    return torchattacks.BIM(model, eps=spec.epsilon, alpha=spec.step, steps=steps)


def _predict(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def torchattacks_loop(model: nn.Module, x: Tensor, spec: BIMSpec) -> list[int]:
    """Per input: ``torchattacks.BIM(steps=1)`` re-fed, projected onto the input's ball, checked."""
    spec.check()
    one_step = _torchattacks_bim(model, spec, steps=1)
    costs = []
    for i in range(len(x)):
        x0 = x[i : i + 1]
        label = _predict(model, x0)
        xt, cost = x0, spec.max_iterations
        for t in range(spec.max_iterations):
            xt = project(one_step(xt, label), x0, spec)
            if int(_predict(model, xt)) != int(label):
                cost = t
                break
        costs.append(cost)
    return costs


def torchattacks_rerun(model: nn.Module, x: Tensor, spec: BIMSpec) -> list[int]:
    """Per input: ``torchattacks.BIM(steps=k)`` from the input for k = 1, 2, ... (quadratic)."""
    costs = []
    for i in range(len(x)):
        x0 = x[i : i + 1]
        label = _predict(model, x0)
        cost = spec.max_iterations
        for k in range(1, spec.max_iterations + 1):
            xk = _torchattacks_bim(model, spec, steps=k)(x0, label)
            if int(_predict(model, xk)) != int(label):
                cost = k - 1
                break
        costs.append(cost)
    return costs


def foolbox_loop(model: nn.Module, x: Tensor, spec: BIMSpec) -> list[int]:
    """Per input: foolbox 3 ``LinfBasicIterativeAttack(steps=1).run`` re-fed, projected, checked."""
    import foolbox as fb

    spec.check()
    fmodel = fb.PyTorchModel(model, bounds=spec.bounds, device=x.device)
    one_step = fb.attacks.LinfBasicIterativeAttack(
        abs_stepsize=spec.step, steps=1, random_start=False
    )
    costs = []
    for i in range(len(x)):
        x0 = x[i : i + 1]
        label = _predict(model, x0)
        criterion = fb.criteria.Misclassification(label)
        xt, cost = x0, spec.max_iterations
        for t in range(spec.max_iterations):
            xt = project(one_step.run(fmodel, xt, criterion, epsilon=spec.epsilon), x0, spec)
            if int(_predict(model, xt)) != int(label):
                cost = t
                break
        costs.append(cost)
    return costs


def torchattacks_batched(model: nn.Module, x: Tensor, spec: BIMSpec, batch_size: int) -> list[int]:
    """Fixed batches of the one-step loop, run until their last example has flipped (or the cap)."""
    spec.check()
    one_step = _torchattacks_bim(model, spec, steps=1)
    costs: list[int] = []
    for start in range(0, len(x), batch_size):
        x0 = x[start : start + batch_size]
        label = _predict(model, x0)
        cost = torch.full((len(x0),), spec.max_iterations, dtype=torch.long)
        done = torch.zeros(len(x0), dtype=torch.bool)
        xt = x0
        for t in range(spec.max_iterations):
            xt = project(one_step(xt, label), x0, spec)
            flipped = (_predict(model, xt) != label).cpu() & ~done
            cost[flipped] = t
            done |= flipped
            if bool(done.all()):
                break
        costs.extend(cost.tolist())
    return costs


def ours(model: ClassifierWrapper, x: Tensor, hp: dict, batch_size: int | None) -> list[int]:
    """BIM_d through the one cost path of a2d (:class:`a2d.costs.suite.CostSuite`)."""
    suite = CostSuite(model, {"bim": hp}, batch_size=batch_size)
    return suite.costs(x).cost[:, 0].tolist()


def agreement(a: list[int], b: list[int]) -> dict[str, float | int]:
    """Example-by-example: how many costs are equal, and the largest difference."""
    diffs = [abs(p - q) for p, q in zip(a, b, strict=True)]
    return {
        "n": len(diffs),
        "equal": sum(d == 0 for d in diffs),
        "fraction_equal": round(sum(d == 0 for d in diffs) / max(len(diffs), 1), 4),
        "max_abs_diff": max(diffs, default=0),
    }


def gradient_steps(costs: list[int], cap: int) -> list[int]:
    """BIM steps each input needs to reach its cost: cost + 1 on success, the cap on failure."""
    return [cap if c >= cap else c + 1 for c in costs]


def _inputs(target: str, n: int, seed: int) -> tuple[Tensor, dict[str, int]]:
    folder = PROJECT_ROOT / "data" / "craft" / target
    per_set = max(1, n // len(SETS))
    parts, composition = [], {}
    for name in SETS:
        example_set = load_set(folder / f"{name}.pt")
        parts.append(example_set.x[:per_set])
        composition[name] = len(parts[-1])
    x = torch.cat(parts)
    # a stream of inputs mixes cheap adversarial and expensive benign ones
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return x[order], composition


def _warm_up(model: nn.Module, x: Tensor) -> None:
    """One gradient evaluation before the clock starts, so that no method pays for the first."""
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():
        model(xg).sum().backward()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.costs_peers", description=__doc__.splitlines()[0]
    )
    p.add_argument("--target", default="env1_mnist")
    p.add_argument("--n", type=int, default=300, help="inputs, a third from each set")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batch of ours and torchattacks_batched; default: the measured fastest",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default=str(PROJECT_ROOT / "results" / "bench" / "costs_peers.json"))
    args = p.parse_args()
    start_bench(args.threads)
    params = load_params()
    device = resolve_device(params.device)
    model = frozen_target(params, args.target, device)
    hp = dict(params.costs.params[params.models[args.target].dataset]["bim"])
    attack = make_cost_attack("bim", **{**hp, "bounds": tuple(model.bounds)})
    assert isinstance(attack, LinfBIMCost)
    spec = BIMSpec.of(attack)
    x, composition = _inputs(args.target, args.n, params.seed)
    x = x.to(device)
    log.info("inputs: %s, interleaved; BIM %s", composition, spec)
    if args.batch_size is None:
        args.batch_size = best_batch_size(model, tuple(x.shape[1:]), device=device)

    _warm_up(model, x[:1])
    runs = {
        "ours": lambda: ours(model, x, hp, args.batch_size),
        "torchattacks_loop": lambda: torchattacks_loop(model, x, spec),
        "foolbox_loop": lambda: foolbox_loop(model, x, spec),
        "torchattacks_batched": lambda: torchattacks_batched(model, x, spec, args.batch_size),
    }
    costs: dict[str, list[int]] = {}
    seconds: dict[str, float] = {}
    for name, run in runs.items():
        began = time.perf_counter()
        costs[name] = run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[name] = time.perf_counter() - began
        log.info("%s: %.2f s", name, seconds[name])

    # BIM(steps=k) for k = 1, 2, ...: k (k + 1) / 2 steps per input instead of k
    steps = gradient_steps(costs["ours"], spec.max_iterations)
    per_step = seconds["torchattacks_loop"] / sum(steps)
    rerun = per_step * sum(k * (k + 1) // 2 for k in steps)
    n = len(x)
    report = {
        "target": args.target,
        "inputs": composition,
        "attack": {"name": "bim", **hp, "absolute": vars(spec) | {"bounds": list(spec.bounds)}},
        "batch_size": args.batch_size,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "versions": {
            "torch": torch.__version__,
            "torchattacks": _version("torchattacks"),
            "foolbox": _version("foolbox"),
        },
        "timing": "one run of each method, in the order listed, on the same inputs",
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "seconds_per_input": {k: round(v / n, 5) for k, v in seconds.items()},
        "seconds_estimated": {
            "torchattacks_rerun": round(rerun, 1),
            "note": "BIM(steps=k) from the input for k = 1, 2, ... until the first success: "
            "sum of k (k + 1) / 2 gradient steps at torchattacks_loop's time per step",
        },
        "speedup_of_ours": {
            k: round(v / seconds["ours"], 2) for k, v in seconds.items() if k != "ours"
        }
        | {"torchattacks_rerun_estimated": round(rerun / seconds["ours"], 1)},
        "costs_agree_with_ours": {
            k: agreement(costs["ours"], v) for k, v in costs.items() if k != "ours"
        },
        "mean_cost": round(sum(costs["ours"]) / n, 2),
        "gradient_steps_needed": sum(steps),
        "semantics": "label = the model's prediction; x_{t+1} = clip_box(x0 + clip(x_t + step * "
        "sign(grad CE) - x0, -eps, eps)); cost = first t with x_{t+1} misclassified, the cap on "
        "failure",
    }
    write_json_atomic(args.out, report)
    summary = {
        "seconds_per_input": report["seconds_per_input"],
        "speedup_of_ours": report["speedup_of_ours"],
        "fraction_equal": {
            k: v["fraction_equal"] for k, v in report["costs_agree_with_ours"].items()
        },
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
