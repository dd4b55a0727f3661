"""Section 6's stage calls on a tiny model: the config, the sweep, A2D, Table 4's measurements,
the A2D-aware attack, the image grids and their reports (tests/test_adaptive.py: the pieces)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from a2d.adaptive import NO_DEFENCE, attack_success, configured_defences, table4_statistics
from a2d.adaptive.defence import fit_a2d, holdout_matrix, load_a2d, run_aware, save_a2d
from a2d.adaptive.grids import craft_grid, first_of_each, plan_grid
from a2d.adaptive.robustness import run_robustness
from a2d.adaptive.run import correct_only, read_sweep, run_sweep, sweep_summary
from a2d.config import (
    ADAPTIVE_DEFENCES,
    CW_PRESET_NAMES,
    AdaptiveA2DConfig,
    AdaptiveAwareConfig,
    AdaptiveConfig,
    AdaptiveCWConfig,
    AdaptiveGridConfig,
    CleverConfig,
    adaptive_grid,
    load_params,
)
from a2d.data.sets import ExampleSet
from a2d.errors import ConfigError, DataError
from a2d.models import ClassifierWrapper
from a2d.reporting import save_figure
from a2d.reporting.adaptive import (
    figure7_frame,
    figure7_glance,
    grid_columns,
    grid_figure,
    grid_summary,
)
from tests.conftest import MeanAboveHalf

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BIM: dict[str, Any] = {"epsilon": 0.3, "step": 0.001, "max_iterations": 400}
"""The defender's BIM_d on the tiny model (as tests/test_adaptive.py)."""
ONE_C: dict[str, Any] = {"initial_const": 10.0, "binary_search_steps": 1}


@pytest.fixture(scope="module")
def model() -> ClassifierWrapper:
    return ClassifierWrapper(MeanAboveHalf()).eval()


def _set(n: int, seed: int, *, start: int = 0, classes: int = 1) -> ExampleSet:
    """Class 0 images (mean 0.25-0.45), and class 1 ones (0.55-0.75) at odd rows if classes=2."""
    gen = torch.Generator().manual_seed(seed)
    x = 0.25 + 0.2 * torch.rand(n, 1, 4, 4, generator=gen)
    labels = torch.zeros(n, dtype=torch.long)
    if classes == 2:
        labels[1::2] = 1
        x[1::2] += 0.3
    return ExampleSet(
        x=x, indices=torch.arange(start, start + n), labels=labels, kind="benign", split="eval"
    )


def _cfg(**changes: Any) -> AdaptiveConfig:
    cfg = AdaptiveConfig(
        n_images=3,
        kappas=[0.0, 4.0],
        table4_kappas=[0.0, 4.0],
        caps={"toy": 8.4},
        defences={"toy": ["a2d"]},
        cw=AdaptiveCWConfig(overrides={"steps": 100, **ONE_C}),
        a2d=AdaptiveA2DConfig(n_fit=20, n_holdout=20, fpr=0.05),
        aware=AdaptiveAwareConfig(overrides={"steps": 150, **ONE_C}, compare_kappas=[0.0]),
    )
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


# ---------------------------------------------------------------- config


def test_name_lists_match_the_registries() -> None:
    from a2d.attacks.cw import CW_PRESETS

    assert tuple(CW_PRESETS) == CW_PRESET_NAMES
    built, combined = configured_defences(
        ADAPTIVE_DEFENCES,
        a2d=object(),
        magnet=object(),  # type: ignore[arg-type]
    )
    assert tuple(built) == ADAPTIVE_DEFENCES and combined == {"a2d+ae": ["a2d", "ae"]}


CONFIG_ERRORS = [
    (["adaptive.sweeps.env1_mnst=env1_mnist"], r"attacks 'env1_mnst', not a model \(did you mean 'env1_mnist'\?\)"),
    (["adaptive.targets=[env1_cifar10]"], r"Table 4 needs its own sweep, adaptive.sweeps.env1_cifar10: env1_cifar10"),
    (["adaptive.defended.env1_cifar10=env1_cifar10"], r"Figure 7 reads its kappa sweep; add adaptive.sweeps.env1_cifar10"),
    (["adaptive.sweeps.env1_cifar10=env1_mnist"], r"are on different datasets"),
    (["adaptive.sweeps.env2_cifar10=env2_cifar10"], r"craft.targets .* does not craft it"),
    (["adaptive.table4_kappas=[0,3]"], r"adaptive.table4_kappas has \[3.0\], which adaptive.kappas .* does not sweep"),
    (["adaptive.cw.preset=magent"], r"adaptive.cw.preset='magent' \(did you mean 'magnet'\?\)"),
    (["adaptive.cw.overrides.confidence=2"], r"sets 'confidence'; the kappas are adaptive.kappas"),
    (["adaptive.defences.mnist=[a2d,aee]"], r"has 'aee' \(did you mean 'ae'\?\)"),
    (["adaptive.defences.cifar10=[ae]"], r"MagNet's autoencoders are trained on 'mnist'"),
    (["adaptive.grids.fig8.layout=pair"], r"layout='pair' \(did you mean 'pairs'\?\)"),
    (["adaptive.grids.fig11.kappas=[0,20]"], r"the pairs layout runs one kappa"),
    (["adaptive.grids.fig8.pairs=[[4,4]]"], r"expected \[source class, other target class\]"),
    (["adaptive.n_images=1"], r"adaptive.n_images=1; expected a count >= 2"),
    (["adaptive.magnet.norms=[2]"], r"needs one norm per autoencoder: 2 structure\(s\), norms=\[2\]"),
    (["adaptive.a2d.fpr=1.5"], r"adaptive.a2d.fpr=1.5 .* must be rates in \[0, 1\)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "match"), CONFIG_ERRORS, ids=[c[0][0] for c in CONFIG_ERRORS]
)
def test_adaptive_config_errors_name_the_key(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_params(overrides=overrides)


def test_grid_accessor_and_the_cifar10_option() -> None:
    from a2d.config import compose

    params = load_params()
    assert adaptive_grid(params, "fig8").pairs == [[4, 0]]
    with pytest.raises(
        ConfigError, match=r"adaptive.grids has no 'fig88' \(did you mean 'fig8'\?\)"
    ):
        adaptive_grid(params, "fig88")
    both = compose(["adaptive=cifar10"])["adaptive"]
    assert both["targets"] == ["env1_mnist", "env1_cifar10"]
    assert both["defended"] == {"env1_mnist": "env1_mnist", "env1_cifar10_at": "env1_cifar10"}
    assert set(both["grids"]) == {"fig8", "fig11", "fig12", "fig13"}
    assert both["kappas"] == compose()["adaptive"]["kappas"]


# ---------------------------------------------------------------- the sweep


def test_sweep_uses_the_first_correct_images_and_resumes(tmp_path: Path, model) -> None:
    benign = _set(6, seed=0, start=100)
    benign.labels[1] = 1  # misclassified: the sweep skips it
    cfg = _cfg()
    sweep = run_sweep(model, benign, cfg, out=tmp_path, model_hash="h", seed=0)
    assert sweep[0.0].indices.tolist() == [100, 102, 103]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cw_k0.pt", "cw_k4.pt"]
    summary = sweep_summary(sweep)
    assert set(summary) == {"0", "4"} and summary["4"]["success_rate"] == 1.0
    assert summary["4"]["met_kappa"] == 1.0 and summary["4"]["l2"] > summary["0"]["l2"]
    again = read_sweep(tmp_path, [4.0])
    assert torch.equal(again[4.0].adversarial, sweep[4.0].adversarial)
    with pytest.raises(DataError, match=r"no C&W examples for kappa 8 at .*adaptive_sweep"):
        read_sweep(tmp_path, [8.0])
    with pytest.raises(DataError, match=r"classifies 5 of the 6 .* adaptive.n_images=9"):
        run_sweep(model, benign, _cfg(n_images=9), out=tmp_path, model_hash="h", seed=0)


def test_correct_only_keeps_the_set_when_nothing_is_wrong(model) -> None:
    benign = _set(4, seed=1)
    assert correct_only(model, benign) is benign


# ---------------------------------------------------------------- Table 4, A2D, Figure 7, aware


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, model) -> dict:
    out = tmp_path_factory.mktemp("sweep")
    return run_sweep(model, _set(6, seed=2), _cfg(), out=out, model_hash="h", seed=0)


def test_robustness_rows_grow_with_kappa(model, sweep) -> None:
    clever = CleverConfig(
        nb_batches=3, batch_size=8, chunk_size=24, radius=2.0, sampling="uniform",
        cap_at_radius=True, output="logits",
    )  # fmt: skip
    frame = run_robustness(model, sweep, attack_specs={"bim": BIM}, clever=clever, seed=0)
    assert len(frame) == 6 and {"clever", "cost_bim"} <= set(frame.columns)
    stats = table4_statistics(frame)
    assert stats["iterations"].is_monotonic_increasing and stats["clever"].is_monotonic_increasing


@pytest.fixture(scope="module")
def pool_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from a2d.data.sets import save_set

    pool = _set(44, seed=3, start=1000)
    pool.split = "train"
    return save_set(pool, tmp_path_factory.mktemp("sets"))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory, model, pool_path: Path) -> Path:
    found = fit_a2d(
        model, pool_path, attack_specs={"bim": BIM}, n_fit=20, n_holdout=20, model_hash="h"
    )
    folder = tmp_path_factory.mktemp("a2d") / "toy"
    save_a2d(found, folder)
    return folder


def test_a2d_is_fitted_on_the_pool_and_reloads(fitted: Path, model, pool_path: Path) -> None:
    loaded = load_a2d(fitted, model)
    assert loaded.holdout["index"].tolist() == list(range(1020, 1040))
    costs = holdout_matrix(loaded.holdout, loaded.detector)
    assert costs.shape == (20, 1)
    np.testing.assert_allclose(loaded.detector.score_costs(costs), loaded.holdout["score"])
    with pytest.raises(
        DataError, match=r"A2D needs 20 \+ 30 correctly classified .*the pool has 44"
    ):
        fit_a2d(model, pool_path, attack_specs={"bim": BIM}, n_fit=20, n_holdout=30, model_hash="h")
    with pytest.raises(DataError, match=r"no '.*detector.json'; run the adaptive_a2d stage"):
        load_a2d(fitted.parent / "missing", model)


def test_a2d_keeps_the_costs_stages_table_of_the_same_model(
    tmp_path: Path, model, pool_path: Path, fitted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from a2d.costs.suite import CostSuite
    from a2d.costs.tables import measure_sets
    from a2d.detectors.attack_as_defense import AttackAsDefense

    measure_sets(CostSuite(model, {"bim": BIM}), [pool_path], tmp_path, model_hash="h")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pool was attacked again")

    monkeypatch.setattr(AttackAsDefense, "attack_costs", refuse)
    common: dict[str, Any] = {"attack_specs": {"bim": BIM}, "n_fit": 20, "n_holdout": 20}
    kept = fit_a2d(model, pool_path, model_hash="h", costs_folder=tmp_path, **common)
    pd.testing.assert_frame_equal(kept.holdout, load_a2d(fitted, model).holdout)
    with pytest.raises(AssertionError, match="attacked again"):  # another model: attacked
        fit_a2d(model, pool_path, model_hash="other", costs_folder=tmp_path, **common)


def test_figure7_numbers_through_the_configured_defences(fitted: Path, model, sweep) -> None:
    defences, combined = configured_defences(["a2d"], a2d=load_a2d(fitted, model).detector)
    assert combined == {}
    summary, _ = attack_success(sweep, defences, cap=8.4, combined=combined)
    asr = summary.set_index(["kappa", "defence"])["asr"]
    assert asr[(0.0, NO_DEFENCE)] == 1.0 and asr[(0.0, "a2d")] == 0.0  # cheap: all flagged
    frame = figure7_frame(summary, dataset="mnist")
    none0 = frame[(frame["defence"] == "No defense") & (frame["kappa"] == 0.0)].iloc[0]
    assert (none0["paper"], none0["ours"]) == (1.0, 1.0)
    glance = figure7_glance(frame)
    assert list(glance.columns) == ["κ", "No defense", "A2D", "mean L2"]
    assert glance.iloc[0]["κ"] == "0" and glance.iloc[0]["No defense"] == "100 (100)"
    with pytest.raises(ValueError, match=r"defence 'ae' needs its detector"):
        configured_defences(["ae"])


def test_aware_attack_row_beside_kappa_cw(fitted: Path, model, sweep) -> None:
    cfg = _cfg()
    frame = run_aware(
        model, _set(6, seed=2), load_a2d(fitted, model), cfg,
        sweep=sweep, cap=8.4, out=fitted.parent / "aware", model_hash="h",
    )  # fmt: skip
    rows = frame.set_index("attack")
    assert list(rows.index) == ["a2d-aware", "cw-k0"]
    assert rows.loc["cw-k0", "asr"] == 0.0 and rows.loc["a2d-aware", "asr"] >= 0.5
    assert rows.loc["a2d-aware", "tpr"] < rows.loc["cw-k0", "tpr"] == 1.0
    assert (frame["calibrated_fpr"] <= 0.05).all() and (frame["cost_floor"] > 0).all()
    assert (fitted.parent / "aware" / "a2d-aware.pt").is_file()


# ---------------------------------------------------------------- image grids


def test_plan_grid_layouts() -> None:
    kappas = AdaptiveGridConfig(
        model="m", sets="m", layout="kappas", kappas=[0.0, 20.0], pairs=[[4, 0], [1, 7]]
    )
    sources, cells, rows, columns = plan_grid(kappas, 10)
    assert sources == [4, 1] and rows == ["4 → 0", "1 → 7"]
    assert columns == ["Benign", "κ = 0", "κ = 20"] and len(cells) == 6
    assert [(c.kappa, c.position) for c in cells if c.row == 1] == [
        (None, None),
        (0.0, 1),
        (20.0, 1),
    ]
    pairs = AdaptiveGridConfig(model="m", sets="m", layout="pairs", kappas=[8.0], classes=[0, 2, 5])
    sources, cells, rows, columns = plan_grid(pairs, 10)
    assert sources == [0, 2, 5] and rows == columns == ["0", "2", "5"]
    assert [c.benign for c in cells if c.row == c.column] == [True] * 3
    assert [(c.target, c.position) for c in cells if c.row == 1] == [(0, 2), (None, None), (5, 3)]


@pytest.mark.parametrize(
    ("layout", "extra", "shape", "crafted", "benign_titles"),
    [("kappas", {"kappas": [0.0, 4.0], "pairs": [[0, 1], [1, 0]]}, (2, 3), 4, 1),
     ("pairs", {"kappas": [4.0]}, (2, 2), 2, 2)],
)  # fmt: skip
def test_craft_grid_draws_and_resumes(
    tmp_path: Path, model, layout: str, extra: dict, shape: tuple, crafted: int,
    benign_titles: int, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from a2d.adaptive import grids

    spec = AdaptiveGridConfig(model="m", sets="m", layout=layout, **extra)
    cw = AdaptiveCWConfig(overrides={"steps": 100, **ONE_C})
    benign = _set(6, seed=4, classes=2)
    grid = craft_grid(model, benign, spec, cw=cw, out=tmp_path, model_hash="h")
    assert grid.shape == shape
    frame = grid.frame()
    assert len(frame) == shape[0] * shape[1] and int(frame["kappa"].notna().sum()) == crafted
    assert frame.loc[frame["kappa"].notna(), "success"].all()
    assert grid.sources.indices.tolist() == [0, 1]  # the first image of each class
    summary = grid_summary(grid)
    assert summary["successful"].sum() == crafted and (summary["mean_l2"] > 0).all()
    columns = grid_columns(grid)
    # the sources: a column of their own (Figure 8) or the diagonal (Figures 11-13)
    benign_cells = sum(len(c.images) if c.benign is None else int(c.benign.sum()) for c in columns)
    assert benign_cells == shape[0]
    fig = grid_figure(grid, title="toy")
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("Benign" in t for t in titles) == benign_titles
    assert all(re.search(r"L2 = \d", t) for t in titles if t and "Benign" not in t)
    png, _ = save_figure(fig, tmp_path / "grid")
    assert png.stat().st_size > 0

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a grid cell was crafted again")

    monkeypatch.setattr(grids, "confidence_attack", refuse)
    again = craft_grid(model, benign, spec, cw=cw, out=tmp_path, model_hash="h")
    pd.testing.assert_frame_equal(again.frame(), frame)


def test_grid_sources_must_exist() -> None:
    with pytest.raises(DataError, match=r"no correctly classified benign image of class 3"):
        first_of_each(_set(4, seed=5, classes=2), [0, 3])
