"""Stage `fig4`: the paper's Figure 4, attack time of the eight attacks_d on benign and adversarial inputs.

Reads the rq1_time stage's tables (:func:`a2d.costs.comparison.read_times`) and writes the box
plots (``<out>.png``/``.pdf``) and the numbers behind them (``<table>.csv``/``.md``): per
attack_d and adversarial set, median times, their ratio, AUROCs of time and cost, failure rates
(:func:`a2d.costs.comparison.separation`).
"""

from __future__ import annotations

import argparse
import logging

from a2d.config import Params
from a2d.costs.comparison import PROTOCOL, read_times, separation
from a2d.reporting import save_figure, write_table
from a2d.reporting.fig4 import separation_table, time_boxplots
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.fig4")


def main(args: argparse.Namespace, params: Params) -> None:
    fig4 = params.rq1.fig4
    tables = read_times(args.times, fig4.attacks, fig4.sets)
    save_figure(time_boxplots(tables), args.out)
    sizes = {attack: len(sets[fig4.sets[0]]) for attack, sets in tables.items()}
    write_table(
        separation_table(separation(tables)),
        args.table,
        title=f"Figure 4 ({args.target}): attack time of benign vs adversarial inputs",
        notes=[
            f"each input attacked alone ({PROTOCOL}); inputs per set: {sizes}",
            "auroc_*: benign vs the set with score = -seconds (-cost); 0.5 = no difference",
        ],
    )
    log.info("%s: Figure 4 written to %s", args.target, args.out)


def cli() -> None:
    p = parser("fig4", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--times", required=True, help="input: the rq1_time stage's folder")
    p.add_argument("--out", required=True, help="output: figure path without suffix")
    p.add_argument("--table", required=True, help="output: table path without suffix")
    run("fig4", main, p.parse_args())


if __name__ == "__main__":
    cli()
