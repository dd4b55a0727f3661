"""The detect stage: cost tables -> Figure 6 / Table 3 / Table 7, on synthetic cost frames.

Covers reading the cost CSVs (and the one-line errors when they are missing), the END training
mix, the accuracies, the Table 3 cost analysis, the Table 7 sweeps (measured under our keys), the
paper-beside-ours tables (laid out under the paper's names), the config keys, and the stage end
to end on small synthetic tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from a2d.config import PROJECT_ROOT, check_neighbours, load_params, model_config
from a2d.detectors import AttackAsDefense
from a2d.detectors.experiments import (
    CostSets,
    average_accuracy,
    cost_analysis,
    knn_accuracies,
    mixed_adversarial,
    parameter_sweeps,
    read_cost_sets,
    sweep_k,
    sweep_threshold,
    zscore_accuracies,
)
from a2d.detectors.run import DetectorScores, detector_scores
from a2d.errors import ConfigError, DataError
from a2d.models import build_target, save_weights
from a2d.reporting import detector_tables as report

ATTACKS = ("bim", "bim2", "jsma", "dba")
CRAFTED = ("fgsm", "bim-a", "jsma", "cw")
SCALES = {"benign": 60.0, "fgsm": 12.0, "bim-a": 3.0, "jsma": 8.0, "cw": 2.0}


def synthetic_sets(n: int = 200, seed: int = 0, separation: float = 1.0) -> CostSets:
    """Integer costs: benign ones large, adversarial ones small (like BIM_d iterations)."""
    rng = np.random.default_rng(seed)
    cost, queries = {}, {}
    for kind, scale in SCALES.items():
        scale = scale if kind == "benign" else scale / separation
        for split in ("eval", "train"):
            c = np.round(rng.gamma(2.0, scale / 2.0, (n, len(ATTACKS))))
            cost[f"{kind}_{split}"], queries[f"{kind}_{split}"] = c, c + 1
    return CostSets(attacks=ATTACKS, crafted=CRAFTED, cost=cost, queries=queries)


def write_cost_tables(root: Path, sets: CostSets, *, skip: tuple[str, str] | None = None) -> None:
    """The costs stage's layout: <root>/<attack>/<set>.csv with its columns."""
    for j, attack in enumerate(sets.attacks):
        for name, cost in sets.cost.items():
            if skip == (attack, name):
                continue
            offset = 0 if name.endswith("_eval") else 10_000
            frame = pd.DataFrame(
                {
                    "index": np.arange(len(cost)) + offset,
                    "cost": cost[:, j].astype(int),
                    "queries": sets.queries[name][:, j].astype(int),
                    "success": True,
                    "label": 0,
                    "crafted_success": np.arange(len(cost)) % 10 != 0,  # every 10th failed
                }
            )
            (root / attack).mkdir(parents=True, exist_ok=True)
            frame.to_csv(root / attack / f"{name}.csv", index=False)


# ---------------------------------------------------------------------------------------------
# reading the cost tables


def test_read_cost_sets_round_trip(tmp_path: Path) -> None:
    sets = synthetic_sets(50)
    write_cost_tables(tmp_path / "env1_mnist", sets)
    read = read_cost_sets(tmp_path / "env1_mnist", attacks=ATTACKS, crafted=CRAFTED)
    assert read.attacks == ATTACKS and read.crafted == CRAFTED
    for name in sets.cost:
        np.testing.assert_array_equal(read.cost[name], sets.cost[name])
        np.testing.assert_array_equal(read.queries[name], sets.queries[name])
    only = read_cost_sets(
        tmp_path / "env1_mnist", attacks=["jsma"], crafted=["cw"], successful_only=True
    )
    assert only.cost["benign_eval"].shape == (50, 1)  # benign rows are never dropped
    assert only.cost["cw_eval"].shape == (45, 1)  # the failed adversarials are


def test_missing_cost_table_names_the_file_and_the_stage(tmp_path: Path) -> None:
    write_cost_tables(tmp_path / "env1_mnist", synthetic_sets(20), skip=("jsma", "cw_train"))
    with pytest.raises(
        DataError,
        match=r"no cost table '.*env1_mnist/jsma/cw_train.csv'; run `dvc repro costs@env1_mnist-jsma` first",
    ):
        read_cost_sets(tmp_path / "env1_mnist", attacks=ATTACKS, crafted=CRAFTED)


def test_cost_tables_must_hold_the_same_inputs(tmp_path: Path) -> None:
    write_cost_tables(tmp_path / "t", synthetic_sets(20))
    path = tmp_path / "t" / "bim2" / "fgsm_eval.csv"
    frame = pd.read_csv(path)
    frame["index"] = frame["index"][::-1].to_numpy()
    frame.to_csv(path, index=False)
    with pytest.raises(
        DataError, match="fgsm_eval cost tables of bim and bim2 hold different inputs"
    ):
        read_cost_sets(tmp_path / "t", attacks=ATTACKS, crafted=CRAFTED)


def test_successful_only_that_keeps_nothing_is_a_data_error(tmp_path: Path) -> None:
    write_cost_tables(tmp_path / "t", synthetic_sets(20))
    path = tmp_path / "t" / "bim" / "jsma_train.csv"
    pd.read_csv(path).assign(crafted_success=False).to_csv(path, index=False)
    with pytest.raises(DataError, match="jsma_train has no successful adversarial input"):
        read_cost_sets(tmp_path / "t", attacks=ATTACKS, crafted=CRAFTED, successful_only=True)


def test_cost_table_without_a_column(tmp_path: Path) -> None:
    write_cost_tables(tmp_path / "t", synthetic_sets(20))
    path = tmp_path / "t" / "bim" / "benign_eval.csv"
    pd.read_csv(path).drop(columns="queries").to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"lacks column\(s\) queries; rerun `dvc repro costs@t-bim`"
    ):
        read_cost_sets(tmp_path / "t", attacks=ATTACKS, crafted=CRAFTED)


# ---------------------------------------------------------------------------------------------
# protocol


@pytest.mark.parametrize(("n", "sizes"), [(200, [50, 50, 50, 50]), (6, [2, 2, 1, 1])])
def test_mixed_adversarial_splits_evenly_over_disjoint_sources(n: int, sizes: list[int]) -> None:
    sets = synthetic_sets(200)
    mix = mixed_adversarial(sets, n)
    assert mix.shape == (n, len(ATTACKS))
    start = 0
    for kind, size in zip(CRAFTED, sizes, strict=True):
        np.testing.assert_array_equal(mix[:size], sets.costs(kind, "train")[start : start + size])
        mix, start = mix[size:], start + size


def test_mixed_adversarial_wraps_around_beyond_one_set() -> None:
    sets = synthetic_sets(10)
    mix = mixed_adversarial(sets, 80)  # 20 from each 10-row set
    np.testing.assert_array_equal(mix[:10], mix[10:20])


def test_separable_costs_give_perfect_detectors() -> None:
    sets = synthetic_sets(200, separation=1000.0)  # adversarial costs are all 0
    knn = knn_accuracies(sets, n_neighbors=25)
    # measurement keeps our keys; reporting turns them into the paper's names
    assert set(knn["detector"]) == {"knn"}
    assert list(dict.fromkeys(knn["attack_d"])) == ["jsma", "bim", "bim2", "dba", "END"]
    assert set(knn["input"]) == {"fgsm", "bim-a", "jsma", "cw", "benign"}
    assert (knn["accuracy"] > 0.97).all(), knn
    z = zscore_accuracies(sets, threshold=-1.281552, k=2)
    assert set(z["detector"]) == {"zscore"}
    assert (z.loc[z["input"] != "benign", "accuracy"] == 1.0).all()


def test_zscore_benign_accuracy_is_about_ninety_percent() -> None:
    """h = -1.2816 is the 10% quantile of the fitted benign distribution (by construction)."""
    sets = synthetic_sets(2000, seed=5)
    z = zscore_accuracies(sets, threshold=-1.281552, k=2)
    single = z[(z["input"] == "benign") & (z["attack_d"] != "END")]["accuracy"]
    assert single.between(0.87, 0.93).all(), single


def test_average_accuracy_is_the_unweighted_mean_over_inputs() -> None:
    frame = pd.DataFrame(
        {
            "detector": ["knn"] * 3,
            "attack_d": ["bim"] * 3,
            "input": ["fgsm", "cw", "benign"],
            "accuracy": [0.5, 1.0, 0.9],
        }
    )
    assert average_accuracy(frame)["accuracy"].item() == pytest.approx(0.8)


def test_cost_analysis_rows_and_thresholds() -> None:
    sets = synthetic_sets(300)
    table = cost_analysis(sets, threshold=-1.281552, k=2)
    assert list(table["attack_d"]) == ["jsma", "bim", "bim2", "dba", "END"]
    bim = table.set_index("attack_d").loc["bim"]
    adv_q = np.vstack([sets.queries[f"{c}_eval"][:, 0] for c in CRAFTED]).mean()
    assert bim["adv_q"] == pytest.approx(adv_q)
    assert bim["benign_q"] == pytest.approx(sets.queries["benign_eval"][:, 0].mean())
    # the cost threshold reproduces the flags: adversarial iff cost < threshold
    flagged = sets.costs("benign", "eval")[:, 0] < bim["threshold"]
    assert bim["acc_benign"] == pytest.approx(1 - flagged.mean())
    end = table.set_index("attack_d").loc["END"]
    assert end["benign_q"] == pytest.approx(sets.queries["benign_eval"].sum(1).mean())
    assert end["threshold"] is None or np.isnan(end["threshold"])


def test_sweeps_move_the_rates_the_right_way() -> None:
    sets = synthetic_sets(300, separation=2.0)
    by_k = pd.DataFrame(sweep_k(sets, [1, 2, 3, 4], threshold=-1.281552))
    assert by_k["acc_adv"].is_monotonic_increasing  # k = n flags what any detector flags
    assert by_k["acc_benign"].is_monotonic_decreasing
    by_h = pd.DataFrame(sweep_threshold(sets, [-1.0, -1.5, -2.0], k=2))
    assert by_h["acc_benign"].is_monotonic_increasing  # a lower h flags fewer inputs
    assert by_h["acc_adv"].is_monotonic_decreasing


def test_parameter_sweeps_cover_every_grid() -> None:
    sets = synthetic_sets(100)
    grids = {
        "n_neighbors": [5, 25],
        "ratios": [0.5, 1.0, 2.0],
        "thresholds": [-1.0, -2.0],
        "k": [1, 4],
        "classifiers": ["knn", "svm", "dtc", "rfc"],
    }
    table = parameter_sweeps(
        sets, **grids, default_n_neighbors=25, default_threshold=-1.281552, default_k=2, seed=0
    )
    assert list(table["parameter"].value_counts().sort_index().items()) == [
        ("K", 2),
        ("classifier", 4),
        ("h", 2),
        ("k", 2),
        ("ratio", 3),
    ]
    assert list(table.loc[table["parameter"] == "ratio", "value"]) == ["1:0.5", "1:1", "1:2"]
    assert table[["acc_benign", "acc_adv"]].stack().between(0, 1).all()
    # K = 25 at 1:1 and ratio 1:1 at K = 25 and the K-NN classifier are the same detector
    same = table[
        ((table["parameter"] == "K") & (table["value"] == 25))
        | ((table["parameter"] == "ratio") & (table["value"] == "1:1"))
        | ((table["parameter"] == "classifier") & (table["value"] == "knn"))
    ]
    assert len(same) == 3 and same["acc_adv"].nunique() == 1 and same["acc_benign"].nunique() == 1
    again = parameter_sweeps(
        sets, **grids, default_n_neighbors=25, default_threshold=-1.281552, default_k=2, seed=0
    )
    pd.testing.assert_frame_equal(table, again)  # seeded: DTC / RFC are deterministic


def test_degenerate_costs_are_one_line_data_errors() -> None:
    sets = synthetic_sets(50)
    sets.cost["benign_train"][:, 0] = 500.0  # every benign input fails BIM_d: no spread
    with pytest.raises(
        DataError,
        match=r"Z-score bim: attack_d .bim.: benign costs must take at least two distinct values.* all equal to 500.0",
    ):
        zscore_accuracies(sets, threshold=-1.281552, k=2)


# ---------------------------------------------------------------------------------------------
# reports: paper beside ours


def _scores(sets: CostSets) -> DetectorScores:
    return detector_scores(sets, n_neighbors=25, threshold=-1.281552, k=2)


def test_detector_scores_stack_both_families_with_their_averages() -> None:
    sets = synthetic_sets(100)
    scores = _scores(sets)
    pd.testing.assert_frame_equal(
        scores.accuracies,
        pd.concat(
            [
                knn_accuracies(sets, n_neighbors=25),
                zscore_accuracies(sets, threshold=-1.281552, k=2),
            ],
            ignore_index=True,
        ),
    )
    pd.testing.assert_frame_equal(scores.averages, average_accuracy(scores.accuracies))
    pd.testing.assert_frame_equal(scores.analysis, cost_analysis(sets, threshold=-1.281552, k=2))


def test_reports_use_the_papers_names() -> None:
    frame = report.fig6_frame(_scores(synthetic_sets(100)), dataset="mnist")
    assert list(dict.fromkeys(frame["detector"])) == ["K-NN", "Z-score"]
    assert list(dict.fromkeys(frame["attack_d"])) == ["JSMA_d", "BIM_d", "BIM2_d", "DBA_d", "END"]
    # bim-a is the paper's BIM: the paper never writes BIM-A
    assert list(dict.fromkeys(frame["input"])) == [
        "FGSM",
        "BIM",
        "JSMA",
        "C&W",
        "Benign",
        "Average",
    ]
    notes = report.table7_notes(
        target="t",
        paper_setting=True,
        n_neighbors=25,
        threshold=-1.281552,
        k=2,
        seed=0,
        attacks_d=["bim", "bim2", "jsma"],
    )
    assert "(BIM_d, BIM2_d, JSMA_d)" in " ".join(notes)


def test_fig6_frame_puts_the_paper_knn_averages_beside_ours() -> None:
    frame = report.fig6_frame(_scores(synthetic_sets(100)), dataset="mnist")
    avg = frame[frame["input"] == "Average"].set_index(["detector", "attack_d"])
    assert avg.loc[("K-NN", "END"), "paper"] == 0.9936
    assert avg.loc[("K-NN", "JSMA_d"), "paper"] == 0.9084
    row = avg.loc[("K-NN", "BIM_d")]
    assert row["diff"] == pytest.approx(row["ours"] - row["paper"], abs=1e-4)
    assert avg.loc[("Z-score", "END"), "paper"] is None or np.isnan(
        avg.loc[("Z-score", "END"), "paper"]
    )
    assert len(frame) == 2 * 5 * 5 + 2 * 5  # (detector family x attack_d x input) + averages
    assert "ours_successful_only" not in frame.columns


def test_fig6_and_table3_frames_carry_the_successful_only_view() -> None:
    sets, other = synthetic_sets(100), synthetic_sets(100, seed=9, separation=3.0)
    frame = report.fig6_frame(_scores(sets), dataset="mnist", successful_only=_scores(other))
    assert list(frame.columns[-2:]) == ["diff", "ours_successful_only"]
    assert frame["ours_successful_only"].notna().all() and len(frame) == 60
    table3 = report.table3_frame(
        cost_analysis(sets, threshold=-1.281552, k=2),
        dataset="mnist",
        env="env1",
        successful_only=cost_analysis(other, threshold=-1.281552, k=2),
    )
    assert table3["ours_successful_only"].notna().all()
    assert (table3["ours"] != table3["ours_successful_only"]).any()


def test_table3_frame_marks_the_papers_setting() -> None:
    analysis = cost_analysis(synthetic_sets(100), threshold=-1.281552, k=2)
    frame = report.table3_frame(analysis, dataset="mnist", env="env1")
    row = frame[(frame["attack_d"] == "BIM_d") & (frame["quantity"] == "threshold")].iloc[0]
    assert row["paper"] == 122 and "Env2" in row["paper_setting"]
    assert frame[(frame["attack_d"] == "END")]["paper"].isna().all()
    notes = " ".join(report.table3_notes(target="env1_mnist", env="env1", threshold=-1.281552, k=2))
    assert "Env2" in notes and "BL3" in notes


def test_table7_frame_has_the_paper_only_in_its_setting() -> None:
    sweeps = pd.DataFrame(
        [
            {"parameter": "K", "value": 100, "acc_benign": 0.97, "acc_adv": 0.96},
            {"parameter": "h", "value": -1.281552, "acc_benign": 0.9, "acc_adv": 0.95},
            {"parameter": "ratio", "value": "1:2", "acc_benign": 0.95, "acc_adv": 0.97},
            {"parameter": "classifier", "value": "rfc", "acc_benign": 0.99, "acc_adv": 0.9},
        ]
    )
    table = report.table7_frame(sweeps, paper_setting=True)
    assert list(table.loc[table["parameter"] == "classifier", "value"]) == ["RFC", "RFC"]
    frame = table.set_index(["parameter", "metric"])
    assert frame.loc[("K", "acc_adv"), "paper"] == 0.9685
    assert frame.loc[("K", "acc_benign"), "paper"] == 0.979
    assert frame.loc[("h", "acc_benign"), "paper"] == 0.926
    assert frame.loc[("ratio", "acc_adv"), "paper"] == 0.9768
    assert frame.loc[("classifier", "acc_benign"), "paper"] == 0.994
    other = report.table7_frame(sweeps, paper_setting=False)
    assert other["paper"].isna().all()


def test_fig6_figure_and_metrics() -> None:
    scores = _scores(synthetic_sets(100))
    fig = report.fig6_figure(scores.accuracies, title="test")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["FGSM", "BIM", "JSMA", "C&W", "Benign"]
    assert fig.axes[0].get_title() == "(a) K-NN, test"
    metrics = report.headline_metrics(scores, dataset="mnist")
    assert set(metrics["knn_average_accuracy"]) == {"JSMA_d", "BIM_d", "BIM2_d", "DBA_d", "END"}
    assert metrics["paper_knn_average_accuracy"]["END"] == 0.9936
    assert 0 <= metrics["zscore_benign_accuracy"]["BIM_d"] <= 1


# ---------------------------------------------------------------------------------------------
# config and the stage


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["detector.k=5"], r"detector k=5 \(k of n\) exceeds the 3 attacks_d"),
        (["detector.attacks=[bim,dbx]"], r"detector.attacks has 'dbx'.*did you mean 'dba'"),
        (["detector.sweeps.classifiers=[svn]"], r"did you mean 'svm'"),
        (["detector.n_neighbors=0"], r"detector.n_neighbors must be > 0"),
        (["detector.thresold=-1"], r"Key 'thresold' not in 'DetectorConfig'"),
    ],
)
def test_bad_detector_config_is_one_line(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_params(None, overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["sets.n_train=40"], r"detector.n_neighbors=100 exceeds the 60 rows"),
        (["detector.sweeps.n_neighbors=[5,3000]"], r"detector.sweeps.n_neighbors=3000 exceeds"),
    ],
)
def test_k_above_the_training_rows_is_refused_by_the_detect_stage(
    overrides: list[str], message: str
) -> None:
    params = load_params(None, overrides)  # other stages may run with a small training pool
    with pytest.raises(ConfigError, match=message):
        check_neighbours(params)


def test_detector_defaults_come_from_config() -> None:
    det = load_params().detector
    assert (det.n_neighbors, det.threshold, det.k) == (100, -1.281552, 2)
    assert det.sweeps.n_neighbors == [5, 10, 25, 50, 100, 150, 200]
    assert det.sweeps.ratios == [0.5, 0.8, 1.0, 1.2, 2.0]
    assert det.sweeps.thresholds == [-1.0, -1.281552, -1.644854, -1.959964, -2.0]
    # the paper profile's detectors use BIM_d, BIM2_d, JSMA_d on CPU (DBA_d: eval split only)
    assert det.attacks == ["bim", "bim2", "jsma"]
    assert det.sweeps.k == [1, 2, 3] and det.sweeps.classifiers == ["knn", "svm", "dtc", "rfc"]


SMALL = [
    "detector.attacks=null",  # all four attacks_d (the paper profile on CPU leaves DBA_d out)
    "detector.sweeps.k=[1,2,3,4]",
    "detector.n_neighbors=15",
    "detector.sweeps.n_neighbors=[5,15]",
    "detector.sweeps.ratios=[0.5,1.0]",
    "detector.sweeps.classifiers=[knn,dtc]",
]


def _weights(path: Path) -> Path:
    """Weights of env1_mnist's architecture (random: the stage only fits on precomputed costs)."""
    params = load_params()
    cfg = model_config(params, "env1_mnist")
    dataset = params.datasets[cfg.dataset]
    if not path.is_file():
        net = build_target(cfg.arch, normalize=cfg.normalize, mean=dataset.mean, std=dataset.std)
        save_weights(net, path)
    return path


def _stage(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "stages.detect",
        "--target",
        "env1_mnist",
        "--costs",
        str(tmp_path / "costs" / "env1_mnist"),
        "--weights",
        str(_weights(tmp_path / "env1_mnist.pt")),
        "--detectors",
        str(out / "detectors" / "env1_mnist"),
        "--fig6",
        str(out / "figures" / "fig6_env1_mnist"),
        "--fig6-table",
        str(out / "tables" / "fig6_env1_mnist"),
        "--table3",
        str(out / "tables" / "table3_env1_mnist"),
        "--table7",
        str(out / "tables" / "table7_env1_mnist"),
        "--metrics",
        str(out / "metrics" / "detect_env1_mnist.json"),
        "--headline",
        str(out / "headline" / "env1_mnist"),
        *SMALL,
        *extra,
    ]
    env = {**os.environ, "A2D_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_detect_stage_writes_every_artefact(tmp_path: Path) -> None:
    write_cost_tables(tmp_path / "costs" / "env1_mnist", synthetic_sets(60))
    result = _stage(tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    for rel in (
        "figures/fig6_env1_mnist.png",
        "figures/fig6_env1_mnist.pdf",
        "tables/fig6_env1_mnist.csv",
        "tables/fig6_env1_mnist.md",
        "tables/table3_env1_mnist.csv",
        "tables/table3_env1_mnist.md",
        "tables/table7_env1_mnist.csv",
        "tables/table7_env1_mnist.md",
        "detectors/env1_mnist_knn.json",
        "detectors/env1_mnist_zscore.json",
    ):
        assert (out / rel).stat().st_size > 0, rel
    zscore_end = AttackAsDefense.load(out / "detectors/env1_mnist_zscore.json")
    assert (zscore_end.detector, zscore_end.k) == ("zscore", 2)
    metrics = json.loads((out / "metrics/detect_env1_mnist.json").read_text())
    assert metrics["target"] == "env1_mnist"
    zscore = json.loads((out / "headline/env1_mnist/zscore.json").read_text())
    assert zscore == {k: round(v, 4) for k, v in metrics["zscore_average_accuracy"].items()}
    assert set(metrics["knn_average_accuracy"]) == {"JSMA_d", "BIM_d", "BIM2_d", "DBA_d", "END"}
    # every 10th crafted input failed: the successful-only view is reported beside
    assert set(metrics["knn_average_accuracy_successful_only"]) == set(
        metrics["knn_average_accuracy"]
    )
    assert "ours_successful_only" in pd.read_csv(out / "tables/fig6_env1_mnist.csv").columns
    table7 = pd.read_csv(out / "tables/table7_env1_mnist.csv")
    assert set(table7["parameter"]) == {"K", "ratio", "h", "k", "classifier"}
    assert (
        table7.loc[(table7["parameter"] == "K") & (table7["value"] == "5"), "paper"].notna().all()
    )
    assert "Env2" in (out / "tables/table3_env1_mnist.md").read_text()


def test_detect_stage_missing_costs_is_one_line(tmp_path: Path) -> None:
    write_cost_tables(
        tmp_path / "costs" / "env1_mnist", synthetic_sets(20), skip=("dba", "benign_eval")
    )
    result = _stage(tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("a2d detect: error: no cost table '")
    assert "dba/benign_eval.csv'; run `dvc repro costs@env1_mnist-dba` first" in lines[0]
    # the attacks_d can be restricted in config, e.g. while DBA_d is still running
    ok = _stage(tmp_path, "detector.attacks=[bim,bim2,jsma]", "detector.sweeps.k=[1,2,3]")
    assert ok.returncode == 0, ok.stderr
