"""BL3 in the reports: the bl3 stage's table view, Table 2's BL3 column and Table 3's BL3 rows.

On synthetic bl3 metrics documents (the shape :func:`a2d.baselines.mutation.evaluate_mutation`
returns), so nothing is mutated or attacked: the view picks the configured operator, Table 2
reads it like BL1's cells (Env2 rows only, the paper's values beside), Table 3 puts BL3's two
countings first, and every way the inputs can be wrong is one line naming the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from a2d.baselines.mutation import MutationSettings, report_view
from a2d.config import load_params
from a2d.detectors.experiments import cost_analysis
from a2d.errors import ConfigError, DataError
from a2d.reporting import detector_tables as report
from a2d.reporting.table2 import load_baselines, table2_frame, table2_glance
from tests.test_detect_stage import _stage, synthetic_sets, write_cost_tables

KINDS = ("fgsm", "jsma", "deepfool", "cw", "bb")
"""Env2 MNIST's crafting attacks (the paper's FGSM, JSMA, DeepFool, C&W, BB)."""
PAPER_BL3 = {"FGSM": 0.9617, "JSMA": 0.9941, "DeepFool": 0.9817, "CW": 0.9576, "BB": 0.9677}
"""The paper's Table 2 BL3 column, Env2 MNIST."""


def _summary(accuracy: float, mutants: float, n: int) -> dict[str, Any]:
    return {"accuracy": accuracy, "mean_mutants": mutants, "n": n}


def _operator(base: float) -> dict[str, Any]:
    """One operator's numbers, all derived from ``base`` so operators are told apart."""
    attacks: dict[str, dict[str, Any]] = {
        kind: {
            "n": 100 + i,
            "successful_only": True,
            "auroc": round(base + i / 100, 4),
            "lcr_mean": 0.3,
            "sprt": _summary(0.9, 30.0, 100 + i),
            "sprt_compat": _summary(0.95, 60.0, 100 + i),
        }
        for i, kind in enumerate(KINDS)
    }
    attacks["cw"].update(auroc_all=round(base - 0.1, 4), n_all=120)
    n_adv = sum(cell["n"] for cell in attacks.values())
    return {
        "n_mutants": 500,
        "seed_accuracy": 0.9829,
        "min_accuracy": 0.88,
        "candidates": 512,
        "threshold": round(base / 20, 6),
        "benign": {
            "n": 1000,
            "lcr_mean": 0.01,
            "sprt": _summary(0.93, 100 * base, 1000),
            "sprt_compat": _summary(round(base - 0.05, 4), 400 * base, 1000),
        },
        "attacks": attacks,
        "adversarial": {
            "n": n_adv,
            "sprt": _summary(0.91, 20 * base, n_adv),
            "sprt_compat": _summary(round(base, 4), 70 * base, n_adv),
        },
    }


def scores(operators: dict[str, float] | None = None) -> dict[str, Any]:
    """What evaluate_mutation returns, for ``operators`` (name -> base value)."""
    operators = operators or {"GF": 0.8, "NAI": 0.94}
    return {
        "settings": {"operators": list(operators), "max_mutants": 500, "n_mutants": 500},
        "operators": {name: _operator(base) for name, base in operators.items()},
    }


def bl3_document(target: str = "env2_mnist", operator: str = "NAI") -> dict[str, Any]:
    """The bl3 stage's JSON: ``{"target", **scores, **report_view(scores, operator)}``."""
    found = scores()
    return {"target": target, **found, **report_view(found, operator)}


# -- the bl3 stage's report view ----------------------------------------------------------------


@pytest.mark.parametrize("operator", ["NAI", "GF"])
def test_report_view_picks_the_configured_operator(operator: str) -> None:
    found = scores()
    chosen = found["operators"][operator]
    view = report_view(found, operator)
    assert view["report_operator"] == operator
    assert set(view["bl3"]) == set(KINDS)
    for kind, cell in view["bl3"].items():
        assert cell["auroc"] == chosen["attacks"][kind]["auroc"]
        assert cell["n"] == chosen["attacks"][kind]["n"] and cell["operator"] == operator
        assert "sprt" not in cell and "sprt_compat" not in cell  # Table 2 needs the AUROC only
    assert view["bl3"]["cw"]["auroc_all"] == chosen["attacks"]["cw"]["auroc_all"]
    sprt = view["bl3_sprt"]
    assert (sprt["operator"], sprt["threshold"], sprt["max_mutants"]) == (
        operator,
        chosen["threshold"],
        500,
    )
    adversarial, benign = chosen["adversarial"], chosen["benign"]
    for counting, mode in (("compat", "sprt_compat"), ("textbook", "sprt")):
        assert sprt[counting] == {
            "adv_q": adversarial[mode]["mean_mutants"],
            "acc_adv": adversarial[mode]["accuracy"],
            "benign_q": benign[mode]["mean_mutants"],
            "acc_benign": benign[mode]["accuracy"],
            "n_adv": adversarial["n"],
            "n_benign": 1000,
        }


def test_report_view_without_the_operator_is_one_line() -> None:
    with pytest.raises(DataError, match=r"no operator 'NAI' \(measured: GF, WS\); add it") as err:
        report_view(scores({"GF": 0.8, "WS": 0.7}), "NAI")
    assert "\n" not in str(err.value)
    older = scores()
    del older["operators"]["NAI"]["adversarial"]
    with pytest.raises(DataError, match="no pooled adversarial SPRT summary.*rerun the bl3"):
        report_view(older, "NAI")


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("baselines.bl3.report_operator=XX", "report_operator='XX' is not one of"),
        ("baselines.bl3.operators=[GF,WS]", "report_operator='NAI' is not one of"),
        ("baselines.bl3.targets=[env2_mnsit]", "not a model \\(did you mean 'env2_mnist'\\?\\)"),
    ],
)
def test_bl3_report_config_is_checked(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_params(overrides=[override])


def test_bl3_report_config_defaults_to_nai() -> None:
    bl3 = load_params(overrides=["baselines.bl3.targets=[env2_mnist]"]).baselines.bl3
    assert bl3.report_operator == "NAI" and bl3.targets == ["env2_mnist"]


def test_mutation_settings_come_from_the_config_with_the_datasets_rate() -> None:
    bl3 = load_params().baselines.bl3
    settings = MutationSettings.from_config(bl3, dataset="mnist")
    assert settings.rate == bl3.rate["mnist"] and settings.operators == tuple(bl3.operators)
    assert (settings.alpha, settings.max_mutants) == (bl3.sprt.alpha, bl3.sprt.max_mutants)


# -- Table 2 -------------------------------------------------------------------------------------


def _auroc_report(target: str, env: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    cells = {kind: {"auroc": 0.97, "n_adversarial": 100} for kind in kinds}
    return {"target": target, "env": env, "dataset": "mnist", "aurocs": {"bim": cells}}


def _write(folder: Path, name: str, document: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(document))


def test_table2_has_bl3_cells_in_the_env2_rows_beside_the_paper(tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    bl1 = {"fgsm": {"auroc": 0.8, "auroc_heldout": 0.78, "n": 50}}
    _write(folder, "env1_mnist.json", {"target": "env1_mnist", "bl1": bl1})
    document = bl3_document()
    _write(folder, "bl3_env2_mnist.json", document)
    reports = [
        _auroc_report("env1_mnist", "env1", ("fgsm", "bim-a")),
        _auroc_report("env2_mnist", "env2", KINDS),
    ]

    frame = table2_frame(reports, load_baselines(folder))

    bl3 = frame[frame["detector"] == "BL3"]
    assert set(bl3["env"]) == {"env2"} and set(bl3["dataset"]) == {"mnist"}
    # the paper's row order: FGSM, JSMA, C&W, DeepFool, BB (Table 2 keys: "CW")
    assert list(bl3["attack"]) == ["FGSM", "JSMA", "CW", "DeepFool", "BB"]
    nai = document["operators"]["NAI"]["attacks"]
    for row in bl3.itertuples(index=False):
        kind = {"CW": "cw", "DeepFool": "deepfool", "BB": "bb"}.get(row.attack, row.attack.lower())
        assert row.paper == PAPER_BL3[row.attack]
        assert row.ours == nai[kind]["auroc"]
        assert row.diff == pytest.approx(row.ours - row.paper, abs=1e-4)
        assert row.n_adversarial == nai[kind]["n"] and pd.isna(row.auroc_heldout)
    env1 = frame[frame["env"] == "env1"]
    assert "BL3" not in set(env1["detector"]) and "BL1" in set(env1["detector"])
    glance = table2_glance(frame)
    assert list(glance.columns) == ["env", "dataset", "attack", "BIM_d", "BL1", "BL3"]
    row = glance[(glance["env"] == "env2") & (glance["attack"] == "FGSM")].iloc[0]
    assert row["BL3"] == f"{nai['fgsm']['auroc']:.4f} (0.9617)"
    assert glance[glance["env"] == "env1"]["BL3"].eq("").all()


def test_load_baselines_merges_a_targets_documents(tmp_path: Path) -> None:
    """BL1/BL2 (`<target>.json`) and BL3 (`bl3_<target>.json`) of one target: both kept."""
    bl1 = {"fgsm": {"auroc": 0.7, "auroc_heldout": 0.69, "n": 10}}
    _write(tmp_path, "env2_mnist.json", {"target": "env2_mnist", "bl1": bl1})
    _write(tmp_path, "bl3_env2_mnist.json", bl3_document())
    merged = load_baselines(tmp_path)["env2_mnist"]
    assert merged["bl1"] == bl1 and set(merged["bl3"]) == set(KINDS)
    _write(tmp_path, "old_bl3_env2_mnist.json", bl3_document())
    with pytest.raises(DataError, match="report bl3 of env2_mnist; delete the stale one"):
        load_baselines(tmp_path)


# -- Table 3 -------------------------------------------------------------------------------------


def _analysis() -> pd.DataFrame:
    return cost_analysis(synthetic_sets(60), threshold=-1.281552, k=2)


def test_table3_gets_bls_rows_first_with_the_paper_beside_its_own_counting() -> None:
    view = bl3_document()["bl3_sprt"]
    frame = report.table3_frame(_analysis(), dataset="mnist", env="env2", bl3=view)
    assert list(frame["attack_d"].drop_duplicates())[:3] == ["BL3", "BL3 (textbook SPRT)", "JSMA_d"]
    bl3 = frame[frame["attack_d"] == "BL3"].set_index("quantity")
    assert list(bl3.index) == ["adv_q", "acc_adv", "benign_q", "acc_benign"]
    paper = {"adv_q": 66, "acc_adv": 0.964, "benign_q": 463, "acc_benign": 0.897}
    for quantity, value in paper.items():
        assert bl3.loc[quantity, "paper"] == value
        assert bl3.loc[quantity, "ours"] == pytest.approx(view["compat"][quantity], abs=1e-4)
        assert bl3.loc[quantity, "paper_setting"] == "same (Env2)"
    textbook = frame[frame["attack_d"] == "BL3 (textbook SPRT)"].set_index("quantity")
    assert textbook["paper"].isna().all()
    assert textbook.loc["benign_q", "ours"] == pytest.approx(view["textbook"]["benign_q"])
    notes = " ".join(
        report.table3_notes(target="env2_mnist", env="env2", threshold=-1.281552, k=2, bl3=view)
    )
    assert "NAI mutants" in notes and "Not reproduced here: the BL3 row" not in notes
    assert f"benign_q {view['textbook']['benign_q']}" in notes
    # without --bl3 nothing changes, and the note says how to get the row
    plain = report.table3_frame(_analysis(), dataset="mnist", env="env2")
    assert "BL3" not in set(plain["attack_d"])
    notes = " ".join(report.table3_notes(target="env2_mnist", env="env2", threshold=-1.0, k=2))
    assert "passed with --bl3" in notes


def test_table3_bl3_rows_take_the_datasets_paper_values() -> None:
    view = bl3_document(target="env2_cifar10")["bl3_sprt"]
    frame = report.table3_frame(_analysis(), dataset="cifar10", env="env2", bl3=view)
    paper = frame[frame["attack_d"] == "BL3"].set_index("quantity")["paper"]
    assert paper.to_dict() == {"adv_q": 67, "acc_adv": 0.906, "benign_q": 376, "acc_benign": 0.74}


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (None, "no BL3 metrics at '.*bl3.json'; run the bl3 stage for env2_mnist or leave out"),
        (bl3_document("env1_mnist"), "of 'env1_mnist', not of 'env2_mnist'; pass results/"),
        ({"target": "env2_mnist", **scores()}, "has no Table 3 view .*rerun the bl3 stage"),
    ],
    ids=["missing", "other-target", "no-view"],
)
def test_read_bl3_sprt_errors_are_one_line(
    tmp_path: Path, document: dict[str, Any] | None, match: str
) -> None:
    path = tmp_path / "bl3.json"
    if document is not None:
        path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=match) as err:
        report.read_bl3_sprt(path, target="env2_mnist")
    assert "\n" not in str(err.value)


def test_read_bl3_sprt_returns_the_view(tmp_path: Path) -> None:
    path = tmp_path / "bl3.json"
    document = bl3_document()
    path.write_text(json.dumps(document))
    assert report.read_bl3_sprt(path, target="env2_mnist") == document["bl3_sprt"]


# -- the detect stage's --bl3 --------------------------------------------------------------------


def test_detect_stage_adds_the_bl3_rows_to_table3(tmp_path: Path) -> None:
    write_cost_tables(tmp_path / "costs" / "env1_mnist", synthetic_sets(60))
    path = tmp_path / "bl3_env1_mnist.json"
    document = bl3_document(target="env1_mnist")
    path.write_text(json.dumps(document))
    result = _stage(tmp_path, "--bl3", str(path))
    assert result.returncode == 0, result.stderr
    table3 = pd.read_csv(tmp_path / "out" / "tables" / "table3_env1_mnist.csv")
    bl3 = table3[table3["attack_d"] == "BL3"].set_index("quantity")
    assert bl3.loc["benign_q", "paper"] == 463
    assert bl3.loc["benign_q", "ours"] == pytest.approx(document["bl3_sprt"]["compat"]["benign_q"])
    text = (tmp_path / "out" / "tables" / "table3_env1_mnist.md").read_text()
    assert "| BL3 (textbook SPRT) | adv_q |" in text and "NAI mutants" in text


def test_detect_stage_with_a_bad_bl3_file_is_one_line(tmp_path: Path) -> None:
    write_cost_tables(tmp_path / "costs" / "env1_mnist", synthetic_sets(20))
    result = _stage(tmp_path, "--bl3", str(tmp_path / "absent.json"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no BL3 metrics at" in lines[0], result.stderr
