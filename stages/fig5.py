"""Stage `fig5`: the paper's Figure 5, iterations of each attack_d on benign and adversarial inputs.

Reads one target's cost tables of the evaluation split and writes ``<out>.png`` and
``<out>.pdf``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from a2d.config import Params
from a2d.costs.tables import read_cost_tables
from a2d.errors import DataError
from a2d.reporting.fig5 import iteration_boxplots
from a2d.reporting.figures import save_figure
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.fig5")


def main(args: argparse.Namespace, params: Params) -> None:
    costs = Path(args.costs)
    tables = {
        attack: read_cost_tables(costs / attack, split="eval")
        for attack in params.costs.attacks
        if (costs / attack).is_dir()
    }
    if not tables:
        raise DataError(f"no cost tables under '{costs}'; run `dvc repro costs` first")
    for attack, sets in tables.items():
        log.info(
            "%s %s_d median iterations: %s",
            args.target,
            attack,
            ", ".join(f"{k} {frame['cost'].median():.0f}" for k, frame in sets.items()),
        )
    paths = save_figure(iteration_boxplots(tables), args.out)
    log.info("wrote %s", ", ".join(str(p) for p in paths))


def cli() -> None:
    p = parser("fig5", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--costs", required=True, help="input: results/costs/<target> (costs stage)")
    p.add_argument("--out", required=True, help="output path without suffix (.png and .pdf)")
    run("fig5", main, p.parse_args())


if __name__ == "__main__":
    cli()
