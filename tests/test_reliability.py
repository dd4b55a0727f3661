"""Reliability: every way a run can be broken ends in one line naming what was wrong and what to
do, or in a clean resume; never a traceback, never a silently wrong number.

The cases of docs/reliability.md that no other test covers: bad attack_d settings and bounds,
infinite or missing logits, a model with no parameters, damaged outputs (a saved detector, a
cost table, a finished shard or chunk), and a `costs` stage killed half-way (a real process:
SIGKILL and Ctrl-C). The table names the tests that cover the other cases (tests/test_cli.py,
tests/test_stage_cli.py, tests/test_shards.py, ...).

Sized for one core: 12 inputs of 1x4x4 and the tiny networks of tests/cli_models.py, BIM_d
capped at 20 steps; the killed stage runs the env1_mnist network on six 28x28 inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from a2d import AttackAsDefense
from a2d.attacks.base import CraftResult
from a2d.attacks.crafting import _save_chunk, craft_set
from a2d.cli import main
from a2d.config import PROJECT_ROOT
from a2d.costs.suite import CostSuite
from a2d.costs.tables import measure_sets
from a2d.data.sets import ExampleSet, save_set
from a2d.errors import A2DError, ConfigError, DataError
from a2d.models.wrapper import ClassifierWrapper
from stages import auroc as auroc_stage
from stages import costs as costs_stage
from stages._cli import run as run_stage

from .cli_models import buffer_net, inf_net, nan_net, one_logit_net, tiny_net
from .conftest import MeanAboveHalf

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SETTINGS = {"bim": {"epsilon": 0.5, "max_iterations": 20}}
BIM = ["--param", "bim.epsilon=0.5", "--param", "bim.max_iterations=20"]
ATTACK = ["--bounds", "0", "1", *BIM]


@pytest.fixture(autouse=True)
def _restore_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI and the stages switch the process-wide progress hook; give other tests theirs.
    No DVC_STAGE: a stage run here must not record its time in the project's timings."""
    monkeypatch.setattr("a2d.utils.progress._enabled", False)
    monkeypatch.delenv("DVC_STAGE", raising=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict[str, Path]:
    """Twelve inputs, a detector fitted on them, and damaged copies of that detector."""
    folder = tmp_path_factory.mktemp("reliability")
    x = torch.rand(12, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    torch.save(x, folder / "x.pt")
    saved = AttackAsDefense(tiny_net(), attacks=SETTINGS, bounds=(0, 1)).fit(x)
    good = saved.save(folder / "detector.json")
    raw = good.read_text()
    (folder / "truncated.json").write_text(raw[: len(raw) // 2])  # a copy cut short
    document = json.loads(raw)
    document["fitted"]["threshold_"] = math.nan  # valid JSON, an impossible number
    (folder / "nan_threshold.json").write_text(json.dumps(document))
    document = json.loads(raw)
    document["fitted"]["detector_"]["members"][0]["std_"] = 0.0
    (folder / "zero_std.json").write_text(json.dumps(document))
    return {"dir": folder, "x": folder / "x.pt", "detector": good}


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------------------------------------
# the command line: exit status 2 and one line on stderr


CLI_CASES = [
    # case, arguments ({x}: the inputs, {dir}: the fixture folder, {m}: --model tiny_net,
    # {s}: bounds and BIM_d settings), the message the one line must hold
    ("attack setting not a number",
     "costs {x} {m} --bounds 0 1 --param bim.epsilon=abc --param bim.max_iterations=20",
     r"cost attack 'bim': epsilon='abc' is not a number; give one, e\.g\. epsilon=0\.3"),
    ("negative epsilon",
     "costs {x} {m} --bounds 0 1 --param bim.epsilon=-0.1 --param bim.max_iterations=20",
     r"cost attack 'bim': epsilon must be > 0, got -0\.1"),
    ("zero iterations",
     "costs {x} {m} --bounds 0 1 --param bim.epsilon=0.5 --param bim.max_iterations=0",
     r"cost attack 'bim': max_iterations must be >= 1, got 0"),
    ("infinite bounds", "costs {x} {m} --bounds 0 inf " + " ".join(BIM),
     r"--bounds 0 inf: give LO HI with LO < HI, both finite, e\.g\. --bounds 0 1"),
    ("zero std", "costs {x} {m} {s} --mean 0.5 --std 0",
     r"std must be > 0 for every channel, got \[0\.0\]"),
    ("NaN threshold", "fit {x} {m} {s} --out {dir}/d.json --threshold nan",
     r"attack_d 'bim': threshold must be a finite number, got nan"),
    ("infinite logits", "costs {x} --model tests.cli_models:inf_net {s}",
     r"the model returns NaN or inf logits for \d+ of 12 input\(s\)"),
    ("one logit", "costs {x} --model tests.cli_models:one_logit_net {s}",
     r"returns shape \(12, 1\) for 12 inputs; a2d needs \(N, classes\) logits with at least 2"),
    ("output under a file", "costs {x} {m} {s} --out {x}/costs.csv",
     r"--out '.*x\.pt/costs\.csv': cannot create its folder \(.*\); choose a path in a writable"),
    ("truncated detector", "flag {x} {m} --detector {dir}/truncated.json",
     r"'.*truncated\.json' is not a saved AttackAsDefense \(not JSON: "),
    ("NaN in a detector", "flag {x} {m} --detector {dir}/nan_threshold.json",
     r"'.*nan_threshold\.json' is a damaged saved detector \(threshold_ is nan, not a number\); "
     r"fit the detector again"),
    ("zero spread in a detector", "flag {x} {m} --detector {dir}/zero_std.json",
     r"damaged saved detector \(attack_d 'bim': std_ is 0\.0, not > 0\)"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "args", "message"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_case_exits_2_with_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str, args: str, message: str
) -> None:
    words = args.format(
        x=files["x"], dir=files["dir"], m="--model tests.cli_models:tiny_net", s=" ".join(ATTACK)
    ).split()
    status, out, err = _cli(capsys, *words)
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith(f"a2d {words[0]}: error: "), err
    assert "Traceback" not in err and re.search(message, err), err
    assert out == ""


def test_a_model_without_parameters_gives_the_costs_of_its_twin(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Weights in buffers: no parameter tells a2d the device; the costs are those of tiny_net."""
    assert not list(buffer_net().parameters())
    reports = []
    for factory in ("tiny_net", "buffer_net"):
        status, out, err = _cli(capsys, "costs", files["x"], "--model",
                                f"tests.cli_models:{factory}", *ATTACK, "--json")  # fmt: skip
        assert status == 0, err
        reports.append(json.loads(out))
    assert reports[0]["cost"] == reports[1]["cost"] and reports[0]["label"] == reports[1]["label"]
    # and it round-trips through a saved detector (its weights hash covers the buffers)
    detector = tmp_path / "d.json"
    model = ["--model", "tests.cli_models:buffer_net"]
    status, _, err = _cli(capsys, "fit", files["x"], *model, *ATTACK, "--out", detector)
    assert status == 0, err
    status, out, err = _cli(capsys, "flag", files["x"], *model, "--detector", detector)
    assert status == 0 and err == "" and "of 12 input(s) flagged" in out


# ---------------------------------------------------------------------------------------------
# the Python API: one error type, one line


def _api(net: Any, **options: Any) -> AttackAsDefense:
    return AttackAsDefense(net, **{"attacks": SETTINGS, "bounds": (0, 1), **options})


API_CASES = [
    # NaN logits used to give every input the cap as its cost, i.e. "benign": a wrong number
    ("NaN logits", lambda x: _api(nan_net()).fit(x), DataError,
     r"NaN or inf logits for 12 of 12 input\(s\) \(first at index 0\); every attack would fail"),
    ("infinite logits", lambda x: _api(inf_net()).attack_costs(x), DataError,
     r"NaN or inf logits for \d+ of 12 input\(s\)"),
    ("one logit", lambda x: _api(one_logit_net()).attack_costs(x), DataError,
     r"returns shape \(12, 1\) for 12 inputs"),
    ("wrong input size", lambda x: _api(tiny_net()).attack_costs(torch.rand(3, 1, 8, 8)),
     DataError, r"the model fails on inputs of shape \(3, 1, 8, 8\) .*cannot be multiplied"),
    ("float64 inputs", lambda x: _api(tiny_net()).attack_costs(x.double()), DataError,
     r"dtype torch\.float64 \(.*same dtype.*\); give \(N, C, H, W\) inputs"),
    ("wrong rank", lambda x: _api(tiny_net()).attack_costs(x[0]), ValueError,
     r"inputs must be a 4-D float tensor \(N, C, H, W\), got a 3-D torch\.float32 tensor"),
    ("integer dtype", lambda x: _api(tiny_net()).attack_costs((x * 255).byte()), ValueError,
     r"got a 4-D torch\.uint8 tensor"),
    ("empty input set", lambda x: _api(tiny_net()).fit(x[:0]), ValueError,
     r"inputs is empty; pass at least one input"),
    ("infinite bounds", lambda x: _api(tiny_net(), bounds=(0, math.inf)).attack_costs(x),
     ValueError, r"bounds must be finite \(lo, hi\) with lo < hi, got \(0, inf\)"),
    ("zero std", lambda x: _api(tiny_net(), mean=[0.5], std=[0.0]).attack_costs(x),
     ValueError, r"std must be > 0 for every channel"),
    ("setting not a number",
     lambda x: _api(tiny_net(), attacks={"bim": {"epsilon": "0.5", "max_iterations": 20}})
     .attack_costs(x), ConfigError, r"cost attack 'bim': epsilon='0\.5' is not a number"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "call", "error", "message"), API_CASES, ids=[c[0] for c in API_CASES]
)
def test_api_case_raises_one_line(
    files: dict[str, Path],
    case: str,
    call: Callable[[torch.Tensor], Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as info:
        call(torch.load(files["x"]))
    assert isinstance(info.value, A2DError | ValueError)  # the CLI's exit status 2
    assert "\n" not in str(info.value) and re.search(message, str(info.value)), info.value


# ---------------------------------------------------------------------------------------------
# damaged outputs: a stage that reads them says so in one line; a stage that resumes redoes them


def _sets(folder: Path, n: int = 7, shape: Sequence[int] = (1, 4, 4)) -> list[Path]:
    """A benign and an FGSM-like set of n inputs, source indices 10, 11, ..."""
    x = torch.rand(n, *shape, generator=torch.Generator().manual_seed(0))
    for kind in ("benign", "fgsm"):
        save_set(
            ExampleSet(
                x=x if kind == "benign" else (x + 0.2).clamp(0, 1),
                indices=torch.arange(10, 10 + n),
                labels=torch.zeros(n, dtype=torch.long),
                kind=kind,
                split="eval",
                success=None if kind == "benign" else torch.ones(n, dtype=torch.bool),
            ),
            folder,
        )
    return sorted(folder.glob("*.pt"))


def _measure(paths: list[Path], out: Path, runner: Any = None) -> None:
    suite = CostSuite(ClassifierWrapper(tiny_net()), SETTINGS, batch_size=3)
    measure_sets(suite, paths, out, model_hash="h", runner=runner)


def _tables(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


def _run_stage(
    name: str, main_: Callable[..., None], capsys: pytest.CaptureFixture[str], **args: Any
) -> tuple[int, str]:
    """A stage's own entry point (``stages._cli.run``) in this process: (exit status, stderr)."""
    namespace = argparse.Namespace(params=None, **args)
    try:
        run_stage(name, main_, namespace)
        status = 0
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    return status, capsys.readouterr().err


def _lose_rows(csv: Path) -> None:
    """A copy cut at a line end: the table still parses, with rows missing."""
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:4]))


def _cut_last_row(csv: Path) -> None:
    """A copy cut inside the last row: its last cell is half a word."""
    csv.write_bytes(csv.read_bytes()[:-3])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_lose_rows, r"does not match its sidecar benign_eval\.json \(3 rows, .*says 7 rows"),
        (_cut_last_row, r"has cells that are not whole numbers or True/False \(truncated\?\)"),
    ],
    ids=["rows lost", "last row cut"],
)
def test_a_damaged_cost_table_stops_the_stage_that_reads_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
    message: str,
) -> None:
    costs = tmp_path / "costs" / "env1_mnist"
    _measure(_sets(tmp_path / "sets"), costs / "bim")
    args = {"overrides": ["report.n_bootstrap=10"], "target": "env1_mnist", "costs": str(costs)}
    status, err = _run_stage("auroc", auroc_stage.main, capsys, **args, out=str(tmp_path / "a"))
    assert status == 0, err  # whole, the tables are read
    damage(costs / "bim" / "benign_eval.csv")
    status, err = _run_stage("auroc", auroc_stage.main, capsys, **args, out=str(tmp_path / "b"))
    assert status == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("a2d auroc: ")]
    assert len(lines) == 1 and lines[0].startswith("a2d auroc: error: cost table '"), err
    assert re.search(message, lines[0]) and lines[0].endswith("or rerun the costs stage"), err
    assert not (tmp_path / "b").exists()


# the killable and counting runners of the shard tests
from .test_shards import Counting, DiesAfter, Interrupted  # noqa: E402


@pytest.mark.parametrize("piece", ["shard table", "shard sidecar"])
def test_a_damaged_finished_shard_is_redone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, piece: str
) -> None:
    paths = _sets(tmp_path / "sets")
    _measure(paths, tmp_path / "one")
    with pytest.raises(Interrupted):  # killed after shards [0, 3) and [3, 6) of benign_eval
        _measure(paths, tmp_path / "out", DiesAfter(size=3, k=2))
    damaged = (
        tmp_path
        / "out/benign_eval.shards"
        / ("000000003-000000006.csv" if piece == "shard table" else "000000003-000000006.json")
    )
    damaged.write_bytes(damaged.read_bytes()[:-5])
    counting = Counting(size=3)
    with caplog.at_level(logging.WARNING):
        _measure(paths, tmp_path / "out", counting)
    assert counting.ran[:2] == [(3, 6), (6, 7)], "the damaged shard and the missing one"
    assert f"ignoring {damaged}" in caplog.text
    assert _tables(tmp_path / "out") == _tables(tmp_path / "one")


def test_a_damaged_finished_cost_table_is_measured_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its sidecar still vouches for it (same fingerprint), but its rows do not match."""
    paths = _sets(tmp_path / "sets")
    _measure(paths, tmp_path / "one")
    _measure(paths, tmp_path / "out")
    _lose_rows(tmp_path / "out/benign_eval.csv")
    with caplog.at_level(logging.INFO):
        _measure(paths, tmp_path / "out")
    assert "benign_eval.csv does not match its sidecar" in caplog.text
    assert (
        "measuring it again" in caplog.text and "fgsm_eval.csv is up to date, kept" in caplog.text
    )
    assert _tables(tmp_path / "out") == _tables(tmp_path / "one")


def test_a_truncated_crafting_chunk_is_crafted_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x = torch.tensor([0.1, 0.9, 0.55, 0.48, 0.52]).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)
    benign = ExampleSet(
        x=x.clone(), indices=torch.arange(10, 15), labels=(x.flatten(1).mean(1) > 0.5).long(),
        kind="benign", split="eval",
    )  # fmt: skip
    cpu, hp = torch.device("cpu"), {"epsilon": 0.1}
    fresh = craft_set(MeanAboveHalf(), benign, "fgsm", hp, batch_size=2, device=cpu)
    partial = tmp_path / "partial"
    for start in (0, 2):  # a killed run left two finished chunks; the second got truncated
        part = CraftResult(
            adversarial=fresh.x[start : start + 2].clone(),
            success=fresh.success[start : start + 2].clone(),
            label=benign.labels[start : start + 2],
            prediction=torch.zeros(2, dtype=torch.long),
        )
        _save_chunk(partial / f"{start:07d}.pt", "k", part, 1.0)
    chunk = partial / "0000002.pt"
    chunk.write_bytes(chunk.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        resumed = craft_set(MeanAboveHalf(), benign, "fgsm", hp, batch_size=2, device=cpu,
                            checkpoint_dir=partial, checkpoint_key="k")  # fmt: skip
    assert f"ignoring {chunk}: unreadable" in caplog.text
    assert torch.equal(resumed.x, fresh.x) and torch.equal(resumed.success, fresh.success)


# ---------------------------------------------------------------------------------------------
# a killed stage: a real `costs` process, killed after two finished shards, resumes from them

KILLED_COSTS = """
import os, signal, sys
from a2d.pipeline.shards import ShardStore
keep, kept = ShardStore.keep, []
def keep_then_die(self, start, stop, table):
    keep(self, start, stop, table)
    kept.append(start)
    if len(kept) == 2:
        os.kill(os.getpid(), signal.{signal})
ShardStore.keep = keep_then_die
sys.argv = ["stages.costs", *sys.argv[1:]]
from stages.costs import cli
cli()
"""
COSTS_OVERRIDES = [
    "costs.params.mnist.bim.max_iterations=20",
    "costs.batch_size=8",
    "progress=false",
    "shards.size=2",
]


def _costs_args(tmp_path: Path, out: str) -> dict[str, str]:
    return {
        "target": "env1_mnist",
        "attack": "bim",
        "weights": str(PROJECT_ROOT / "data/models/env1_mnist.pt"),
        "sets": str(tmp_path / "sets"),
        "out": str(tmp_path / out),
        "metrics": str(tmp_path / f"{out}.json"),
    }


@pytest.mark.parametrize(
    ("sent", "status", "last_line"),
    [
        ("SIGKILL", -signal.SIGKILL, None),
        ("SIGINT", 130, "a2d costs: interrupted; finished chunks are kept, rerun to resume"),
    ],
    ids=["SIGKILL", "SIGINT"],
)
def test_a_killed_costs_stage_resumes_from_its_finished_shards(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    sent: str,
    status: int,
    last_line: str | None,
) -> None:
    _sets(tmp_path / "sets", n=6, shape=(1, 28, 28))
    args = _costs_args(tmp_path, "out")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_COSTS.format(signal=sent),
         *(f"--{key}={value}" for key, value in args.items()), *COSTS_OVERRIDES],
        cwd=PROJECT_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == status, killed.stderr[-2000:]
    assert "Traceback" not in killed.stderr
    if last_line is not None:
        assert killed.stderr.splitlines()[-1] == last_line
    shards = tmp_path / "out/benign_eval.shards"
    assert sorted(p.name for p in shards.iterdir()) == [
        "000000000-000000002.csv", "000000000-000000002.json",
        "000000002-000000004.csv", "000000002-000000004.json",
    ]  # fmt: skip
    assert not list((tmp_path / "out").glob("*.csv")), "no table before its last shard"

    with caplog.at_level(logging.INFO):
        resumed, err = _run_stage(
            "costs", costs_stage.main, capsys, overrides=COSTS_OVERRIDES, **args
        )
    assert resumed == 0, err
    assert "bim_d benign_eval: 2 of 3 shard(s) finished earlier, kept" in caplog.text
    reference = _costs_args(tmp_path, "uninterrupted")
    done, err = _run_stage(
        "costs", costs_stage.main, capsys, overrides=COSTS_OVERRIDES, **reference
    )
    assert done == 0, err
    assert _tables(tmp_path / "out") == _tables(tmp_path / "uninterrupted")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "benign_eval.csv", "benign_eval.json", "fgsm_eval.csv", "fgsm_eval.json",
    ]  # fmt: skip
    rows = pd.read_csv(tmp_path / "out/benign_eval.csv")
    assert rows["index"].tolist() == list(range(10, 16)) and np.all(rows["cost"] >= 0)
