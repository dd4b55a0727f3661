"""BL3 (model mutation testing): operators, the cached mutant bank, LCR, the threshold and the SPRT.

The operators and the SPRT are checked against plain loops written from spec/baselines.md
section 3 (one Python loop per parameter entry, per mutant); the SPRT also on synthetic
Bernoulli label-change streams, in its textbook form and in BL3's counting.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from torch import nn

from a2d.baselines import mutation
from a2d.baselines.mutation import (
    OPERATORS,
    MutantBank,
    MutationSettings,
    SPRTDetector,
    evaluate_mutation,
    label_change_rate,
    label_changes,
    lcr_threshold,
    make_mutant,
    mutant_bank,
    mutate_,
    report_view,
)
from a2d.data.sets import ExampleSet, save_set
from a2d.errors import ConfigError, DataError
from a2d.models.wrapper import ClassifierWrapper

RATE = 0.25
NUM_CLASSES = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _net() -> nn.Module:
    """36 rows in weight tensors (conv 12 >= 10, linear 20 >= 10, linear 4 < 10), 8864 entries."""
    return nn.Sequential(
        nn.Conv2d(1, 12, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(12 * 6 * 6, 20),
        nn.ReLU(),
        nn.Linear(20, NUM_CLASSES),
    )


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    prototypes = torch.rand((NUM_CLASSES, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(n) % NUM_CLASSES
    noise = 0.2 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed))
    return (0.2 + 0.6 * prototypes[labels] + noise).clamp(0, 1), labels


@pytest.fixture(scope="module")
def trained() -> tuple[ClassifierWrapper, torch.Tensor, torch.Tensor]:
    """A tiny CNN (normalisation inside) trained on class blobs, and 80 test blobs."""
    torch.manual_seed(0)
    model = ClassifierWrapper(_net(), mean=[0.5], std=[0.25])
    x, y = _blobs(200, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)
    x_test, y_test = _blobs(80, seed=1)
    return model.eval(), x_test, y_test


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


# ---------------------------------------------------------------- plain reference operators


def reference_mutation(
    net: nn.Module, operator: str, rate: float, generator: torch.Generator
) -> None:
    """The four operators as per-entry Python loops, drawing in the same order as mutate_."""
    named = list(net.named_parameters())
    with torch.no_grad():
        if operator == "GF":
            total = sum(p.numel() for _, p in named)
            chosen = sorted(
                torch.randperm(total, generator=generator)[: int(total * rate)].tolist()
            )
            offset = 0
            for _, p in named:
                local = [i - offset for i in chosen if offset <= i < offset + p.numel()]
                if local:
                    values = [float(v) for v in p.reshape(-1)]
                    mean = sum(values) / len(values)
                    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                    draws = torch.normal(mean, std, (len(local),), generator=generator)
                    flat = p.reshape(-1)
                    for j, i in enumerate(local):
                        flat[i] = float(draws[j])
                offset += p.numel()
            return
        weights = [(n, p) for n, p in named if p.dim() > 1]
        if operator == "NS":
            for _, p in weights:
                units = p.shape[0]
                if units < 10:
                    continue
                share = units * rate
                m = math.floor(share) if share > 2 else math.ceil(share)
                picked = torch.randperm(units, generator=generator)[:m].tolist()
                order = torch.randperm(m, generator=generator).tolist()
                rows = [p[picked[order[i]]].clone() for i in range(m)]
                for i in range(m):
                    p[picked[i]] = rows[i]
            return
        total = sum(p.shape[0] for _, p in weights)
        chosen = sorted(torch.randperm(total, generator=generator)[: int(total * rate)].tolist())
        offset, rows_of = 0, {}
        for name, p in weights:
            rows_of[name] = [i - offset for i in chosen if offset <= i < offset + p.shape[0]]
            offset += p.shape[0]
        if operator == "WS":
            for name, p in weights:
                for row in rows_of[name]:
                    row_values = p[row].reshape(-1).clone()
                    order = torch.randperm(row_values.numel(), generator=generator).tolist()
                    flat = p[row].reshape(-1)
                    for i, source in enumerate(order):
                        flat[i] = row_values[source]
                    p[row] = flat.reshape(p[row].shape)
            return
        last: list[int] = []
        for name, p in named:  # NAI
            if p.dim() > 1:
                last = rows_of[name]
                targets = last
            else:
                targets, last = last, []
            for row in targets:
                p[row] = -p[row]


@pytest.mark.parametrize("operator", OPERATORS)
def test_each_operator_equals_its_plain_loop(operator: str) -> None:
    torch.manual_seed(3)
    net = _net()
    twin = _net()
    twin.load_state_dict(net.state_dict())
    mutate_(net, operator, rate=RATE, generator=torch.Generator().manual_seed(11))  # type: ignore[arg-type]
    reference_mutation(twin, operator, RATE, torch.Generator().manual_seed(11))
    for (name, a), (_, b) in zip(net.named_parameters(), twin.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def _changed_rows(before: torch.Tensor, after: torch.Tensor) -> int:
    return int((before != after).reshape(before.shape[0], -1).any(1).sum())


def test_gf_replaces_exactly_the_rate_of_all_entries() -> None:
    torch.manual_seed(0)
    net = _net()
    before = _state(net)
    record = mutate_(net, "GF", rate=RATE, generator=torch.Generator().manual_seed(0))
    after = _state(net)
    total = sum(v.numel() for v in before.values())
    changed = sum(int((before[k] != after[k]).sum()) for k in before)
    assert changed == int(total * RATE) == sum(v.numel() for v in record.sites.values()) == 2216


@pytest.mark.parametrize("operator", ["WS", "NAI"])
def test_ws_and_nai_change_exactly_the_rate_of_all_rows(operator: str) -> None:
    torch.manual_seed(0)
    net = _net()
    before = _state(net)
    record = mutate_(net, operator, rate=RATE, generator=torch.Generator().manual_seed(1))  # type: ignore[arg-type]
    after = _state(net)
    weights = [k for k, v in before.items() if v.dim() > 1]
    rows = sum(_changed_rows(before[k], after[k]) for k in weights)
    assert rows == int(36 * RATE) == 9
    assert sum(record.sites[k].numel() for k in weights if k in record.sites) == 9
    for k in weights:
        for row in record.sites.get(k, torch.empty(0, dtype=torch.long)).tolist():
            if operator == "WS":  # a permutation of the row's own weights
                assert torch.equal(
                    before[k][row].flatten().sort().values, after[k][row].flatten().sort().values
                )
            else:
                assert torch.equal(after[k][row], -before[k][row])
    if operator == "NAI":  # the matching biases are negated too, nothing else
        for k in (k for k in before if before[k].dim() == 1):
            weight = k.replace("bias", "weight")
            negated = record.sites.get(weight, torch.empty(0, dtype=torch.long))
            assert torch.equal(after[k][negated], -before[k][negated])
            others = torch.ones(len(before[k]), dtype=torch.bool)
            others[negated] = False
            assert torch.equal(after[k][others], before[k][others])
    else:
        assert all(torch.equal(before[k], after[k]) for k in before if before[k].dim() == 1)


def test_ns_switches_the_rule_count_of_rows_in_large_layers_only() -> None:
    torch.manual_seed(0)
    net = _net()
    before = _state(net)
    record = mutate_(net, "NS", rate=RATE, generator=torch.Generator().manual_seed(2))
    after = _state(net)
    # conv 12 rows: 12 * 0.25 = 3 > 2 -> 3; linear 20 rows: 5; linear 4 rows < 10: untouched
    assert {k: v.numel() for k, v in record.sites.items()} == {"0.weight": 3, "3.weight": 5}
    assert torch.equal(before["5.weight"], after["5.weight"])
    for k, rows in record.sites.items():
        assert torch.equal(before[k][rows].sort(0).values, after[k][rows].sort(0).values)
        untouched = torch.ones(before[k].shape[0], dtype=torch.bool)
        untouched[rows] = False
        assert torch.equal(before[k][untouched], after[k][untouched])
    assert all(torch.equal(before[k], after[k]) for k in before if before[k].dim() == 1)
    # rate 0.1: 12 * 0.1 = 1.2 and 20 * 0.1 = 2.0 are not > 2, so both round up
    small = mutate_(_net(), "NS", rate=0.1, generator=torch.Generator().manual_seed(2))
    assert {k: v.numel() for k, v in small.sites.items()} == {"0.weight": 2, "3.weight": 2}


def test_mutants_are_seeded_and_leave_the_seed_model_alone(trained) -> None:
    model, _, _ = trained
    before = _state(model)
    a, b, c = (make_mutant(model, "GF", rate=RATE, seed=s) for s in (5, 5, 6))
    assert all(torch.equal(before[k], v) for k, v in _state(model).items())
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert any(not torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters(), strict=True))
    assert not a.training


@pytest.mark.parametrize(
    ("operator", "rate", "match"),
    [
        ("AFR", 0.1, "unknown mutation operator 'AFR'"),
        ("GF", 0.0, r"rate must be a fraction in \(0, 1\]"),
    ],
)
def test_bad_operator_or_rate_is_a_config_error(operator: str, rate: float, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        mutate_(_net(), operator, rate=rate, generator=torch.Generator())  # type: ignore[arg-type]


# ---------------------------------------------------------------- the bank: filter, cache, reuse


def test_bank_keeps_accurate_mutants_and_is_cached(trained, tmp_path: Path, monkeypatch) -> None:
    model, x, y = trained
    path = tmp_path / "NAI.json"
    kwargs = dict(rate=0.1, x=x, y=y, seed=0, model_hash="h", tolerance=0.9)
    bank = mutant_bank(path, model, "NAI", n=3, **kwargs)  # type: ignore[arg-type]
    assert len(bank) == 3 and bank.candidates >= 3 and path.is_file()
    assert bank.min_accuracy == round(0.9 * bank.seed_accuracy, 2)
    for i in range(3):
        accuracy = mutation.accuracy(bank.mutant(model, i), x, y)
        assert accuracy == pytest.approx(bank.accuracies[i])
        assert round(accuracy, 2) >= bank.min_accuracy

    def no_generation(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a cached bank must not be generated again")

    monkeypatch.setattr(mutation, "generate_mutants", no_generation)
    again = mutant_bank(path, model, "NAI", n=2, **kwargs)  # type: ignore[arg-type]
    assert again.seeds == bank.seeds[:2]
    monkeypatch.undo()
    longer = mutant_bank(path, model, "NAI", n=5, **kwargs)  # type: ignore[arg-type]
    assert longer.seeds[:3] == bank.seeds and MutantBank.load(path).seeds == longer.seeds
    other = mutant_bank(path, model, "NAI", n=3, **{**kwargs, "seed": 1})  # type: ignore[arg-type]
    assert other.seeds != bank.seeds  # another key: made afresh


def test_bank_gives_up_when_no_mutant_is_accurate_enough(trained, tmp_path: Path) -> None:
    model, x, y = trained
    with pytest.raises(DataError, match=r"only 0 of 4 GF mutants .* need 2: lower the rate"):
        mutant_bank(
            tmp_path / "GF.json",
            model,
            "GF",
            rate=1.0,
            n=2,
            x=x,
            y=y,
            seed=0,
            model_hash="h",
            tolerance=1.0,
            max_candidates=4,
        )


# ---------------------------------------------------------------- LCR and the threshold


def test_label_changes_and_lcr_equal_a_plain_loop(trained, tmp_path: Path) -> None:
    model, x, y = trained
    bank = mutant_bank(
        tmp_path / "WS.json",
        model,
        "WS",
        rate=0.2,
        n=4,
        x=x,
        y=y,
        seed=0,
        model_hash="h",
        tolerance=0.5,
    )
    changes = label_changes(model, bank, x[:10], batch_size=3)
    with torch.no_grad():
        reference = model(x[:10]).argmax(1)
        for j in range(4):
            mutant = bank.mutant(model, j)
            for i in range(10):
                assert bool(changes[i, j]) == (
                    int(mutant(x[i : i + 1]).argmax(1)) != int(reference[i])
                )
    lcr = label_change_rate(changes)
    assert lcr.tolist() == pytest.approx(changes.double().mean(1).tolist())
    assert label_change_rate(changes, 2).tolist() == pytest.approx(
        changes[:, :2].double().mean(1).tolist()
    )


def test_threshold_is_mean_plus_the_99_percent_half_width() -> None:
    values = [0.0, 0.02, 0.04, 0.1, 0.06]
    mean = sum(values) / 5
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    assert lcr_threshold(values) == pytest.approx(mean + 2.5758293035489 * sd / math.sqrt(5))
    with pytest.raises(DataError, match="at least 2 finite normal LCRs"):
        lcr_threshold([0.1])


# ---------------------------------------------------------------- SPRT


def reference_sprt(
    row: list[int],
    p0: float,
    p1: float,
    cap: int,
    compat: bool,
    alpha: float = 0.05,
    beta: float = 0.05,
) -> tuple[bool, int, int]:
    """One input, one mutant at a time: the textbook SPRT, or BL3's detect() loop."""
    accept, deny = math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))

    def ratio(c: int, n: int) -> float:
        return c * math.log(p1 / p0) + (n - c) * math.log((1 - p1) / (1 - p0))

    c = 0
    if not compat:
        llr = 0.0
        for n in range(1, cap + 1):
            c += row[n - 1]
            llr = ratio(c, n)
            if llr >= accept:
                return True, n, c
            if llr <= deny:
                return False, n, c
        return llr > 0, cap, c
    n = 0
    while True:
        n += 1
        if n > cap:
            return False, n, c
        if row[n - 1]:
            pr = ratio(c, n)  # c before counting this mutant (BL3's HEAD)
            c += 1
            if pr >= accept:
                return True, n, c
            if pr <= deny:
                return False, n, c


def _streams(probabilities: list[float], n_mutants: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((len(probabilities), n_mutants)) < np.asarray(probabilities)[:, None]


@pytest.mark.parametrize("compat", [False, True], ids=["textbook", "bl3"])
def test_sprt_equals_the_plain_loop_on_bernoulli_streams(compat: bool) -> None:
    rng = np.random.default_rng(0)
    changes = _streams(list(rng.uniform(0, 0.2, 60)), 500, seed=1)
    detector = SPRTDetector(threshold=0.05, compat=compat).fit(changes)
    assert detector.p0_ == pytest.approx(0.045) and detector.p1_ == pytest.approx(0.055)
    result = detector.decide(changes)
    for i, row in enumerate(changes.astype(int).tolist()):
        assert (
            bool(result.adversarial[i]),
            int(result.mutants[i]),
            int(result.changes[i]),
        ) == reference_sprt(row, 0.045, 0.055, 500, compat), i
    assert detector.predict(changes).tolist() == result.adversarial.astype(int).tolist()


def test_sprt_decisions_on_clearly_normal_and_clearly_adversarial_streams() -> None:
    changes = _streams([0.005] * 20 + [0.3] * 20, 500, seed=2)
    textbook = SPRTDetector(threshold=0.05).fit(changes).decide(changes)
    compat = SPRTDetector(threshold=0.05, compat=True).fit(changes).decide(changes)
    for result in (textbook, compat):
        assert not result.adversarial[:20].any() and result.adversarial[20:].all()
    assert textbook.mutants.max() < 500  # every stream decided before the cap
    # BL3's loop can only stop at a label change: quiet streams run to the cap, counted 501
    stopped = compat.mutants[:20]
    assert all(n == 501 or changes[i, n - 1] for i, n in enumerate(stopped.tolist()))
    assert (stopped == 501).any() and stopped.mean() > textbook.mutants[:20].mean() + 50
    silent = np.zeros((1, 500), dtype=bool)
    b = math.log(0.945 / 0.955)
    assert SPRTDetector(threshold=0.05).fit(silent[:, :2].repeat(2, 0)).decide(
        silent
    ).mutants.tolist() == [math.ceil(math.log(0.05 / 0.95) / b)]
    assert SPRTDetector(threshold=0.05, compat=True).fit(silent).decide(
        silent
    ).mutants.tolist() == [501]


def test_sprt_detector_is_a_scikit_learn_estimator() -> None:
    normal = _streams([0.02] * 50, 100, seed=3)
    detector = SPRTDetector(max_mutants=100, relax_scale=0.2)
    fitted = detector.fit(normal)
    assert fitted is detector and clone(detector).get_params() == detector.get_params()
    base = lcr_threshold(label_change_rate(normal))
    assert detector.threshold_ == pytest.approx(base) and detector.sigma_ == pytest.approx(
        0.2 * base
    )
    assert detector.decision_function(normal).tolist() == pytest.approx(
        label_change_rate(normal).tolist()
    )
    with pytest.raises(ValueError, match="max_mutants=100 mutants but X has 50 columns"):
        detector.decide(normal[:, :50])
    with pytest.raises(ConfigError, match="alpha must be in"):
        SPRTDetector(alpha=0.7).fit(normal)
    with pytest.raises(DataError, match="the normal LCRs are all 0"):
        SPRTDetector(max_mutants=100).fit(np.zeros((5, 100), dtype=bool))


# ---------------------------------------------------------------- on a folder of sets


def test_evaluate_mutation_scores_kept_rows_and_reports_all(trained, tmp_path: Path) -> None:
    model, x, y = trained
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).nonzero().squeeze(1)
    rows = correct[:40]
    sets = tmp_path / "sets"
    sets.mkdir()
    for split, part in (("eval", rows[:20]), ("train", rows[20:40])):
        save_set(
            ExampleSet(x=x[part], indices=part, labels=y[part], kind="benign", split=split), sets
        )
    noise = torch.randn(x[rows[:20]].shape, generator=torch.Generator().manual_seed(4))
    noisy = (x[rows[:20]] + 0.5 * noise).clamp(0, 1)
    with torch.no_grad():
        prediction = model(noisy).argmax(1)
    success = prediction != y[rows[:20]]
    adversarial = ExampleSet(
        x=noisy,
        indices=rows[:20],
        labels=y[rows[:20]],
        kind="fgsm",
        split="eval",
        success=success,
        prediction=prediction,
        meta={"successful_only": True},
    )
    save_set(adversarial, sets)
    settings = MutationSettings(
        operators=("NAI", "GF"), rate=0.1, n_mutants=20, max_mutants=20, tolerance=0.5
    )

    result = evaluate_mutation(
        model, sets, x, y, settings=settings, cache=tmp_path / "mutants", model_hash="h", seed=0
    )

    assert sorted(result["operators"]) == ["GF", "NAI"]
    assert (tmp_path / "mutants" / "NAI.json").is_file()
    nai = result["operators"]["NAI"]
    assert nai["n_mutants"] == 20 and nai["benign"]["n"] == 20
    assert nai["benign"]["sprt_compat"]["n"] == 20
    cell = nai["attacks"]["fgsm"]
    assert 0 < int(success.sum()) < 20  # some failed: both views are reported
    assert cell["n"] == int(success.sum()) and cell["successful_only"] and cell["n_all"] == 20
    assert 0 <= cell["auroc"] <= 1 and 0 <= cell["auroc_all"] <= 1
    assert set(cell["sprt"]) == set(cell["sprt_compat"]) == {"accuracy", "mean_mutants", "n"}
    # Table 3 pools the attacks' kept inputs (one attack here: the pool is its cell)
    pooled = nai["adversarial"]
    assert pooled["n"] == cell["n"]
    assert pooled["sprt"] == cell["sprt"] and pooled["sprt_compat"] == cell["sprt_compat"]
    view = report_view(result, "GF")
    assert view["bl3"]["fgsm"]["auroc"] == result["operators"]["GF"]["attacks"]["fgsm"]["auroc"]
    assert (
        view["bl3_sprt"]["compat"]["benign_q"]
        == (result["operators"]["GF"]["benign"]["sprt_compat"]["mean_mutants"])
    )
    assert view["bl3_sprt"]["max_mutants"] == 20
