"""Stage `fig3`: the paper's Figure 3, distances between one attack_d's cost profiles of set halves.

Reads ``rq1.fig3.attack``'s cost tables of the evaluation sets (the costs stage's, and
rq1_costs' for Figure 3's extra sets), draws ``rq1.fig3.n_examples`` random inputs of each set,
halves them (:mod:`a2d.costs.profiles`) and writes the heatmap (``<out>.png``/``.pdf``), the
three averages the paper reads off it beside the paper's (``<table>.csv``/``.md``) and the
matrix (``<table>_matrix.csv``/``.md``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from a2d.config import Params
from a2d.costs.profiles import (
    distance_summary,
    profile_distances,
    read_profile_costs,
    split_halves,
)
from a2d.reporting import save_figure, write_table
from a2d.reporting.fig3 import distance_heatmap, matrix_frame, paper_distances, summary_frame
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.fig3")


def main(args: argparse.Namespace, params: Params) -> None:
    fig3 = params.rq1.fig3
    folders = [Path(args.costs) / fig3.attack, Path(args.extra_costs) / fig3.attack]
    costs = read_profile_costs(folders, fig3.sets)
    halves = split_halves(costs, n_examples=fig3.n_examples, seed=params.seed)
    distances = profile_distances(halves)
    ours = distance_summary(distances)
    log.info("%s: %s", args.target, ", ".join(f"{k} {v:.3f}" for k, v in ours.items()))
    save_figure(distance_heatmap(distances), args.out)
    n = {kind: min(fig3.n_examples, len(frame)) for kind, frame in costs.items()}
    write_table(
        summary_frame(ours, distance_summary(paper_distances())),
        args.table,
        title=f"Figure 3 ({args.target}): mean normalised distances between {fig3.attack}_d profiles",
        notes=[f"inputs drawn per set (seed {params.seed}), then halved: {n}"],
    )
    write_table(matrix_frame(distances), f"{args.table}_matrix", title="Figure 3 matrix")


def cli() -> None:
    p = parser("fig3", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--costs", required=True, help="input: results/costs/<target> (costs stage)")
    p.add_argument("--extra-costs", required=True, help="input: rq1_costs' folder of cost tables")
    p.add_argument("--out", required=True, help="output: figure path without suffix")
    p.add_argument("--table", required=True, help="output: table path without suffix")
    run("fig3", main, p.parse_args())


if __name__ == "__main__":
    cli()
