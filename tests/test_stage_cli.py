"""Stage entry points: user mistakes end in one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from a2d.config import PROJECT_ROOT, load_params


def _model_stage_from_dvc_yaml() -> list[str]:
    """The model stage's command as dvc.yaml runs it, with every output path moved into tmp.

    Read from dvc.yaml so a new stage argument cannot leave this test calling a stale command.
    """
    stage = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]["model"]
    words = stage["do"]["cmd"].replace("${item}", "env1_mnist").split()
    assert words[:3] == ["python", "-m", "stages.model"], words
    argv = [sys.executable, *words[1:]]
    for i, word in enumerate(argv[:-1]):
        if word.startswith("--") and word != "--target":
            argv[i + 1] = "{tmp}/" + Path(argv[i + 1]).name
    return argv


MODEL_STAGE = _model_stage_from_dvc_yaml()


def _run(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "A2D_PROGRESS": "0", **(env or {})}
    argv = [a.format(tmp=tmp_path) for a in args]
    return subprocess.run(
        argv, cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


CASES = [
    (
        "wrong dataset name",
        ["models.env1_mnist.dataset=mnst"],
        {},
        r"models.env1_mnist.dataset='mnst' is not a known dataset \(did you mean 'mnist'\?\)",
    ),
    (
        "typo in an override",
        ["models.env1_mnist.train.epohcs=3"],
        {},
        r"Key 'epohcs' not in 'TrainConfig'",
    ),
    (
        "wrong data root",
        [],
        {"A2D_DATA_ROOT": "/nonexistent/a2d-data"},
        r"data root '/nonexistent/a2d-data' has no readable MNIST .*set A2D_DATA_ROOT=",
    ),
    (
        "wrong data root in config",
        ["data.root=/nonexistent/cfg-root"],
        {"A2D_DATA_ROOT": ""},
        r"data root '/nonexistent/cfg-root' has no readable MNIST",
    ),
    (
        "cuda without a gpu",
        ["device=cuda"],
        {"CUDA_VISIBLE_DEVICES": ""},
        r"device='cuda' but this machine has no CUDA device",
    ),
]


@pytest.mark.parametrize(("case", "overrides", "env", "message"), CASES, ids=[c[0] for c in CASES])
def test_user_errors_are_one_line(
    tmp_path: Path, case: str, overrides: list[str], env: dict[str, str], message: str
) -> None:
    result = _run(MODEL_STAGE + overrides, tmp_path, env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr

    assert re.search(message, lines[0]), lines[0]
    assert lines[0].startswith("a2d model: error: ")
    assert not (tmp_path / "w.pt").exists()


def test_unknown_target_is_one_line(tmp_path: Path) -> None:
    args = [a if a != "env1_mnist" else "env1_mnst" for a in MODEL_STAGE]
    result = _run(args, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "a2d model: error: unknown target 'env1_mnst' (did you mean 'env1_mnist'?); valid: "
        + ", ".join(sorted(load_params().models))
    )


def test_params_composer_rejects_unknown_profile(tmp_path: Path) -> None:
    result = _run(
        [sys.executable, "-m", "stages.params", "--out", str(tmp_path / "p.yaml"), "profile=cii"],
        tmp_path,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().startswith("a2d params: error: cannot compose conf/")
        and "profile/cii" in result.stderr
    )
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["targets=[env1_mnst]"],
            r"target 'env1_mnst' is not a model in config \(did you mean 'env1_mnist'\?\)",
        ),
        (
            ["models.env1_mnist.train.epohcs=3"],
            r"Could not override 'models.env1_mnist.train.epohcs'",
        ),
        (["+models.env1_mnist.train.epohcs=3"], r"Key 'epohcs' not in 'TrainConfig'"),
        (["models.env1_mnist.dataset=mnst"], r"did you mean 'mnist'"),
    ],
)
def test_params_check_validates_before_dvc_runs(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    """`make repro OVERRIDES=...` runs this check first: DVC's own Hydra errors are multi-line."""
    out = tmp_path / "p.yaml"
    result = _run(
        [sys.executable, "-m", "stages.params", "--check", "--out", str(out), *overrides], tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr
    assert not out.exists()


def test_params_check_accepts_good_overrides_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    result = _run(
        [
            sys.executable,
            "-m",
            "stages.params",
            "--check",
            "--out",
            str(out),
            "profile=ci",
            "seed=3",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not out.exists()
