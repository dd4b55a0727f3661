"""The ``a2d`` command line: Attack as Defense on your own model, without writing Python.

Three subcommands, each a thin layer over :class:`a2d.AttackAsDefense` (the same cost path as
the pipeline's ``costs`` stage)::

    a2d costs INPUTS --model M --bounds LO HI ...      # the attack costs of every input
    a2d fit BENIGN --model M --bounds LO HI --out D    # fit a detector on benign inputs, save it
    a2d flag INPUTS --model M --detector D             # flag inputs with a saved detector

Exit status: 0 done; 1 a run-time failure (the traceback with ``--debug``); 2 a usage error or
bad input (one line on stderr naming what was wrong and what to do); 130 interrupted.
Installed as the ``a2d`` script; ``python -m a2d`` is the same.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from a2d import __version__
from a2d.config import COST_ATTACK_NAMES  # names only: no torch before a command runs
from a2d.errors import A2DError, error_line

PROG = "a2d"
USAGE_ERRORS = (A2DError, ValueError, FileNotFoundError)
"""Exit status 2: a2d's own user errors, and the ValueErrors the library raises for bad
arguments or inputs (a missing file included). Anything else is a run-time failure (1)."""

EXAMPLES = """\
examples:
  # the attack costs of a tensor file, paper settings for MNIST, two attacks_d
  a2d costs x.pt --model net.ts --bounds 0 1 --dataset mnist --attacks bim,jsma

  # fit a Z-score detector on benign inputs of your own network and save it
  a2d fit benign.pt --model mynets:build_net --weights net.pt --bounds 0 1 \\
      --dataset mnist --out detector.json

  # flag a folder of images, JSON for scripts
  a2d flag suspicious/ --model mynets:build_net --weights net.pt --detector detector.json --json

  # the same costs as Ray tasks of 512 inputs each on the cluster this machine joined
  a2d costs x.pt --model net.ts --bounds 0 1 --dataset mnist --ray auto --shard-size 512

exit status: 0 done, 1 run-time failure, 2 usage error or bad input, 130 interrupted
"""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line on stderr (exit 2) that points to --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``a2d`` parser and its three subcommands."""
    parser = _Parser(
        prog=PROG,
        description=(
            "Attack as Defense (Zhao et al., ISSTA 2021) on your own PyTorch model: adversarial "
            "inputs are cheaper to attack than benign ones, so a2d attacks every input, "
            "records the cost, and flags the cheap ones."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"a2d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    common = _Parser(add_help=False)
    group = common.add_argument_group("model and run")
    group.add_argument(
        "--model",
        required=True,
        help="a TorchScript file (torch.jit.save) or module:factory (or path/file.py:factory), "
        "a no-argument callable returning an nn.Module that maps (N, C, H, W) to logits",
    )
    group.add_argument("--weights", help="state_dict file to load into a module:factory model")
    group.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)",
    )
    group.add_argument(
        "--batch-size",
        type=_positive_int,
        help="inputs each attack keeps active at once (default: all)",
    )
    group.add_argument(
        "--fixed-rows",
        type=_positive_int,
        metavar="K",
        help="call the model with exactly K rows every time (e.g. 16), so costs are "
        "byte-identical with or without --ray and whatever the shard size",
    )
    group.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        help="image folders: 1 (grey) or 3 (RGB); default 1 if every image is grey, else 3",
    )
    group.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    group.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (they are already off when stdout or stderr is not a terminal)",
    )
    group.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    group = common.add_argument_group("scale-out (optional: pip install 'a2d[ray]')")
    group.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="attack the inputs in shards, as Ray tasks (one GPU each where the cluster has "
        "GPUs): local (a cluster on this machine), auto (the cluster `ray start` joined) or "
        "ray://HEAD:10001; the results are those of a run without it",
    )
    group.add_argument(
        "--shard-size",
        type=_positive_int,
        default=256,
        help="with --ray: inputs per task (default 256)",
    )

    attacking = _Parser(add_help=False)
    group = attacking.add_argument_group("attacks_d and the model's inputs")
    group.add_argument(
        "--bounds",
        nargs=2,
        type=float,
        required=True,
        metavar=("LO", "HI"),
        help="the input box the model expects, e.g. 0 1 or 0 255 (declared, never guessed); "
        "images are scaled into it",
    )
    group.add_argument(
        "--mean",
        nargs="+",
        type=float,
        help="per-channel mean the model subtracts (inside a2d's wrapper)",
    )
    group.add_argument("--std", nargs="+", type=float, help="per-channel std, with --mean")
    group.add_argument(
        "--attacks",
        default="bim",
        help=f"comma-separated attacks_d: {', '.join(COST_ATTACK_NAMES)} (default bim, BIM_d, "
        "the paper's best single attack_d; its END detector combines bim,bim2,jsma,dba)",
    )
    group.add_argument(
        "--dataset",
        help="use the paper's attack_d settings for this dataset (mnist, cifar10: costs.params "
        "in params.yaml); without it every attack_d needs --param settings",
    )
    group.add_argument(
        "--param",
        action="append",
        metavar="ATTACK.KEY=VALUE",
        help="set an attack_d hyperparameter, e.g. bim.epsilon=0.05 (repeatable; on top of "
        "--dataset's values)",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="seeds torch, numpy and random attacks_d (default 0)"
    )

    costs = sub.add_parser(
        "costs",
        parents=[common, attacking],
        help="measure the attack costs of inputs",
        description="Attack every input with each attack_d and print the cost summary; "
        "--out writes one row per input (id, label, cost, queries, success per attack_d).",
        epilog="example:\n  a2d costs x.pt --model net.ts --bounds 0 1 --dataset mnist "
        "--attacks bim,jsma --out costs.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    costs.add_argument("inputs", help=_INPUTS_HELP)
    costs.add_argument("--out", help="write the per-input costs to this CSV file")
    costs.set_defaults(run="costs", parser=costs)

    fit = sub.add_parser(
        "fit",
        parents=[common, attacking],
        help="fit a detector on benign inputs and save it",
        description="Attack benign inputs (and, for --detector knn, adversarial ones), fit the "
        "detector on their costs and save it as JSON (AttackAsDefense.save; the model is not "
        "saved: give the same one to `a2d flag`).",
        epilog="examples:\n  a2d fit benign.pt --model mynets:build_net --weights net.pt "
        "--bounds 0 1 --dataset mnist --out detector.json\n"
        "  a2d fit benign.pt --holdout heldout.pt --fpr 0.05 ...   # flag at most 5% of "
        "held-out benign inputs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("benign", help="benign training inputs: " + _INPUTS_HELP)
    fit.add_argument("--out", required=True, help="where to save the detector (JSON)")
    fit.add_argument(
        "--detector",
        choices=("zscore", "knn"),
        default="zscore",
        help="default zscore (benign only)",
    )
    fit.add_argument("--adversarial", help="adversarial training inputs (knn only)")
    fit.add_argument(
        "--threshold", type=float, default=-1.281552, help="z-score threshold h (default -1.281552)"
    )
    fit.add_argument("--k", type=_positive_int, help="zscore: benign if k of n attacks_d say so")
    fit.add_argument("--n-neighbors", type=_positive_int, default=100, help="knn: K (default 100)")
    fit.add_argument(
        "--fpr",
        type=float,
        help="calibrate the threshold to flag at most this fraction of benign inputs "
        "(--holdout's, else the training ones)",
    )
    fit.add_argument("--holdout", help="held-out benign inputs to calibrate --fpr on")
    fit.set_defaults(run="fit", parser=fit)

    flag = sub.add_parser(
        "flag",
        parents=[common],
        help="flag inputs with a saved detector",
        description="Attack every input with the saved detector's attacks_d and settings, "
        "flag the cheap ones and print a summary; --out writes one row per input. Bounds and "
        "normalisation come from the saved detector.",
        epilog="example:\n  a2d flag suspicious/ --model net.ts --detector detector.json "
        "--out flags.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flag.add_argument("inputs", help=_INPUTS_HELP)
    flag.add_argument("--detector", required=True, help="a detector saved by `a2d fit`")
    flag.add_argument("--out", help="write per-input flags, scores and costs to this CSV file")
    flag.set_defaults(run="flag", parser=flag)
    return parser


_INPUTS_HELP = (
    "a .pt file of one (N, C, H, W) float tensor, an a2d example set, a .npy array, or a "
    "folder of images"
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``a2d`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # name the subcommand in the message, as its own parser would
            (args.parser if getattr(args, "parser", None) else parser).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
    except SystemExit as exit_:  # --help, --version, usage errors
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format=f"{PROG} {args.command}: %(message)s")
    prefix = f"{PROG} {args.command}"
    try:
        # torch and the library load only now: `a2d --help` stays fast
        from a2d.cli import commands
        from a2d.cli.options import shards_option
        from a2d.pipeline.shards import open_runner, sharded

        run = {"costs": commands.run_costs, "fit": commands.run_fit, "flag": commands.run_flag}
        with open_runner(shards_option(args), device=args.device) as runner, sharded(runner):
            return int(run[args.run](args))
    except BrokenPipeError:  # `a2d ... | head`: the reader left; say nothing more on stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, USAGE_ERRORS):
            print(f"{prefix}: error: {error_line(exc)}", file=sys.stderr)
            return 2
        print(
            f"{prefix}: failed: {type(exc).__name__}: {error_line(exc)} (rerun with --debug "
            "for the traceback)",
            file=sys.stderr,
        )
        return 1


__all__ = ["build_parser", "error_line", "main"]
