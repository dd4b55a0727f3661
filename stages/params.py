"""Compose ``conf/`` into ``params.yaml`` (what ``dvc exp run -S ...`` does), validated against the schema.

    python -m stages.params                       # the paper profile (the committed params.yaml)
    python -m stages.params profile=ci            # the CI profile
    python -m stages.params --check profile=ci seed=1   # validate only (make repro does this first)

A bad override (unknown group option, key typo, unknown target or dataset) is one line on stderr
and exit status 2, before DVC starts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from a2d.config import PARAMS_FILE, compose, load_params
from a2d.errors import A2DError
from a2d.utils.io import write_text_atomic

HEADER = "# Composed from conf/ (Hydra). Do not edit: change conf/ and run `make params` or `dvc exp run -S ...`.\n"


def cli() -> None:
    p = argparse.ArgumentParser(prog="python -m stages.params", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(PARAMS_FILE), help="where to write (default: params.yaml)")
    p.add_argument(
        "--check", action="store_true", help="validate the composition only; write nothing"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="Hydra overrides, e.g. profile=ci"
    )
    args = p.parse_args()
    try:
        text = HEADER + yaml.safe_dump(compose(args.overrides), sort_keys=False)
        with tempfile.TemporaryDirectory() as scratch:
            probe = Path(scratch) / "params.yaml"
            probe.write_text(text, encoding="utf-8")
            load_params(probe)  # schema and cross-field checks before anything is replaced
    except A2DError as exc:
        print(f"a2d params: error: {exc}", file=sys.stderr)
        sys.exit(2)
    if not args.check:
        write_text_atomic(args.out, text)


if __name__ == "__main__":
    cli()
