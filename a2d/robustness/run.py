"""One target's CLEVER run: every evaluation set scored, an attack timed, in a resumable folder.

The library call behind the ``clever`` stage (Table 1, Figures 2 and 10). For each set kind it
writes ``<out>/<kind>_eval.csv`` (:func:`a2d.robustness.tables.clever_table` of the first
``n_images`` images) with a JSON sidecar; then it draws up to ``n_examples`` of the scored
images whose score lies in a range and attacks each alone, timed, into
``<out>/attack_time.csv`` (:func:`a2d.costs.timing.timed_costs`). Each file's sidecar holds a
fingerprint of everything its content depends on (model, set, settings, seed); a file whose
fingerprint matches is kept (:mod:`a2d.pipeline.resume`), so a killed run resumes where it
stopped. :func:`clever_outputs`
and :func:`read_clever_scores` / :func:`read_attack_times` read a finished folder back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from a2d.config import CleverConfig, CleverTimingConfig
from a2d.costs import make_cost_attack
from a2d.costs.timing import timed_costs
from a2d.data.sets import load_set, set_name
from a2d.errors import DataError
from a2d.pipeline.resume import fingerprint, reuse_json, write_sidecar
from a2d.pipeline.shards import ShardRunner, ShardStore
from a2d.robustness.statistics import timing_statistics
from a2d.robustness.tables import (
    CleverSettings,
    clever_table,
    select_in_score_range,
    sharded_clever_table,
)
from a2d.utils.io import sha256_file, write_text_atomic

log = logging.getLogger(__name__)

TIMING_FILE = "attack_time"
"""Stem of the timing table (and its sidecar) in a run's folder."""


@dataclass(frozen=True)
class AttackTiming:
    """Which scored images get an attack of their own, timed (Figures 2 and 10).

    Attributes:
        attack: a cost attack name (``jsma`` in the paper).
        hyperparameters: its keyword arguments.
        score: the label type whose score selects the images (``untargeted``).
        score_range: (low, high), inclusive (the paper: 0 to 0.3).
        n_examples: at most this many images, drawn seeded among those in range.
    """

    attack: str
    hyperparameters: Mapping[str, Any]
    score: str
    score_range: tuple[float, float]
    n_examples: int

    @classmethod
    def from_config(
        cls, cfg: CleverTimingConfig, hyperparameters: Mapping[str, Any]
    ) -> AttackTiming:
        """From the validated ``clever.timing`` config and the attack's ``costs.params`` entry."""
        low, high = cfg.score_range
        return cls(cfg.attack, dict(hyperparameters), cfg.score, (low, high), cfg.n_examples)


@dataclass(frozen=True)
class CleverRun:
    """What a run measured: per-set scores, each set's run info, and the timed attacks.

    Attributes:
        scores: set kind -> per-image CLEVER table, in the order of the kinds asked for.
        info: set kind -> ``seconds`` and ``weibull_fallbacks`` of the run that scored it.
        times: one row per timed image (``set``, ``position``, ``index``, ``score``, then
            ``cost``, ``queries``, ``success``, ``seconds``).
        settings, n_images, attack: how the sets were scored and which attack was timed.
    """

    scores: dict[str, pd.DataFrame]
    info: dict[str, dict[str, Any]]
    times: pd.DataFrame
    settings: CleverSettings
    n_images: int
    attack: str

    def summary(self) -> dict[str, Any]:
        """The run's record for a metrics JSON: settings, per-set info, timing statistics."""
        return {
            "settings": self.settings.as_dict(),
            "n_images": self.n_images,
            "sets": self.info,
            "attack_time": {"attack": self.attack, **timing_statistics(self.times)},
            "torch_threads": torch.get_num_threads(),
        }


def settings_from(cfg: CleverConfig) -> CleverSettings:
    """The library's sampling settings from the validated ``clever`` config."""
    return CleverSettings(
        nb_batches=cfg.nb_batches,
        batch_size=cfg.batch_size,
        radius=cfg.radius,
        sampling=cfg.sampling,  # type: ignore[arg-type]  # validated in a2d.config
        cap_at_radius=cfg.cap_at_radius,
        chunk_size=cfg.chunk_size,
        targets=tuple(cfg.targets),  # type: ignore[arg-type]
        output=cfg.output,  # type: ignore[arg-type]
    )


def run_clever(
    model: nn.Module,
    cfg: CleverConfig,
    *,
    hyperparameters: Mapping[str, Any],
    sets: str | os.PathLike[str],
    out: str | os.PathLike[str],
    seed: int,
    model_hash: str,
    device: torch.device,
    target: str,
    runner: ShardRunner | None = None,
) -> CleverRun:
    """Score every set of ``cfg.sets`` and time ``cfg.timing.attack``, keeping up-to-date files.

    Args:
        model: the target's wrapped model on ``device`` (inputs in [0, 1]); its parameters
            are frozen here (CLEVER needs input gradients only).
        cfg: the validated ``clever`` config: the sets, the first ``n_images`` images of each,
            the sampling (:func:`settings_from`) and which images get a timed attack.
        hyperparameters: the timed attack's keyword arguments (``costs.params.<dataset>``).
        sets: the craft stage's folder of ``<kind>_eval.pt`` sets; every set is checked to
            exist before any work starts.
        out: the run's folder (created).
        seed: the run's seed (image streams and the draw of timed images).
        model_hash: sha256 of the weights file, part of every fingerprint.
        device: where the timed attack runs (part of its fingerprint: times are per device).
        target: the target's name, for messages.
        runner: score each set in this runner's shards of images
            (:func:`a2d.pipeline.shards.open_runner`), each kept in ``<out>/<set>.shards/``
            until the set's table is written; ``None``: a set at once, in this process. The
            timed attack always runs here (its times are this device's).

    Raises:
        DataError: a set of ``cfg.sets`` is missing from ``sets``.
    """
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # input gradients only
    Path(out).mkdir(parents=True, exist_ok=True)
    settings, timing = settings_from(cfg), AttackTiming.from_config(cfg.timing, hyperparameters)
    paths = _set_paths(Path(sets), cfg.sets, target)
    scores, info = {}, {}
    for kind, path in paths.items():
        scores[kind], info[kind] = _score_set(
            model,
            path,
            Path(out),
            settings=settings,
            n_images=cfg.n_images,
            seed=seed,
            model_hash=model_hash,
            target=target,
            runner=runner,
        )
    times = _time_attack(model, paths, Path(out), scores, timing, seed, model_hash, device, target)
    return CleverRun(scores, info, times, settings, cfg.n_images, timing.attack)


def _set_paths(sets: Path, kinds: Sequence[str], target: str) -> dict[str, Path]:
    """The evaluation-set file of every kind, all checked before any work starts."""
    paths = {kind: sets / f"{set_name(kind, 'eval')}.pt" for kind in kinds}
    for kind, path in paths.items():
        if not path.is_file():
            raise DataError(
                f"no '{path.stem}' set in '{sets}' (clever.sets has {kind!r}); craft it "
                f"(`dvc repro craft@{target}`) or drop it from clever.sets"
            )
    return paths


def _score_set(
    model: nn.Module,
    path: Path,
    out: Path,
    *,
    settings: CleverSettings,
    n_images: int,
    seed: int,
    model_hash: str,
    target: str,
    runner: ShardRunner | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One set's CLEVER table and run info, or its up-to-date CSV and sidecar."""
    csv, sidecar = out / f"{path.stem}.csv", out / f"{path.stem}.json"
    key = fingerprint(model_hash, sha256_file(path), settings.as_dict(), n_images, seed)
    kept = reuse_json(sidecar, key, needs=[csv])
    if kept is not None:
        log.info("%s: %s is up to date, kept", target, csv.name)
        return pd.read_csv(csv), kept["run"]
    log.info(
        "%s: CLEVER on %s (%d images, %d x %d points each)",
        target,
        path.stem,
        n_images,
        settings.nb_batches,
        settings.batch_size,
    )
    store = ShardStore(out / f"{path.stem}.shards", key)
    table = (
        clever_table(model, load_set(path), settings=settings, n_images=n_images, seed=seed)
        if runner is None
        else sharded_clever_table(
            model,
            load_set(path),
            runner,
            settings=settings,
            n_images=n_images,
            seed=seed,
            store=store,
        )
    )
    run_info = {"seconds": round(table.seconds, 2), "weibull_fallbacks": table.n_fallbacks}
    write_text_atomic(csv, table.frame.to_csv(index=False))
    write_sidecar(sidecar, key, settings=settings.as_dict(), run=run_info)
    store.clear()
    return table.frame, run_info


def _time_attack(
    model: nn.Module,
    paths: Mapping[str, Path],
    out: Path,
    scores: dict[str, pd.DataFrame],
    timing: AttackTiming,
    seed: int,
    model_hash: str,
    device: torch.device,
    target: str,
) -> pd.DataFrame:
    """The attack alone on each drawn image, timed; the up-to-date table if there is one."""
    chosen = select_in_score_range(
        scores,
        score=timing.score,
        score_range=timing.score_range,
        n_examples=timing.n_examples,
        seed=seed,
    )
    csv, sidecar = out / f"{TIMING_FILE}.csv", out / f"{TIMING_FILE}.json"
    selection = chosen[["set", "index"]].values.tolist()
    set_hashes = {kind: sha256_file(paths[kind]) for kind in chosen["set"].unique()}
    hp = dict(timing.hyperparameters)
    key = fingerprint(model_hash, set_hashes, selection, timing.attack, hp, str(device))
    if reuse_json(sidecar, key, needs=[csv]) is not None:
        log.info("%s: %s is up to date, kept", target, csv.name)
        return pd.read_csv(csv)
    if chosen.empty:
        log.warning(
            "%s: no scored image has a %s score in %s; nothing to time",
            target,
            timing.score,
            list(timing.score_range),
        )
        frame = chosen.assign(cost=[], queries=[], success=[], seconds=[])
    else:
        log.info("%s: %s_d alone on %d examples, timed", target, timing.attack, len(chosen))
        x = torch.cat(
            [
                load_set(paths[kind]).x[group["position"].tolist()]
                for kind, group in chosen.groupby("set", sort=False)
            ]
        ).to(device)
        ids = torch.tensor(chosen["index"].tolist())
        times = timed_costs(make_cost_attack(timing.attack, **hp), model, x, ids=ids)
        frame = pd.concat([chosen.reset_index(drop=True), times], axis=1)
    write_text_atomic(csv, frame.to_csv(index=False))
    write_sidecar(sidecar, key, attack=timing.attack, hyperparameters=hp, device=str(device))
    return frame


def clever_outputs(
    folder: str | os.PathLike[str], datasets: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """dataset -> target for the targets with a run folder under ``folder``, and those without.

    ``datasets`` maps each target (in report order, e.g. ``craft.targets``) to its dataset;
    the first target of a dataset is the one reported. A target whose folder does not exist
    yet is left out with a warning (and returned, so a table can name it), so that one
    target's artefacts can be rendered before another's slow run has finished.

    Raises:
        DataError: no target has a folder.
    """
    chosen: dict[str, str] = {}
    missing: list[str] = []
    for target, dataset in datasets.items():
        if not (Path(folder) / target).is_dir():
            missing.append(target)
            continue
        if dataset in chosen:
            log.warning(
                "%s and %s share dataset %s; reporting %s",
                chosen[dataset],
                target,
                dataset,
                chosen[dataset],
            )
            continue
        chosen[dataset] = target
    if not chosen:
        target = missing[0] if missing else "<target>"
        raise DataError(
            f"no CLEVER outputs in '{folder}'; run the clever stage first "
            f"(`dvc repro clever@{target}`)"
        )
    for target in missing:
        log.warning("%s: no CLEVER outputs yet, left out (`dvc repro clever@%s`)", target, target)
    return chosen, missing


def _read(path: Path, target: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"no CLEVER output '{path}'; run the clever stage first (`dvc repro clever@{target}`)"
        )
    return pd.read_csv(path)


def read_clever_scores(
    folder: str | os.PathLike[str], target: str, kinds: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """set kind -> the per-image CLEVER table a run wrote for ``target`` under ``folder``.

    Raises:
        DataError: a set's table is missing (names the stage to run).
    """
    base = Path(folder) / target
    return {kind: _read(base / f"{set_name(kind, 'eval')}.csv", target) for kind in kinds}


def read_attack_times(folder: str | os.PathLike[str], target: str) -> pd.DataFrame:
    """The timing table a run wrote for ``target`` under ``folder``.

    Raises:
        DataError: it is missing (names the stage to run).
    """
    return _read(Path(folder) / target / f"{TIMING_FILE}.csv", target)
