"""Example-set files, craft_set and cost_table: the library calls behind the craft and costs stages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from a2d.attacks.base import CraftResult
from a2d.attacks.crafting import _save_chunk, craft_set, distortion_summary
from a2d.costs.suite import CostSuite
from a2d.costs.tables import COLUMNS, cost_table
from a2d.data.sets import ExampleSet, list_sets, load_set, save_set, set_name
from a2d.detectors.roc import aurocs_against_benign
from a2d.errors import DataError
from a2d.models import ClassifierWrapper
from a2d.pipeline.resume import fingerprint

from .conftest import MeanAboveHalf


def _benign(values: list[float], split: str = "eval") -> ExampleSet:
    x = torch.tensor(values).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).clone()
    labels = (x.flatten(1).mean(1) > 0.5).long()
    return ExampleSet(
        x=x, indices=torch.arange(10, 10 + len(values)), labels=labels, kind="benign", split=split
    )


def test_set_round_trip_and_order(tmp_path: Path) -> None:
    benign = _benign([0.1, 0.9, 0.45])
    adv = ExampleSet(
        x=benign.x + 0.01,
        indices=benign.indices,
        labels=benign.labels,
        kind="fgsm",
        split="eval",
        success=torch.tensor([True, False, True]),
        meta={"seconds": 1.0},
    )
    save_set(adv, tmp_path)
    save_set(benign, tmp_path)
    assert [p.stem for p in list_sets(tmp_path)] == ["benign_eval", "fgsm_eval"]
    for stem in ("benign_train", "cw_train", "cw_eval"):
        (tmp_path / f"{stem}.pt").write_bytes(b"")
    assert [p.stem for p in list_sets(tmp_path)] == [
        "benign_eval",
        "cw_eval",
        "fgsm_eval",
        "benign_train",
        "cw_train",
    ]
    for stem in ("benign_train", "cw_train", "cw_eval"):
        (tmp_path / f"{stem}.pt").unlink()
    loaded = load_set(tmp_path / "fgsm_eval.pt")
    assert torch.equal(loaded.x, adv.x) and loaded.success.tolist() == [True, False, True]
    assert loaded.meta == {"seconds": 1.0} and loaded.name == "fgsm_eval"


def test_set_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run the craft stage first"):
        load_set(tmp_path / "nope.pt")
    with pytest.raises(DataError, match="no example sets"):
        list_sets(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        set_name("fgsm", "test")


def test_saved_bytes_do_not_depend_on_the_folder(tmp_path: Path) -> None:
    benign = _benign([0.2, 0.7])
    a = save_set(benign, tmp_path / "a").read_bytes()
    b = save_set(benign, tmp_path / "b").read_bytes()
    assert a == b


def test_set_files_are_compressed_exactly_and_old_files_still_load(tmp_path: Path) -> None:
    import io
    import lzma
    from dataclasses import asdict

    adv = _benign([0.2, 0.7, 0.3])
    adv.x = adv.x + torch.rand_like(adv.x) * 1e-3  # values that no rounding would keep
    path = save_set(adv, tmp_path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xfd7zXZ\x00")  # xz, what the repository's DVC remote holds
    unpacked = torch.load(io.BytesIO(lzma.decompress(raw)), weights_only=False)
    assert unpacked["x"].dtype == torch.float32 and torch.equal(unpacked["x"], adv.x)
    # a set written before compression (plain torch.save) still loads, bit for bit
    old = tmp_path / "old" / "benign_eval.pt"
    old.parent.mkdir()
    buffer = io.BytesIO()
    torch.save(asdict(adv), buffer)
    old.write_bytes(buffer.getvalue())
    assert torch.equal(load_set(old).x, adv.x)


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_set_file_is_a_one_line_data_error(tmp_path: Path, cut: float) -> None:
    path = save_set(_benign([0.2, 0.7]), tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(DataError, match="truncated or corrupt.*dvc pull"):
        load_set(path)


def test_distortion_summary_hand_example() -> None:
    x = torch.zeros(2, 1, 2, 2)
    adv = x.clone()
    adv[0, 0, 0, 0], adv[0, 0, 1, 1] = 0.3, 0.4  # L0 2, L2 0.5, Linf 0.4
    summary = distortion_summary(x, adv, torch.tensor([True, False]))
    assert summary["success_rate"] == 0.5 and summary["n"] == 2
    assert summary["mean_l0"] == 1.0 and summary["mean_l0_successful"] == 2.0
    assert (
        abs(summary["mean_l2_successful"] - 0.5) < 1e-6 and abs(summary["mean_linf"] - 0.2) < 1e-6
    )


def test_craft_set_keeps_indices_failures_and_meta() -> None:
    benign = _benign([0.1, 0.9, 0.55, 0.48])
    crafted = craft_set(
        MeanAboveHalf(), benign, "fgsm", {"epsilon": 0.1}, batch_size=2, device=torch.device("cpu")
    )
    assert (
        crafted.indices.tolist() == [10, 11, 12, 13]
        and crafted.kind == "fgsm"
        and crafted.split == "eval"
    )
    # only the two images within 0.1 of the boundary flip
    assert crafted.success.tolist() == [False, False, True, True]
    assert (
        crafted.meta["hyperparameters"] == {"epsilon": 0.1} and crafted.meta["success_rate"] == 0.5
    )


def test_craft_set_resumes_from_finished_batches(tmp_path: Path) -> None:
    benign = _benign([0.1, 0.9, 0.55, 0.48, 0.52])
    cpu = torch.device("cpu")
    fresh = craft_set(MeanAboveHalf(), benign, "fgsm", {"epsilon": 0.1}, batch_size=2, device=cpu)
    # a killed run left batch 0 finished (marked) and batch 2 from another config (stale key)
    partial = tmp_path / "partial"
    for start, key in ((0, "k"), (2, "other")):
        marked = fresh.x[start : start + 2].clone().fill_(0.25)
        part = CraftResult(
            adversarial=marked,
            success=torch.ones(2, dtype=torch.bool),
            label=benign.labels[start : start + 2],
            prediction=torch.zeros(2, dtype=torch.long),
        )
        _save_chunk(partial / f"{start:07d}.pt", key, part, 7.0)
    resumed = craft_set(
        MeanAboveHalf(),
        benign,
        "fgsm",
        {"epsilon": 0.1},
        batch_size=2,
        device=cpu,
        checkpoint_dir=partial,
        checkpoint_key="k",
    )
    assert torch.all(resumed.x[:2] == 0.25), "the finished batch with the right key is reused"
    assert torch.equal(resumed.x[2:], fresh.x[2:]), "the stale and missing batches are recrafted"
    assert resumed.success[:2].all() and resumed.meta["seconds"] >= 7.0
    assert not partial.exists(), "the batches are removed once the set is whole"


def test_craft_set_random_targets_do_not_depend_on_batching() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6))  # 6 classes: the targets vary
    x = torch.rand(9, 1, 4, 4)
    with torch.no_grad():
        labels = model(x).argmax(1)
    benign = ExampleSet(x=x, indices=torch.arange(9), labels=labels, kind="benign", split="eval")
    cpu = torch.device("cpu")
    hp = {"theta": 1.0, "gamma": 0.5, "seed": 3}
    whole = craft_set(model, benign, "jsma", hp, batch_size=9, device=cpu)
    chunked = craft_set(model, benign, "jsma", hp, batch_size=2, device=cpu)
    assert len(set(whole.target.tolist())) > 2 and bool((whole.target != labels).all())
    assert torch.equal(whole.target, chunked.target) and torch.equal(whole.x, chunked.x)


def test_cost_table_rows_follow_the_set() -> None:
    benign = _benign([0.3, 0.75, 0.52, 0.1])  # the last is beyond the 0.3 ball: a failure
    suite = CostSuite(
        ClassifierWrapper(MeanAboveHalf()),
        {"bim": {"epsilon": 0.3, "max_iterations": 500}},
        batch_size=2,
    )
    table = cost_table(suite, benign)
    frame = table.frame
    assert list(frame.columns) == COLUMNS and frame["index"].tolist() == [10, 11, 12, 13]
    # cost = steps of 0.0006 to the boundary (0-based): 0.2 -> 333, 0.25 -> 416, 0.02 -> 33
    assert frame["cost"].tolist()[:3] == [333, 416, 33], frame
    assert frame["success"].tolist() == [True, True, True, False] and frame["cost"][3] == 500
    assert frame["crafted_success"].all() and table.cap == 500


def test_aurocs_pair_each_adversarial_set_with_its_split() -> None:
    tables = {
        "benign_eval": pd.DataFrame({"cost": [10, 20, 30]}),
        "fgsm_eval": pd.DataFrame({"cost": [1, 2, 30]}),
        "benign_train": pd.DataFrame({"cost": [5]}),
        "fgsm_train": pd.DataFrame({"cost": [9]}),
    }
    aurocs = aurocs_against_benign({name: frame["cost"] for name, frame in tables.items()})
    assert set(aurocs) == {"fgsm_eval", "fgsm_train"}
    assert aurocs["fgsm_eval"] == round((3 + 3 + 0.5) / 9, 4)  # a tie counts half
    assert aurocs["fgsm_train"] == 0.0


def test_fingerprint_is_stable_and_sensitive() -> None:
    assert fingerprint("a", {"x": 1, "y": 2}) == fingerprint("a", {"y": 2, "x": 1})
    assert fingerprint("a", {"x": 1}) != fingerprint("a", {"x": 2})


def test_head_keeps_the_first_examples_of_every_field() -> None:
    full = ExampleSet(
        x=torch.rand(5, 1, 2, 2),
        indices=torch.arange(10, 15),
        labels=torch.arange(5),
        kind="jsma",
        split="eval",
        success=torch.tensor([True, False, True, True, False]),
        prediction=torch.arange(5),
        target=torch.arange(1, 6),
        meta={"seconds": 2.0},
    )
    head = full.head(2)
    assert len(head) == 2 and head.indices.tolist() == [10, 11] and head.target.tolist() == [1, 2]
    assert torch.equal(head.x, full.x[:2]) and head.success.tolist() == [True, False]
    assert head.meta == {"seconds": 2.0, "head": 2} and head.name == "jsma_eval"
    assert len(full.head(99)) == 5
