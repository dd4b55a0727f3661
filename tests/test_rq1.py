"""RQ1's pipeline pieces (Figures 3 and 4): DeepFool crafting, the extra-set crafting, the
timing of every attack_d, the halves and distances of Figure 3, the figures, and the config
errors. Tiny models and sets, a few seconds in all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from a2d.attacks import DeepFool, make_craft_attack
from a2d.attacks.extra_sets import craft_on_benign
from a2d.config import load_params
from a2d.costs.comparison import ComparisonPlan, read_times, separation, time_attacks
from a2d.costs.profiles import (
    distance_summary,
    profile_distances,
    read_profile_costs,
    split_halves,
)
from a2d.data.sets import ExampleSet, load_set, save_set
from a2d.errors import ConfigError, DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.reporting.fig3 import distance_heatmap, paper_distances, summary_frame
from a2d.reporting.fig4 import separation_table, time_boxplots

from .conftest import ENV1_MNIST_ONLY, MeanAboveHalf


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def model() -> ClassifierWrapper:
    return ClassifierWrapper(MeanAboveHalf()).eval()


def example_set(kind: str, means: list[float]) -> ExampleSet:
    x = torch.tensor(means).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    labels = (torch.tensor(means) > 0.5).long()
    return ExampleSet(x=x, indices=torch.arange(len(means)), labels=labels, kind=kind, split="eval")


@pytest.fixture()
def sets(tmp_path: Path) -> Path:
    folder = tmp_path / "sets"
    save_set(example_set("benign", [0.9, 0.1, 0.8]), folder)
    save_set(example_set("fgsm", [0.45, 0.55, 0.48]), folder)
    return folder


def test_deepfool_crafts_minimal_adversarials(model: ClassifierWrapper) -> None:
    attack = make_craft_attack("deepfool", steps=20)
    assert isinstance(attack, DeepFool)
    x = example_set("benign", [0.7, 0.3]).x
    result = attack(model, x, torch.tensor([1, 0]))
    assert result.success.all()
    # a linear model: DeepFool lands just past the boundary (mean 0.5), overshoot 2%
    assert (result.adversarial.mean(dim=(1, 2, 3)) - 0.5).abs().max() < 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"steps": 0}, "steps must be an integer >= 1"), ({"loss": "l2"}, "loss must be 'logits'")],
)
def test_deepfool_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DeepFool(**kwargs)  # type: ignore[arg-type]


def test_craft_on_benign_writes_paired_sets_and_keeps_them(
    model: ClassifierWrapper, sets: Path, tmp_path: Path
) -> None:
    out = tmp_path / "extra"
    kwargs = {
        "out": out,
        "model_hash": "h",
        "seed": 0,
        "batch_size": 2,
        "device": torch.device("cpu"),
    }
    attacks = {"deepfool": {"steps": 20}}
    summary = craft_on_benign(model, sets / "benign_eval.pt", attacks, head=2, **kwargs)
    assert summary["deepfool_eval"]["success_rate"] == 1.0
    crafted = load_set(out / "deepfool_eval.pt")
    assert crafted.kind == "deepfool" and crafted.indices.tolist() == [0, 1]
    stamp = (out / "deepfool_eval.pt").stat().st_mtime_ns
    craft_on_benign(model, sets / "benign_eval.pt", attacks, head=2, **kwargs)
    assert (out / "deepfool_eval.pt").stat().st_mtime_ns == stamp  # kept, not crafted again


def test_time_attacks_writes_resumable_tables(
    model: ClassifierWrapper, sets: Path, tmp_path: Path
) -> None:
    plan = ComparisonPlan(
        attacks={"fgsm": {"epsilon": 0.1}, "bim": {"epsilon": 0.3, "max_iterations": 40}},
        sets=["benign", "fgsm"],
        n_examples=3,
        max_inputs={"bim": 2},
    )
    out, cpu = tmp_path / "time", torch.device("cpu")
    summaries = time_attacks(model, plan, sets=sets, out=out, model_hash="h", device=cpu)
    assert summaries["bim"]["benign"]["n"] == 2 and summaries["fgsm"]["fgsm"]["n"] == 3
    tables = read_times(out, ["fgsm", "bim"], ["benign", "fgsm"])
    fgsm = tables["fgsm"]
    assert fgsm["benign"]["cost"].tolist() == [1, 1, 1]  # far from the boundary: FGSM fails
    assert fgsm["fgsm"]["cost"].tolist() == [0, 0, 0]
    assert (tables["bim"]["benign"]["cost"] > tables["bim"]["fgsm"]["cost"].max()).all()
    stamp = (out / "bim" / "benign_eval.csv").stat().st_mtime_ns
    time_attacks(model, plan, sets=sets, out=out, model_hash="h", device=cpu)
    assert (out / "bim" / "benign_eval.csv").stat().st_mtime_ns == stamp
    frame = separation(tables)
    assert list(frame["attack"]) == ["fgsm", "bim"] and (frame["auroc_cost"] == 1.0).all()
    shown = separation_table(frame)
    assert list(shown["attack"]) == ["FGSM_d", "BIM_d"] and list(shown["set"]) == ["FGSM"] * 2
    time_boxplots(tables).clf()


def test_time_attacks_and_read_times_name_missing_inputs(
    model: ClassifierWrapper, sets: Path, tmp_path: Path
) -> None:
    plan = ComparisonPlan(attacks={"fgsm": {}}, sets=["benign", "cw"], n_examples=1)
    with pytest.raises(DataError, match=r"no 'cw_eval.pt' .*run the craft stage"):
        time_attacks(
            model, plan, sets=sets, out=tmp_path, model_hash="h", device=torch.device("cpu")
        )
    with pytest.raises(DataError, match="run the rq1_time stage first"):
        read_times(tmp_path, ["fgsm"], ["benign"])


def costs(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"jsma": values})


def test_halves_are_seeded_per_set_and_cover_the_draw() -> None:
    data = {"benign": costs(list(range(100))), "fgsm": costs(list(range(7)))}
    halves = split_halves(data, n_examples=40, seed=3)
    assert [len(h) for h in halves.values()] == [20, 20, 4, 3]
    together = pd.concat([halves["benign 1"], halves["benign 2"]])["jsma"]
    assert together.is_unique and len(together) == 40
    alone = split_halves({"benign": data["benign"]}, n_examples=40, seed=3)
    pd.testing.assert_frame_equal(alone["benign 1"], halves["benign 1"])
    with pytest.raises(DataError, match="two halves need at least 2"):
        split_halves({"cw": costs([1.0])}, n_examples=10, seed=0)


def test_distances_are_mean_differences_over_the_largest() -> None:
    halves = {
        "benign 1": costs([10, 30]),
        "benign 2": costs([22]),
        "cw 1": costs([2]),
        "cw 2": costs([3]),
    }
    d = profile_distances(halves)
    # means 20, 22, 2, 3: the largest distance is 22 - 2
    np.testing.assert_allclose(d.loc["benign 2", "cw 1"], 1.0)
    np.testing.assert_allclose(d.loc["benign 1", "cw 1"], 18 / 20)
    np.testing.assert_allclose(d.loc["cw 2", "benign 2"], 19 / 20)
    assert (np.diag(d.to_numpy()) == 0).all()
    summary = distance_summary(d)
    assert summary["same_kind"] < 0.2 < 0.9 < summary["benign_vs_adversarial"]


def test_paper_matrix_reads_as_the_paper_says() -> None:
    paper = distance_summary(paper_distances())
    assert paper["same_kind"] < 0.01 and paper["benign_vs_adversarial"] > 0.9
    assert paper["adversarial_vs_adversarial"] < 0.05
    frame = summary_frame(paper, paper)
    assert (frame["diff"] == 0).all()
    distance_heatmap(paper_distances()).clf()


def test_read_profile_costs_takes_the_first_folder_that_has_a_set(tmp_path: Path) -> None:
    (tmp_path / "a" / "jsma").mkdir(parents=True)
    (tmp_path / "b" / "jsma").mkdir(parents=True)
    pd.DataFrame({"cost": [1, 2]}).to_csv(tmp_path / "a" / "jsma" / "benign_eval.csv")
    pd.DataFrame({"cost": [3]}).to_csv(tmp_path / "b" / "jsma" / "deepfool_eval.csv")
    found = read_profile_costs(
        [tmp_path / "a" / "jsma", tmp_path / "b" / "jsma"], ["benign", "deepfool"]
    )
    assert list(found["deepfool"]["jsma"]) == [3] and list(found["benign"].columns) == ["jsma"]
    with pytest.raises(DataError, match="no cw_eval.csv cost table"):
        read_profile_costs([tmp_path / "a" / "jsma"], ["cw"])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (
            ["rq1.targets=[env2_mnist]", *ENV1_MNIST_ONLY],
            "rq1.targets has 'env2_mnist', which craft.targets does not craft",
        ),
        (["rq1.fig3.attack=lsa"], r"rq1.fig3.attack='lsa' is not in costs.attacks"),
        (["rq1.fig4.attacks=[fgsm,pgd]"], "rq1.fig4 names 'pgd', not a cost attack"),
        (["rq1.fig4.sets=[fgsm]"], "has no 'benign'"),
        (["rq1.fig4.sets=[benign,deepfool]"], "Figure 4 times the craft stage's sets"),
        (["rq1.fig3.sets=[benign,bim-b]"], r"neither craft.attacks.env1_mnist nor rq1.craft"),
        (["rq1.fig3.n_examples=1"], "two halves need at least 2"),
        (["rq1.craft_inputs=0"], "rq1.craft_inputs=0"),
    ],
)
def test_rq1_config_errors_say_what_to_fix(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_params(overrides=overrides)
