"""The costs stage: ``costs.max_inputs`` runs an attack_d on the first N inputs of every set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from a2d.config import PROJECT_ROOT
from a2d.data.sets import ExampleSet, load_set, save_set


def _sets(folder: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 28, 28, generator=generator)
    for kind in ("benign", "fgsm"):
        save_set(
            ExampleSet(
                x=x if kind == "benign" else (x + 0.3).clamp(0, 1),
                indices=torch.arange(6),
                labels=torch.zeros(6, dtype=torch.long),
                kind=kind,
                split="eval",
                success=None if kind == "benign" else torch.ones(6, dtype=torch.bool),
            ),
            folder,
        )


def _costs(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "stages.costs", "--target", "env1_mnist", "--attack", "bim",
            "--weights", str(PROJECT_ROOT / "data/models/env1_mnist.pt"),
            "--sets", str(tmp_path / "sets"), "--out", str(tmp_path / "out"),
            "--metrics", str(tmp_path / "m.json"), "costs.batch_size=8", "progress=false",
            *overrides,
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


def test_max_inputs_runs_the_first_inputs_and_a_full_run_replaces_them(tmp_path: Path) -> None:
    _sets(tmp_path / "sets")
    result = _costs(tmp_path, "costs.max_inputs.bim=2", "costs.params.mnist.bim.max_iterations=20")
    assert result.returncode == 0, result.stderr[-2000:]
    head = pd.read_csv(tmp_path / "out/benign_eval.csv")
    assert head["index"].tolist() == [0, 1]
    assert json.loads((tmp_path / "m.json").read_text())["sets"]["fgsm_eval"]["n"] == 2
    # without the cap the fingerprint differs, so the reduced tables are not reused
    result = _costs(tmp_path, "costs.params.mnist.bim.max_iterations=20")
    assert result.returncode == 0, result.stderr[-2000:]
    full = pd.read_csv(tmp_path / "out/benign_eval.csv")
    assert full["index"].tolist() == list(range(6))
    assert full["cost"].tolist()[:2] == head["cost"].tolist()


def test_eval_only_skips_the_training_pool(tmp_path: Path) -> None:
    _sets(tmp_path / "sets")
    pool = load_set(tmp_path / "sets/benign_eval.pt")
    pool.split = "train"
    save_set(pool, tmp_path / "sets")
    result = _costs(tmp_path, "costs.eval_only=[bim]", "costs.params.mnist.bim.max_iterations=5")
    assert result.returncode == 0, result.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "out").glob("*.csv"))
    assert written == ["benign_eval.csv", "fgsm_eval.csv"]
