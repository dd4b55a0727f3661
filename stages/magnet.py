"""Stage `magnet`: MagNet's autoencoder detector on MNIST, the "AE" of the paper's Figure 7a.

Trains MagNet's autoencoders (``adaptive.magnet``: AE-I and AE-II, denoising, Adam) on the
training images after the first ``n_validation``, which set each detector's threshold at
``fpr`` (:func:`a2d.baselines.magnet.fit_magnet_config`), resumable per epoch from
``data/checkpoints/magnet_<dataset>``. Writes the fitted detector
(:func:`a2d.baselines.magnet.save_magnet`) and a metrics JSON: thresholds, validation and
test-set false-positive rates (:func:`a2d.baselines.magnet.magnet_summary`).
"""

from __future__ import annotations

import argparse
import logging

from a2d.baselines.magnet import fit_magnet_config, magnet_summary, save_magnet
from a2d.config import PROJECT_ROOT, Params
from a2d.data import load_split
from a2d.utils.device import resolve_device
from a2d.utils.io import write_json_atomic
from stages._cli import parser, run
from stages._common import data_root

log = logging.getLogger("a2d.stages.magnet")


def main(args: argparse.Namespace, params: Params) -> None:
    cfg = params.adaptive.magnet
    source = params.datasets[cfg.dataset].torchvision_class
    train = load_split(source, data_root(params), train=True, limit=cfg.train.train_subset)
    detector = fit_magnet_config(
        train,
        cfg,
        seed=params.seed,
        device=resolve_device(params.device),
        checkpoint_dir=PROJECT_ROOT / "data" / "checkpoints" / f"magnet_{cfg.dataset}",
    )
    save_magnet(detector, args.out)
    summary = magnet_summary(detector, load_split(source, data_root(params), train=False).x)
    write_json_atomic(
        args.metrics,
        {"dataset": cfg.dataset, "n_train": len(train) - cfg.n_validation,
         "epochs": cfg.train.epochs, **summary},
    )  # fmt: skip
    log.info("MagNet (%s): test FPR %.4f", cfg.dataset, summary["test_fpr"])


def cli() -> None:
    p = parser("magnet", __doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output: the fitted detector (.pt)")
    p.add_argument("--metrics", required=True, help="output: thresholds and FPRs (JSON)")
    run("magnet", main, p.parse_args())


if __name__ == "__main__":
    cli()
