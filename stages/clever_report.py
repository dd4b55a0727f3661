"""Stages `table1`, `fig2`, `fig10`: the paper's CLEVER artefacts from the `clever` stage's tables.

    python -m stages.clever_report --artefact table1 --clever results/clever --out results/tables/table1
    python -m stages.clever_report --artefact fig2 --clever results/clever --out results/figures/fig2
    python -m stages.clever_report --artefact fig10 --clever results/clever --out results/figures/fig10

Reads ``<clever>/<target>/`` for every target in ``clever.models`` (one block or panel per
dataset; a target not run yet is left out and named) and writes the table (CSV + Markdown,
paper beside ours) or figure (PNG + PDF). The statistics are measured by
:mod:`a2d.robustness.statistics`; :mod:`a2d.reporting` lays them out.
"""

from __future__ import annotations

import argparse
import logging

from a2d.config import Params, dataset_of
from a2d.reporting import save_figure, write_table
from a2d.reporting.attack_time import score_vs_time, time_vs_iterations
from a2d.reporting.headline import table1_rows, write_headline_rows
from a2d.reporting.table1 import table1_frame, table1_notes, table1_title
from a2d.robustness.run import (
    clever_outputs,
    read_attack_times,
    read_clever_scores,
    settings_from,
)
from a2d.robustness.statistics import spearman, table1_statistics
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.clever_report")

ARTEFACTS = ("table1", "fig2", "fig10")
FIGURES = {"fig2": (score_vs_time, "score"), "fig10": (time_vs_iterations, "cost")}
"""Figure -> (its drawing, the column whose Spearman correlation with seconds it shows)."""


def main(args: argparse.Namespace, params: Params) -> None:
    cfg = params.clever
    datasets = {t: dataset_of(params, t) for t in params.clever.models}
    chosen, missing = clever_outputs(args.clever, datasets)
    if args.artefact == "table1":
        statistics = {
            dataset: table1_statistics(
                read_clever_scores(args.clever, target, cfg.sets),
                targets=cfg.targets,
                confidence=cfg.confidence,
            )
            for dataset, target in chosen.items()
        }
        frame = table1_frame(statistics)
        notes = table1_notes(settings_from(cfg).as_dict(), n_images=cfg.n_images, missing=missing)
        write_table(frame, args.out, title=table1_title(cfg.confidence), notes=notes)
        if args.headline:
            write_headline_rows(args.headline, table1_rows(frame))
    else:
        draw, column = FIGURES[args.artefact]
        panels = {ds: read_attack_times(args.clever, t) for ds, t in chosen.items()}
        rho = {ds: spearman(frame[column], frame["seconds"]) for ds, frame in panels.items()}
        save_figure(draw(panels, rho), args.out)
    log.info("%s written to %s", args.artefact, args.out)


def cli() -> None:
    p = parser("clever_report", __doc__.splitlines()[0])
    p.add_argument("--artefact", required=True, choices=ARTEFACTS, help="which artefact to write")
    p.add_argument(
        "--clever", required=True, help="input: the clever stage's folder (results/clever)"
    )
    p.add_argument("--out", required=True, help="output path without suffix")
    p.add_argument(
        "--headline", default=None, help="output (table1): folder of headline rows (DVC metrics)"
    )
    run("clever_report", main, p.parse_args())


if __name__ == "__main__":
    cli()
