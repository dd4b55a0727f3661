"""RQ1's comparison of the eight attacks_d (paper Section 5.1, Figure 4): each one timed alone.

The paper picked its four attacks_d by timing eight candidates on benign inputs and on the four
Env1 adversarial sets and keeping those whose times separate the two. :func:`time_attacks`
runs every configured attack_d on the first ``n`` inputs of every set, one input at a time
(batch of one, :func:`a2d.costs.timing.timed_costs`, as the authors' per-example loop ran), and
writes ``<out>/<attack>/<set>_eval.csv`` (index, cost, queries, success, seconds, and an
attack's extra counters) with a JSON sidecar. The sidecar's fingerprint (model, set file,
attack and settings, ``n``, device) lets a rerun keep every finished table, so a killed run
resumes. :func:`read_times` reads a folder back and :func:`separation` puts numbers on the
paper's reading of the figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from a2d.costs.base import CostAttack
from a2d.costs.suite import CostSuite
from a2d.costs.timing import timed_costs
from a2d.data.sets import load_set, set_name
from a2d.detectors.roc import auroc
from a2d.errors import DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.pipeline.resume import fingerprint, reuse_json, write_sidecar
from a2d.utils.io import sha256_file, write_text_atomic

log = logging.getLogger(__name__)

PROTOCOL = "batch of one"
"""How the times were taken (written beside every table): each input attacked on its own."""


@dataclass(frozen=True)
class ComparisonPlan:
    """What Figure 4 times.

    Attributes:
        attacks: attack_d name -> keyword hyperparameters (resolved for the dataset and seeded,
            :func:`a2d.costs.settings.cost_attack_specs`), in panel order.
        sets: set kinds of the evaluation split, benign first (``benign``, ``fgsm``, ...).
        n_examples: the first ``n`` inputs of every set (the paper: 1000).
        max_inputs: attack_d -> fewer inputs (a CPU substitute for the slow ones).
    """

    attacks: Mapping[str, Mapping[str, Any]]
    sets: Sequence[str]
    n_examples: int
    max_inputs: Mapping[str, int] = field(default_factory=dict)

    def n_for(self, attack: str) -> int:
        """How many inputs of each set ``attack`` is timed on."""
        return min(self.n_examples, self.max_inputs.get(attack, self.n_examples))


def time_attacks(
    model: ClassifierWrapper,
    plan: ComparisonPlan,
    *,
    sets: str | os.PathLike[str],
    out: str | os.PathLike[str],
    model_hash: str,
    device: torch.device,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Time every attack_d of ``plan`` on every set; keep the tables whose fingerprint matches.

    Args:
        model: the target's wrapped model on ``device`` (it declares the bounds).
        plan: attacks, sets and sizes.
        sets: the craft stage's folder of ``<kind>_eval.pt`` sets (all checked first).
        out: the run's folder (one sub-folder per attack_d).
        model_hash: sha256 of the weights, part of every fingerprint.
        device: where the attacks run (part of the fingerprint: times are per device).

    Returns:
        attack_d -> set kind -> summary (:func:`time_summary`), in plan order.

    Raises:
        DataError: a set of ``plan.sets`` is missing.
    """
    paths = {kind: Path(sets) / f"{set_name(kind, 'eval')}.pt" for kind in plan.sets}
    for kind, path in paths.items():
        if not path.is_file():
            raise DataError(
                f"no '{path.name}' in '{sets}' for Figure 4 (rq1.fig4.sets has {kind!r}); "
                "run the craft stage first (`dvc repro craft`)"
            )
    suite = CostSuite(model, plan.attacks)
    summaries: dict[str, dict[str, dict[str, Any]]] = {}
    for name, attack in suite.attacks.items():
        n, hp = plan.n_for(name), suite.specs[name]
        folder = Path(out) / name
        summaries[name] = {}
        warm = True
        for kind, path in paths.items():
            csv, sidecar = folder / f"{path.stem}.csv", folder / f"{path.stem}.json"
            key = fingerprint(model_hash, sha256_file(path), name, hp, n, str(device))
            kept = reuse_json(sidecar, key, needs=[csv])
            if kept is not None:
                log.info("%s_d %s: %s is up to date, kept", name, kind, csv.name)
                summaries[name][kind] = kept["summary"]
                continue
            example_set = load_set(path).head(n)
            if warm and len(example_set):
                # one untimed run per attack pays for kernel selection and allocation; an input
                # of the last set (adversarial, a few steps) is the cheapest way to do it
                _warm_up(attack, model, paths[plan.sets[-1]], device)
                warm = False
            log.info("%s_d alone on %d %s inputs, timed", name, len(example_set), kind)
            frame = timed_costs(
                attack, model, example_set.x.to(device), ids=example_set.indices, warmup=False
            )
            frame.insert(0, "index", example_set.indices.numpy())
            summary = time_summary(frame, attack.cap)
            write_text_atomic(csv, frame.to_csv(index=False))
            write_sidecar(
                sidecar,
                key,
                hyperparameters=dict(hp),
                summary=summary,
                device=str(device),
                torch_threads=torch.get_num_threads(),
                protocol=PROTOCOL,
            )
            summaries[name][kind] = summary
    return summaries


def _warm_up(
    attack: CostAttack, model: ClassifierWrapper, path: Path, device: torch.device
) -> None:
    first = load_set(path).head(1)
    attack(model, first.x.to(device), batch_size=1, ids=first.indices)


def time_summary(frame: pd.DataFrame, cap: int) -> dict[str, Any]:
    """Median / mean seconds, median cost, mean queries and failure rate of one timed table."""
    if not len(frame):
        return {"n": 0, "cap": cap}
    return {
        "n": int(len(frame)),
        "median_seconds": round(float(frame["seconds"].median()), 5),
        "mean_seconds": round(float(frame["seconds"].mean()), 5),
        "median_cost": float(frame["cost"].median()),
        "mean_queries": round(float(frame["queries"].mean()), 2),
        "failure_rate": round(float((~frame["success"].astype(bool)).mean()), 4),
        "cap": cap,
    }


def read_times(
    folder: str | os.PathLike[str], attacks: Sequence[str], sets: Sequence[str]
) -> dict[str, dict[str, pd.DataFrame]]:
    """attack_d -> set kind -> timed table, as :func:`time_attacks` wrote them.

    Raises:
        DataError: a table is missing (naming the stage that writes it).
    """
    tables: dict[str, dict[str, pd.DataFrame]] = {}
    for attack in attacks:
        tables[attack] = {}
        for kind in sets:
            path = Path(folder) / attack / f"{set_name(kind, 'eval')}.csv"
            if not path.is_file():
                raise DataError(
                    f"no timing table '{path}'; run the rq1_time stage first (`dvc repro rq1_time`)"
                )
            tables[attack][kind] = pd.read_csv(path)
    return tables


def separation(
    tables: Mapping[str, Mapping[str, pd.DataFrame]], *, benign: str = "benign"
) -> pd.DataFrame:
    """How well each attack_d's time and cost tell benign from each adversarial set.

    One row per (attack_d, adversarial set): the median seconds and the failure rate of both,
    the benign/adversarial ratio of median seconds, and the AUROC of seconds and of cost
    (score = minus the value: cheaper = more adversarial). An AUROC near 0.5 is no difference
    (the paper's FGSM_d); near 1 a large one.
    """
    rows = []
    for attack, sets in tables.items():
        if benign not in sets:
            raise DataError(f"no {benign!r} times for {attack}_d; Figure 4 compares against it")
        base = sets[benign]
        for kind, frame in sets.items():
            if kind == benign or not len(frame) or not len(base):
                continue
            rows.append(
                {
                    "attack": attack,
                    "set": kind,
                    "n": len(frame),
                    "benign_median_s": float(base["seconds"].median()),
                    "adversarial_median_s": float(frame["seconds"].median()),
                    "time_ratio": float(base["seconds"].median() / frame["seconds"].median()),
                    "auroc_seconds": auroc(-base["seconds"], -frame["seconds"]),
                    "auroc_cost": auroc(-base["cost"], -frame["cost"]),
                    "benign_failure_rate": float((~base["success"].astype(bool)).mean()),
                    "adversarial_failure_rate": float((~frame["success"].astype(bool)).mean()),
                }
            )
    return pd.DataFrame.from_records(rows)
