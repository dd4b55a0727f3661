"""Stages `table1`, `fig2`, `fig10`: the paper's CLEVER artefacts from the `clever` stage's tables.

    python -m stages.clever_report --artefact table1 --clever results/clever --out results/tables/table1
    python -m stages.clever_report --artefact fig2 --clever results/clever --out results/figures/fig2
    python -m stages.clever_report --artefact fig10 --clever results/clever --out results/figures/fig10

Reads ``<clever>/<target>/`` for every target in ``craft.targets`` (one block or panel per
dataset) and writes the table (CSV + Markdown, paper beside ours) or figure (PNG + PDF).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from a2d.config import Params, model_config
from a2d.data.sets import set_name
from a2d.errors import DataError
from a2d.reporting import save_figure, write_table
from a2d.reporting.attack_time import score_vs_time, time_vs_iterations
from a2d.reporting.headline import table1_rows, write_headline_rows
from a2d.reporting.table1 import table1_frame
from stages._cli import parser, run
from stages.clever import TIMING_FILE

log = logging.getLogger("a2d.stages.clever_report")

ARTEFACTS = ("table1", "fig2", "fig10")


def _read(path: Path, target: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"no CLEVER output '{path}'; run the clever stage first (`dvc repro clever@{target}`)"
        )
    return pd.read_csv(path)


def _datasets(params: Params, folder: Path) -> tuple[dict[str, str], list[str]]:
    """dataset -> target for the targets (craft.targets) with clever outputs, and those without.

    A target whose folder does not exist yet is left out with a warning (and named in the
    table's notes), as Table 2 leaves out targets without costs, so that one target's artefacts
    can be rendered before another's slow stage has run. With no outputs at all it is an error.
    """
    chosen: dict[str, str] = {}
    missing: list[str] = []
    for target in params.craft.targets:
        dataset = model_config(params, target).dataset
        if not (folder / target).is_dir():
            missing.append(target)
            continue
        if dataset in chosen:
            log.warning(
                "%s and %s share dataset %s; reporting %s",
                chosen[dataset],
                target,
                dataset,
                chosen[dataset],
            )
            continue
        chosen[dataset] = target
    if not chosen:
        target = missing[0] if missing else "<target>"
        raise DataError(
            f"no CLEVER outputs in '{folder}'; run the clever stage first "
            f"(`dvc repro clever@{target}`)"
        )
    for target in missing:
        log.warning("%s: no CLEVER outputs yet, left out (`dvc repro clever@%s`)", target, target)
    return chosen, missing


def _table1(params: Params, folder: Path, out: str, headline: str | None) -> None:
    cfg = params.clever
    chosen, missing = _datasets(params, folder)
    per_dataset = {
        dataset: {
            kind: _read(folder / target / f"{set_name(kind, 'eval')}.csv", target)
            for kind in cfg.sets
        }
        for dataset, target in chosen.items()
    }
    frame = table1_frame(per_dataset, targets=cfg.targets, confidence=cfg.confidence)
    sampling = (
        f"Nb = {cfg.nb_batches}, Ns = {cfg.batch_size}, R = {cfg.radius}, sampling "
        f"'{cfg.sampling}', {'capped at R' if cfg.cap_at_radius else 'uncapped'}"
    )
    write_table(
        frame,
        out,
        title=f"Table 1: CLEVER scores, mean and {cfg.confidence:.0%} CI (ci = half-width)",
        notes=[
            f"First {cfg.n_images} images of each Env1 evaluation set; CLEVER on {cfg.output}, L2, {sampling} "
            "(paper: Nb = 500, Ns = 1024; see results/DEVIATIONS.md).",
            "lambda X = benign mean / X mean; Avg. lambda = benign mean / mean over all adversarial "
            "images. The paper's lambdas are recomputed from its printed means.",
            "Failed adversarials are kept (Env1 protocol); ours_successful = the same cell over "
            "the successful adversarials only (n_successful of them); per-image scores in "
            "results/clever/.",
            *[f"Not yet run: {t} (`dvc repro clever@{t}`)." for t in missing],
        ],
    )
    if headline:
        write_headline_rows(headline, table1_rows(frame))


def _figure(params: Params, folder: Path, out: str, artefact: str) -> None:
    panels = {
        dataset: _read(folder / target / f"{TIMING_FILE}.csv", target)
        for dataset, target in _datasets(params, folder)[0].items()
    }
    plot = score_vs_time if artefact == "fig2" else time_vs_iterations
    save_figure(plot(panels), out)


def main(args: argparse.Namespace, params: Params) -> None:
    folder = Path(args.clever)
    if args.artefact == "table1":
        _table1(params, folder, args.out, args.headline)
    else:
        _figure(params, folder, args.out, args.artefact)
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
