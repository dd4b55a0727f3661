"""What every stage shares: argument parsing, logging, and one-line errors for user mistakes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from a2d.config import PROJECT_ROOT, Params, load_params
from a2d.errors import A2DError
from a2d.pipeline.timings import pieces_reused, record_stage_time
from a2d.utils.progress import set_progress


def parser(stage: str, description: str) -> argparse.ArgumentParser:
    """An argument parser whose trailing ``key=value`` words override ``params.yaml``."""
    p = argparse.ArgumentParser(prog=f"python -m stages.{stage}", description=description)
    p.add_argument(
        "--params", default=None, help="params file (default: the project's params.yaml)"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. device=cpu seed=1"
    )
    return p


def run(
    stage: str, main: Callable[[argparse.Namespace, Params], None], args: argparse.Namespace
) -> None:
    """Load and validate params, call ``main``; a user error becomes one line on stderr, exit 2."""
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {stage}: %(message)s", datefmt="%H:%M:%S"
    )
    try:
        params = load_params(args.params, args.overrides)
        set_progress(params.progress)
        began, reused = time.perf_counter(), pieces_reused()
        main(args, params)
        # DVC names the stage it runs (DVC_STAGE); a plan reads these times before a long run
        if os.environ.get("DVC_STAGE"):
            record_stage_time(
                Path(os.environ.get("DVC_ROOT", PROJECT_ROOT)),
                os.environ["DVC_STAGE"],
                time.perf_counter() - began,
                device=str(params.device),
                resumed=pieces_reused() > reused,
            )
    except A2DError as exc:
        print(f"a2d {stage}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            f"a2d {stage}: interrupted; finished chunks are kept, rerun to resume", file=sys.stderr
        )
        sys.exit(130)
