"""Stage `adaptive_grid`: one image grid of C&W-kappa examples (paper Figures 8, 11, and 12-13).

Crafts (or reuses) every cell of ``adaptive.grids.<grid>`` on its model
(:func:`a2d.adaptive.grids.craft_grid`: the first correctly classified benign image of each
source class, attacked towards each target class at each kappa, with ``adaptive.cw``'s C&W),
keeping each kappa's examples in ``<out>/k<kappa>.pt``, then draws the grid with the L2 of
every example in its title (:func:`a2d.reporting.adaptive.grid_figure`) and writes one table
row per cell, the per-kappa L2 summary on top.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from a2d.adaptive.grids import craft_grid
from a2d.config import Params, adaptive_grid
from a2d.data.sets import load_set
from a2d.reporting import save_figure, write_table
from a2d.reporting.adaptive import grid_figure, grid_summary
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file
from stages._cli import parser, run
from stages._common import load_target_model


def main(args: argparse.Namespace, params: Params) -> None:
    spec = adaptive_grid(params, args.grid)
    model = load_target_model(params, spec.model, args.weights, resolve_device(params.device))
    grid = craft_grid(
        model,
        load_set(Path(args.sets) / "benign_eval.pt"),
        spec,
        cw=params.adaptive.cw,
        out=args.out,
        model_hash=sha256_file(args.weights),
    )
    title = f"{args.grid}: C&W on {spec.model}, κ {', '.join(f'{k:g}' for k in spec.kappas)}"
    save_figure(grid_figure(grid, title=title), args.figure)
    write_table(
        grid.frame(),
        args.table,
        title=title,
        glance=grid_summary(grid),
        notes=[f"layout {spec.layout}; sources: the first correctly classified image per class"],
    )


def cli() -> None:
    p = parser("adaptive_grid", __doc__.splitlines()[0])
    p.add_argument("--grid", required=True, help="a grid of adaptive.grids, e.g. fig8")
    p.add_argument("--weights", required=True, help="input: the attacked model's weights")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument("--out", required=True, help="output folder: the grid's examples per kappa")
    p.add_argument("--figure", required=True, help="output: the grid without suffix (.png, .pdf)")
    p.add_argument("--table", required=True, help="output: its cells without suffix (.csv, .md)")
    run("adaptive_grid", main, p.parse_args())


if __name__ == "__main__":
    cli()
