"""The craft stage's library call: set fingerprints, the seed resolver, craft_sets and its resume."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from a2d.attacks import CRAFT_ATTACKS, craft_hyperparameters
from a2d.attacks import crafting as crafting_module
from a2d.attacks.crafting import CraftPlan, craft_sets
from a2d.data import DatasetSplit
from a2d.data.sets import load_set
from a2d.errors import ConfigError

from .conftest import MeanAboveHalf

ENV1_MNIST_WEIGHTS = "152b7cc5fb64af99a3b5595367fbde5da43b6754447948cec2470fba9eaa0dbc"
"""sha256 of data/models/env1_mnist.pt, the model the committed env1_mnist sets were crafted on."""

PAPER_PLAN = CraftPlan(
    n_eval=1000,
    n_train=1000,
    attacks={
        "fgsm": {"epsilon": 0.3},
        "bim-a": {"epsilon": 0.3, "step_size": 0.01, "steps": 50},
        "jsma": {"theta": 1.0, "gamma": 0.1, "saliency": "probabilities"},
        "cw": {"preset": "paper", "confidence": 0.0},
    },
    seed=0,
    batch_size=64,
    train_subset={"cw": 100},
)
"""params.yaml's paper profile for env1_mnist (sets, craft.attacks, craft.train_subset, seed)."""

KEYS_ON_DISK = [
    ("benign", "eval", "7ef6aeaa533f8be4"),
    ("benign", "train", "8228190d5eefc605"),
    ("fgsm", "eval", "f3a92fa0ee9b3402"),
    ("bim-a", "eval", "2de0b155cee29cf3"),
    ("jsma", "eval", "de5d9fd41c41cba7"),  # seeded: the run's seed is part of the key
    ("cw", "eval", "9b91f1dd01ffccb4"),  # the finished batches' "key" in .partial/cw_eval/
    ("cw", "train", "2241effb661fe20e"),  # with the training subset (100)
]
"""Fingerprints stored in data/craft/env1_mnist (set meta, batch files) by the craft stage as it
was before the library took over: they must stay equal, or finished work is crafted again."""


@pytest.mark.parametrize(
    ("kind", "split", "key"), KEYS_ON_DISK, ids=[f"{k}_{s}" for k, s, _ in KEYS_ON_DISK]
)
def test_plan_keys_equal_the_keys_of_the_sets_on_disk(kind: str, split: str, key: str) -> None:
    if kind == "benign":
        assert PAPER_PLAN.benign_key(ENV1_MNIST_WEIGHTS, split) == key
    else:
        assert PAPER_PLAN.set_key(ENV1_MNIST_WEIGHTS, kind, split) == key


@pytest.mark.parametrize("name", sorted(CRAFT_ATTACKS))
def test_an_attack_is_seeded_exactly_when_it_takes_a_seed(name: str) -> None:
    cls = CRAFT_ATTACKS[name]
    assert cls.seeded == ("seed" in inspect.signature(cls).parameters)


RESOLVED = [
    ("jsma", {"theta": 1.0}, {"theta": 1.0, "seed": 7}),  # random: the run's seed, last
    ("jsma", {"seed": 3, "theta": 1.0}, {"seed": 3, "theta": 1.0}),  # the config's own seed wins
    ("fgsm", {"epsilon": 0.3}, {"epsilon": 0.3}),  # not random: no seed
    ("cw", {"preset": "paper"}, {"preset": "paper"}),
]


@pytest.mark.parametrize(("name", "configured", "expected"), RESOLVED)
def test_craft_hyperparameters_add_the_seed_only_for_random_attacks(
    name: str, configured: dict, expected: dict
) -> None:
    before = dict(configured)
    resolved = craft_hyperparameters(name, configured, seed=7)
    assert list(resolved.items()) == list(expected.items())  # order too: it is in the set file
    assert configured == before  # the config itself is left alone


def test_craft_hyperparameters_unknown_attack_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown crafting attack 'pgd'; choose one of"):
        craft_hyperparameters("pgd", {}, seed=0)


def _test_split() -> DatasetSplit:
    values = torch.tensor([0.1, 0.9, 0.55, 0.48, 0.52, 0.3, 0.7])
    x = values.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).clone()
    return DatasetSplit(x=x, y=(values > 0.5).long(), indices=torch.arange(100, 107))


TINY_PLAN = CraftPlan(
    n_eval=3,
    n_train=3,
    attacks={"fgsm": {"epsilon": 0.1}, "jsma": {"theta": 1.0, "gamma": 0.5}},
    seed=5,
    batch_size=2,
    train_subset={"jsma": 2},
)


def _craft(out: Path, plan: CraftPlan = TINY_PLAN, **kwargs: object) -> dict:
    return craft_sets(
        MeanAboveHalf(),
        _test_split(),
        plan,
        out=out,
        model_hash="h",
        device=torch.device("cpu"),
        **kwargs,  # type: ignore[arg-type]
    )


def test_craft_sets_writes_every_set_with_its_key(tmp_path: Path) -> None:
    summaries = _craft(tmp_path)
    assert list(summaries) == ["fgsm_eval", "jsma_eval", "fgsm_train", "jsma_train"]
    assert summaries["fgsm_eval"]["n"] == 3 and "fingerprint" not in summaries["fgsm_eval"]
    benign = load_set(tmp_path / "benign_train.pt")
    assert benign.indices.tolist() == [103, 104, 105] and benign.meta["skip_correct"] == 3
    jsma = load_set(tmp_path / "jsma_train.pt")
    assert jsma.indices.tolist() == [103, 104]  # the training subset
    assert jsma.meta["hyperparameters"] == {"theta": 1.0, "gamma": 0.5, "seed": 5}
    assert jsma.meta["fingerprint"] == TINY_PLAN.set_key("h", "jsma", "train")
    assert not (tmp_path / ".partial").exists() or not any((tmp_path / ".partial").iterdir())


def test_craft_sets_keeps_finished_sets_and_redoes_changed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _craft(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.pt")}
    crafted: list[str] = []
    real = crafting_module.craft_set

    def recording(model, benign, name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        crafted.append(f"{name}_{benign.split}")
        return real(model, benign, name, *args, **kwargs)

    monkeypatch.setattr(crafting_module, "craft_set", recording)
    assert _craft(tmp_path) == first and crafted == []  # everything up to date
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.pt")} == before
    changed = CraftPlan(
        **{**vars(TINY_PLAN), "attacks": {**TINY_PLAN.attacks, "fgsm": {"epsilon": 0.2}}}
    )
    _craft(tmp_path, changed)
    assert crafted == ["fgsm_eval", "fgsm_train"]  # only the sets the change touches
    _craft(tmp_path, changed, only={"jsma_eval"})
    assert crafted == ["fgsm_eval", "fgsm_train"]


def test_craft_sets_only_crafts_the_named_sets(tmp_path: Path) -> None:
    assert list(_craft(tmp_path, only={"jsma_train"})) == ["jsma_train"]
    assert sorted(p.stem for p in tmp_path.glob("*.pt")) == [
        "benign_eval",
        "benign_train",
        "jsma_train",
    ]
