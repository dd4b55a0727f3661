"""Measured stage times, kept with the results so that a plan can say how long a stage takes.

Each stage run by DVC writes ``results/timings/<stage>.json`` (its wall time, thread count,
device and CPU) when it finishes; the files are small, committed with the results, and read by
:mod:`a2d.pipeline.plan`. A run that reused finished pieces (``resumed``) did only part of
the work: it never replaces the record of an earlier full run, and the plan labels it.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from a2d.utils.io import write_json_atomic

TIMINGS_DIR = Path("results") / "timings"
"""Where stage times live, relative to the project root."""


_reused = 0


def count_reused_piece() -> None:
    """Called by :mod:`a2d.pipeline.resume` for every finished piece a run keeps."""
    global _reused
    _reused += 1


def pieces_reused() -> int:
    """How many finished pieces this process has reused so far.

    A stage run that reused any did less than the whole work, so its wall time is not the
    stage's time: :func:`record_stage_time` keeps an earlier full run's record.
    """
    return _reused


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timing_path(root: Path, stage: str) -> Path:
    """The timing file of a DVC stage name (``costs@env1_mnist-bim`` -> ``costs@env1_mnist-bim.json``)."""
    return root / TIMINGS_DIR / f"{stage}.json"


def record_stage_time(
    root: Path, stage: str, seconds: float, *, device: str, resumed: bool = False
) -> Path:
    """Write the wall time of one finished stage run, with the machine facts that explain it.

    A ``resumed`` run keeps an earlier full run's record (its time is the stage's time).
    """
    path = timing_path(root, stage)
    if resumed and read_timings(root).get(stage, {}).get("resumed") is False:
        return path
    write_json_atomic(
        path,
        {
            "stage": stage,
            "seconds": round(seconds, 1),
            "resumed": resumed,
            "device": device,
            "threads": torch.get_num_threads(),
            "cpu": _cpu_name(),
            "cpus": os.cpu_count(),
            "recorded": datetime.now(UTC).strftime("%Y-%m-%d"),
        },
    )
    return path


def read_timings(root: Path) -> dict[str, dict[str, Any]]:
    """Every recorded stage time under ``root``, by stage name (unreadable files are skipped)."""
    folder = root / TIMINGS_DIR
    timings: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            timings[str(record["stage"])] = record
        except (OSError, ValueError, KeyError):
            continue
    return timings
