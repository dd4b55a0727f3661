"""The one resume helper: fingerprints, and finished pieces kept only when their fingerprint matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from a2d.pipeline.resume import (
    FINGERPRINT,
    fingerprint,
    reuse,
    reuse_json,
    reuse_torch,
    write_sidecar,
    write_torch,
)
from a2d.utils.io import write_json_atomic


def test_fingerprint_values_are_pinned() -> None:
    """Changing the encoding would orphan every finished piece on disk and in the DVC remote."""
    assert fingerprint() == "4f53cda18c2baa0c"
    assert fingerprint("a", {"y": 2, "x": 1}, 3) == "732e2c690b44ffae"
    assert fingerprint(Path("p")) == fingerprint("p")  # not JSON: hashed through str()


def test_json_sidecar_bytes_are_what_the_stages_wrote(tmp_path: Path) -> None:
    write_sidecar(tmp_path / "new.json", "k", summary={"n": 2}, hyperparameters={"eps": 0.3})
    write_json_atomic(
        tmp_path / "old.json",
        {"fingerprint": "k", "hyperparameters": {"eps": 0.3}, "summary": {"n": 2}},
    )
    assert (tmp_path / "new.json").read_bytes() == (tmp_path / "old.json").read_bytes()


def test_reuse_json_needs_every_file_and_the_same_fingerprint(tmp_path: Path) -> None:
    csv, sidecar = tmp_path / "s.csv", tmp_path / "s.json"
    assert reuse_json(sidecar, "k", needs=[csv]) is None  # nothing yet
    write_sidecar(sidecar, "k", summary={"n": 2})
    assert reuse_json(sidecar, "k", needs=[csv]) is None  # the table is missing
    csv.write_text("index\n1\n")
    assert reuse_json(sidecar, "k", needs=[csv]) == {FINGERPRINT: "k", "summary": {"n": 2}}
    assert reuse_json(sidecar, "other", needs=[csv]) is None  # made from other inputs


@pytest.mark.parametrize("tag", ["key", FINGERPRINT])
def test_reuse_torch_compares_the_tag_field(tmp_path: Path, tag: str) -> None:
    path = tmp_path / "piece.pt"
    key = {"train": {"epochs": 2}, "seed": 0}  # training checkpoints store a dict, not a hash
    write_torch(path, {tag: key, "x": torch.arange(3)})
    found = reuse_torch(path, key, tag=tag)
    assert found is not None and torch.equal(found["x"], torch.arange(3))
    assert reuse_torch(path, {**key, "seed": 1}, tag=tag) is None
    assert reuse_torch(tmp_path / "missing.pt", key, tag=tag) is None


def test_write_torch_bytes_depend_only_on_the_object(tmp_path: Path) -> None:
    obj = {"key": "k", "seconds": 1.5, "x": torch.arange(4.0)}
    write_torch(tmp_path / "a" / "0000000.pt", obj)
    write_torch(tmp_path / "b" / "0000250.pt", obj)
    assert (tmp_path / "a" / "0000000.pt").read_bytes() == (
        tmp_path / "b" / "0000250.pt"
    ).read_bytes()


def test_reuse_takes_any_loader_and_stamp(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"meta": {"fingerprint": "k"}, "value": 7}))

    def load(p: Path) -> dict:
        return json.loads(p.read_text())

    def stamp(d: dict) -> str:
        return d["meta"]["fingerprint"]

    assert reuse(path, "k", load=load, stamp=stamp) == {"meta": {"fingerprint": "k"}, "value": 7}
    assert reuse(path, "x", load=load, stamp=stamp) is None


def test_stages_common_still_exports_fingerprint() -> None:
    from stages._common import fingerprint as old_name

    assert old_name is fingerprint
