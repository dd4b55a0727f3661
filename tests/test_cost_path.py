"""One cost path: the public detector measures exactly the costs the `costs` stage writes.

The stage and :class:`a2d.AttackAsDefense` used to build their attacks apart and disagreed
(MNIST hyperparameters on a CIFAR-10 model, DBA_d seeded by position instead of test index).
Here the stage runs as DVC runs it, on real MNIST test images and the committed Env1 model, and
the object's costs on the same inputs must equal the stage's CSV rows, for every attack_d.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from a2d import AttackAsDefense
from a2d.config import PROJECT_ROOT, load_params
from a2d.costs.settings import cost_attack_specs, target_cost_attack_specs
from a2d.data import load_split
from a2d.data.sets import ExampleSet, save_set
from a2d.errors import ConfigError
from stages._common import load_target_model

WEIGHTS = PROJECT_ROOT / "data/models/env1_mnist.pt"
# DBA_d needs thousands of queries per input: one input (test index 7, not its position 0)
# shows it is seeded by test index as in the stage
INPUTS = {"bim": 3, "bim2": 3, "jsma": 3, "dba": 1}
# test indices far apart, so DBA_d's per-example seed (the test index) differs from arange(N)
SOURCES = [7, 3, 120, 41]


@pytest.fixture(scope="module")
def benign(data_root: Path) -> ExampleSet:
    test = load_split("MNIST", data_root, train=False, limit=max(SOURCES) + 1)
    indices = torch.tensor(SOURCES)
    return ExampleSet(
        x=test.x[indices], indices=indices, labels=test.y[indices], kind="benign", split="eval"
    )


def _stage_csv(tmp_path: Path, attack: str, inputs: ExampleSet) -> pd.DataFrame:
    save_set(inputs, tmp_path / "sets")
    result = subprocess.run(
        [
            sys.executable, "-m", "stages.costs", "--target", "env1_mnist", "--attack", attack,
            "--weights", str(WEIGHTS), "--sets", str(tmp_path / "sets"),
            "--out", str(tmp_path / "out"), "--metrics", str(tmp_path / "m.json"),
            "progress=false",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return pd.read_csv(tmp_path / "out" / "benign_eval.csv")


@pytest.mark.parametrize("attack", list(INPUTS))
def test_detector_costs_equal_the_costs_stage_rows(
    tmp_path: Path, benign: ExampleSet, attack: str
) -> None:
    inputs = benign.head(INPUTS[attack])
    rows = _stage_csv(tmp_path, attack, inputs)
    params = load_params()
    model = load_target_model(params, "env1_mnist", WEIGHTS, torch.device("cpu"))
    detector = AttackAsDefense(model, attacks=[attack], dataset="mnist")
    costs = detector.attack_costs(inputs.x, ids=inputs.indices)
    assert rows["index"].tolist() == SOURCES[: len(inputs)]
    np.testing.assert_array_equal(costs.cost[:, 0], rows["cost"].to_numpy())
    np.testing.assert_array_equal(costs.queries[:, 0], rows["queries"].to_numpy())
    np.testing.assert_array_equal(costs.success[:, 0], rows["success"].to_numpy())
    np.testing.assert_array_equal(costs.label, rows["label"].to_numpy())


def test_settings_follow_the_dataset_and_seed_only_random_attacks() -> None:
    params = load_params()
    mnist = cost_attack_specs(params, "mnist", ["bim", "dba"])
    cifar = target_cost_attack_specs(params, "env1_cifar10", ["bim"])
    assert mnist["bim"]["epsilon"] == params.costs.params["mnist"]["bim"]["epsilon"]
    assert cifar["bim"]["epsilon"] == params.costs.params["cifar10"]["bim"]["epsilon"]
    assert cifar["bim"]["epsilon"] != mnist["bim"]["epsilon"]  # no MNIST fallback
    assert mnist["dba"]["seed"] == params.seed and "seed" not in mnist["bim"]
    detector = AttackAsDefense(attacks=["bim"], dataset="cifar10").fit_costs(np.arange(30.0))
    assert detector.attacks_["bim"].epsilon == pytest.approx(cifar["bim"]["epsilon"])
    override = AttackAsDefense(attacks={"bim": {"max_iterations": 9}}, dataset="cifar10")
    override.fit_costs(np.arange(30.0))
    assert override.attacks_["bim"].max_iterations == 9
    assert override.attacks_["bim"].epsilon == pytest.approx(cifar["bim"]["epsilon"])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: cost_attack_specs(load_params(), "svhn", ["bim"]),
            ConfigError,
            r"costs.params.svhn.bim is not set \(conf/attack/cost.yaml",
        ),
        (
            lambda: cost_attack_specs(load_params(), "mnist", ["pgd"]),
            ConfigError,
            r"unknown attack_d 'pgd'; choose from bim, bim2, cw, dba, fgsm, jsma, lbfgs, lsa",
        ),
        (
            lambda: AttackAsDefense(
                torch.nn.Flatten(), attacks=["bim"], bounds=(0, 1)
            ).attack_costs(torch.rand(2, 1, 2, 2)),
            ValueError,
            r"names without settings: pass dataset='mnist'",
        ),
    ],
    ids=["dataset without settings", "unknown attack", "names without a dataset"],
)
def test_unresolvable_settings_are_one_line_errors(call, error, match: str) -> None:  # noqa: ANN001
    with pytest.raises(error, match=match):
        call()
