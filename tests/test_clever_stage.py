"""The clever stage's pieces: Table 1 builders on synthetic scores, per-image tables, timing, figures,
config errors, and the stage + report stages on tiny synthetic sets (one-line errors, resume)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from a2d.config import PARAMS_FILE, PROJECT_ROOT, load_params
from a2d.costs import make_cost_attack
from a2d.costs.timing import TIME_COLUMNS, timed_costs
from a2d.data.sets import ExampleSet, save_set
from a2d.errors import ConfigError
from a2d.reporting import save_figure
from a2d.reporting.attack_time import score_vs_time, time_vs_iterations
from a2d.reporting.table1 import table1_cells, table1_frame
from a2d.reporting.table1 import table1_rows as layout_rows
from a2d.robustness import TARGETS
from a2d.robustness.statistics import (
    mean_ci,
    spearman,
    table1_statistics,
    timing_statistics,
)
from a2d.robustness.tables import (
    CleverSettings,
    clever_columns,
    clever_table,
    image_seed,
    scored_model,
    select_in_score_range,
)

from .conftest import ENV1_MNIST_ONLY

pytestmark = pytest.mark.usefixtures("one_torch_thread")


MEANS = {"benign": 2.0, "fgsm": 0.5, "bim-a": 0.1, "jsma": 0.25, "cw": 0.001}


def synthetic_scores(n: int = 100, spread: float = 0.0) -> dict[str, pd.DataFrame]:
    """Per-set tables whose scores have known means (and a symmetric spread around them)."""
    offsets = np.linspace(-1.0, 1.0, n) * spread
    return {
        kind: pd.DataFrame({target: mean * (1 + offsets) for target in TARGETS})
        for kind, mean in MEANS.items()
    }


def table1_rows(
    scores: dict[str, pd.DataFrame], *, dataset: str, targets: list[str] | tuple[str, ...]
) -> list[dict]:
    """Table 1's rows of one dataset: the statistics (robustness) laid out (reporting)."""
    return layout_rows(table1_statistics(scores, targets=targets), dataset=dataset)


def _cell(rows: list[dict], label: str, column: str) -> dict:
    (row,) = [r for r in rows if r["label"] == label and r["column"] == column]
    return row


def test_mean_ci_is_the_normal_interval() -> None:
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], 0.90)
    assert mean == 3.0
    assert half == pytest.approx(1.6448536 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert mean_ci([4.0, 4.0], 0.9) == (4.0, 0.0)
    assert math.isnan(mean_ci([1.0])[1])


def test_table1_rows_give_means_ratios_and_the_papers_values() -> None:
    rows = table1_rows(synthetic_scores(), dataset="mnist", targets=TARGETS)
    # per label: 5 score cells, 4 lambdas, Avg. lambda
    assert len(rows) == 4 * 10
    benign = _cell(rows, "Untarget", "Benign")
    assert (benign["ours"], benign["ci"], benign["n"], benign["paper"]) == (2.0, 0.0, 100, 3.5572)
    assert _cell(rows, "Untarget", "lambda FGSM")["ours"] == pytest.approx(4.0)
    assert _cell(rows, "LLC", "lambda C&W")["ours"] == pytest.approx(2000.0)
    # the paper's lambdas are ratios of its printed means (3.5572 / 0.1093 = 32.55)
    assert _cell(rows, "Untarget", "lambda FGSM")["paper"] == pytest.approx(32.545, abs=1e-3)
    assert _cell(rows, "Untarget", "Avg. lambda")["paper"] == pytest.approx(74.77, abs=0.01)
    adversarial = np.mean([MEANS[k] for k in ("fgsm", "bim-a", "jsma", "cw")])
    assert _cell(rows, "Target-5", "Avg. lambda")["ours"] == pytest.approx(2.0 / adversarial)


def test_avg_lambda_of_the_paper_covers_the_same_sets_as_ours() -> None:
    scores = {k: v for k, v in synthetic_scores().items() if k in ("benign", "fgsm", "bim-a")}
    rows = table1_rows(scores, dataset="mnist", targets=["untargeted"])
    cell = _cell(rows, "Untarget", "Avg. lambda")
    assert cell["paper"] == pytest.approx(3.5572 / ((0.1093 + 0.0256) / 2))
    assert cell["ours"] == pytest.approx(2.0 / 0.3)
    assert len(rows) == 3 + 2 + 1


def test_table1_frame_puts_paper_ours_diff_side_by_side() -> None:
    statistics = table1_statistics(synthetic_scores(spread=0.5), targets=["untargeted", "llc"])
    frame = table1_frame({"mnist": statistics, "cifar10": statistics})
    assert list(frame.columns[:6]) == ["dataset", "label", "column", "paper", "ours", "diff"]
    assert {"ci", "n", "n_dropped"} <= set(frame.columns)
    assert len(frame) == 2 * 2 * 10
    row = frame[
        (frame["dataset"] == "CIFAR10") & (frame["label"] == "LLC") & (frame["column"] == "BIM")
    ]
    assert row["paper"].item() == 0.1091 and row["ours"].item() == pytest.approx(0.1)
    assert row["diff"].item() == pytest.approx(0.1 - 0.1091, abs=1e-4)
    assert row["ci"].item() > 0


def test_infinite_scores_are_left_out_and_counted() -> None:
    scores = synthetic_scores()
    scores["benign"].loc[0, "untargeted"] = math.inf
    cell = _cell(table1_rows(scores, dataset="mnist", targets=["untargeted"]), "Untarget", "Benign")
    assert (cell["n"], cell["n_dropped"], cell["ours"]) == (99, 1, 2.0)


def test_successful_only_cells_leave_failed_attacks_out() -> None:
    scores = synthetic_scores()
    jsma = scores["jsma"]
    jsma["crafted_success"] = True
    jsma.loc[:9, "crafted_success"] = False
    jsma.loc[:9, "untargeted"] = 5.0  # failed attacks keep benign-like, capped scores
    rows = table1_rows(scores, dataset="mnist", targets=["untargeted"])
    cell = _cell(rows, "Untarget", "JSMA")
    assert cell["ours"] == pytest.approx(0.1 * 5.0 + 0.9 * MEANS["jsma"])
    assert cell["median"] == pytest.approx(MEANS["jsma"])  # the capped tail moves the mean only
    assert (cell["ours_successful"], cell["n_successful"], cell["n"]) == (
        pytest.approx(MEANS["jsma"]),
        90,
        100,
    )
    assert _cell(rows, "Untarget", "lambda JSMA")["ours_successful"] == pytest.approx(
        2.0 / MEANS["jsma"]
    )
    # sets without a success column, and benign, count every image
    assert _cell(rows, "Untarget", "FGSM")["n_successful"] == 100
    assert _cell(rows, "Untarget", "Benign")["ours_successful"] == 2.0
    adversarial = np.concatenate(
        [np.full(100, MEANS[k]) for k in ("fgsm", "bim-a", "cw")] + [np.full(90, MEANS["jsma"])]
    )
    assert _cell(rows, "Untarget", "Avg. lambda")["ours_successful"] == pytest.approx(
        2.0 / adversarial.mean()
    )


def test_a_dataset_the_paper_lacks_has_no_paper_values() -> None:
    rows = table1_rows(synthetic_scores(), dataset="imagenet", targets=["llc"])
    assert all(row["paper"] is None for row in rows)


TABLE_ERRORS = [
    (
        "no benign set",
        dict(scores={"fgsm": pd.DataFrame({"llc": [1.0]})}),
        r"needs the benign scores",
    ),
    ("unknown label", dict(targets=["top3"]), r"unknown label type\(s\) \['top3'\]"),
]


@pytest.mark.parametrize(
    ("what", "change", "match"), TABLE_ERRORS, ids=[e[0] for e in TABLE_ERRORS]
)
def test_table1_errors_say_what_is_wrong(what: str, change: dict, match: str) -> None:
    call = dict(scores=synthetic_scores(), targets=["llc"]) | change
    with pytest.raises(ValueError, match=match) as info:
        table1_statistics(call.pop("scores"), **call)
    assert "\n" not in str(info.value)


COMMITTED = PROJECT_ROOT / "results" / "clever"


@pytest.mark.parametrize("target", ["env1_mnist", "env1_cifar10"])
def test_statistics_reproduce_the_committed_clever_metrics(target: str) -> None:
    """The committed per-image scores give the committed Table 1 cells and timing numbers."""
    from a2d.config import model_config
    from a2d.robustness.run import read_attack_times, read_clever_scores

    metrics = PROJECT_ROOT / "results" / "metrics" / f"clever_{target}.json"
    if not (COMMITTED / target).is_dir() or not metrics.is_file():
        pytest.skip(f"no committed CLEVER outputs of {target}")
    committed = json.loads(metrics.read_text())
    params = load_params()
    scores = read_clever_scores(COMMITTED, target, list(committed["sets"]))
    statistics = table1_statistics(
        scores, targets=committed["settings"]["targets"], confidence=committed["confidence"]
    )
    cells = table1_cells(statistics, dataset=model_config(params, target).dataset)
    assert json.dumps(cells, sort_keys=True) == json.dumps(committed["table1"], sort_keys=True)
    timing = timing_statistics(read_attack_times(COMMITTED, target))
    assert {"attack": committed["attack_time"]["attack"], **timing} == committed["attack_time"]


def test_mean_ci_errors() -> None:
    with pytest.raises(ValueError, match=r"need finite scores, got 0 values"):
        mean_ci([])
    with pytest.raises(ValueError, match=r"confidence=1.5; expected a level in \(0, 1\)"):
        mean_ci([1.0, 2.0], 1.5)


def test_selection_is_seeded_ordered_and_in_range() -> None:
    frames = {
        kind: pd.DataFrame(
            {"index": np.arange(10) + 100, "untargeted": np.linspace(0, 0.45, 10) * k}
        )
        for k, kind in enumerate(["benign", "fgsm", "cw"], start=1)
    }
    chosen = select_in_score_range(
        frames, score="untargeted", score_range=[0.0, 0.3], n_examples=8, seed=0
    )
    assert list(chosen.columns) == ["set", "position", "index", "score"]
    assert len(chosen) == 8 and chosen["score"].between(0.0, 0.3).all()
    order = {"benign": 0, "fgsm": 1, "cw": 2}
    keys = list(zip(chosen["set"].map(order), chosen["position"], strict=True))
    assert keys == sorted(keys)
    assert (chosen["index"] == chosen["position"] + 100).all()
    again = select_in_score_range(
        frames, score="untargeted", score_range=[0.0, 0.3], n_examples=8, seed=0
    )
    pd.testing.assert_frame_equal(chosen, again)
    everything = select_in_score_range(
        frames, score="untargeted", score_range=[0.0, 0.3], n_examples=100, seed=0
    )
    assert len(everything) == sum(int((f["untargeted"] <= 0.3).sum()) for f in frames.values())
    with pytest.raises(ValueError, match=r"the CLEVER table of 'benign' has no 'llc' scores"):
        select_in_score_range(frames, score="llc", score_range=[0, 1], n_examples=1, seed=0)


def test_image_seed_depends_on_seed_and_index_only() -> None:
    assert image_seed(0, 5) != image_seed(0, 6) != image_seed(1, 5)
    assert image_seed(3, 7) == image_seed(3, 7)
    with pytest.raises(ValueError, match=r"index=-1; expected a non-negative source test index"):
        image_seed(0, -1)


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 6)
    ).eval()


def tiny_set(kind: str = "benign", n: int = 3) -> ExampleSet:
    x = torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    return ExampleSet(
        x=x,
        indices=torch.arange(40, 40 + n),
        labels=torch.zeros(n, dtype=torch.long),
        kind=kind,
        split="eval",
        success=None if kind == "benign" else torch.tensor([True, False, True][:n]),
    )


SETTINGS = CleverSettings(
    nb_batches=6, batch_size=5, radius=3.0, sampling="scaled", cap_at_radius=False, chunk_size=7
)


def test_clever_table_scores_each_image_from_its_own_stream() -> None:
    model, example_set = tiny_cnn(), tiny_set("fgsm")
    table = clever_table(model, example_set, settings=SETTINGS, n_images=5, seed=0)
    frame = table.frame
    assert list(frame.columns) == clever_columns(TARGETS) and len(frame) == 3
    assert frame["index"].tolist() == [40, 41, 42]
    assert frame["crafted_success"].tolist() == [True, False, True]
    assert (frame["untargeted"] <= frame["llc"]).all() and (frame["untargeted"] > 0).all()
    assert table.seconds > 0
    # the last image alone gets the same scores: streams are keyed by source index
    alone = ExampleSet(
        x=example_set.x[2:],
        indices=example_set.indices[2:],
        labels=example_set.labels[2:],
        kind="fgsm",
        split="eval",
    )
    single = clever_table(model, alone, settings=SETTINGS, n_images=1, seed=0).frame
    for target in TARGETS:
        assert single[target].item() == pytest.approx(frame[target].iloc[2], rel=1e-6)
    with pytest.raises(ValueError, match=r"n_images=0; expected at least 1"):
        clever_table(model, example_set, settings=SETTINGS, n_images=0, seed=0)


def test_probability_output_scores_softmax_margins() -> None:
    model, example_set = tiny_cnn(), tiny_set()
    settings = CleverSettings(
        **{**SETTINGS.as_dict(), "targets": ("llc",), "output": "probabilities"}
    )
    frame = clever_table(model, example_set, settings=settings, n_images=2, seed=0).frame
    probs = torch.softmax(model(example_set.x[:2]), 1)
    expected = probs.max(1).values - probs.min(1).values
    assert frame["llc_margin"].tolist() == pytest.approx(expected.tolist(), rel=1e-5)
    wrapped = scored_model(model, "probabilities")
    assert wrapped.bounds == (0.0, 1.0) and scored_model(model, "logits") is model
    # the wrapper takes the model's mode, so scoring never leaves dropout switched on
    assert not wrapped.training and not model.training
    with pytest.raises(
        ValueError, match=r"output='logprobs'; expected 'logits' or 'probabilities'"
    ):
        scored_model(model, "logprobs")


def test_timed_costs_match_the_batched_attack() -> None:
    model = tiny_cnn()
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    attack = make_cost_attack("jsma", max_iterations=50)
    frame = timed_costs(attack, model, x)
    assert list(frame.columns) == TIME_COLUMNS and len(frame) == 4
    assert (frame["seconds"] > 0).all()
    batched = attack(model, x)
    assert frame["cost"].tolist() == batched.cost.tolist()
    with pytest.raises(ValueError, match=r"expected a non-empty batch"):
        timed_costs(attack, model, x[:0])


def test_figures_have_one_panel_per_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "set": ["fgsm"] * 5 + ["cw"] * 5,
            "score": rng.uniform(0, 0.3, 10),
            "seconds": rng.uniform(0, 1, 10),
            "cost": rng.integers(1, 80, 10),
        }
    )
    fig = score_vs_time({"mnist": frame, "cifar10": frame}, {"mnist": 0.5, "cifar10": -0.25})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["(a) MNIST: n = 10, Spearman 0.50", "(b) CIFAR10: n = 10, Spearman -0.25"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["FGSM", "C&W"]
    png, pdf = save_figure(fig, tmp_path / "fig2")
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0
    assert len(time_vs_iterations({"mnist": frame}, {"mnist": 0.9}).axes) == 1
    with pytest.raises(ValueError, match=r"no timing tables to plot"):
        score_vs_time({}, {})
    with pytest.raises(ValueError, match=r"no Spearman correlation for panel\(s\) \['cifar10'\]"):
        score_vs_time({"mnist": frame, "cifar10": frame}, {"mnist": 0.5})


def test_timing_statistics_are_rounded_and_null_where_undefined() -> None:
    times = pd.DataFrame(
        {"score": [0.1, 0.2, 0.3, 0.4], "cost": [4, 3, 2, 1], "seconds": [1.0, 2.0, 3.0, 5.0]}
    )
    assert timing_statistics(times) == {
        "n": 4,
        "spearman_score_seconds": 1.0,
        "spearman_iterations_seconds": -1.0,
        "mean_seconds": 2.75,
    }
    assert math.isnan(spearman(times["score"][:2], times["seconds"][:2]))
    few = timing_statistics(times[:2])
    assert few["spearman_score_seconds"] is None and few["mean_seconds"] == 1.5
    assert set(timing_statistics(times[:0]).values()) == {0, None}


def _params_with(tmp_path: Path, mutate) -> Path:  # noqa: ANN001 - a small lambda
    data = yaml.safe_load(PARAMS_FILE.read_text())
    mutate(data["clever"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


BAD_CLEVER = [
    (
        "sampling",
        lambda c: c.update(sampling="gauss"),
        r"clever.sampling='gauss'; expected 'scaled' or 'uniform'",
    ),
    ("target typo", lambda c: c.update(targets=["untargetted"]), r"did you mean 'untargeted'"),
    ("no benign", lambda c: c.update(sets=["fgsm"]), r"has no 'benign'"),
    (
        "set typo",
        lambda c: c.update(sets=["benign", "bim"]),
        r"clever.sets has 'bim', not a set kind",
    ),
    ("one batch", lambda c: c.update(nb_batches=1), r"nb_batches >= 2"),
    ("output", lambda c: c.update(output="softmax"), r"clever.output='softmax'; expected 'logits'"),
    ("radius", lambda c: c.update(radius=0.0), r"clever.radius=0.0; expected a radius > 0"),
    ("timing attack", lambda c: c["timing"].update(attack="bmi"), r"did you mean 'bim'"),
    (
        "timing score",
        lambda c: c.update(targets=["llc"]),
        r"clever.timing.score='untargeted' is not one of",
    ),
    ("range", lambda c: c["timing"].update(score_range=[0.3, 0.0]), r"low < high"),
    ("unknown key", lambda c: c.update(nb=3), r"Key 'nb' not in 'CleverConfig'"),
]


@pytest.mark.parametrize(("what", "mutate", "match"), BAD_CLEVER, ids=[b[0] for b in BAD_CLEVER])
def test_bad_clever_config_is_a_one_line_error(
    tmp_path: Path, what: str, mutate, match: str
) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=match) as info:
        load_params(_params_with(tmp_path, mutate))
    assert "\n" not in str(info.value)


def test_paper_and_cpu_settings_compose() -> None:
    from a2d.config import compose

    paper = compose(["clever=paper"])["clever"]
    assert (paper["nb_batches"], paper["batch_size"]) == (500, 1024)
    default = load_params().clever
    # the law that reproduces the paper's Table 1 (ART's clever_u on softmax outputs)
    assert (default.output, default.sampling, default.radius, default.cap_at_radius) == (
        "probabilities",
        "uniform",
        5.0,
        True,
    )
    assert default.nb_batches * default.batch_size < 500 * 1024
    ci = compose(["profile=ci"])["clever"]
    assert ci["nb_batches"] * ci["batch_size"] <= 64 and ci["n_images"] <= 10


# --- the stages, on tiny synthetic sets and the committed Env1 MNIST weights ------------------

STAGE_OVERRIDES = [
    "device=cpu",
    "progress=false",
    *ENV1_MNIST_ONLY,
    "clever.n_images=2",
    "clever.nb_batches=3",
    "clever.batch_size=4",
    "clever.chunk_size=6",
    "clever.targets=[untargeted,llc]",
    "clever.timing.score=llc",
    "clever.timing.n_examples=3",
    "clever.timing.score_range=[0.0,100.0]",
    "costs.params.mnist.jsma.max_iterations=30",
]


def _synthetic_sets(folder: Path, kinds: list[str]) -> None:
    gen = torch.Generator().manual_seed(0)
    for kind in kinds:
        save_set(
            ExampleSet(
                x=torch.rand(3, 1, 28, 28, generator=gen),
                indices=torch.tensor([5, 9, 11]),
                labels=torch.tensor([1, 2, 3]),
                kind=kind,
                split="eval",
                success=None if kind == "benign" else torch.tensor([True, True, False]),
            ),
            folder,
        )


def _stage(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "A2D_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


WEIGHTS = PROJECT_ROOT / "data" / "models" / "env1_mnist.pt"


def _clever_args(sets: Path, out: Path, metrics: Path) -> argparse.Namespace:
    return argparse.Namespace(
        target="env1_mnist",
        weights=str(WEIGHTS),
        sets=str(sets),
        out=str(out),
        metrics=str(metrics),
    )


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="no committed Env1 MNIST weights")
def test_clever_stage_and_reports_on_synthetic_sets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In process (the subprocess plumbing is tested by the error tests below)."""
    from stages import clever as clever_stage
    from stages import clever_report

    params = load_params(overrides=STAGE_OVERRIDES)
    sets, out = tmp_path / "sets", tmp_path / "clever"
    _synthetic_sets(sets, ["benign", "fgsm", "bim-a", "jsma", "cw"])
    args = _clever_args(sets, out / "env1_mnist", tmp_path / "metrics.json")
    clever_stage.main(args, params)
    table = pd.read_csv(out / "env1_mnist" / "fgsm_eval.csv")
    assert len(table) == 2 and table["index"].tolist() == [5, 9]
    assert {"untargeted", "llc", "llc_lipschitz"} <= set(table.columns)
    times = pd.read_csv(out / "env1_mnist" / "attack_time.csv")
    assert len(times) == 3 and (times["seconds"] > 0).all()
    assert set(times.columns) >= {"set", "index", "score", "cost", "seconds"}
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["table1"]) == {"Untarget", "LLC"}
    assert metrics["table1"]["Untarget"]["Benign"]["paper"] == 3.5572
    assert metrics["attack_time"]["n"] == 3

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="a2d.robustness.run"):
        clever_stage.main(args, params)
    assert caplog.text.count("is up to date, kept") == 6, caplog.text

    for artefact, suffixes in (
        ("table1", (".csv", ".md")),
        ("fig2", (".png", ".pdf")),
        ("fig10", (".png", ".pdf")),
    ):
        report = argparse.Namespace(
            artefact=artefact,
            clever=str(out),
            out=str(tmp_path / artefact),
            headline=str(tmp_path / "headline") if artefact == "table1" else None,
        )
        clever_report.main(report, params)
        for suffix in suffixes:
            assert (tmp_path / artefact).with_suffix(suffix).stat().st_size > 0
    headline = json.loads((tmp_path / "headline" / "MNIST_Untarget.json").read_text())
    assert set(headline) == {"Benign", "FGSM", "BIM", "JSMA", "C&W"}
    md = (tmp_path / "table1.md").read_text()
    assert "| MNIST | Untarget | lambda C&W |" in md and "Nb = 3, Ns = 4" in md

    # a target whose clever stage has not run yet is left out and named, not an error
    both = load_params(
        overrides=[
            *STAGE_OVERRIDES,
            "craft.targets=[env1_mnist,env1_cifar10]",
            "clever.models=[env1_mnist,env1_cifar10]",
            "detector.targets=[env1_mnist,env1_cifar10]",
        ]
    )
    report = argparse.Namespace(
        artefact="table1", clever=str(out), out=str(tmp_path / "partial"), headline=None
    )
    clever_report.main(report, both)
    partial = (tmp_path / "partial.md").read_text()
    assert "| MNIST | Untarget | Benign |" in partial and "CIFAR" not in partial.split("- ")[0]
    assert "Not yet run: env1_cifar10 (`dvc repro clever@env1_cifar10`)" in partial


STAGE_ERRORS = [
    (
        "missing set",
        ["benign", "fgsm"],
        [],
        r"a2d clever: error: no 'bim-a_eval' set in '.*' \(clever.sets has 'bim-a'\); craft it",
    ),
    (
        "bad config",
        ["benign"],
        ["clever.sampling=gauss"],
        r"a2d clever: error: clever.sampling='gauss'",
    ),
]


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="no committed Env1 MNIST weights")
@pytest.mark.parametrize(
    ("what", "kinds", "extra", "match"), STAGE_ERRORS, ids=[e[0] for e in STAGE_ERRORS]
)
def test_clever_stage_errors_are_one_line(
    tmp_path: Path, what: str, kinds: list[str], extra: list[str], match: str
) -> None:
    _synthetic_sets(tmp_path / "sets", kinds)
    result = _stage(
        [
            "stages.clever",
            "--target",
            "env1_mnist",
            "--weights",
            str(WEIGHTS),
            "--sets",
            str(tmp_path / "sets"),
            "--out",
            str(tmp_path / "out"),
            "--metrics",
            str(tmp_path / "m.json"),
            *STAGE_OVERRIDES,
            *extra,
        ],
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(match, errors[0]), errors[0]


def test_report_without_clever_outputs_says_what_to_run(tmp_path: Path) -> None:
    result = _stage(
        [
            "stages.clever_report",
            "--artefact",
            "fig2",
            "--clever",
            str(tmp_path),
            "--out",
            str(tmp_path / "fig2"),
            *ENV1_MNIST_ONLY,
        ],
    )
    assert result.returncode == 2
    assert "run the clever stage first (`dvc repro clever@env1_mnist`)" in result.stderr
