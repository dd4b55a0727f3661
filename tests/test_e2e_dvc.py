"""End to end: the ci profile through DVC's own Hydra composition, then a no-op second repro.

Runs in a temporary copy of the repository so the committed paper-profile outputs stay intact.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from a2d.config import PROJECT_ROOT

from .conftest import THREADS_BEFORE_PINNING, real_data_root, skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.needs_data]


def _sh(
    args: list[str], cwd: Path, env: dict[str, str], timeout: int = 2700
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def _copy_repo(dest: Path) -> None:
    """Copy what a fresh clone would hold: tracked files plus new files git does not ignore."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = PROJECT_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.fixture(scope="module")
def ci_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = real_data_root()
    if not (root / "MNIST" / "raw").is_dir():
        skip_or_fail(f"real MNIST not under {root}")
    repo = tmp_path_factory.mktemp("a2d_ci_repo")
    _copy_repo(repo)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "A2D_DATA_ROOT": str(root.resolve()),
        "A2D_PROGRESS": "0",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "a2d-test",
        "GIT_AUTHOR_EMAIL": "test@a2d",
        "GIT_COMMITTER_NAME": "a2d-test",
        "GIT_COMMITTER_EMAIL": "test@a2d",
    }
    # the stages may use every core (conftest pins each xdist worker to one thread for torch)
    env.pop("OMP_NUM_THREADS", None)
    if THREADS_BEFORE_PINNING is not None:
        env["OMP_NUM_THREADS"] = THREADS_BEFORE_PINNING
    _sh(["git", "init", "-q"], repo, env)
    # a repo-local identity: dvc exp run commits, and CI machines have no global git config
    _sh(["git", "config", "user.email", "test@a2d.invalid"], repo, env)
    _sh(["git", "config", "user.name", "a2d-test"], repo, env)
    _sh(["git", "add", "-A"], repo, env)
    _sh(["git", "commit", "-qm", "snapshot"], repo, env)
    _sh(["dvc", "exp", "run", "-S", "profile=ci"], repo, env)
    return repo, env


def test_exp_run_composed_the_ci_profile(ci_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = ci_repo
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["profile"] == "ci" and params["targets"] == ["env1_mnist"]


def test_ci_model_is_trained_on_the_real_subset(ci_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = ci_repo
    metrics = json.loads((repo / "results/metrics/model_env1_mnist.json").read_text())
    assert metrics["n_train"] == 10000 and metrics["epochs"] == 2
    assert metrics["test_accuracy"] > 0.93, metrics
    assert metrics["paper_test_accuracy"] == 0.991
    assert (repo / "data/models/env1_mnist.pt").stat().st_size > 4_000_000
    provenance = json.loads((repo / "data/models/env1_mnist.provenance.json").read_text())
    assert provenance["profile"] == "ci" and provenance["seed"] == params_seed(repo)


def params_seed(repo: Path) -> int:
    return int(yaml.safe_load((repo / "params.yaml").read_text())["seed"])


def test_craft_stage_wrote_paired_sets_and_metrics(ci_repo: tuple[Path, dict[str, str]]) -> None:
    from a2d.data.sets import load_set

    repo, _ = ci_repo
    metrics = json.loads((repo / "results/metrics/craft_env1_mnist.json").read_text())
    assert set(metrics["sets"]) == {
        f"{a}_{s}" for a in ("fgsm", "bim-a", "jsma", "cw") for s in ("eval", "train")
    }
    assert metrics["sets"]["bim-a_eval"]["success_rate"] > 0.9
    assert metrics["sets"]["cw_eval"]["success_rate"] > 0.8
    assert abs(metrics["sets"]["fgsm_eval"]["mean_linf"] - 0.3) < 1e-4
    benign = load_set(repo / "data/craft/env1_mnist/benign_eval.pt")
    pool = load_set(repo / "data/craft/env1_mnist/benign_train.pt")
    jsma = load_set(repo / "data/craft/env1_mnist/jsma_eval.pt")
    assert len(benign) == len(pool) == 40
    assert not set(benign.indices.tolist()) & set(pool.indices.tolist()), (
        "training pool must be disjoint"
    )
    assert jsma.indices.tolist() == benign.indices.tolist() and jsma.target is not None


def test_costs_stage_separates_adversarial_from_benign(
    ci_repo: tuple[Path, dict[str, str]],
) -> None:
    import pandas as pd

    repo, _ = ci_repo
    # the ci profile caps DBA_d at 60 steps (paper: 5000): most of its costs tie at the cap,
    # which pulls its AUROC towards 0.5, so it gets a lower bar than the gradient attacks
    bars = {"bim": 0.8, "bim2": 0.8, "jsma": 0.8, "dba": 0.65}
    for attack, cap in (("bim", 500), ("bim2", 500), ("jsma", 2000), ("dba", 60)):
        metrics = json.loads((repo / f"results/metrics/costs_env1_mnist_{attack}.json").read_text())
        table = pd.read_csv(repo / f"results/costs/env1_mnist/{attack}/benign_eval.csv")
        assert len(table) == 40 and table["cost"].between(0, cap).all()
        assert (table.loc[~table["success"], "cost"] == cap).all(), "a failure is exactly the cap"
        sets = metrics["sets"]
        assert sets["benign_eval"]["mean_cost"] > sets["bim-a_eval"]["mean_cost"], (attack, sets)
        assert metrics["auroc"]["bim-a_eval"] > bars[attack], (attack, metrics["auroc"])


def test_table2_and_fig5_are_rendered(ci_repo: tuple[Path, dict[str, str]]) -> None:
    import pandas as pd

    repo, _ = ci_repo
    report = json.loads((repo / "results/auroc/env1_mnist.json").read_text())
    assert set(report["aurocs"]) == {"bim", "bim2", "jsma", "dba"}
    cell = report["aurocs"]["bim"]["bim-a"]
    assert cell["ci_low"] <= cell["auroc"] <= cell["ci_high"] and cell["n_adversarial"] == 40
    table = pd.read_csv(repo / "results/tables/table2.csv")
    a2d_rows = table[table["detector"].str.endswith("_d")]
    assert len(a2d_rows) == 16  # 4 crafting attacks x 4 attacks_d, Env1 MNIST
    assert a2d_rows["paper"].notna().all(), "every A2D cell has the paper's value beside it"
    baselines = table[table["detector"].isin(["BL1", "BL2"])]
    assert len(baselines) == 8 and baselines["auroc_heldout"].notna().all()
    assert (a2d_rows["diff"] - (a2d_rows["ours"] - a2d_rows["paper"])).abs().max() < 1e-3
    assert "| env1 | mnist | FGSM |" in (repo / "results/tables/table2.md").read_text()
    for suffix, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF")):
        assert (repo / f"results/figures/fig5_env1_mnist{suffix}").read_bytes()[:4] == magic


def test_detect_stage_wrote_fig6_table3_table7(ci_repo: tuple[Path, dict[str, str]]) -> None:
    import pandas as pd

    repo, _ = ci_repo
    for rel in (
        "results/figures/fig6_env1_mnist.png",
        "results/figures/fig6_env1_mnist.pdf",
        "results/tables/fig6_env1_mnist.md",
        "results/tables/table3_env1_mnist.md",
        "results/tables/table7_env1_mnist.md",
    ):
        assert (repo / rel).stat().st_size > 0, rel
    metrics = json.loads((repo / "results/metrics/detect_env1_mnist.json").read_text())
    # the ci profile leaves DBA_d out of the detectors (its 60-step cap censors every benign cost)
    assert set(metrics["knn_average_accuracy"]) == {"JSMA_d", "BIM_d", "BIM2_d", "END"}
    # 40 benign inputs: h = -1.2816 aims at 90% benign accuracy; allow the small-sample spread
    assert 0.7 <= metrics["zscore_benign_accuracy"]["BIM_d"] <= 1.0, metrics
    # BIM-A adversarials are far cheaper than benign inputs under BIM_d: K-NN separates them
    fig6 = pd.read_csv(repo / "results/tables/fig6_env1_mnist.csv")
    bim = fig6[(fig6["detector"] == "K-NN") & (fig6["attack_d"] == "BIM_d")].set_index("input")
    assert bim.loc["BIM", "ours"] > 0.8, bim  # the paper's name for our BIM-A
    # the END detectors are saved as users load them
    for name in ("knn", "zscore"):
        saved = json.loads((repo / f"results/detectors/env1_mnist_{name}.json").read_text())
        assert saved["params"]["detector"] == name and list(saved["params"]["attacks"]) == [
            "bim",
            "bim2",
            "jsma",
        ], saved["params"]
    table7 = pd.read_csv(repo / "results/tables/table7_env1_mnist.csv")
    assert set(table7["parameter"]) == {"K", "ratio", "h", "k", "classifier"}
    assert set(table7.loc[table7["parameter"] == "K", "value"].astype(int)) == {5, 10, 15, 25, 50}


def test_clever_stage_wrote_scores_table1_and_figures(ci_repo: tuple[Path, dict[str, str]]) -> None:
    import pandas as pd

    repo, _ = ci_repo
    folder = repo / "results/clever/env1_mnist"
    for kind in ("benign", "fgsm", "bim-a", "jsma", "cw"):
        table = pd.read_csv(folder / f"{kind}_eval.csv")
        assert len(table) == 5, (kind, table)  # ci profile: clever.n_images = 5
        assert (table["untargeted"] > 0).all() and (table["untargeted"] <= table["llc"]).all()
    metrics = json.loads((repo / "results/metrics/clever_env1_mnist.json").read_text())
    assert metrics["settings"]["nb_batches"] == 5 and metrics["settings"]["batch_size"] == 8
    untargeted = metrics["table1"]["Untarget"]
    assert untargeted["Benign"]["paper"] == 3.5572
    # even tiny sampling separates benign images from BIM-A ones by a wide margin
    assert untargeted["Benign"]["ours"] > 2 * untargeted["BIM"]["ours"], untargeted
    times = pd.read_csv(folder / "attack_time.csv")
    assert 1 <= len(times) <= 8 and (times["seconds"] > 0).all()
    assert times["score"].between(0.0, 0.3).all()
    table1 = pd.read_csv(repo / "results/tables/table1.csv")
    assert set(table1["dataset"]) == {"MNIST"} and len(table1) == 4 * 10
    assert {"paper", "ours", "diff", "ci"} <= set(table1.columns)
    for figure in ("fig2", "fig10"):
        for suffix in ("png", "pdf"):
            assert (repo / f"results/figures/{figure}.{suffix}").stat().st_size > 1000


def test_baselines_stage_scores_every_attack(ci_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = ci_repo
    metrics = json.loads((repo / "results/baselines/env1_mnist.json").read_text())
    assert set(metrics) == {"target", "bl1", "bl2"} and metrics["target"] == "env1_mnist"
    for baseline in ("bl1", "bl2"):
        assert set(metrics[baseline]) == {"fgsm", "bim-a", "jsma", "cw"}, metrics[baseline]
        for attack, score in metrics[baseline].items():
            assert set(score) == {"auroc", "auroc_heldout", "n"} and score["n"] == 40, score
            assert 0 <= score["auroc"] <= 1 and 0 <= score["auroc_heldout"] <= 1, (attack, score)


def test_second_repro_does_nothing(ci_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = ci_repo
    out = _sh(["dvc", "repro"], repo, env).stdout
    assert "Running stage" not in out, out
    assert "didn't change, skipping" in out or "up to date" in out, out
    status = _sh(["dvc", "status"], repo, env).stdout
    assert "Data and pipelines are up to date." in status, status
    planned = _sh([sys.executable, "-m", "a2d.pipeline.plan"], repo, env).stdout
    assert "nothing to run" in planned, planned
    # every stage that ran recorded its wall time for the next plan
    assert (repo / "results/timings/costs@env1_mnist-bim.json").is_file()


def test_metrics_are_the_headline_rows(ci_repo: tuple[Path, dict[str, str]]) -> None:
    """`dvc metrics show` reads well: headline rows with shared columns, no load failures."""
    repo, env = ci_repo
    shown = json.loads(_sh(["dvc", "metrics", "show", "--json"], repo, env).stdout)
    flat = json.dumps(shown)
    assert "results/headline/model/env1_mnist.json" in flat and "test_accuracy" in flat
    assert "results/headline/table2/env1_mnist_BIM_d.json" in flat
    assert "results/headline/fig6/env1_mnist/zscore.json" in flat
    assert "results/headline/table1/MNIST_Untarget.json" in flat
    table = _sh(["dvc", "metrics", "show"], repo, env)
    assert "failed to load" not in table.stdout + table.stderr, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert len(header) <= 16, header  # Path + a dozen shared columns, not hundreds
