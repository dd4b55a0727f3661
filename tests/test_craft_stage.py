"""The craft stage on CIFAR-10: the same stage as MNIST, switched by config (a smoke run on real images)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from a2d.config import PROJECT_ROOT
from a2d.data.sets import load_set

from .conftest import skip_or_fail

pytestmark = pytest.mark.needs_data

# a few images and cheap attack settings: this checks the wiring, not the paper's numbers
CIFAR_SMOKE = [
    "sets.n_eval=3",
    "sets.n_train=2",
    "device=cpu",
    "progress=false",
    "craft.attacks.env1_cifar10.jsma.gamma=0.01",
    "craft.attacks.env1_cifar10.cw.steps=20",
    "craft.attacks.env1_cifar10.cw.binary_search_steps=1",
    "craft.train_subset.cw=1",
]


def test_craft_stage_runs_on_cifar10_by_config_switch(data_root: Path, tmp_path: Path) -> None:
    if not (data_root / "cifar-10-batches-py").is_dir():
        skip_or_fail("CIFAR-10 not under the data root")
    out, metrics = tmp_path / "sets", tmp_path / "craft.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.craft",
            "--target",
            "env1_cifar10",
            "--weights",
            str(PROJECT_ROOT / "data/models/env1_cifar10.pt"),
            "--out",
            str(out),
            "--metrics",
            str(metrics),
            *CIFAR_SMOKE,
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "A2D_DATA_ROOT": str(data_root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sets = json.loads(metrics.read_text())["sets"]
    assert set(sets) == {
        f"{a}_{s}" for a in ("fgsm", "bim-a", "jsma", "cw") for s in ("eval", "train")
    }
    fgsm = load_set(out / "fgsm_eval.pt")
    benign = load_set(out / "benign_eval.pt")
    assert fgsm.x.shape == (3, 3, 32, 32) and fgsm.indices.tolist() == benign.indices.tolist()
    assert sets["fgsm_eval"]["mean_linf"] == pytest.approx(0.05, abs=1e-4)  # CIFAR eps, not MNIST's
    # craft.train_subset: C&W's training pool is its first image only, paired with the benign one
    cw_train, pool = load_set(out / "cw_train.pt"), load_set(out / "benign_train.pt")
    assert len(cw_train) == 1 and cw_train.indices.tolist() == pool.indices[:1].tolist()
    assert len(load_set(out / "cw_eval.pt")) == 3
    jsma = load_set(out / "jsma_eval.pt")
    changed = (jsma.x != benign.x).reshape(3, -1).sum(1)
    assert (changed <= 2 * int(3072 * 0.01 / 2)).all()  # each channel is a feature


def test_only_crafts_the_named_sets(data_root: Path, tmp_path: Path) -> None:
    out, metrics = tmp_path / "sets", tmp_path / "craft.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "stages.craft", "--target", "env1_mnist",
            "--weights", str(PROJECT_ROOT / "data/models/env1_mnist.pt"),
            "--out", str(out), "--metrics", str(metrics), "--only", "fgsm_eval",
            "sets.n_eval=3", "sets.n_train=2", "device=cpu", "progress=false",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "A2D_DATA_ROOT": str(data_root)},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.stem for p in out.glob("*.pt")) == ["benign_eval", "benign_train", "fgsm_eval"]
    assert set(json.loads(metrics.read_text())["sets"]) == {"fgsm_eval"}
