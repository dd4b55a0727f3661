"""What `dvc repro` will run, and roughly for how long, before it runs (``make plan``).

A newcomer's `make repro` must not silently start hours of work: this module asks DVC which
stages are out of date (their own changes, or an upstream stage that will run), orders them
as DVC will, and prints each with the reason and its last measured wall time
(``results/timings``, :mod:`a2d.pipeline.timings`). A stage that has never been timed shows
the time of the same stage on another target, labelled as such, or "not measured".

Run ``python -m a2d.pipeline.plan [stage ...]``; exit status 0 whether or not work is pending.
``--from-scratch`` plans every stage the targets need, as on a machine with nothing computed:
what an artefact costs from nothing (the reproduction page's times).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from a2d.config import PROJECT_ROOT
from a2d.pipeline.timings import read_timings


@dataclass(frozen=True)
class PlannedStage:
    """One stage `dvc repro` would run: why, and the time it took when it (or a peer) last ran."""

    name: str
    reason: str
    seconds: float | None
    estimate_from: str | None  # the stage whose time stands in, when this one was never timed


def _reason(changes: list[Any], never_run: bool) -> str:
    if never_run:
        return "never run"
    for change in changes:
        if isinstance(change, str):
            return change
        for kind, detail in change.items():
            if isinstance(detail, dict) and detail:
                path, state = next(iter(detail.items()))
                extra = f" (+{len(detail) - 1})" if len(detail) > 1 else ""
                return f"{kind}: {path} {state}{extra}"
            return kind
    return "changed"


def _family(stage: str) -> str:
    """``costs@env1_mnist-bim`` -> ``costs@*-bim``: the same work on another target."""
    if "@" not in stage:
        return stage
    name, item = stage.split("@", 1)
    attack = item.split("-", 1)[1] if "-" in item and name == "costs" else ""
    return f"{name}@*-{attack}" if attack else f"{name}@*"


def _estimate(stage: str, timings: dict[str, dict[str, Any]]) -> tuple[float | None, str | None]:
    if stage in timings and not timings[stage].get("resumed"):
        return float(timings[stage]["seconds"]), None
    peers = [
        name
        for name in timings
        if name != stage and _family(name) == _family(stage) and not timings[name].get("resumed")
    ]
    if not peers:
        if stage in timings:  # only a resumed run of its own: a lower bound
            return float(timings[stage]["seconds"]), stage
        return None, None
    peer = max(peers, key=lambda name: float(timings[name]["seconds"]))
    return float(timings[peer]["seconds"]), peer


def plan(
    root: Path = PROJECT_ROOT, targets: list[str] | None = None, *, from_scratch: bool = False
) -> list[PlannedStage]:
    """The stages `dvc repro [targets]` would run, in the order DVC runs them.

    With ``from_scratch`` every stage counts as never run (`dvc repro --force` on an empty
    machine), so the plan is the whole chain behind the targets.
    """
    with contextlib.chdir(root):  # DVC names stages relative to the working directory
        return _plan(Path(root), targets, from_scratch)


def _plan(root: Path, targets: list[str] | None, from_scratch: bool) -> list[PlannedStage]:
    from dvc.repo import Repo  # imported here: DVC is slow to import and only this needs it

    repo = Repo(str(root))
    graph = repo.index.graph  # edges run from a stage to the stages it depends on
    by_name = {stage.addressing: stage for stage in graph}
    status: dict[str, list[Any]] = {name: [] for name in by_name} if from_scratch else repo.status()
    lock_path = root / "dvc.lock"
    locked = yaml.safe_load(lock_path.read_text()).get("stages", {}) if lock_path.is_file() else {}
    if from_scratch:
        locked = {}
    changed = {name for name in status if name in by_name}
    pending = set(changed)
    for name in changed:
        pending |= {stage.addressing for stage in nx.ancestors(graph, by_name[name])}
    if targets:
        wanted = set()
        for target in targets:
            matches = [name for name in by_name if name == target or name.startswith(f"{target}@")]
            if not matches:
                groups = sorted({name.split("@")[0] for name in by_name})
                raise ValueError(f"no stage named {target!r}; stages: {', '.join(groups)}")
            for name in matches:
                wanted |= {name} | {s.addressing for s in nx.descendants(graph, by_name[name])}
        pending &= wanted
    timings = read_timings(root)
    ordered = [
        stage.addressing
        for stage in nx.topological_sort(graph.reverse(copy=False))
        if stage.addressing in pending
    ]
    planned = []
    for name in ordered:
        if name in changed:
            reason = _reason(status[name], never_run=name not in locked)
        else:
            upstream = [
                s.addressing
                for s in nx.descendants(graph, by_name[name])
                if s.addressing in changed
            ]
            reason = f"upstream will run: {sorted(upstream)[0]}"
        seconds, estimate_from = _estimate(name, timings)
        planned.append(PlannedStage(name, reason, seconds, estimate_from))
    return planned


def format_duration(seconds: float) -> str:
    """``42 s``, ``7 min``, ``3.4 h``: rough on purpose (times vary by machine)."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render(planned: list[PlannedStage]) -> str:
    """The plan as a terminal table with a total of the measured times."""
    if not planned:
        return "a2d plan: nothing to run, every stage is up to date (dvc status)."
    rows = []
    for stage in planned:
        if stage.seconds is None:
            time = "not measured"
        elif stage.estimate_from == stage.name:
            time = f">{format_duration(stage.seconds)} (a resumed run)"
        elif stage.estimate_from:
            time = f"~{format_duration(stage.seconds)} (as {stage.estimate_from})"
        else:
            time = format_duration(stage.seconds)
        rows.append((stage.name, stage.reason, time))
    widths = [max(len(row[i]) for row in rows + [("stage", "why", "time")]) for i in range(3)]
    lines = [f"a2d plan: `dvc repro` will run {len(planned)} stage(s), in this order:"]
    for row in [("stage", "why", "last measured time")] + rows:
        lines.append(
            "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        )
    known = [stage.seconds for stage in planned if stage.seconds is not None]
    unknown = sum(stage.seconds is None for stage in planned)
    total = f"about {format_duration(sum(known))}" if known else "unknown"
    lines.append(
        f"  total: {total}"
        + (f" plus {unknown} stage(s) never timed" if unknown else "")
        + " (times from results/timings, measured on the machine named there)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m a2d.pipeline.plan", description=__doc__.splitlines()[0]
    )
    parser.add_argument("targets", nargs="*", help="stages or stage groups, e.g. fig5 table2")
    parser.add_argument(
        "--from-scratch",
        action="store_true",
        help="every stage the targets need, as if nothing were computed (not `dvc status`)",
    )
    args = parser.parse_args(argv)
    try:
        print(render(plan(PROJECT_ROOT, args.targets, from_scratch=args.from_scratch)))
    except Exception as exc:  # DVC's own errors: one line, what to do
        print(f"a2d plan: error: {exc} (run `dvc status` for details)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
