"""Stage `model`: train a target model (or import its pretrained weights) and measure its accuracy.

Outputs (paths from dvc.yaml): the weights, a metrics JSON (train/test accuracy beside the
paper's), a per-epoch history CSV (a DVC plot) and a provenance JSON.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

import torch

from a2d.config import PROJECT_ROOT, ModelConfig, Params, model_config, to_dict
from a2d.data import load_split, resolve_data_root
from a2d.errors import DataError
from a2d.models import build_model, save_weights
from a2d.models.wrapper import ClassifierWrapper
from a2d.reporting import paper_value
from a2d.training import EpochRecord, accuracy, train_model
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic, write_text_atomic
from a2d.utils.provenance import provenance
from a2d.utils.seed import seed_everything
from stages._cli import parser, run

log = logging.getLogger("a2d.stages.model")
CHECKPOINTS = PROJECT_ROOT / "data" / "checkpoints"


def _load_pretrained(model: ClassifierWrapper, cfg: ModelConfig) -> None:
    path = Path(cfg.pretrained or "")
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.is_file():
        raise DataError(
            f"pretrained weights '{path}' not found; set models.<target>.pretrained or source=train"
        )
    if cfg.pretrained_sha256 and sha256_file(path) != cfg.pretrained_sha256:
        raise DataError(
            f"pretrained weights '{path}' do not match pretrained_sha256; the file is not the expected one"
        )
    # BL3 saved a Python-2-era pickle of an OrderedDict: it needs weights_only=False and latin1.
    state = torch.load(path, map_location="cpu", weights_only=False, encoding="latin1")
    model.net.load_state_dict(state)


def main(args: argparse.Namespace, params: Params) -> None:
    cfg = model_config(params, args.target)
    dataset = params.datasets[cfg.dataset]
    device = resolve_device(params.device)
    root = resolve_data_root(params.data.root, PROJECT_ROOT)
    test = load_split(dataset.torchvision_class, root, train=False)
    limit = cfg.train.train_subset if cfg.train is not None and cfg.source == "train" else None
    train = load_split(dataset.torchvision_class, root, train=True, limit=limit)
    seed_everything(params.seed)
    norm = {"mean": dataset.mean, "std": dataset.std} if cfg.normalize else {}
    model = build_model(cfg.arch, **norm)
    began = time.perf_counter()
    history: list[EpochRecord] = []
    if cfg.source == "pretrained":
        _load_pretrained(model, cfg)
        model.to(device)
    else:
        assert cfg.train is not None  # validated by load_params
        log.info(
            "training %s (%s) on %d images for %d epochs on %s",
            args.target,
            cfg.arch,
            len(train),
            cfg.train.epochs,
            device,
        )
        history = train_model(
            model,
            train,
            cfg.train,
            seed=params.seed,
            device=device,
            test=test,
            checkpoint_dir=CHECKPOINTS / args.target,
            on_epoch=lambda r: log.info(
                "epoch %d: loss %.4f, test accuracy %.4f (%.0f s)",
                r.epoch,
                r.loss,
                r.test_accuracy or 0,
                r.seconds,
            ),
        )
    seconds = time.perf_counter() - began
    batch = cfg.train.eval_batch_size if cfg.train is not None else 1000
    test_acc = accuracy(model, test, batch_size=batch, device=device)
    train_acc = accuracy(model, train, batch_size=batch, device=device)
    _write_outputs(
        args, params, cfg, model, history, test_acc, train_acc, len(train), seconds, device
    )


def _write_outputs(
    args: argparse.Namespace,
    params: Params,
    cfg: ModelConfig,
    model: ClassifierWrapper,
    history: list[EpochRecord],
    test_acc: float,
    train_acc: float,
    n_train: int,
    seconds: float,
    device: torch.device,
) -> None:
    paper_test = paper_value("models", cfg.env, cfg.dataset, "test")
    paper_train = paper_value("models", cfg.env, cfg.dataset, "train")
    save_weights(model, args.weights)
    metrics = {
        "test_accuracy": round(test_acc, 6),
        "train_accuracy": round(train_acc, 6),
        "paper_test_accuracy": paper_test,
        "paper_train_accuracy": paper_train,
        "test_accuracy_minus_paper": None
        if paper_test is None
        else round(test_acc - paper_test, 6),
        "n_train": n_train,
        "epochs": len(history),
        "seconds": round(seconds, 1),
    }
    write_json_atomic(args.metrics, metrics)
    write_json_atomic(args.headline, {"test_accuracy": round(test_acc, 4)})
    rows = ["epoch,loss,test_accuracy,seconds"] + [
        f"{r.epoch},{r.loss:.6f},{r.test_accuracy if r.test_accuracy is not None else ''},{r.seconds:.2f}"
        for r in history
    ]
    write_text_atomic(args.history, "\n".join(rows) + "\n")
    write_json_atomic(
        args.provenance,
        provenance(
            config=to_dict(cfg),
            seed=params.seed,
            device=str(device),
            target=args.target,
            weights_sha256=sha256_file(args.weights),
            profile=params.profile,
        ),
    )
    shutil.rmtree(CHECKPOINTS / args.target, ignore_errors=True)
    log.info(
        "%s: test accuracy %.2f%% (paper %s), train accuracy %.2f%% (paper %s), %.0f s",
        args.target,
        100 * test_acc,
        "n/a" if paper_test is None else f"{100 * paper_test:.1f}%",
        100 * train_acc,
        "n/a" if paper_train is None else f"{100 * paper_train:.1f}%",
        seconds,
    )


def cli() -> None:
    p = parser("model", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="output: weights file (.pt)")
    p.add_argument("--metrics", required=True, help="output: metrics JSON")
    p.add_argument("--headline", required=True, help="output: test accuracy (DVC metric)")
    p.add_argument("--history", required=True, help="output: per-epoch history CSV")
    p.add_argument("--provenance", required=True, help="output: provenance JSON")
    args = p.parse_args()
    run("model", main, args)


if __name__ == "__main__":
    cli()
