"""Stage `table4`: the paper's Table 4, robustness vs confidence of C&W-kappa examples.

Reads ``<robustness>/<target>.csv`` of every ``adaptive.targets`` (the
``adaptive_robustness`` stage), averages CLEVER score, BIM_d iterations and L2 over the
successful examples of each kappa (:func:`a2d.adaptive.table4_statistics`) and writes Table 4
beside the paper's values (``<out>.csv``/``.md``, the paper's layout on top;
:func:`a2d.reporting.adaptive.table4_frame`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from a2d.adaptive.robustness import table4_statistics
from a2d.config import Params, dataset_of
from a2d.errors import DataError
from a2d.reporting import write_table
from a2d.reporting.adaptive import table4_frame, table4_glance
from stages._cli import parser, run


def main(args: argparse.Namespace, params: Params) -> None:
    cfg = params.adaptive
    statistics = {}
    for target in cfg.targets:
        path = Path(args.robustness) / f"{target}.csv"
        if not path.is_file():
            raise DataError(f"no '{path}'; run `dvc repro adaptive_robustness@{target}` first")
        frame = pd.read_csv(path)
        statistics[dataset_of(params, target)] = table4_statistics(frame, attack=cfg.a2d.attack)
    table = table4_frame(statistics)
    write_table(
        table,
        args.out,
        title="Table 4: robustness vs confidence (kappa) of C&W-L2 adversarial examples",
        glance=table4_glance(table),
        notes=[
            f"the first {cfg.n_images} correctly classified evaluation images per target, "
            f"C&W preset {cfg.cw.preset!r} (overrides {dict(cfg.cw.overrides)}), targeted",
            f"means over the successful examples (n_success of n); iterations: {cfg.a2d.attack}_d; "
            "CLEVER: untargeted, the clever stage's sampling",
        ],
    )


def cli() -> None:
    p = parser("table4", __doc__.splitlines()[0])
    p.add_argument(
        "--robustness", required=True, help="input: the adaptive_robustness stage's folder of CSVs"
    )
    p.add_argument("--out", required=True, help="output: Table 4 without suffix (.csv, .md)")
    run("table4", main, p.parse_args())


if __name__ == "__main__":
    cli()
