"""Compose ``conf/`` into ``params.yaml`` (what ``dvc exp run -S ...`` does), for ``dvc repro`` users.

python -m stages.params                 # the paper profile (the committed params.yaml)
python -m stages.params profile=ci      # the CI profile
python -m stages.params profile=ci seed=1 --out /tmp/params.yaml
"""

from __future__ import annotations

import argparse
import sys

import yaml

from a2d.config import PARAMS_FILE, compose
from a2d.errors import A2DError
from a2d.utils.io import write_text_atomic

HEADER = "# Composed from conf/ (Hydra). Do not edit: change conf/ and run `make params` or `dvc exp run -S ...`.\n"


def cli() -> None:
    p = argparse.ArgumentParser(prog="python -m stages.params", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(PARAMS_FILE), help="where to write (default: params.yaml)")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="Hydra overrides, e.g. profile=ci"
    )
    args = p.parse_args()
    try:
        composed = compose(args.overrides)
    except A2DError as exc:
        print(f"a2d params: error: {exc}", file=sys.stderr)
        sys.exit(2)
    write_text_atomic(args.out, HEADER + yaml.safe_dump(composed, sort_keys=False))


if __name__ == "__main__":
    cli()
