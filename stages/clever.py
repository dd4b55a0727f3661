"""Stage `clever`: CLEVER scores of the first images of each evaluation set, and JSMA_d times.

For each set kind in ``clever.sets`` (benign, FGSM, BIM-A, JSMA, C&W) writes
``<out>/<kind>_eval.csv``: the untargeted, Target-2, Target-5 and LLC scores of the first
``clever.n_images`` images (Table 1). Then draws up to ``clever.timing.n_examples`` of the
scored images whose score lies in ``clever.timing.score_range`` and attacks each alone with
JSMA_d, timed, into ``<out>/attack_time.csv`` (Figures 2 and 10). A metrics JSON holds the
means, 90% intervals and benign/adversarial ratios. Finished files whose fingerprint matches
are kept, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd
import torch

from a2d.config import CleverConfig, Params, model_config
from a2d.costs import make_cost_attack
from a2d.costs.timing import timed_costs
from a2d.data.sets import load_set, set_name
from a2d.errors import DataError
from a2d.reporting.attack_time import spearman
from a2d.reporting.table1 import table1_rows
from a2d.robustness.tables import CleverSettings, clever_table, select_in_score_range
from a2d.utils.device import resolve_device
from a2d.utils.io import sha256_file, write_json_atomic, write_text_atomic
from stages._cli import parser, run
from stages._common import fingerprint, load_target_model

log = logging.getLogger("a2d.stages.clever")

TIMING_FILE = "attack_time"


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


def _fresh(csv: Path, sidecar: Path, key: str) -> bool:
    return (
        csv.is_file()
        and sidecar.is_file()
        and json.loads(sidecar.read_text()).get("fingerprint") == key
    )


def _set_paths(args: argparse.Namespace, kinds: list[str]) -> dict[str, Path]:
    """The evaluation-set file of every kind, all checked before any work starts."""
    paths = {kind: Path(args.sets) / f"{set_name(kind, 'eval')}.pt" for kind in kinds}
    for kind, path in paths.items():
        if not path.is_file():
            raise DataError(
                f"no '{path.stem}' set in '{args.sets}' (clever.sets has {kind!r}); craft it "
                f"(`dvc repro craft@{args.target}`) or drop it from clever.sets"
            )
    return paths


def _score_sets(
    args: argparse.Namespace, params: Params, model: torch.nn.Module, model_hash: str
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, object]]]:
    """Score every configured set (or keep its up-to-date CSV); set name -> (table, run info)."""
    cfg, settings = params.clever, settings_from(params.clever)
    out = Path(args.out)
    paths = _set_paths(args, cfg.sets)
    frames, info = {}, {}
    for kind, path in paths.items():
        name = path.stem
        csv, sidecar = out / f"{name}.csv", out / f"{name}.json"
        key = fingerprint(
            model_hash, sha256_file(path), settings.as_dict(), cfg.n_images, params.seed
        )
        if _fresh(csv, sidecar, key):
            log.info("%s: %s is up to date, kept", args.target, csv.name)
            frames[kind], info[kind] = pd.read_csv(csv), json.loads(sidecar.read_text())["run"]
            continue
        log.info(
            "%s: CLEVER on %s (%d images, %d x %d points each)",
            args.target,
            name,
            cfg.n_images,
            settings.nb_batches,
            settings.batch_size,
        )
        table = clever_table(
            model, load_set(path), settings=settings, n_images=cfg.n_images, seed=params.seed
        )
        run_info = {"seconds": round(table.seconds, 2), "weibull_fallbacks": table.n_fallbacks}
        write_text_atomic(csv, table.frame.to_csv(index=False))
        write_json_atomic(
            sidecar, {"fingerprint": key, "settings": settings.as_dict(), "run": run_info}
        )
        frames[kind], info[kind] = table.frame, run_info
    return frames, info


def _time_attacks(
    args: argparse.Namespace,
    params: Params,
    model: torch.nn.Module,
    model_hash: str,
    frames: dict[str, pd.DataFrame],
    device: torch.device,
) -> pd.DataFrame:
    """JSMA_d (or the configured attack) alone on each drawn example, timed; kept if up to date."""
    timing = params.clever.timing
    dataset = model_config(params, args.target).dataset
    hp = dict(params.costs.params.get(dataset, {}).get(timing.attack, {}))
    chosen = select_in_score_range(
        frames,
        score=timing.score,
        score_range=timing.score_range,
        n_examples=timing.n_examples,
        seed=params.seed,
    )
    out = Path(args.out)
    csv, sidecar = out / f"{TIMING_FILE}.csv", out / f"{TIMING_FILE}.json"
    selection = chosen[["set", "index"]].values.tolist()
    set_hashes = {
        kind: sha256_file(Path(args.sets) / f"{set_name(kind, 'eval')}.pt")
        for kind in chosen["set"].unique()
    }
    key = fingerprint(model_hash, set_hashes, selection, timing.attack, hp, str(device))
    if _fresh(csv, sidecar, key):
        log.info("%s: %s is up to date, kept", args.target, csv.name)
        return pd.read_csv(csv)
    if chosen.empty:
        log.warning(
            "%s: no scored image has a %s score in %s; nothing to time",
            args.target,
            timing.score,
            timing.score_range,
        )
        frame = chosen.assign(cost=[], queries=[], success=[], seconds=[])
    else:
        log.info("%s: %s_d alone on %d examples, timed", args.target, timing.attack, len(chosen))
        x = torch.cat(
            [
                load_set(Path(args.sets) / f"{set_name(kind, 'eval')}.pt").x[
                    group["position"].tolist()
                ]
                for kind, group in chosen.groupby("set", sort=False)
            ]
        ).to(device)
        ids = torch.tensor(chosen["index"].tolist())
        times = timed_costs(make_cost_attack(timing.attack, **hp), model, x, ids=ids)
        frame = pd.concat([chosen.reset_index(drop=True), times], axis=1)
    write_text_atomic(csv, frame.to_csv(index=False))
    write_json_atomic(
        sidecar,
        {"fingerprint": key, "attack": timing.attack, "hyperparameters": hp, "device": str(device)},
    )
    return frame


def summary(
    params: Params,
    target: str,
    frames: dict[str, pd.DataFrame],
    info: dict[str, dict[str, object]],
    times: pd.DataFrame,
) -> dict[str, object]:
    """The metrics JSON: per-cell Table 1 values beside the paper's, timing correlations."""
    cfg = params.clever
    dataset = model_config(params, target).dataset
    rows = table1_rows(frames, dataset=dataset, targets=cfg.targets, confidence=cfg.confidence)
    cells: dict[str, dict[str, dict[str, object]]] = {}
    for row in rows:
        cell = {
            k: row[k]
            for k in ("ours", "paper", "ci", "n", "median", "ours_successful", "n_successful")
            if row.get(k) is not None
        }
        cells.setdefault(str(row["label"]), {})[str(row["column"])] = {
            k: round(float(v), 5) if isinstance(v, float) else v for k, v in cell.items()
        }
    return {
        "target": target,
        "settings": settings_from(cfg).as_dict(),
        "n_images": cfg.n_images,
        "confidence": cfg.confidence,
        "table1": cells,
        "sets": info,
        "attack_time": {
            "attack": cfg.timing.attack,
            "n": int(len(times)),
            "spearman_score_seconds": _rounded(spearman(times["score"], times["seconds"]))
            if len(times)
            else None,
            "spearman_iterations_seconds": _rounded(spearman(times["cost"], times["seconds"]))
            if len(times)
            else None,
            "mean_seconds": _rounded(float(times["seconds"].mean())) if len(times) else None,
        },
        "torch_threads": torch.get_num_threads(),
    }


def _rounded(value: float) -> float | None:
    return None if value != value else round(value, 4)  # NaN -> null in JSON


def main(args: argparse.Namespace, params: Params) -> None:
    device = resolve_device(params.device)
    model = load_target_model(params, args.target, args.weights, device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # input gradients only
    model_hash = sha256_file(args.weights)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    frames, info = _score_sets(args, params, model, model_hash)
    times = _time_attacks(args, params, model, model_hash, frames, device)
    metrics = summary(params, args.target, frames, info, times)
    write_json_atomic(args.metrics, metrics)
    untargeted = metrics["table1"].get("Untarget", {})  # type: ignore[union-attr]
    log.info(
        "%s: untargeted CLEVER means %s",
        args.target,
        {k: v["ours"] for k, v in untargeted.items() if "lambda" not in k},
    )


def cli() -> None:
    p = parser("clever", __doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="model name from config, e.g. env1_mnist")
    p.add_argument("--weights", required=True, help="input: the target's weights (model stage)")
    p.add_argument("--sets", required=True, help="input: folder of example sets (craft stage)")
    p.add_argument("--out", required=True, help="output folder: per-set score CSVs, attack times")
    p.add_argument("--metrics", required=True, help="output: Table 1 cells and timing (JSON)")
    run("clever", main, p.parse_args())


if __name__ == "__main__":
    cli()
