"""Stage `parameter_tables`: the paper's Tables 5 and 6 (crafting-attack parameters) from the config.

Reads only the config (``craft.attacks``, ``craft.targets``, ``seed`` of params.yaml) and
writes ``<table5>.csv``/``.md`` (Env1) and ``<table6>.csv``/``.md`` (Env2): every parameter
each crafting attack runs with, beside the paper's value, and whether they match
(:mod:`a2d.reporting.parameter_tables`). A parameter the paper prints that conf/ does not set
stops the stage with one line.
"""

from __future__ import annotations

import argparse
import logging

from a2d.config import Params
from a2d.reporting.parameter_tables import LAYOUTS, parameter_table
from a2d.reporting.tables import markdown_table, write_table
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.parameter_tables")


def main(args: argparse.Namespace, params: Params) -> None:
    tables = {
        "table5": parameter_table(params, "table5"),
        "table6": parameter_table(params, "table6"),
    }
    for name, (frame, glance, notes) in tables.items():
        write_table(
            frame, getattr(args, name), title=LAYOUTS[name].title, notes=notes, glance=glance
        )
        log.info("%s, ours beside the paper's:\n%s", LAYOUTS[name].title, markdown_table(glance))


def cli() -> None:
    p = parser("parameter_tables", __doc__.splitlines()[0])
    p.add_argument("--table5", required=True, help="output: Table 5 path without suffix")
    p.add_argument("--table6", required=True, help="output: Table 6 path without suffix")
    run("parameter_tables", main, p.parse_args())


if __name__ == "__main__":
    cli()
