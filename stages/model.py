"""Stage `model`: train a target model (or import its pretrained weights) and measure its accuracy.

Outputs (paths from dvc.yaml): the weights, a metrics JSON (train/test accuracy beside the
paper's), a per-epoch history CSV (a DVC plot) and a provenance JSON. The work is
:func:`a2d.training.fit_target`; training keeps a per-epoch checkpoint in
``data/checkpoints/<target>`` (removed once training ends), so a killed run resumes.
"""

from __future__ import annotations

import argparse
import logging

from a2d.config import PROJECT_ROOT, Params, target_config, to_dict
from a2d.data import resolve_data_root
from a2d.models import save_weights
from a2d.reporting import paper_value
from a2d.training import fit_target
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic, write_text_atomic
from a2d.utils.provenance import provenance
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.model")
CHECKPOINTS = PROJECT_ROOT / "data" / "checkpoints"


def main(args: argparse.Namespace, params: Params) -> None:
    cfg = target_config(params, args.target)
    device = resolve_device(params.device)
    fitted = fit_target(
        cfg,
        params.datasets[cfg.dataset],
        data_root=resolve_data_root(params.data.root, PROJECT_ROOT),
        seed=params.seed,
        device=device,
        pretrained_root=PROJECT_ROOT,
        checkpoint_dir=CHECKPOINTS / args.target,
    )
    test, train = (paper_value("models", cfg.env, cfg.dataset, s) for s in ("test", "train"))
    metrics = fitted.metrics(paper_test=test, paper_train=train)
    save_weights(fitted.model, args.weights)
    write_json_atomic(args.metrics, metrics)
    write_json_atomic(args.headline, {"test_accuracy": round(fitted.test_accuracy, 4)})
    write_text_atomic(args.history, fitted.history_csv())
    about = {"target": args.target, "profile": params.profile}
    record = provenance(config=to_dict(cfg), seed=params.seed, device=str(device), **about)
    write_json_atomic(args.provenance, {**record, "weights_sha256": sha256_file(args.weights)})
    log.info("%s: %s", args.target, metrics)


def cli() -> None:
    p = parser("model", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="output: weights file (.pt)")
    p.add_argument("--metrics", required=True, help="output: metrics JSON")
    p.add_argument("--headline", required=True, help="output: test accuracy (DVC metric)")
    p.add_argument("--history", required=True, help="output: per-epoch history CSV")
    p.add_argument("--provenance", required=True, help="output: provenance JSON")
    run("model", main, p.parse_args())


if __name__ == "__main__":
    cli()
