"""Stage `table2`: the paper's Table 2 (AUROC of A2D and the baselines) beside the paper's values.

Reads every target's AUROC report (``auroc`` stage) and, where present, its baselines report,
and writes ``<out>.csv`` and ``<out>.md`` (paper, ours, difference, bootstrap interval, TPR at
low FPR), plus one headline row per detector under ``--headline``. The table is also printed,
so a run shows each number beside the paper's.
"""

from __future__ import annotations

import argparse
import logging

from a2d.config import Params
from a2d.errors import DataError
from a2d.reporting.headline import table2_rows, write_headline_rows
from a2d.reporting.table2 import (
    NOTES,
    TITLE,
    load_baselines,
    load_reports,
    table2_frame,
    table2_glance,
)
from a2d.reporting.tables import markdown_table, write_table
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.table2")


def main(args: argparse.Namespace, params: Params) -> None:
    reports = [r for r in load_reports(args.aurocs) if r["target"] in params.craft.targets]
    if not reports:
        raise DataError(f"no AUROC reports in '{args.aurocs}'; run `dvc repro auroc` first")
    frame = table2_frame(reports, load_baselines(args.baselines))
    glance = table2_glance(frame)
    write_table(frame, args.out, title=TITLE, notes=NOTES, glance=glance)
    write_headline_rows(args.headline, table2_rows(frame))
    log.info("Table 2, ours (paper):\n%s", markdown_table(glance))


def cli() -> None:
    p = parser("table2", __doc__.splitlines()[0])
    p.add_argument("--aurocs", required=True, help="input: folder of AUROC reports (auroc stage)")
    p.add_argument("--baselines", default=None, help="input: folder of baselines reports")
    p.add_argument("--out", required=True, help="output path without suffix (.csv and .md)")
    p.add_argument(
        "--headline", required=True, help="output: folder of headline rows (DVC metrics)"
    )
    run("table2", main, p.parse_args())


if __name__ == "__main__":
    cli()
