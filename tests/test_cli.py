"""The ``a2d`` command line on a tiny model: help, the costs -> fit -> flag round trip, ``--json``,
input formats, the same costs as :meth:`AttackAsDefense.attack_costs`, and one line and exit
status 2 for every bad input (1 for a run-time failure).

Runs in-process through :func:`a2d.cli.main`, and as ``python -m a2d`` in subprocesses
(the module entry point: help, a usage error, and the costs of a TorchScript model; only the
last loads torch, which takes seconds on a busy machine). Sized for one core: 20 inputs of
1x4x4, two attacks_d capped at 40 steps.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from a2d import AttackAsDefense
from a2d.cli import main
from a2d.config import PROJECT_ROOT
from a2d.data.sets import ExampleSet, save_set

from .cli_models import tiny_net

FACTORY = "tests.cli_models:tiny_net"
SETTINGS = {
    "bim": {"epsilon": 0.5, "max_iterations": 40},
    "bim2": {"epsilon": 0.5, "max_iterations": 40},
}
ATTACK_ARGS = ["--attacks", "bim,bim2", "--bounds", "0", "1"] + [
    arg for name, hp in SETTINGS.items() for key, value in hp.items()
    for arg in ("--param", f"{name}.{key}={value}")
]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI switches the process-wide progress hook; give other tests theirs back."""
    monkeypatch.setattr("a2d.utils.progress._enabled", False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict[str, Path]:
    """Inputs in every format the CLI reads, and the tiny model as a TorchScript file."""
    folder = tmp_path_factory.mktemp("cli")
    x = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    torch.save(x, folder / "x.pt")
    np.save(folder / "x.npy", x[:3].numpy())
    example_set = ExampleSet(
        x=x[:3], indices=torch.tensor([70, 3, 120]), labels=torch.zeros(3, dtype=torch.long),
        kind="benign", split="eval",
    )  # fmt: skip
    save_set(example_set, folder)
    images = folder / "images"
    images.mkdir()
    from PIL import Image

    for i in range(3):
        pixels = (x[i, 0] * 255).round().to(torch.uint8).numpy()
        Image.fromarray(pixels, mode="L").save(images / f"im{i}.png")
    with warnings.catch_warnings():  # torch deprecates TorchScript; users still ship it
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(tiny_net()), folder / "net.ts")
    bad = {
        "rank3.pt": torch.rand(3, 4, 4),
        "uint8.pt": torch.zeros(3, 1, 4, 4, dtype=torch.uint8),
        "empty.pt": torch.rand(0, 1, 4, 4),
        "nan.pt": torch.full((2, 1, 4, 4), float("nan")),
        "big.pt": torch.rand(3, 1, 4, 4) + 1.5,
        "wrong_size.pt": torch.rand(3, 1, 8, 8),
    }
    for name, tensor in bad.items():
        torch.save(tensor, folder / name)
    (folder / "junk.pt").write_text("not a tensor")
    (folder / "damaged.json").write_text('{"format": "a2d.AttackAsDefense", "version": 1}')
    return {"dir": folder, "x": folder / "x.pt", "ts": folder / "net.ts"}


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def _python_m_a2d(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "a2d", *map(str, args)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_shows_the_commands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "--help")
    assert status == 0
    assert all(name in out for name in ("costs", "fit", "flag", "examples:", "exit status"))
    for command in ("costs", "fit", "flag"):
        status, out, _ = _cli(capsys, command, "--help")
        assert status == 0 and "--model" in out and "example" in out
    status, _, err = _cli(capsys)  # no command: the help, and a usage status
    assert status == 2 and "COMMAND" in err


def test_python_m_a2d_runs_help_and_reports_a_usage_error_in_one_line() -> None:
    """Both return before torch is imported: a real process, at the cost of a Python start."""
    result = _python_m_a2d("--help")
    assert result.returncode == 0 and "a2d costs" in result.stdout
    result = _python_m_a2d("fit", "benign.pt", "--model", FACTORY, "--bounds", "0", "1")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "a2d fit: error: the following arguments are required: --out; see `a2d fit --help`\n"
    )


def test_costs_json_equal_attack_costs_of_the_library(files: dict[str, Path]) -> None:
    """A subprocess with the TorchScript model against the Python API with the eager one."""
    result = _python_m_a2d("costs", files["x"], "--model", files["ts"], *ATTACK_ARGS, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    expected = AttackAsDefense(tiny_net(), attacks=SETTINGS, bounds=(0, 1)).attack_costs(
        torch.load(files["x"])
    )
    assert document["attacks"] == ["bim", "bim2"] and document["n"] == 20
    np.testing.assert_array_equal(np.array(document["cost"]), expected.cost)
    np.testing.assert_array_equal(np.array(document["queries"]), expected.queries)
    np.testing.assert_array_equal(np.array(document["success"]), expected.success)
    np.testing.assert_array_equal(np.array(document["label"]), expected.label)
    assert document["caps"] == [40, 40] and document["ids"] == list(range(20))
    assert {row["attack"] for row in document["summary"]} == {"bim", "bim2"}


def test_costs_fit_flag_round_trip(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, detector_file = files["x"], tmp_path / "detector.json"
    status, out, err = _cli(capsys, "costs", x, "--model", FACTORY, *ATTACK_ARGS,
                            "--out", tmp_path / "costs.csv")  # fmt: skip
    assert status == 0, err
    assert "mean cost" in out and "bim2" in out  # the summary table
    costs = pd.read_csv(tmp_path / "costs.csv")
    assert list(costs.columns[:3]) == ["id", "label", "cost_bim"] and len(costs) == 20

    status, out, err = _cli(capsys, "fit", x, "--model", FACTORY, *ATTACK_ARGS,
                            "--out", detector_file, "--json")  # fmt: skip
    assert status == 0, err
    fitted = json.loads(out)
    assert fitted["kind"] == "zscore" and fitted["n_benign"] == 20
    assert set(fitted["cost_thresholds"]) == {"bim", "bim2"} and detector_file.is_file()

    # flag with the TorchScript twin of the factory's network: same weights, no warning
    status, out, err = _cli(capsys, "flag", x, "--model", files["ts"], "--detector",
                            detector_file, "--out", tmp_path / "flags.csv", "--json")  # fmt: skip
    assert status == 0 and err == ""
    flagged = json.loads(out)
    rows = pd.DataFrame(flagged["rows"])
    np.testing.assert_array_equal(rows["cost_bim"], costs["cost_bim"])  # the same cost path
    np.testing.assert_array_equal(rows["cost_bim2"], costs["cost_bim2"])
    library = AttackAsDefense.load(detector_file, tiny_net()).predict(torch.load(x))
    np.testing.assert_array_equal(rows["flag"], library.flags)
    np.testing.assert_allclose(rows["score"], library.scores)
    assert flagged["flagged"] == int(library.flags.sum()) and flagged["n"] == 20
    assert pd.read_csv(tmp_path / "flags.csv")["flag"].tolist() == library.flags.tolist()

    status, out, _ = _cli(capsys, "flag", x, "--model", FACTORY, "--detector", detector_file)
    assert status == 0 and f"{flagged['flagged']} of 20 input(s) flagged" in out


@pytest.mark.parametrize(
    ("source", "ids"),
    [
        ("x.npy", [0, 1, 2]),
        ("benign_eval.pt", [70, 3, 120]),  # an a2d example set: its source indices seed attacks
        ("images", [0, 1, 2]),
    ],
)
def test_input_formats_give_the_costs_of_the_tensor(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], source: str, ids: list[int]
) -> None:
    status, out, err = _cli(capsys, "costs", files["dir"] / source, "--model", FACTORY,
                            *ATTACK_ARGS, "--json")  # fmt: skip
    assert status == 0, err
    document = json.loads(out)
    assert document["ids"] == ids
    x = torch.load(files["x"])[:3]
    if source == "images":  # 8-bit pixels: the same inputs up to rounding
        assert document["names"] == ["im0.png", "im1.png", "im2.png"]
        x = (x * 255).round() / 255
    expected = AttackAsDefense(tiny_net(), attacks=SETTINGS, bounds=(0, 1)).attack_costs(x)
    np.testing.assert_array_equal(np.array(document["cost"]), expected.cost)


BAD_INPUTS = [
    # arguments ({dir}: the fixture folder, {m}: --model FACTORY, {s}: bounds and one attack_d),
    # then the message the one line must hold
    ("costs {dir}/missing.pt {m} {s}", r"no inputs at '.*missing.pt'"),
    ("costs {dir}/rank3.pt {m} {s}", r"3-D tensor of shape \(3, 4, 4\); a2d needs \(N, C, H, W\)"),
    ("costs {dir}/uint8.pt {m} {s}", r"torch.uint8 tensor; a2d needs floats"),
    ("costs {dir}/empty.pt {m} {s}", r"holds no inputs \(N = 0\)"),
    ("costs {dir}/nan.pt {m} {s}", r"2 of 2 input\(s\) with NaN or inf"),
    ("costs {dir}/big.pt {m} {s}", r"outside the declared bounds"),
    ("costs {dir}/wrong_size.pt {m} {s}", r"the model fails on the inputs .* cannot be multiplied"),
    ("costs {dir}/junk.pt {m} {s}", r"not a readable torch file"),
    ("costs {dir}/x.pt --model tests.cli_models:nan_net {s}", r"NaN or inf logits for 20 of 20"),
    ("costs {dir}/x.pt --model {dir}/nothing.ts {s}", r"'.*nothing.ts' is neither a file nor"),
    ("costs {dir}/x.pt --model {dir}/x.pt {s}", r"is not a TorchScript file"),
    ("costs {dir}/x.pt --model tests.cli_models:nope {s}", r"has no callable 'nope'"),
    ("costs {dir}/x.pt --model tests.cli_models:not_a_model {s}", r"returned a str, not a torch"),
    ("costs {dir}/x.pt --model no_such_module:f {s}", r"cannot import 'no_such_module'"),
    ("costs {dir}/x.pt {m} --weights {dir}/x.pt {s}", r"weights '.*x.pt' do not load into"),
    ("costs {dir}/x.pt {s}", r"the following arguments are required: --model"),
    ("costs {dir}/x.pt {m} --param bim.epsilon=0.5", r"arguments are required: --bounds"),
    ("costs {dir}/x.pt {m} {s} --attacks bim,fgsmm", r"unknown attack_d 'fgsmm' in --attacks"),
    ("costs {dir}/x.pt {m} --bounds 0 1 --attacks jsma", r"'jsma' has no settings: pass --dataset"),
    ("costs {dir}/x.pt {m} --bounds 0 1 --dataset svhn", r"costs.params.svhn.bim is not set"),
    ("costs {dir}/x.pt {m} {s} --param bim.epsilom=0.1", r"unknown hyperparameter\(s\) epsilom"),
    ("costs {dir}/x.pt {m} {s} --param bim", r"--param 'bim' is not ATTACK.KEY=VALUE"),
    ("costs {dir}/x.pt {m} {s} --param dba.seed=1", r"--param sets 'dba', which is not in"),
    ("costs {dir}/x.pt {m} {s} --bounds 1 0", r"--bounds 1 0: give LO HI with LO < HI"),
    ("costs {dir}/x.pt {m} {s} --mean 0.5", r"--mean and --std go together"),
    ("costs {dir}/x.pt {m} {s} --device tpu", r"--device 'tpu' is not auto, cpu, cuda"),
    ("costs {dir}/x.pt {m} {s} --batch-size 0", r"--batch-size: must be a positive integer"),
    ("costs {dir}/x.pt {m} {s} --bogus", r"unrecognized arguments: --bogus; see `a2d costs --help`"),
    ("fit {dir}/x.pt {m} {s} --out {dir}/d.json --adversarial {dir}/x.pt", r"zscore detector is fitted on benign"),
    ("fit {dir}/x.pt {m} {s} --out {dir}/d.json --detector knn", r"knn learns from adversarial"),
    ("fit {dir}/x.pt {m} {s} --out {dir}/d.json --holdout {dir}/x.pt", r"--holdout calibrates .* --fpr"),
    ("fit {dir}/x.pt {m} {s} --out {dir}/d.json --fpr 1.5", r"--fpr 1.5: give a fraction in \[0, 1\)"),
    ("fit {dir}/x.pt {m} {s} --out {dir}/d.json --k 2", r"--k 2 but --attacks names 1"),
    ("flag {dir}/x.pt {m} --detector {dir}/missing.json", r"no saved detector at"),
    ("flag {dir}/x.pt {m} --detector {dir}/damaged.json", r"damaged saved detector \(KeyError"),
    ("flag {dir}/x.pt {m} --detector {dir}/junk.pt", r"is not a saved AttackAsDefense \(not JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_exit_2_with_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], args: str, message: str
) -> None:
    words = args.format(
        dir=files["dir"], m=f"--model {FACTORY}", s="--bounds 0 1 --param bim.epsilon=0.5"
    ).split()
    status, out, err = _cli(capsys, *words)
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith(f"a2d {words[0]}: error: "), err
    assert re.search(message, err), err
    assert out == ""


def test_a_run_time_failure_exits_1_with_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _cli(capsys, "costs", files["x"], "--model",
                          "tests.cli_models:failing_factory", *ATTACK_ARGS)  # fmt: skip
    assert status == 1 and err.count("\n") == 1
    assert "failed: RuntimeError: cannot reach the weights server" in err and "--debug" in err
