"""Section 6's adaptive attacks on tiny models: C&W-kappa, Table 4 and Figure 7 measurements,
the A2D-aware attack, and their reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from a2d import AttackAsDefense
from a2d.adaptive import (
    NO_DEFENCE,
    A2DAwareAttack,
    AdaptiveExamples,
    attack_success,
    aware_attack,
    confidence_robustness,
    confidence_sweep,
    cost_floor,
    defence_flags,
    detector_under_attack,
    table4_statistics,
)
from a2d.attacks.cw import CW_PRESETS, logit_margin
from a2d.costs import LinfBIMCost
from a2d.costs.suite import CostSuite
from a2d.errors import ConfigError
from a2d.models import ClassifierWrapper
from a2d.reporting import save_figure
from a2d.reporting.adaptive import (
    AT_NAMES,
    confidence_columns,
    figure7,
    figure7_claims,
    image_grid,
    table4_frame,
    table4_glance,
)
from a2d.robustness.tables import CleverSettings
from tests.conftest import MeanAboveHalf

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BIM: dict[str, Any] = {"epsilon": 0.3, "step": 0.001, "max_iterations": 400}
"""The defender's BIM_d on the tiny model: cost = (mean - 0.5) / 0.001 updates, about."""
ONE_C: dict[str, Any] = {"initial_const": 10.0, "binary_search_steps": 1}
"""The tiny model needs no search over c: one large constant keeps the tests fast."""


@pytest.fixture(scope="module")
def model() -> ClassifierWrapper:
    """Class 1 iff the mean pixel exceeds 0.5 (logit margin 40 * (mean - 0.5))."""
    return ClassifierWrapper(MeanAboveHalf()).eval()


def _benign(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = 0.25 + 0.2 * torch.rand(n, 1, 4, 4, generator=gen)  # class 0, means 0.25 .. 0.45
    return x, torch.zeros(n, dtype=torch.long)


# ---------------------------------------------------------------- C&W with kappa


@pytest.mark.parametrize(
    ("target", "expected"),
    [(torch.tensor([1, 0]), [-1.0, 4.0]), (None, [-1.0, -4.0])],
)
def test_logit_margin(target: torch.Tensor | None, expected: list[float]) -> None:
    logits = torch.tensor([[0.0, 2.0, 3.0], [5.0, 1.0, 0.0]])
    labels = torch.tensor([2, 0])
    assert logit_margin(logits, labels, target).tolist() == expected


@pytest.fixture(scope="module")
def sweep(model: ClassifierWrapper) -> dict[float, AdaptiveExamples]:
    x, y = _benign(6, seed=0)
    return confidence_sweep(
        model, x, y, kappas=[0, 4], target=torch.ones(6, dtype=torch.long), steps=200
    )


def test_confidence_sweep_reaches_kappa_and_costs_distortion(sweep) -> None:
    assert CW_PRESETS["magnet"]["step_size"] == 1e-2  # Carlini's MagNet setting
    low, high = sweep[0.0], sweep[4.0]
    assert bool(low.success.all()) and bool(high.success.all())
    assert bool((high.margin >= 4.0 - 1e-4).all())  # the margin asked for was reached
    assert float(high.l2.mean()) > float(low.l2.mean())  # ... at a larger distortion
    assert torch.allclose(high.l2, (high.adversarial - high.x).flatten(1).norm(dim=1).double())


def test_table4_measurements_grow_with_kappa(model: ClassifierWrapper, sweep) -> None:
    suite = CostSuite(model, {"bim": BIM})
    clever = CleverSettings(
        nb_batches=3, batch_size=8, radius=2.0, sampling="uniform", cap_at_radius=True,
        chunk_size=24, targets=("untargeted",),
    )  # fmt: skip
    frame = confidence_robustness(model, sweep, costs=suite, clever=clever, seed=0)
    assert len(frame) == 12 and {"clever", "cost_bim", "margin"} <= set(frame.columns)
    stats = table4_statistics(frame)
    assert stats["kappa"].tolist() == [0.0, 4.0]
    assert stats["n_success"].tolist() == [6, 6]
    assert stats["iterations"].is_monotonic_increasing
    assert stats["l2"].is_monotonic_increasing
    assert stats["clever"].is_monotonic_increasing  # margin / gradient norm grows with kappa


# ---------------------------------------------------------------- Figure 7: success through defences


def _examples(success: list[bool], l2: list[float], kappa: float = 0.0) -> AdaptiveExamples:
    n = len(success)
    x = torch.zeros(n, 1, 2, 2)
    return AdaptiveExamples(
        attack="cw", kappa=kappa, x=x, adversarial=x + torch.arange(n).view(-1, 1, 1, 1) / 10,
        indices=torch.arange(n), label=torch.zeros(n, dtype=torch.long), target=None,
        prediction=torch.ones(n, dtype=torch.long), success=torch.tensor(success),
        l2=torch.tensor(l2, dtype=torch.float64), margin=torch.zeros(n, dtype=torch.float64),
    )  # fmt: skip


def _flag_rows(rows: set[int]):
    def defence(examples: AdaptiveExamples) -> np.ndarray:
        ids = (examples.adversarial.flatten(1)[:, 0] * 10).round().long().tolist()
        return np.array([i in rows for i in ids])

    return defence


def test_attack_success_counts_adversarial_within_cap_and_undetected() -> None:
    examples = {
        0.0: _examples([True, True, True, False], [1.0, 2.0, 9.0, 0.0]),
        5.0: _examples([True, True, True, True], [3.0, 4.0, 5.0, 9.0], kappa=5.0),
    }
    defences = {"a2d": _flag_rows({0}), "ae": _flag_rows({1, 3})}
    summary, detail = attack_success(
        examples, defences, cap=8.4, combined={"a2d+ae": ["a2d", "ae"]}
    )
    asr = summary.set_index(["kappa", "defence"])["asr"]
    # kappa 0: rows 0 and 1 are adversarial within the cap (row 2 exceeds it, row 3 failed)
    assert asr[(0.0, NO_DEFENCE)] == 0.5
    assert asr[(0.0, "a2d")] == 0.25 and asr[(0.0, "ae")] == 0.25 and asr[(0.0, "a2d+ae")] == 0.0
    # kappa 5: rows 0-2 within the cap
    assert asr[(5.0, NO_DEFENCE)] == 0.75 and asr[(5.0, "a2d+ae")] == 0.25
    assert summary.set_index(["kappa", "defence"])["mean_l2"][(0.0, "none")] == 4.0
    assert {"flag_a2d", "flag_ae", "flag_a2d+ae"} <= set(detail.columns)
    assert not detail["flag_ae"].iloc[3]  # defences do not run on what cannot get through


@pytest.mark.parametrize(
    ("defences", "combined", "match"),
    [
        ({"a2d": _flag_rows(set())}, {"both": ["a2d", "ae"]}, r"unknown defence\(s\) \['ae'\]"),
        ({"none": _flag_rows(set())}, None, r"defence names must be distinct"),
    ],
)
def test_defence_flags_errors(defences, combined, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        defence_flags(_examples([True], [1.0]), defences, combined=combined)


# ---------------------------------------------------------------- the A2D-aware attack


def test_aware_attack_raises_the_bim_cost_over_the_optimisation(model: ClassifierWrapper) -> None:
    """Plain C&W lands next to the boundary (BIM_d cost ~0); the aware objective pushes the real
    BIM_d cost up as it optimises, past the threshold."""
    x, y = _benign(4, seed=1)
    defender = LinfBIMCost(**BIM)
    costs = []
    for keep_weight, steps in [(0.0, 100), (1.0, 40), (1.0, 150)]:
        attack = A2DAwareAttack(
            cost_threshold=40, **BIM, keep_weight=keep_weight, steps=steps, **ONE_C
        )
        examples = aware_attack(model, x, y, attack)
        assert bool(examples.success.all())
        costs.append(defender(model, examples.adversarial).cost.double().mean().item())
    assert costs == sorted(costs)
    assert costs[0] <= 5 and costs[-1] >= 40


@pytest.fixture(scope="module")
def detector(model: ClassifierWrapper) -> AttackAsDefense:
    """A2D with BIM_d alone, fitted on 40 benign inputs, calibrated to 5% on 40 others."""
    x, _ = _benign(40, seed=2)
    held_out, _ = _benign(40, seed=3)
    a2d = AttackAsDefense(model, attacks={"bim": BIM}, dataset=None)
    return a2d.fit(x).calibrate(held_out, fpr=0.05)


def test_cost_floor_is_the_detectors_threshold_in_iterations(detector) -> None:
    floor = cost_floor(detector)
    assert detector.predict_costs(np.array([[floor - 1.0]]))[0]
    assert not detector.predict_costs(np.array([[float(floor)]]))[0]
    built = A2DAwareAttack.against(detector, steps=10)
    assert (built.cost_threshold, built.step, built.steps) == (floor, 0.001, 10)


def test_aware_attack_gets_through_where_kappa_zero_does_not(model, detector) -> None:
    x, y = _benign(6, seed=4)
    benign_scores = detector.score(_benign(40, seed=3)[0])
    aware = aware_attack(model, x, y, A2DAwareAttack.against(detector, steps=150, **ONE_C))
    plain = confidence_sweep(model, x, y, kappas=[0], target=None, steps=100)[0.0]
    under_aware = detector_under_attack(detector, aware, benign_scores=benign_scores, cap=8.4)
    under_plain = detector_under_attack(detector, plain, benign_scores=benign_scores, cap=8.4)
    assert under_plain["asr"] == 0.0 and under_plain["auroc"] == 1.0
    assert under_aware["asr"] == 1.0 and under_aware["tpr"] <= 0.05 + 1e-9
    assert under_aware["mean_l2"] > under_plain["mean_l2"]


def test_cost_floor_and_attack_errors(model: ClassifierWrapper) -> None:
    two = AttackAsDefense(model, attacks={"bim": BIM, "bim2": {}}, dataset=None)
    with pytest.raises(ValueError, match=r"needs a fitted detector on 'bim' alone"):
        cost_floor(two)
    with pytest.raises(ConfigError, match=r"cost_threshold must be >= 0"):
        A2DAwareAttack(cost_threshold=-1)
    with pytest.raises(ConfigError, match=r"unroll_steps must be an integer >= 1"):
        A2DAwareAttack(cost_threshold=1, unroll_steps=0)


# ---------------------------------------------------------------- reports


def test_table4_report_sits_beside_the_paper() -> None:
    stats = pd.DataFrame(
        {"kappa": [0.0, 2.0], "n": [100, 100], "n_success": [100, 99], "success_rate": [1, 0.99],
         "clever": [0.01, 0.1], "iterations": [1.0, 11.0], "l2": [1.7, 1.9], "margin": [0, 2]}
    )  # fmt: skip
    frame = table4_frame({"mnist": stats})
    row = frame[(frame["quantity"] == "No. of Iterations") & (frame["kappa"] == 2.0)].iloc[0]
    assert (row["paper"], row["ours"], row["diff"]) == (10.36, 11.0, 0.64)
    glance = table4_glance(frame)
    assert list(glance.columns) == ["dataset", "quantity", "kappa=0", "kappa=2"]
    assert glance.iloc[0]["kappa=2"] == "0.10 (0.11)"


def test_figure7_and_grids_are_drawn(tmp_path: Path, sweep) -> None:
    summary = pd.DataFrame(
        {"kappa": [0.0, 0.0, 10.0, 10.0], "defence": ["none", "a2d"] * 2,
         "asr": [0.72, 0.0, 0.21, 0.0], "mean_l2": [0.4, 0.4, 1.2, 1.2]}
    )  # fmt: skip
    claims = figure7_claims(summary, dataset="cifar10")
    at10 = claims[(claims["defence"] == "none") & (claims["kappa"] == "10")].iloc[0]
    assert (at10["paper"], at10["ours"]) == (0.21, 0.21)
    assert claims[claims["kappa"] == "15"]["ours"].isna().all()
    fig = figure7(summary, names=AT_NAMES, paper={"none": {0: 0.72, "max": 1}}, cap=1.6)
    legend = fig.axes[0].get_legend()
    assert legend is not None
    assert {t.get_text() for t in legend.get_texts()} >= {"AT", "A2D+AT"}
    png, pdf = save_figure(fig, tmp_path / "fig7b")
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0
    columns = confidence_columns(sweep)
    assert [c.title for c in columns] == ["Benign", "κ = 0", "κ = 4"]
    grid = image_grid(columns, rows=[0, 1], row_labels=["0 → 1", "0 → 1"])
    titles = [ax.get_title() for ax in grid.axes]
    assert titles[0] == "Benign" and titles[1].startswith("κ = 0\nL2 = ")
    save_figure(grid, tmp_path / "fig8")
    with pytest.raises(ValueError, match=r"one row label per row"):
        image_grid(columns, rows=[0], row_labels=["a", "b"])


def test_sweep_resumes_per_kappa(
    tmp_path: Path, model: ClassifierWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    from a2d.adaptive import run
    from a2d.data.sets import ExampleSet

    x, y = _benign(3, seed=5)
    benign = ExampleSet(x=x, indices=torch.arange(10, 13), labels=y, kind="benign", split="eval")
    common: dict[str, Any] = {
        "out": tmp_path, "model_hash": "h", "seed": 0, "overrides": {"steps": 50}
    }  # fmt: skip
    first = run.confidence_sweep_resumable(model, benign, kappas=[0.0], **common)
    assert (tmp_path / "cw_k0.pt").is_file()
    assert first[0.0].indices.tolist() == [10, 11, 12]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("kappa 0 was crafted again")

    monkeypatch.setattr(run, "confidence_attack", refuse)
    again = run.confidence_sweep_resumable(model, benign, kappas=[0.0], **common)
    assert torch.equal(again[0.0].adversarial, first[0.0].adversarial)
    with pytest.raises(AssertionError, match="crafted again"):  # another setting: crafted anew
        run.confidence_sweep_resumable(model, benign, kappas=[2.0], **common)
