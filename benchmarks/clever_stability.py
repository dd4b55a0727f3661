"""How much do CLEVER scores move when the CPU setting's sampling is enlarged? A few images, measured.

    python -m benchmarks.clever_stability [--target env1_mnist] [--sets DIR] [--images 2]
        [--small 50 16] [--large 100 64] [--kinds benign fgsm bim-a]

Scores the first ``--images`` images of each set twice, with the ``small`` (Nb, Ns) and the
``large`` one, all else from ``params.yaml`` (radius, sampling law, cap, chunk size, seed), and
writes per-image scores and relative differences to results/bench/clever_stability.json.
Both runs read the same per-image stream (same seed and chunk size), the large run reading
further: the difference is what the extra points and batches change. Written after every set.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
from dataclasses import replace

import torch

from a2d.config import PROJECT_ROOT, load_params
from a2d.data.sets import load_set
from a2d.robustness.tables import CleverSettings, clever_table
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from benchmarks._common import frozen_target, start_bench

log = logging.getLogger("a2d.bench.clever_stability")


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def _report(
    args: argparse.Namespace,
    small: CleverSettings,
    large: CleverSettings,
    rows: list[dict[str, object]],
    seconds: dict[str, float],
    done: list[str],
) -> dict[str, object]:
    diffs = sorted(float(r["relative_difference"]) for r in rows)  # type: ignore[arg-type]
    return {
        "target": args.target,
        "small": small.as_dict(),
        "large": large.as_dict(),
        "images_per_set": args.images,
        "sets_done": done,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "relative_difference": {
            "median": round(diffs[len(diffs) // 2], 4),
            "max": round(diffs[-1], 4),
            "mean": round(sum(diffs) / len(diffs), 4),
        },
        "scores": rows,
    }


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.clever_stability", description=__doc__.splitlines()[0]
    )
    p.add_argument("--target", default="env1_mnist")
    p.add_argument(
        "--sets", default=None, help="folder of the crafted sets (default data/craft/<target>)"
    )
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--kinds", nargs="+", default=["benign", "fgsm", "bim-a"])
    p.add_argument("--small", nargs=2, type=int, default=None, metavar=("NB", "NS"))
    p.add_argument("--large", nargs=2, type=int, default=[100, 64], metavar=("NB", "NS"))
    p.add_argument(
        "--out", default=str(PROJECT_ROOT / "results" / "bench" / "clever_stability.json")
    )
    args = p.parse_args()
    start_bench()
    params = load_params()
    device = resolve_device(params.device)
    model = frozen_target(params, args.target, device)
    cfg = params.clever
    base = CleverSettings(
        nb_batches=cfg.nb_batches,
        batch_size=cfg.batch_size,
        radius=cfg.radius,
        sampling=cfg.sampling,  # type: ignore[arg-type]
        cap_at_radius=cfg.cap_at_radius,
        chunk_size=cfg.chunk_size,
        targets=tuple(cfg.targets),  # type: ignore[arg-type]
        output=cfg.output,  # type: ignore[arg-type]
    )
    small = (
        replace(base, nb_batches=args.small[0], batch_size=args.small[1]) if args.small else base
    )
    large = replace(base, nb_batches=args.large[0], batch_size=args.large[1])
    folder = args.sets or PROJECT_ROOT / "data" / "craft" / args.target
    rows: list[dict[str, object]] = []
    seconds, done = {"small": 0.0, "large": 0.0}, []
    for kind in args.kinds:
        example_set = load_set(f"{folder}/{kind}_eval.pt")
        runs = {}
        for name, settings in (("small", small), ("large", large)):
            table = clever_table(
                model, example_set, settings=settings, n_images=args.images, seed=params.seed
            )
            runs[name] = table.frame
            seconds[name] += table.seconds
            log.info("%s %s: %.1f s", kind, name, table.seconds)
        for (_, a), (_, b) in zip(runs["small"].iterrows(), runs["large"].iterrows(), strict=True):
            for target in base.targets:
                rows.append(
                    {
                        "set": kind,
                        "index": int(a["index"]),
                        "target": target,
                        "small": round(float(a[target]), 5),
                        "large": round(float(b[target]), 5),
                        "relative_difference": round(_relative(a[target], b[target]), 4),
                    }
                )
        done.append(kind)
        # written after every set: a long run that is stopped keeps what it measured
        report = _report(args, small, large, rows, seconds, done)
        write_json_atomic(args.out, report)
    print(json.dumps({k: report[k] for k in ("seconds", "relative_difference")}, indent=2))


if __name__ == "__main__":
    main()
