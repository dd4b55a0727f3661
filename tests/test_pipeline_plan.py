"""`make plan`: which stages `dvc repro` will run, why, and their last measured times."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from a2d.pipeline.plan import PlannedStage, plan, render
from a2d.pipeline.timings import read_timings, record_stage_time

DVC_YAML = """
stages:
  make_a:
    cmd: python copy.py src.txt a.txt
    deps:
      - src.txt
    outs:
      - a.txt
  make_b:
    foreach:
      - one
      - two
    do:
      cmd: python copy.py a.txt b_${item}.txt
      deps:
        - a.txt
      outs:
        - b_${item}.txt
"""
COPY_PY = "import shutil, sys\nshutil.copy(sys.argv[1], sys.argv[2])\n"


def _dvc(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(["dvc", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture()
def tiny_repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    _dvc(tmp_path, "init", "-q")
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "src.txt").write_text("v1")
    (tmp_path / "copy.py").write_text(COPY_PY)
    return tmp_path


def test_plan_lists_never_run_stages_in_dvc_order(tiny_repo: Path) -> None:
    planned = plan(tiny_repo)
    assert [p.name for p in planned] == ["make_a", "make_b@one", "make_b@two"]
    assert {p.reason for p in planned} == {"never run"}


def test_plan_is_empty_when_up_to_date_and_follows_a_change_downstream(tiny_repo: Path) -> None:
    _dvc(tiny_repo, "repro", "-q")
    assert plan(tiny_repo) == []
    assert "nothing to run" in render([])
    (tiny_repo / "src.txt").write_text("v2")
    planned = plan(tiny_repo)
    assert [p.name for p in planned] == ["make_a", "make_b@one", "make_b@two"]
    assert planned[0].reason == "changed deps: src.txt modified"
    assert planned[1].reason == "upstream will run: make_a"
    # a target limits the plan to that stage and what it depends on
    assert [p.name for p in plan(tiny_repo, ["make_b@one"])] == ["make_a", "make_b@one"]
    with pytest.raises(ValueError, match="no stage named 'nope'; stages: make_a, make_b"):
        plan(tiny_repo, ["nope"])


def test_plan_takes_measured_times_and_labels_stand_ins(tiny_repo: Path) -> None:
    record_stage_time(tiny_repo, "make_a", 12.0, device="cpu")
    record_stage_time(tiny_repo, "make_b@one", 7200.0, device="cpu")
    assert set(read_timings(tiny_repo)) == {"make_a", "make_b@one"}
    by_name = {p.name: p for p in plan(tiny_repo)}
    assert by_name["make_a"].seconds == 12.0 and by_name["make_a"].estimate_from is None
    assert by_name["make_b@two"].seconds == 7200.0
    assert by_name["make_b@two"].estimate_from == "make_b@one"
    text = render(list(by_name.values()))
    assert "~2.0 h (as make_b@one)" in text and "total: about 4.0 h" in text


def test_from_scratch_plans_the_whole_chain_of_an_up_to_date_target(tiny_repo: Path) -> None:
    _dvc(tiny_repo, "repro", "-q")
    assert plan(tiny_repo, ["make_b@two"]) == []
    planned = plan(tiny_repo, ["make_b@two"], from_scratch=True)
    assert [(p.name, p.reason) for p in planned] == [
        ("make_a", "never run"),
        ("make_b@two", "never run"),
    ]


def test_a_resumed_run_never_replaces_a_full_runs_time(tiny_repo: Path) -> None:
    record_stage_time(tiny_repo, "make_a", 3600.0, device="cpu")
    record_stage_time(tiny_repo, "make_a", 2.0, device="cpu", resumed=True)  # kept its pieces
    assert read_timings(tiny_repo)["make_a"]["seconds"] == 3600.0
    # a stage timed only by a resumed run: its time is a lower bound, labelled so
    record_stage_time(tiny_repo, "make_b@one", 30.0, device="cpu", resumed=True)
    by_name = {p.name: p for p in plan(tiny_repo)}
    assert by_name["make_a"].seconds == 3600.0
    assert ">30 s (a resumed run)" in render([by_name["make_b@one"]])
    assert by_name["make_b@two"].seconds is None  # a resumed peer stands in for nobody


def test_pieces_reused_counts_kept_work(tmp_path: Path) -> None:
    from a2d.pipeline.resume import reuse_json, write_sidecar
    from a2d.pipeline.timings import pieces_reused

    write_sidecar(tmp_path / "piece.json", "k1")
    before = pieces_reused()
    assert reuse_json(tmp_path / "piece.json", "k2") is None  # other inputs: redone
    assert pieces_reused() == before
    assert reuse_json(tmp_path / "piece.json", "k1") is not None
    assert pieces_reused() == before + 1


def test_render_counts_stages_never_timed() -> None:
    text = render([PlannedStage("x@a", "never run", None, None)])
    assert "not measured" in text and "plus 1 stage(s) never timed" in text


def test_partial_save_and_restore_round_trip(tmp_path: Path) -> None:
    from a2d.pipeline.partial import manifest_path, restore, save

    folder = Path("data") / "craft" / "t"
    (tmp_path / folder / ".partial").mkdir(parents=True)
    (tmp_path / folder / "fgsm_eval.pt").write_bytes(b"finished set")
    (tmp_path / folder / ".partial" / "cw_eval").mkdir()
    (tmp_path / folder / ".partial" / "cw_eval" / "0000064.pt").write_bytes(b"a finished batch")
    files = save(tmp_path, folder)
    assert list(files) == [".partial/cw_eval/0000064.pt", "fgsm_eval.pt"]
    md5 = files["fgsm_eval.pt"]
    # stored where `dvc push` stores the same bytes, so a finished stage costs nothing more
    assert (tmp_path / "data/remote/files/md5" / md5[:2] / md5[2:]).read_bytes() == b"finished set"
    assert manifest_path(tmp_path / "data/remote", folder).name == "data__craft__t.json"
    (tmp_path / folder / "fgsm_eval.pt").unlink()
    shutil.rmtree(tmp_path / folder / ".partial")
    batch = tmp_path / folder / ".partial" / "cw_eval" / "0000064.pt"
    assert restore(tmp_path) == [batch, tmp_path / folder / "fgsm_eval.pt"]
    assert batch.read_bytes() == b"a finished batch"
    # once the set is finished its batches are gone for good: restore must not bring them back
    shutil.rmtree(tmp_path / folder / ".partial")
    (tmp_path / folder / "cw_eval.pt").write_bytes(b"the finished set")
    assert restore(tmp_path) == []
    assert not batch.exists()
    assert (tmp_path / folder / "fgsm_eval.pt").read_bytes() == b"finished set"
    (tmp_path / folder / "fgsm_eval.pt").write_bytes(b"newer local work")
    assert restore(tmp_path) == []  # never overwrites
    assert (tmp_path / folder / "fgsm_eval.pt").read_bytes() == b"newer local work"


def test_imported_files_follows_imports_but_not_lazy_attributes(tmp_path: Path) -> None:
    from a2d.pipeline.deps import imported_files

    (tmp_path / "a2d" / "sub").mkdir(parents=True)
    (tmp_path / "stages").mkdir()
    (tmp_path / "a2d" / "__init__.py").write_text(
        "def __getattr__(name):\n    from a2d.heavy import Thing\n    return Thing\n"
    )
    (tmp_path / "a2d" / "heavy.py").write_text("Thing = 1\n")
    (tmp_path / "a2d" / "sub" / "__init__.py").write_text("from .leaf import f\n")
    (tmp_path / "a2d" / "sub" / "leaf.py").write_text("def f():\n    import a2d.late\n")
    (tmp_path / "a2d" / "late.py").write_text("import numpy\n")
    (tmp_path / "stages" / "__init__.py").write_text("")
    (tmp_path / "stages" / "s.py").write_text("from a2d.sub import f\n")
    assert imported_files(tmp_path, "stages.s") == {
        Path("stages/__init__.py"),
        Path("stages/s.py"),
        Path("a2d/__init__.py"),
        Path("a2d/sub/__init__.py"),
        Path("a2d/sub/leaf.py"),
        Path("a2d/late.py"),  # imported inside a function: still code the stage can run
    }  # a2d/heavy.py is only reached through the lazy module attribute
