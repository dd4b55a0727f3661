"""AUROC measurement (a2d.detectors.roc) and reporting: Table 2, Figure 5, names, the writers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from a2d.config import PROJECT_ROOT
from a2d.costs.tables import COLUMNS, read_cost_tables
from a2d.detectors.roc import (
    auroc,
    bootstrap_interval,
    cost_auroc_report,
    cost_scores,
    roc_summary,
    tpr_at_fpr,
)
from a2d.errors import ConfigError, DataError
from a2d.reporting import comparison_frame, markdown_table, save_figure, write_table
from a2d.reporting.fig5 import iteration_boxplots
from a2d.reporting.table2 import load_baselines, table2_frame, table2_glance

SETS = {"benign": 60.0, "fgsm": 20.0, "bim-a": 5.0, "jsma": 12.0, "cw": 2.0}


def _write_costs(folder: Path, split: str = "eval", n: int = 50, seed: int = 0) -> None:
    """Synthetic cost tables: Poisson costs around a per-set mean, a few failed adversarials."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, mean in SETS.items():
        frame = pd.DataFrame(
            {
                "index": np.arange(n),
                "cost": rng.poisson(mean, n),
                "queries": rng.poisson(mean, n) + 1,
                "success": True,
                "label": rng.integers(0, 10, n),
                "crafted_success": kind == "benign" or rng.random(n) > 0.1,
            },
            columns=COLUMNS,
        )
        frame.to_csv(folder / f"{kind}_{split}.csv", index=False)


# -- AUROC summaries -------------------------------------------------------------------------


def test_auroc_equals_sklearn_and_ties_count_half() -> None:
    benign, adversarial = np.array([3, 5, 5, 9]), np.array([1, 5, 2])
    summary = roc_summary(cost_scores(benign), cost_scores(adversarial), n_bootstrap=0)
    labels = [0] * 4 + [1] * 3
    assert summary.auroc == pytest.approx(roc_auc_score(labels, -np.r_[benign, adversarial]))
    # by hand: pairs (adv, benign) where adv cheaper: 1<all 4, 2<all 4, 5<9 and 5=5 twice (half)
    assert summary.auroc == pytest.approx((4 + 4 + 1 + 2 * 0.5) / 12)


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    benign, adversarial = rng.normal(0, 1, 200), rng.normal(1, 1, 200)
    first = roc_summary(benign, adversarial, n_bootstrap=200, seed=3)
    again = roc_summary(benign, adversarial, n_bootstrap=200, seed=3)
    other = roc_summary(benign, adversarial, n_bootstrap=200, seed=4)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.ci_low < first.auroc < first.ci_high
    assert 0.05 < first.ci_high - first.ci_low < 0.2


@pytest.mark.parametrize(
    ("benign", "adversarial", "level", "expected"),
    [
        # perfectly separated: every adversarial caught at zero false positives
        ([10, 11, 12, 13], [1, 2, 3], 0.01, 1.0),
        # one benign input as cheap as the adversarials: catching them costs 1/4 FPR
        ([1, 11, 12, 13], [1, 1, 1], 0.10, 0.0),
        ([1, 11, 12, 13], [1, 1, 1], 0.25, 1.0),
        # thresholds between tied costs do not exist: 2 of 4 adversarials are at cost 5
        ([5, 9, 9, 9], [5, 5, 2, 2], 0.10, 0.5),
    ],
)
def test_tpr_at_fpr_uses_real_thresholds(
    benign: list[int], adversarial: list[int], level: float, expected: float
) -> None:
    rates = tpr_at_fpr(cost_scores(benign), cost_scores(adversarial), [level])
    assert rates[level] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("benign", "adversarial", "kwargs", "error", "match"),
    [
        ([], [1.0], {}, DataError, "no benign scores"),
        ([1.0], [np.nan], {}, DataError, "NaN or infinity"),
        ([1.0], [2.0], {"confidence": 1.5}, ConfigError, "confidence must be in"),
        ([1.0], [2.0], {"n_bootstrap": -1}, ConfigError, "n_bootstrap must be"),
    ],
)
def test_roc_summary_errors(benign, adversarial, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        roc_summary(benign, adversarial, **kwargs)


AUROC_CASES = [
    # (benign, adversarial): integer costs as scores, so ties are frequent
    ([3, 5, 5, 9], [1, 5, 2]),
    ([1, 1, 1], [1, 1]),  # every pair tied: 0.5
    ([0, 1], [2, 3, 4]),  # perfectly separated
    ([4], [4, 5, 3]),  # one benign input
]


@pytest.mark.parametrize(("benign", "adversarial"), AUROC_CASES)
def test_the_one_auroc_is_sklearns_bit_for_bit(benign: list[int], adversarial: list[int]) -> None:
    labels = [0] * len(benign) + [1] * len(adversarial)
    assert auroc(benign, adversarial) == roc_auc_score(labels, benign + adversarial)
    summary = roc_summary(benign, adversarial, n_bootstrap=0)
    assert summary.auroc == auroc(benign, adversarial) == summary.ci_low == summary.ci_high


def test_auroc_matches_sklearn_on_tie_heavy_random_costs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        benign, adversarial = rng.integers(0, 8, 40), rng.integers(0, 5, 30)
        labels = np.r_[np.zeros(40), np.ones(30)]
        expected = roc_auc_score(labels, -np.r_[benign, adversarial])
        assert auroc(cost_scores(benign), cost_scores(adversarial)) == expected


def test_bootstrap_interval_is_what_roc_summary_reports() -> None:
    rng = np.random.default_rng(2)
    benign, adversarial = rng.normal(0, 1, 50), rng.normal(1, 1, 40)
    summary = roc_summary(benign, adversarial, n_bootstrap=100, confidence=0.9, seed=5)
    interval = bootstrap_interval(benign, adversarial, n_bootstrap=100, confidence=0.9, seed=5)
    assert interval == (summary.ci_low, summary.ci_high)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: auroc([], [1.0]), DataError, "no benign scores"),
        (lambda: auroc([1.0], [np.inf]), DataError, "adversarial scores contain NaN or infinity"),
        (lambda: bootstrap_interval([1.0], [2.0], confidence=0.0), ConfigError, "confidence"),
        (lambda: bootstrap_interval([1.0], [2.0], n_bootstrap=-2), ConfigError, "n_bootstrap"),
        (
            lambda: cost_auroc_report({"bim": {"fgsm": pd.DataFrame({"cost": [1]})}}),
            DataError,
            "the bim cost tables have no benign set",
        ),
    ],
    ids=["empty", "inf", "confidence", "n_bootstrap", "no benign"],
)
def test_auroc_errors_say_what_is_wrong(call, error, match) -> None:  # noqa: ANN001
    with pytest.raises(error, match=match):
        call()


def test_baseline_auroc_is_the_one_auroc_rounded() -> None:
    from a2d.baselines.logistic import auroc as baseline_auroc

    rng = np.random.default_rng(3)
    y = np.repeat([0, 0, 1], 30)
    scores = np.round(rng.random(90), 1)  # ties
    assert baseline_auroc(y, scores) == round(float(roc_auc_score(y, scores)), 4)
    with pytest.raises(ValueError, match=r"labels must be 0 \(normal, noisy\) or 1"):
        baseline_auroc(np.array([0, 2]), np.array([0.1, 0.2]))


# -- display names and the measurement / reporting split ---------------------------------------


def test_one_display_name_table() -> None:
    from a2d.reporting.names import ATTACKS_D, SETS, display_name, value_key

    assert [SETS[k] for k in ("benign", "fgsm", "bim-a", "jsma", "cw")] == [
        "Benign",
        "FGSM",
        "BIM",
        "JSMA",
        "C&W",
    ]  # as the paper's Tables 1 and 2 and Figure 5
    assert list(ATTACKS_D.values()) == ["JSMA_d", "BIM_d", "BIM2_d", "DBA_d"]
    assert display_name("deepfool", SETS) == "DeepFool" and display_name("new", SETS) == "new"
    # Table 2 and paper_values.yaml key "C&W" as "CW"
    assert value_key("C&W") == "CW" and value_key("BIM") == "BIM"


def _first_party_imports(folder: Path) -> dict[str, set[str]]:
    import ast

    found: dict[str, set[str]] = {}
    for file in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(file.relative_to(PROJECT_ROOT))] = {n for n in names if n.startswith("a2d")}
    return found


def test_measurement_and_reporting_stay_apart() -> None:
    """Reporting computes nothing of its own; measuring code never imports reporting."""
    reporting = _first_party_imports(PROJECT_ROOT / "a2d" / "reporting")
    computing = {
        f: sorted(n for n in names if n.startswith(("a2d.costs", "a2d.robustness")))
        for f, names in reporting.items()
    }
    assert not any(computing.values()), computing
    for package in ("costs", "robustness", "detectors", "baselines"):
        imports = _first_party_imports(PROJECT_ROOT / "a2d" / package)
        wrong = {f: n for f, n in imports.items() if any(x.startswith("a2d.reporting") for x in n)}
        assert not wrong, wrong


# -- cost tables -> AUROC report -> Table 2 ---------------------------------------------------


def _tables(folder: Path, attacks: tuple[str, ...]) -> dict[str, dict[str, pd.DataFrame]]:
    return {a: read_cost_tables(folder / a, split="eval") for a in attacks}


def test_cost_auroc_report_unfiltered_and_success_only(tmp_path: Path) -> None:
    _write_costs(tmp_path / "bim")
    report = cost_auroc_report(_tables(tmp_path, ("bim",)), n_bootstrap=50)
    assert set(report["bim"]) == {"fgsm", "bim-a", "jsma", "cw"}
    tables = read_cost_tables(tmp_path / "bim", split="eval")
    for kind, cell in report["bim"].items():
        benign, adv = tables["benign"], tables[kind]
        labels = [0] * len(benign) + [1] * len(adv)
        expected = roc_auc_score(labels, -np.r_[benign["cost"], adv["cost"]])
        assert cell["auroc"] == pytest.approx(expected, abs=1e-4)
        ok = adv[adv["crafted_success"]]
        filtered = roc_auc_score(
            [0] * len(benign) + [1] * len(ok), -np.r_[benign["cost"], ok["cost"]]
        )
        assert cell["auroc_success_only"] == pytest.approx(filtered, abs=1e-4)
        assert cell["n_success"] == len(ok) and cell["n_adversarial"] == len(adv)
        assert set(cell["tpr_at_fpr"]) == {"0.01", "0.05", "0.1"}


def test_read_cost_tables_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run the costs stage first"):
        read_cost_tables(tmp_path, split="eval")
    pd.DataFrame({"cost": [1]}).to_csv(tmp_path / "benign_eval.csv", index=False)
    with pytest.raises(DataError, match="lacks column"):
        read_cost_tables(tmp_path, split="eval")


def test_table2_rows_carry_paper_values_and_diffs(tmp_path: Path) -> None:
    for attack in ("bim", "jsma"):
        _write_costs(tmp_path / attack)
    aurocs = cost_auroc_report(_tables(tmp_path, ("bim", "jsma")), n_bootstrap=0)
    report = {"target": "env1_mnist", "env": "env1", "dataset": "mnist", "aurocs": aurocs}
    baselines = {"env1_mnist": {"bl1": {"fgsm": {"auroc": 0.8, "auroc_heldout": 0.78, "n": 50}}}}
    frame = table2_frame([report], baselines)
    row = frame[(frame["attack"] == "FGSM") & (frame["detector"] == "BIM_d")].iloc[0]
    assert row["paper"] == 0.9922
    assert row["diff"] == pytest.approx(row["ours"] - 0.9922, abs=1e-4)
    bl1 = frame[frame["detector"] == "BL1"].iloc[0]
    assert (bl1["paper"], bl1["ours"], bl1["auroc_heldout"]) == (0.8267, 0.8, 0.78)
    # the paper's order: attacks FGSM, BIM, JSMA, CW; detectors JSMA_d before BIM_d
    assert list(frame["attack"].drop_duplicates()) == ["FGSM", "BIM", "JSMA", "CW"]
    assert list(frame[frame["attack"] == "FGSM"]["detector"]) == ["JSMA_d", "BIM_d", "BL1"]
    glance = table2_glance(frame)
    assert list(glance.columns) == ["env", "dataset", "attack", "JSMA_d", "BIM_d", "BL1"]
    assert glance.iloc[0]["BL1"] == "0.8000 (0.8267)"


def test_load_baselines_keys_documents_by_target(tmp_path: Path) -> None:
    assert load_baselines(None) == {} and load_baselines(tmp_path / "absent") == {}
    (tmp_path / "env1_mnist.json").write_text(json.dumps({"target": "env1_mnist", "bl1": {}}))
    assert load_baselines(tmp_path) == {"env1_mnist": {"target": "env1_mnist", "bl1": {}}}


# -- writers ----------------------------------------------------------------------------------


def test_write_table_csv_and_markdown(tmp_path: Path) -> None:
    frame = comparison_frame(
        [{"cell": "a", "paper": 0.5, "ours": 0.61234}, {"cell": "b", "ours": 1.0}], keys=["cell"]
    )
    assert list(frame.columns) == ["cell", "paper", "ours", "diff"]
    assert frame["diff"].iloc[0] == pytest.approx(0.1123)
    assert pd.isna(frame["diff"].iloc[1])
    csv, md = write_table(frame, tmp_path / "t", title="T", notes=["why"])
    assert pd.read_csv(csv)["ours"].tolist() == [0.6123, 1.0]
    text = md.read_text()
    assert text.startswith("# T\n") and "| a | 0.5000 | 0.6123 | 0.1123 |" in text
    assert "| b |  | 1.0000 |  |" in text and text.endswith("- why\n")
    assert markdown_table(frame).count("\n") == 4


def test_fig5_draws_one_panel_per_attack_and_saves_png_pdf(tmp_path: Path) -> None:
    for attack in ("bim", "bim2", "jsma", "dba"):
        _write_costs(tmp_path / attack)
    tables = {
        a: read_cost_tables(tmp_path / a, split="eval") for a in ("dba", "bim", "jsma", "bim2")
    }
    fig = iteration_boxplots(tables)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["(a) BIM$_d$", "(b) BIM2$_d$", "(c) JSMA$_d$", "(d) DBA$_d$"]
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["Benign", "FGSM", "BIM", "JSMA", "C&W"]
    png, pdf = save_figure(fig, tmp_path / "fig5")
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"


# -- stages: one-line errors, then a run on synthetic cost tables ----------------------------


def _stage(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"stages.{module}", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_stages_missing_inputs_are_one_line_errors(tmp_path: Path) -> None:
    runs = [
        _stage(
            "auroc",
            "--target",
            "env1_mnist",
            "--costs",
            str(tmp_path),
            "--out",
            str(tmp_path / "a.json"),
        ),
        _stage(
            "table2",
            "--aurocs",
            str(tmp_path),
            "--out",
            str(tmp_path / "t"),
            "--headline",
            str(tmp_path / "h"),
        ),
        _stage(
            "fig5", "--target", "env1_mnist", "--costs", str(tmp_path), "--out", str(tmp_path / "f")
        ),
    ]
    for result in runs:
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "run `dvc repro" in result.stderr and "Traceback" not in result.stderr


def test_report_stages_run_on_cost_tables(tmp_path: Path) -> None:
    costs = tmp_path / "costs"
    for attack in ("bim", "bim2"):
        _write_costs(costs / attack)
    aurocs = tmp_path / "auroc"
    result = _stage(
        "auroc",
        "--target",
        "env1_mnist",
        "--costs",
        str(costs),
        "--out",
        str(aurocs / "env1_mnist.json"),
        "report.n_bootstrap=20",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((aurocs / "env1_mnist.json").read_text())
    assert (report["env"], report["dataset"], set(report["aurocs"])) == (
        "env1",
        "mnist",
        {"bim", "bim2"},
    )
    headline = tmp_path / "headline"
    result = _stage(
        "table2",
        "--aurocs",
        str(aurocs),
        "--out",
        str(tmp_path / "table2"),
        "--headline",
        str(headline),
    )
    assert result.returncode == 0, result.stderr
    assert "0.9922" in result.stderr  # the log shows the paper's value beside ours
    assert len(pd.read_csv(tmp_path / "table2.csv")) == 8
    # one headline row per detector, its columns the crafting attacks (the DVC metrics)
    assert sorted(p.stem for p in headline.glob("*.json")) == [
        "env1_mnist_BIM2_d",
        "env1_mnist_BIM_d",
    ]
    row = json.loads((headline / "env1_mnist_BIM_d.json").read_text())
    assert set(row) == set(pd.read_csv(tmp_path / "table2.csv")["attack"])
    result = _stage(
        "fig5", "--target", "env1_mnist", "--costs", str(costs), "--out", str(tmp_path / "fig5")
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fig5.png").is_file() and (tmp_path / "fig5.pdf").is_file()


def test_headline_rows_share_columns_and_replace_stale_rows(tmp_path) -> None:
    import json

    import pandas as pd

    from a2d.reporting.headline import detector_rows, table1_rows, table2_rows, write_headline_rows

    table2 = pd.DataFrame(
        {
            "env": ["env1"] * 4,
            "dataset": ["mnist"] * 4,
            "attack": ["FGSM", "BIM", "FGSM", "BIM"],
            "detector": ["BIM_d", "BIM_d", "BL1", "BL1"],
            "ours": [0.98881, 0.9994, 0.8774, float("nan")],
        }
    )
    rows = table2_rows(table2)
    assert list(rows) == ["env1_mnist_BIM_d", "env1_mnist_BL1"]
    assert rows["env1_mnist_BIM_d"] == {"FGSM": 0.98881, "BIM": 0.9994}
    table1 = pd.DataFrame(
        {
            "dataset": ["MNIST"] * 3,
            "label": ["Untarget"] * 3,
            "column": ["Benign", "lambda FGSM", "FGSM"],
            "ours": [3.0467, 46.9, 0.0649],
        }
    )
    assert table1_rows(table1) == {"MNIST_Untarget": {"Benign": 3.0467, "FGSM": 0.0649}}
    detectors = detector_rows(
        {"knn_average_accuracy": {"BIM_d": 0.98}, "zscore_average_accuracy": {"BIM_d": 0.97}}
    )
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "stale.json").write_text("{}")
    write_headline_rows(tmp_path / "rows", {**rows, **detectors})
    written = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "rows").glob("*.json")}
    assert set(written) == {"env1_mnist_BIM_d", "env1_mnist_BL1", "knn", "zscore"}
    assert written["env1_mnist_BIM_d"] == {"FGSM": 0.9888, "BIM": 0.9994}  # rounded as tables
    assert written["env1_mnist_BL1"] == {"FGSM": 0.8774}  # NaN cells are left out, not written
