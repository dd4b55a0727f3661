"""The three commands: ``costs``, ``fit`` and ``flag``, each a thin call into the library.

Every cost goes through :class:`a2d.AttackAsDefense` (``attack_costs``, ``fit_costs``,
``predict``), hence through :class:`a2d.costs.suite.CostSuite`, the one cost path the pipeline's
``costs`` stage uses: the command line adds reading files, checks with one-line errors, and
printing. Each command returns its exit status.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

import numpy as np
from torch import nn

from a2d.cli.inputs import Inputs, load_inputs
from a2d.cli.model import check_model, load_model
from a2d.cli.options import attack_specs, bounds_option, device_option
from a2d.cli.output import (
    check_out,
    cost_summary,
    costs_frame,
    format_table,
    percent,
    print_json,
    stderr,
    write_csv,
)
from a2d.costs.suite import wrap_model
from a2d.detectors.attack_as_defense import AttackAsDefense
from a2d.errors import ConfigError, DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.utils.progress import set_progress
from a2d.utils.seed import seed_everything

SUMMARY_COLUMNS = {
    "attack": "attack_d",
    "cap": "cap",
    "mean_cost": "mean cost",
    "median_cost": "median cost",
    "success_rate": "success",
    "mean_queries": "mean queries",
}


def run_costs(args: argparse.Namespace) -> int:
    """``a2d costs``: the cost of every input under each attack_d, as a table, CSV or JSON."""
    detector, inputs = _detector_and_inputs(args, args.inputs)
    costs = detector.attack_costs(inputs.x, ids=inputs.ids)
    frame = costs_frame(costs, inputs.ids.tolist(), inputs.names)
    if args.out:
        write_csv(frame, args.out)
    summary = cost_summary(costs)
    if args.json:
        print_json(
            {
                "command": "costs",
                "inputs": inputs.source,
                "n": len(costs),
                "attacks": list(costs.attacks),
                "caps": list(costs.caps),
                "ids": inputs.ids.tolist(),
                "names": inputs.names,
                "label": costs.label,
                "cost": costs.cost,
                "queries": costs.queries,
                "success": costs.success,
                "summary": summary,
                "out": args.out,
            }
        )
        return 0
    print(f"a2d costs: {len(costs)} input(s) from {inputs.source}, model {args.model}")
    print(format_table(_formatted(summary), SUMMARY_COLUMNS))
    if args.out:
        print(f"per-input costs written to {args.out}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    """``a2d fit``: attack benign (and for K-NN adversarial) inputs, fit, calibrate, save."""
    if args.detector == "zscore" and args.adversarial:
        raise ConfigError(
            "the zscore detector is fitted on benign inputs only; drop --adversarial or use "
            "--detector knn"
        )
    if args.detector == "knn" and not args.adversarial:
        raise ConfigError(
            "--detector knn learns from adversarial inputs too; add --adversarial FILE"
        )
    if args.fpr is not None and not 0 <= args.fpr < 1:
        raise ConfigError(f"--fpr {args.fpr:g}: give a fraction in [0, 1), e.g. --fpr 0.05")
    n_attacks = len([name for name in args.attacks.split(",") if name.strip()])
    if args.k is not None and args.k > n_attacks:
        raise ConfigError(f"--k {args.k} but --attacks names {n_attacks} attack(s)_d; k <= n")
    if args.holdout and args.fpr is None:
        raise ConfigError("--holdout calibrates the threshold to --fpr; add e.g. --fpr 0.05")
    detector, benign = _detector_and_inputs(
        args,
        args.benign,
        detector=args.detector,
        n_neighbors=args.n_neighbors,
        threshold=args.threshold,
        k=args.k,
        fpr=args.fpr if not args.holdout else None,
    )
    bounds = bounds_option(args)
    benign_costs = detector.attack_costs(benign.x, ids=benign.ids)
    adversarial_costs = None
    if args.adversarial:
        adversarial = load_inputs(args.adversarial, bounds=bounds, channels=args.channels)
        adversarial_costs = detector.attack_costs(adversarial.x, ids=adversarial.ids)
    detector.fit_costs(benign_costs, adversarial_costs)
    if args.holdout:
        holdout = load_inputs(args.holdout, bounds=bounds, channels=args.channels)
        detector.calibrate_costs(detector.attack_costs(holdout.x, ids=holdout.ids), fpr=args.fpr)
    detector.save(args.out)
    flagged = float(np.mean(detector.predict_costs(benign_costs)))
    report: dict[str, Any] = {
        "command": "fit",
        "detector": args.out,
        "kind": args.detector,
        "attacks": list(detector.attack_specs_),
        "attack_settings": detector.attack_specs_,
        "n_benign": len(benign_costs),
        "n_adversarial": None if adversarial_costs is None else len(adversarial_costs),
        "threshold": detector.threshold_,
        "fpr": detector.fpr_,
        "k": detector.k_,
        "benign_train_flagged": flagged,
        "cost_thresholds": detector.cost_thresholds_ if args.detector == "zscore" else None,
        "summary": cost_summary(benign_costs),
    }
    if args.json:
        print_json(report)
        return 0
    print(
        f"a2d fit: {args.detector} detector on {len(benign_costs)} benign input(s)"
        + ("" if adversarial_costs is None else f" and {len(adversarial_costs)} adversarial")
        + f", attacks_d {', '.join(report['attacks'])}; saved to {args.out}"
    )
    print(
        f"threshold {detector.threshold_:.4g}; flags {percent(flagged)} of the benign training inputs"
    )
    if report["cost_thresholds"]:
        print("an input is cheap (z < h) on an attack_d below its cost threshold:")
        print(
            format_table(
                [{"attack": a, "t": t} for a, t in report["cost_thresholds"].items()],
                {"attack": "attack_d", "t": "cost threshold"},
            )
        )
    return 0


def run_flag(args: argparse.Namespace) -> int:
    """``a2d flag``: flag inputs with a saved detector; a summary table, per-input CSV or JSON."""
    _start(args)
    device = device_option(args.device)
    net = load_model(args.model, device=device, weights=args.weights)
    detector = _load_detector(args.detector, net)
    if args.batch_size is not None:
        detector.set_params(batch_size=args.batch_size)
    if args.fixed_rows is not None:
        detector.set_params(fixed_rows=args.fixed_rows)
    wrapped = detector.model_
    assert isinstance(wrapped, ClassifierWrapper)  # load() with a model always wraps it
    bounds = (float(wrapped.bounds[0]), float(wrapped.bounds[1]))
    inputs = load_inputs(args.inputs, bounds=bounds, channels=args.channels)
    check_model(wrapped, inputs)
    result = detector.predict(inputs.x, ids=inputs.ids)
    frame = costs_frame(result.costs, inputs.ids.tolist(), inputs.names)
    frame.insert(1 if inputs.names is None else 2, "flag", result.flags)
    frame.insert(2 if inputs.names is None else 3, "score", result.scores)
    if args.out:
        write_csv(frame, args.out)
    summary = cost_summary(result.costs, result.flags)
    n, flagged = len(result), int(result.flags.sum())
    if args.json:
        print_json(
            {
                "command": "flag",
                "inputs": inputs.source,
                "detector": args.detector,
                "n": n,
                "flagged": flagged,
                "threshold": result.threshold,
                "attacks": list(result.costs.attacks),
                "summary": summary,
                "rows": frame.to_dict(orient="records"),
                "out": args.out,
            }
        )
        return 0
    print(
        f"a2d flag: {flagged} of {n} input(s) flagged adversarial ({percent(flagged / n)}), "
        f"threshold {result.threshold:.4g}, detector {args.detector}"
    )
    columns = {
        **SUMMARY_COLUMNS,
        "mean_cost_flagged": "mean cost, flagged",
        "mean_cost_unflagged": "mean cost, not flagged",
    }
    print(format_table(_formatted(summary), columns))
    if args.out:
        print(f"per-input flags, scores and costs written to {args.out}")
    return 0


# ------------------------------------------------------------------------------------------------
# shared steps


def _start(args: argparse.Namespace) -> None:
    """Progress bars only on a terminal (never in pipes, logs or --json runs); seed everything."""
    on_terminal = sys.stdout.isatty() and sys.stderr.isatty()
    set_progress(on_terminal and not args.no_progress and not args.json)
    seed_everything(getattr(args, "seed", 0))
    if args.out:  # a path that cannot be written fails now, not after the attacks
        check_out(args.out)


def _detector_and_inputs(
    args: argparse.Namespace, path: str, **detector_options: Any
) -> tuple[AttackAsDefense, Inputs]:
    """Check the settings first (fast), then load the model and inputs and build the detector."""
    _start(args)
    device = device_option(args.device)
    bounds = bounds_option(args)
    specs = attack_specs(args)
    if (args.mean is None) != (args.std is None):
        raise ConfigError(
            "--mean and --std go together; give both (one value per channel) or neither"
        )
    net = load_model(args.model, device=device, weights=args.weights)
    inputs = load_inputs(path, bounds=bounds, channels=args.channels)
    check_model(wrap_model(net, bounds=bounds, mean=args.mean, std=args.std), inputs)
    detector = AttackAsDefense(
        net,
        attacks=specs,
        dataset=args.dataset,
        bounds=bounds,
        mean=args.mean,
        std=args.std,
        batch_size=args.batch_size,
        fixed_rows=args.fixed_rows,
        **detector_options,
    )
    return detector, inputs


def _load_detector(path: str, net: nn.Module) -> AttackAsDefense:
    """:meth:`AttackAsDefense.load`, a damaged file as one line, its warnings as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            detector = AttackAsDefense.load(path, net)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise DataError(
                f"'{path}' is a damaged saved detector ({type(exc).__name__}: {exc}); fit it "
                "again with `a2d fit ... --out FILE`"
            ) from None
    for warning in caught:
        stderr(f"a2d flag: warning: {warning.message}")
    return detector


def _formatted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Success rates as percentages for people (JSON keeps the fractions)."""
    return [{**row, "success_rate": percent(row["success_rate"])} for row in rows]
