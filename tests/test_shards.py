"""Sharded runs: the split, resume from finished shards, and a two-worker Ray cluster whose
tables are byte-identical to the single-process run's (costs, CLEVER, the command line).

The Ray tests share one local cluster (two CPUs, started in this process, no network beyond
localhost). They skip without Ray installed and fail under CI=true, where the ``dev`` extra
installs it.
"""

from __future__ import annotations

import filecmp
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from a2d.cli import main as cli_main
from a2d.config import ShardsConfig, load_params, validate_shards
from a2d.costs.suite import CostSuite
from a2d.costs.tables import measure_sets
from a2d.data.sets import ExampleSet, load_set, save_set
from a2d.detectors.attack_as_defense import AttackAsDefense
from a2d.errors import ConfigError, DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.pipeline.shards import (
    LocalRunner,
    Range,
    Task,
    open_runner,
    pack,
    run_shards,
    shard_ranges,
    sharded,
    unpack,
)
from a2d.robustness.tables import CleverSettings, clever_table, sharded_clever_table
from tests.cli_models import tiny_net
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ATTACKS = {
    "bim": {"epsilon": 0.3, "max_iterations": 40},
    "dba": {"max_iterations": 30, "mse_threshold": 0.02, "seed": 0},  # seeded per example id
}
CLEVER = CleverSettings(
    nb_batches=4,
    batch_size=5,
    radius=3.0,
    sampling="scaled",
    cap_at_radius=False,
    chunk_size=7,
    targets=("untargeted", "llc"),  # the tiny net has 3 classes
)


def model() -> ClassifierWrapper:
    return ClassifierWrapper(tiny_net())


def write_sets(folder: Path, n: int = 7) -> list[Path]:
    """A benign and an FGSM-like set of (n, 1, 4, 4) inputs with source indices 10, 11, ..."""
    x = torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    for kind in ("benign", "fgsm"):
        save_set(
            ExampleSet(
                x=x if kind == "benign" else (x + 0.2).clamp(0, 1),
                indices=torch.arange(10, 10 + n),
                labels=torch.zeros(n, dtype=torch.long),
                kind=kind,
                split="eval",
                success=None if kind == "benign" else torch.ones(n, dtype=torch.bool),
            ),
            folder,
        )
    return sorted(folder.glob("*.pt"))


def measure(paths: list[Path], out: Path, runner: Any = None, attack: str = "bim") -> None:
    suite = CostSuite(model(), {attack: ATTACKS[attack]}, batch_size=3)
    measure_sets(suite, paths, out, model_hash="h", runner=runner)


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        filecmp.cmp(a / name, b / name, shallow=False) for name in names if name.endswith(".csv")
    )


# --- the split ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "size", "ranges"),
    [
        (7, 3, [(0, 3), (3, 6), (6, 7)]),
        (6, 3, [(0, 3), (3, 6)]),
        (2, 5, [(0, 2)]),
        (5, None, [(0, 5)]),
        (0, 3, []),
    ],
)
def test_shards_are_consecutive_index_ranges(n: int, size: int | None, ranges: list[Range]) -> None:
    assert shard_ranges(n, size) == ranges


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_a_bad_shard_size_is_an_error(size: Any) -> None:
    with pytest.raises(ValueError, match=r"shard size must be a positive integer or None"):
        shard_ranges(4, size)


# --- in this process: same tables, resume ---------------------------------------------------------


class Interrupted(Exception):
    pass


class DiesAfter(LocalRunner):
    """A local runner killed after ``k`` shards (a killed stage)."""

    def __init__(self, size: int, k: int) -> None:
        super().__init__(size)
        self.k = k

    def map(self, task: Task[Any], job: Any, ranges: Sequence[Range]) -> Iterator[tuple[int, Any]]:
        for done, item in enumerate(super().map(task, job, ranges)):
            if done == self.k:
                raise Interrupted
            yield item


class Counting(LocalRunner):
    """A local runner that records the shards it is asked to run."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.ran: list[Range] = []

    def map(self, task: Task[Any], job: Any, ranges: Sequence[Range]) -> Iterator[tuple[int, Any]]:
        self.ran += list(ranges)
        return super().map(task, job, ranges)


def test_local_shards_write_the_single_process_tables_and_resume(tmp_path: Path) -> None:
    paths = write_sets(tmp_path / "sets")
    measure(paths, tmp_path / "one")
    # killed after two shards of the first set: they are kept, nothing else is written
    with pytest.raises(Interrupted):
        measure(paths, tmp_path / "sharded", DiesAfter(size=3, k=2))
    kept = sorted(p.name for p in (tmp_path / "sharded/benign_eval.shards").glob("*.csv"))
    assert kept == ["000000000-000000003.csv", "000000003-000000006.csv"]
    assert not (tmp_path / "sharded/benign_eval.csv").exists()
    # the rerun does the rest only, and the output folder is the single-process one
    counting = Counting(size=3)
    measure(paths, tmp_path / "sharded", counting)
    assert counting.ran == [(6, 7), (0, 3), (3, 6), (6, 7)]
    assert same_files(tmp_path / "one", tmp_path / "sharded")


def test_a_shard_from_other_inputs_is_redone(tmp_path: Path) -> None:
    paths = write_sets(tmp_path / "sets")
    with pytest.raises(Interrupted):
        measure(paths, tmp_path / "out", DiesAfter(size=3, k=1))
    ATTACKS["bim"]["max_iterations"] = 41  # another fingerprint
    try:
        counting = Counting(size=3)
        measure(paths, tmp_path / "out", counting)
    finally:
        ATTACKS["bim"]["max_iterations"] = 40
    assert counting.ran[:3] == [(0, 3), (3, 6), (6, 7)]


def test_the_sharded_scope_gives_the_same_attack_costs() -> None:
    x = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    detector = AttackAsDefense(model(), attacks=ATTACKS, batch_size=2)
    alone = detector.attack_costs(x, ids=[7, 3, 9, 1, 4])
    with sharded(LocalRunner(2)):
        together = detector.attack_costs(x, ids=[7, 3, 9, 1, 4])
    for field in ("cost", "queries", "success", "label"):
        assert np.array_equal(getattr(alone, field), getattr(together, field)), field
    assert (alone.attacks, alone.caps) == (together.attacks, together.caps)


def test_local_clever_shards_give_the_same_rows(tmp_path: Path) -> None:
    (path, _) = write_sets(tmp_path / "sets", n=5)
    example_set = load_set(path)
    one = clever_table(model(), example_set, settings=CLEVER, n_images=4, seed=0)
    parts = sharded_clever_table(
        model(), example_set, LocalRunner(3), settings=CLEVER, n_images=4, seed=0
    )
    assert parts.frame.to_csv(index=False) == one.frame.to_csv(index=False)
    assert parts.n_fallbacks == one.n_fallbacks


def test_pack_ships_torchscript_inside_the_wrapper() -> None:
    net = torch.jit.script(tiny_net())
    wrapped = ClassifierWrapper(net, mean=[0.5], std=[0.2])
    x = torch.rand(3, 1, 4, 4)
    shipped = unpack(pack({"model": wrapped}))["model"]
    assert isinstance(shipped.net, torch.jit.ScriptModule)
    assert torch.equal(shipped(x), wrapped(x))


# --- config and command-line errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (ShardsConfig(engine="dask"), r"shards.engine='dask'; expected one of local, ray"),
        (ShardsConfig(engine="ray"), r"shards.engine=ray needs shards.size .* shards.size=256"),
        (ShardsConfig(size=0), r"shards.size=0; expected inputs per shard >= 1, or null"),
        (ShardsConfig(cpus_per_task=0), r"shards.cpus_per_task=0; expected > 0"),
        (ShardsConfig(gpus_per_task=-1), r"shards.gpus_per_task=-1; expected >= 0"),
    ],
)
def test_bad_shards_config_is_one_line(cfg: ShardsConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_shards(cfg)


def test_params_check_the_shards_section() -> None:
    with pytest.raises(ConfigError, match=r"shards.engine=ray needs shards.size"):
        load_params(overrides=["shards.engine=ray"])
    assert load_params().shards == ShardsConfig()  # the default: in-process, no Ray needed


def test_ray_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"needs Ray, which is not installed .*a2d\[ray\]"):
        with open_runner(ShardsConfig(engine="ray", size=4)):
            pass


def test_cli_ray_without_ray_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save(torch.rand(2, 1, 4, 4), tmp_path / "x.pt")
    monkeypatch.setitem(sys.modules, "ray", None)
    status = cli_main(
        ["costs", str(tmp_path / "x.pt"), "--model", "tests.cli_models:tiny_net", "--bounds", "0",
         "1", "--attacks", "bim", "--param", "bim.max_iterations=5", "--ray", "auto"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith("a2d costs: error: shards.engine=ray (or --ray) needs Ray")


# --- a two-worker Ray cluster -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    try:
        import ray
    except ImportError:
        skip_or_fail("Ray is not installed (pip install -e '.[dev]' installs it)")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_runner(ray_cluster: Any) -> Iterator[Any]:
    with open_runner(ShardsConfig(engine="ray", size=2)) as runner:
        yield runner


def test_ray_cost_and_clever_tables_are_the_single_process_bytes(
    tmp_path: Path, ray_runner: Any
) -> None:
    paths = write_sets(tmp_path / "sets")
    for attack in ATTACKS:
        measure(paths, tmp_path / f"one_{attack}", attack=attack)
        measure(paths, tmp_path / f"ray_{attack}", ray_runner, attack=attack)
        assert same_files(tmp_path / f"one_{attack}", tmp_path / f"ray_{attack}"), attack
    example_set = load_set(paths[0])
    one = clever_table(model(), example_set, settings=CLEVER, n_images=5, seed=0)
    parts = sharded_clever_table(
        model(), example_set, ray_runner, settings=CLEVER, n_images=5, seed=0
    )
    assert parts.frame.to_csv(index=False) == one.frame.to_csv(index=False)


def _dies_once(marker: str, start: int, stop: int, device: torch.device | None) -> list[int]:
    """Kills its worker process the first time it runs shard [2, 4)."""
    if start == 2 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return list(range(start, stop))


def test_ray_redoes_the_shard_of_a_killed_worker(tmp_path: Path, ray_runner: Any) -> None:
    marker = tmp_path / "killed"
    parts = run_shards(_dies_once, str(marker), 6, ray_runner)
    assert marker.exists() and parts == [[0, 1], [2, 3], [4, 5]]


def _fails_on_shard_two(job: Any, start: int, stop: int, device: torch.device | None) -> int:
    if start == 2:
        raise DataError("shard [2, 4) is broken; repair its inputs")
    return start


def test_a_shard_error_is_the_tasks_own_one_line_error(ray_runner: Any) -> None:
    with pytest.raises(DataError, match=r"^shard \[2, 4\) is broken; repair its inputs$"):
        run_shards(_fails_on_shard_two, None, 6, ray_runner)


def test_cli_ray_flag_gives_the_same_costs(
    tmp_path: Path, ray_cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save(
        torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(5)), tmp_path / "x.pt"
    )
    base = [
        "costs", str(tmp_path / "x.pt"), "--model", "tests.cli_models:tiny_net", "--bounds", "0",
        "1", "--attacks", "bim", "--param", "bim.epsilon=0.3", "--param",
        "bim.max_iterations=40", "--json",
    ]  # fmt: skip
    reports = []
    for extra in ([], ["--ray", "local", "--shard-size", "2"]):
        assert cli_main(base + extra) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0] == reports[1]
