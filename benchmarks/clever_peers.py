"""Benchmark CLEVER: ours against ART's ``clever_u`` on the same model, images and sampling.

    python -m benchmarks.clever_peers [--target env1_mnist] [--sets benign fgsm bim-a]
        [--images 4] [--nb NB] [--ns NS] [--seeds 5] [--out results/bench/clever_peers.json]

Both score the first ``--images`` images of each ``--sets`` evaluation set of the craft stage
with Nb (``--nb``) batches of Ns (``--ns``) points, uniform in the L2 ball of radius R around
the image and clipped to the model's box, scores capped at R (ART's law, and ours on the
default settings), on the outputs ``clever.output`` names (logits, or probabilities through a
softmax): ART's ``PyTorchClassifier`` wraps the very module ours scores, so both differentiate
the same function (checked, ``same_function``). Nb, Ns, R and the outputs default to
params.yaml's ``clever`` group.

* ``ours``: :func:`a2d.robustness.clever` (untargeted): one sample set of Nb x Ns points per
  image shared by the K - 1 classes, one forward pass per chunk and K - 1 batched
  vector-Jacobian products, per-batch maxima, K - 1 reverse-Weibull fits (best of several
  initial shapes, KS-checked).
* ``art_pool_nb``: ART's ``clever_u`` with ``pool_factor = Nb``: per class j a pool of
  Nb x Ns points (as many distinct points as ours), two ``class_gradient`` calls per slice of
  ``pool_factor`` points, Nb batches of Ns drawn *with replacement* from the pool, one fit.
* ``art_pool_default``: the same at ART's default ``pool_factor`` (10): a pool of 10 x Ns points
  per class, from which the Nb batches are drawn.
* ``ours_maxima_art_fit`` (scores only, not timed): ART's fit and score rule on our own batch
  maxima (:func:`art_fit_score`): separates what the estimators change from what the sampling
  changes.

Every method scores every image once per seed (``--seeds``; ours: :func:`image_seed` of the
run's seed + s, ART: ``numpy.random.seed``), in turns, so a busy machine slows all alike.
Agreement: an image's ART score is *within sampling noise* when the medians over the seeds
differ by at most twice the standard deviation of our own score over the seeds on that image
(``agreement``); the z-statistic of the difference of the two means is reported beside it, and
how many of ART's Weibull fits diverged (:class:`ArtFitWatch`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import math
import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize
import scipy.stats
import torch
from torch import Tensor, nn

from a2d.config import PROJECT_ROOT, load_params
from a2d.data.sets import load_set
from a2d.robustness import batch_maxima, clever, margin_gradient_norms, sample_l2_ball
from a2d.robustness.scored import scored_model
from a2d.robustness.tables import image_seed
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from a2d.utils.progress import set_progress
from benchmarks._common import frozen_target, start_bench

log = logging.getLogger("a2d.bench.clever_peers")

PEERS = ("art_pool_nb", "art_pool_default", "ours_maxima_art_fit")
"""What ours is compared with; the last is ART's estimator on our maxima (:func:`art_fit_score`)."""


def art_classifier(scored: nn.Module, *, input_shape: Sequence[int], nb_classes: int):  # noqa: ANN201
    """ART's ``PyTorchClassifier`` around the module ours scores (its outputs, its box)."""
    from art.estimators.classification import PyTorchClassifier

    parameter = next(scored.parameters())
    return PyTorchClassifier(
        model=scored,
        loss=nn.CrossEntropyLoss(),  # required by the constructor; clever_u never uses it
        input_shape=tuple(input_shape),
        nb_classes=nb_classes,
        clip_values=tuple(float(b) for b in getattr(scored, "bounds", (0.0, 1.0))),
        device_type="gpu" if parameter.device.type == "cuda" else "cpu",
    )


def art_default_pool_factor() -> int:
    import inspect

    from art.metrics import clever_u

    return int(inspect.signature(clever_u).parameters["pool_factor"].default)


def same_function(
    scored: nn.Module,
    classifier,  # noqa: ANN001
    x: Tensor,
    *,
    radius: float,
    n_points: int = 16,
    seed: int = 0,
) -> dict[str, float]:
    """Do ART and ours differentiate the same margins? Outputs and margin-gradient norms compared.

    On ``n_points`` points sampled around ``x`` (one image): ART's
    ``class_gradient(c) - class_gradient(j)`` norms against ours
    (:func:`a2d.robustness.margin_gradient_norms`), for every class j != c; the largest
    difference relative to the largest norm. Logits agree to about 1e-7; the margins of
    saturated softmax outputs carry float32 rounding of about 1e-3 of the largest norm in
    both (each is that far from a float64 evaluation, measured on Env1 MNIST).
    """
    generator = torch.Generator(device=x.device).manual_seed(seed)
    bounds = tuple(getattr(scored, "bounds", (0.0, 1.0)))
    points = sample_l2_ball(x[0], n_points, radius=radius, bounds=bounds, generator=generator)
    with torch.no_grad():
        outputs = scored(x)
    c = int(outputs.argmax(1))
    ours = margin_gradient_norms(scored, points, c).double().cpu().numpy()
    numpy_points = points.cpu().numpy()
    grad_c = classifier.class_gradient(numpy_points, label=c).reshape(n_points, -1)
    theirs = np.zeros_like(ours)
    for j in range(ours.shape[1]):
        if j != c:
            grad_j = classifier.class_gradient(numpy_points, label=j).reshape(n_points, -1)
            theirs[:, j] = np.linalg.norm(grad_c - grad_j, axis=1)
    predicted = classifier.predict(x.cpu().numpy())
    scale = max(float(np.abs(ours).max()), 1e-30)
    return {
        "points": n_points,
        "outputs_max_abs_diff": float(np.abs(predicted - outputs.cpu().numpy()).max()),
        "gradient_norms_max_rel_diff": float(np.abs(ours - theirs).max() / scale),
    }


def ours_score(scored: nn.Module, x: Tensor, *, seed: int, **sampling) -> tuple[float, int]:
    """Our untargeted CLEVER score of one image (1, C, H, W), and how many fits fell back."""
    result = clever(scored, x, targets=("untargeted",), seed=seed, **sampling)
    return float(result.scores["untargeted"][0]), result.n_fallbacks


def implausible(lipschitz: float, largest: float) -> bool:
    """A fitted Lipschitz estimate <= 0 or beyond 10 x the largest sampled maximum."""
    return not 0 < lipschitz <= 10 * largest


class ArtFitWatch:
    """Count ART's Weibull fits whose Lipschitz estimate is implausible (ART's result unchanged).

    ``clever_t`` fits ``weibull_min`` once, with one initial shape, to the raw negated maxima and
    takes L = -loc without a goodness-of-fit check. A fit is counted as implausible when L <= 0
    or L > 10 x the largest sampled maximum (seen with tiny gradient norms, e.g. on
    probabilities: shape 1e8, loc -4000, a score of 1e-4 where the sample says R). Wraps
    ``art.metrics.metrics.weibull_min`` while active; the fits themselves are scipy's, untouched.
    """

    def __init__(self) -> None:
        self.fits = 0
        self.implausible = 0

    def __enter__(self) -> ArtFitWatch:
        import art.metrics.metrics as metrics

        self._module, self._weibull = metrics, metrics.weibull_min
        watch = self

        class _Watched:
            def fit(self, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                fitted = watch._weibull.fit(data, *args, **kwargs)
                watch.fits += 1
                watch.implausible += implausible(-float(fitted[1]), float(np.max(-data)))
                return fitted

        metrics.weibull_min = _Watched()
        return self

    def __exit__(self, *exc: object) -> None:
        self._module.weibull_min = self._weibull


def art_score(
    classifier,  # noqa: ANN001
    x: Tensor,
    *,
    seed: int,
    nb_batches: int,
    batch_size: int,
    radius: float,
    pool_factor: int,
) -> float:
    """ART's untargeted CLEVER score (L2) of one image (1, C, H, W), numpy seeded with ``seed``."""
    from art.metrics import clever_u

    np.random.seed(seed % 2**32)
    return float(
        clever_u(
            classifier,
            x[0].cpu().numpy(),
            nb_batches=nb_batches,
            batch_size=batch_size,
            radius=radius,
            norm=2,
            pool_factor=pool_factor,
            verbose=False,
        )
    )


def watched_art_score(classifier, x: Tensor, **kwargs) -> tuple[float, int]:  # noqa: ANN001
    """:func:`art_score` and how many of its fits were implausible (:class:`ArtFitWatch`)."""
    with ArtFitWatch() as watch:
        score = art_score(classifier, x, **kwargs)
    return score, watch.implausible


def art_fit_score(maxima: Tensor, outputs: Tensor, *, radius: float) -> tuple[float, int]:
    """ART's estimator on *our* batch maxima: ``clever_t``'s fit and score, min over the classes.

    Per class j != c, as ``art.metrics.clever_t`` does after its sampling: one
    ``weibull_min.fit`` of the negated float32 maxima from initial shape 1 (Nelder-Mead,
    scipy's ``fmin``), L = -loc, score min((z_c - z_j) / L, R). Set beside ours and ART's own,
    it tells the estimators' share of a difference from the sampling's.

    Args:
        maxima: (Nb, K) per-batch maxima of one image (NaN in column c), as
            :func:`a2d.robustness.batch_maxima` gives them.
        outputs: (K,) the scored outputs at the image.
        radius: R.

    Returns:
        The score and how many of the K - 1 fits were implausible (:func:`implausible`).
    """
    c = int(outputs.argmax())
    scores, flagged = [], 0
    for j in range(len(outputs)):
        if j == c:
            continue
        negated = -maxima[:, j].cpu().numpy().astype(np.float32)
        _, loc, _ = scipy.stats.weibull_min.fit(negated, 1.0, optimizer=scipy.optimize.fmin)
        flagged += implausible(-float(loc), float(np.max(-negated)))
        value = float(outputs[c] - outputs[j])
        scores.append(min(-value / loc, radius))
    return float(min(scores)), flagged


def _sd(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else math.nan


def compare(ours: Sequence[float], theirs: Sequence[float]) -> dict[str, float | bool]:
    """One image's scores over the seeds: a peer's against ours.

    ``within_noise``: |median(theirs) - median(ours)| <= 2 sd(ours), sd over the seeds (at
    least two). Medians, because one diverged ART fit (see :class:`ArtFitWatch`) drags a mean
    of a few seeds anywhere. ``z``: the difference of the *means* over its standard error
    from both spreads (a bias test that such outliers do move).
    """
    if len(ours) < 2 or len(theirs) < 2:
        raise ValueError("the noise is the spread over seeds: give at least two scores each")
    median_ours, median_theirs = statistics.median(ours), statistics.median(theirs)
    sd_ours, sd_theirs = _sd(ours), _sd(theirs)
    diff = median_theirs - median_ours
    mean_diff = statistics.fmean(theirs) - statistics.fmean(ours)
    error = math.sqrt(sd_ours**2 / len(ours) + sd_theirs**2 / len(theirs))
    z = mean_diff / error if error > 0 else (0.0 if mean_diff == 0 else math.inf)
    return {
        "median": round(median_theirs, 5),
        "mean": round(statistics.fmean(theirs), 5),
        "sd": round(sd_theirs, 5),
        "diff": round(diff, 5),
        "relative_diff": round(abs(diff) / max(abs(median_ours), 1e-12), 4),
        "within_noise": abs(diff) <= 2 * sd_ours + 1e-9,
        "z": round(z, 3) if math.isfinite(z) else z,
    }


def _summary(rows: list[dict], peer: str) -> dict[str, float | int]:
    per = [r[peer] for r in rows]
    diffs = sorted(abs(p["diff"]) for p in per)
    return {
        "images": len(per),
        "within_noise": sum(p["within_noise"] for p in per),
        "fraction_within_noise": round(sum(p["within_noise"] for p in per) / len(per), 3),
        "median_abs_diff": round(diffs[len(diffs) // 2], 5),
        "max_abs_diff": round(diffs[-1], 5),
        "mean_signed_diff": round(statistics.fmean(p["diff"] for p in per), 5),
        "median_relative_diff": round(sorted(p["relative_diff"] for p in per)[len(per) // 2], 4),
        "median_our_sd": round(sorted(r["ours"]["sd"] for r in rows)[len(rows) // 2], 5),
        "abs_z_over_2": sum(abs(p["z"]) > 2 for p in per),
        "images_with_implausible_fits": sum(p["implausible_fits"] > 0 for p in per),
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> None:
    params = load_params()
    cfg = params.clever
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.clever_peers", description=__doc__.splitlines()[0]
    )
    p.add_argument("--target", default="env1_mnist")
    p.add_argument(
        "--sets", nargs="+", default=["benign", "fgsm", "bim-a"], help="<set>_eval.pt kinds"
    )
    p.add_argument("--images", type=int, default=4, help="images per set")
    p.add_argument("--nb", type=int, default=cfg.nb_batches, help="Nb (default: params.yaml)")
    p.add_argument("--ns", type=int, default=cfg.batch_size, help="Ns (default: params.yaml)")
    p.add_argument("--seeds", type=int, default=5, help="runs per image and method (>= 2)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default=str(PROJECT_ROOT / "results" / "bench" / "clever_peers.json"))
    args = p.parse_args()
    if args.seeds < 2:
        p.error("--seeds must be >= 2: the noise is the spread of our score over the seeds")
    set_progress(False)  # one bar per image and seed would only clutter the log
    start_bench(args.threads)
    device = resolve_device(params.device)
    model = frozen_target(params, args.target, device)
    scored = scored_model(model, cfg.output)  # the stage's setting: logits or probabilities

    folder = PROJECT_ROOT / "data" / "craft" / args.target
    images: list[tuple[str, int, Tensor]] = []
    for kind in args.sets:
        example_set = load_set(folder / f"{kind}_eval.pt")
        for position in range(min(args.images, len(example_set))):
            index = int(example_set.indices[position])
            images.append((kind, index, example_set.x[position : position + 1].to(device)))
    n_classes = int(params.datasets[params.models[args.target].dataset].num_classes)
    classifier = art_classifier(scored, input_shape=images[0][2].shape[1:], nb_classes=n_classes)
    default_pool = art_default_pool_factor()
    check = same_function(scored, classifier, images[0][2], radius=cfg.radius, seed=params.seed)
    log.info("same function: %s", check)

    common = dict(nb_batches=args.nb, batch_size=args.ns, radius=cfg.radius)
    methods = {
        "ours": lambda x, seed: ours_score(
            scored,
            x,
            seed=seed,
            sampling="uniform",
            cap_at_radius=True,
            chunk_size=cfg.chunk_size,
            **common,
        ),
        "art_pool_nb": lambda x, seed: watched_art_score(
            classifier, x, seed=seed, pool_factor=args.nb, **common
        ),
        "art_pool_default": lambda x, seed: watched_art_score(
            classifier, x, seed=seed, pool_factor=default_pool, **common
        ),
    }
    seconds = dict.fromkeys(methods, 0.0)
    seconds["ours_sampling"] = 0.0  # ours without the fits: where its time goes
    rows = []
    for kind, index, x in images:
        scores: dict[str, list[float]] = {name: [] for name in methods}
        scores["ours_maxima_art_fit"] = []
        flagged = dict.fromkeys([*methods, *PEERS], 0)  # ours: fallback fits; ART: implausible
        for s in range(args.seeds):
            seed = image_seed(params.seed + s, index)
            for name, run in methods.items():
                began = time.perf_counter()
                score, flags = run(x, seed)
                seconds[name] += time.perf_counter() - began
                scores[name].append(score)
                flagged[name] += flags
            began = time.perf_counter()
            maxima = batch_maxima(
                scored, x, seed=seed, sampling="uniform", chunk_size=cfg.chunk_size, **common
            )
            seconds["ours_sampling"] += time.perf_counter() - began
            with torch.no_grad():
                outputs = scored(x)[0]
            score, flags = art_fit_score(maxima[0], outputs, radius=cfg.radius)
            scores["ours_maxima_art_fit"].append(score)
            flagged["ours_maxima_art_fit"] += flags
        row: dict[str, Any] = {
            "set": kind,
            "index": index,
            "ours": {
                "scores": [round(v, 5) for v in scores["ours"]],
                "median": round(statistics.median(scores["ours"]), 5),
                "mean": round(statistics.fmean(scores["ours"]), 5),
                "sd": round(_sd(scores["ours"]), 5),
                "fallback_fits": flagged["ours"],
            },
        }
        for name in PEERS:
            row[name] = {
                "scores": [round(v, 5) for v in scores[name]],
                **compare(scores["ours"], scores[name]),
                "implausible_fits": flagged[name],
            }
        rows.append(row)
        log.info(
            "%s %d: medians ours %.4f (sd %.4f), ART pool Nb %.4f, ART pool %d %.4f",
            kind,
            index,
            row["ours"]["median"],
            row["ours"]["sd"],
            row["art_pool_nb"]["median"],
            default_pool,
            row["art_pool_default"]["median"],
        )

    runs = len(images) * args.seeds
    per_image = {name: value / runs for name, value in seconds.items()}
    report = {
        "target": args.target,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "versions": {
            "torch": torch.__version__,
            "adversarial-robustness-toolbox": _version("adversarial-robustness-toolbox"),
        },
        "sampling": {
            "nb_batches": args.nb,
            "batch_size": args.ns,
            "radius": cfg.radius,
            "norm": 2,
            "law": "uniform in the L2 ball, clipped to the box, score capped at R (ART's)",
            "output": cfg.output,
            "chunk_size": cfg.chunk_size,
            "params_yaml": {
                "nb_batches": cfg.nb_batches,
                "batch_size": cfg.batch_size,
                "sampling": cfg.sampling,
                "cap_at_radius": cfg.cap_at_radius,
            },
        },
        "pool_factors": {"art_pool_nb": args.nb, "art_pool_default": default_pool},
        "distinct_points_per_image": {
            "ours": args.nb * args.ns,
            "art_pool_nb": (n_classes - 1) * args.nb * args.ns,
            "art_pool_default": (n_classes - 1) * default_pool * args.ns,
        },
        "images": len(images),
        "seeds": args.seeds,
        "same_function": check,
        "timing": "sum over images and seeds / runs; methods in turns per image and seed; "
        "every time includes the Weibull fits but ours_sampling (ours' batch maxima alone)",
        "seconds_per_image": {k: round(v, 3) for k, v in per_image.items()},
        "ratios": {
            "art_pool_nb_over_ours": round(per_image["art_pool_nb"] / per_image["ours"], 2),
            "art_pool_default_over_ours": round(
                per_image["art_pool_default"] / per_image["ours"], 2
            ),
        },
        "fits": "ours: fallback_fits = fits that failed the KS test (L = the sample maximum); "
        "ART's estimator (art_*, ours_maxima_art_fit): implausible_fits = fits with L <= 0 or "
        "L > 10 x the largest sampled maximum; all summed over the seeds and the K - 1 classes",
        "noise": "within_noise: |median ART - median ours| <= 2 x the sd of our score over the "
        "seeds on the same image (diff = median ART - median ours); z: the difference of the "
        "means over its standard error from both spreads",
        "agreement": {name: _summary(rows, name) for name in PEERS},
        "targets": {"art_over_ours_min": 10.0, "scores": "equal within sampling noise"},
        "scores": rows,
    }
    write_json_atomic(args.out, report)
    print(
        json.dumps(
            {
                "seconds_per_image": report["seconds_per_image"],
                "ratios": report["ratios"],
                "agreement": report["agreement"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
