"""Per-image CLEVER scores of an example set: the library call behind the ``clever`` stage.

One row per image: the source test index, true label, the model's prediction, whether the
input is a successful adversarial, and for every target type its score, target class, local
Lipschitz estimate and logit margin. Every image gets its own sample stream, seeded from its
source test index (:func:`image_seed`), so an image's scores never depend on which other images
share its set, and a benign image and its adversarial versions draw the same random numbers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from a2d.data.sets import ExampleSet
from a2d.pipeline.shards import ShardRunner, ShardStore, ShardTable, on_device, run_shards
from a2d.robustness.clever import TARGETS, Sampling, Target, clever
from a2d.robustness.scored import scored_model
from a2d.utils.progress import progress

Output = Literal["logits", "probabilities"]

SCORE_FIELDS = ("class", "lipschitz", "margin")
"""Per-target columns beside the score: ``<target>_class``, ``<target>_lipschitz``, ``<target>_margin``."""


@dataclass(frozen=True)
class CleverSettings:
    """How CLEVER samples and scores (see :func:`a2d.robustness.clever`).

    Attributes:
        nb_batches: Nb, batches (maxima) per image.
        batch_size: Ns, points per batch.
        radius: R, the L2 ball radius.
        sampling: ``"scaled"`` (huanzhang12/CLEVER's law) or ``"uniform"`` (in the ball volume).
        cap_at_radius: score = min(g / L, R) when True; the reference code does not cap.
        chunk_size: points per forward pass (memory and speed only; scores are the same for
            any chunk size up to the floating-point effects of batching).
        targets: the label types scored, default all four of Table 1.
        output: ``"logits"`` (default; CLEVER's definition and the reference code) or
            ``"probabilities"``: the margins of the softmax outputs, what a classifier that ends
            in a softmax layer (BL1's Keras models) hands to ART's ``clever_u``.
    """

    nb_batches: int
    batch_size: int
    radius: float
    sampling: Sampling
    cap_at_radius: bool
    chunk_size: int
    targets: tuple[Target, ...] = field(default=TARGETS)
    output: Output = "logits"

    def as_dict(self) -> dict[str, object]:
        """JSON-able view (fingerprints, metrics)."""
        return {**asdict(self), "targets": list(self.targets)}

    @property
    def points_per_image(self) -> int:
        """Nb * Ns: gradient points sampled per image (each gives K - 1 gradients)."""
        return self.nb_batches * self.batch_size


@dataclass(frozen=True)
class CleverTable:
    """Per-image scores of one set, the seconds they took, and how many Weibull fits fell back."""

    frame: pd.DataFrame
    seconds: float
    n_fallbacks: int


def image_seed(seed: int, index: int) -> int:
    """The seed of one image's sample stream, from the run's seed and the image's source index.

    Keyed by the *source* test index, not the position in a set, so that resuming, subsetting
    or reordering a set never changes a score, and paired benign/adversarial images share their
    random numbers (common random numbers make their comparison less noisy).
    """
    if index < 0:
        raise ValueError(f"index={index}; expected a non-negative source test index")
    return (int(seed) * 1_000_003 + int(index)) % (2**63)


def clever_columns(targets: Sequence[str]) -> list[str]:
    """The column order of a per-image CLEVER table for ``targets``."""
    columns = ["index", "label", "predicted", "crafted_success", "fallbacks"]
    for name in targets:
        columns += [name, *(f"{name}_{what}" for what in SCORE_FIELDS)]
    return columns


def clever_table(
    model: nn.Module,
    example_set: ExampleSet,
    *,
    settings: CleverSettings,
    n_images: int,
    seed: int,
) -> CleverTable:
    """CLEVER scores of the first ``n_images`` inputs of ``example_set``, one row per image.

    Args:
        model: logits network with its input normalisation inside (inputs in [0, 1]).
        example_set: a benign or adversarial set (inputs in the model's box).
        settings: sampling and scoring, see :class:`CleverSettings`.
        n_images: how many inputs, from the start of the set (the paper: the first 100).
        seed: the run's seed; each image's stream is seeded by :func:`image_seed`.

    Returns:
        A :class:`CleverTable` whose frame has the columns :func:`clever_columns`.
    """
    if n_images < 1:
        raise ValueError(f"n_images={n_images}; expected at least 1")
    count = min(n_images, len(example_set))
    model = scored_model(model, settings.output)
    crafted = (
        example_set.success
        if example_set.success is not None
        else torch.ones(len(example_set), dtype=torch.bool)
    )
    rows = []
    fallbacks = 0
    began = time.perf_counter()
    for position in progress(range(count), desc=f"CLEVER {example_set.name}", unit="image"):
        index = int(example_set.indices[position])
        result = clever(
            model,
            example_set.x[position : position + 1],
            targets=settings.targets,
            nb_batches=settings.nb_batches,
            batch_size=settings.batch_size,
            radius=settings.radius,
            sampling=settings.sampling,
            cap_at_radius=settings.cap_at_radius,
            chunk_size=settings.chunk_size,
            seed=image_seed(seed, index),
        )
        row: dict[str, object] = {
            "index": index,
            "label": int(example_set.labels[position]),
            "predicted": int(result.predicted[0]),
            "crafted_success": bool(crafted[position]),
            "fallbacks": result.n_fallbacks,
        }
        for name in settings.targets:
            row[name] = float(result.scores[name][0])
            row[f"{name}_class"] = int(result.classes[name][0])
            row[f"{name}_lipschitz"] = float(result.lipschitz[name][0])
            row[f"{name}_margin"] = float(result.margins[name][0])
        fallbacks += result.n_fallbacks
        rows.append(row)
    frame = pd.DataFrame.from_records(rows, columns=clever_columns(settings.targets))
    return CleverTable(frame=frame, seconds=time.perf_counter() - began, n_fallbacks=fallbacks)


@dataclass(frozen=True)
class _CleverJob:
    """What every shard of one set's CLEVER table shares."""

    model: nn.Module
    example_set: ExampleSet
    settings: CleverSettings
    seed: int


def _clever_shard(
    job: _CleverJob, start: int, stop: int, device: torch.device | None
) -> ShardTable:
    table = clever_table(
        on_device(job.model, device),
        job.example_set.select(torch.arange(start, stop)),
        settings=job.settings,
        n_images=stop - start,
        seed=job.seed,
    )
    return ShardTable(table.frame, {"seconds": table.seconds, "fallbacks": table.n_fallbacks})


def sharded_clever_table(
    model: nn.Module,
    example_set: ExampleSet,
    runner: ShardRunner,
    *,
    settings: CleverSettings,
    n_images: int,
    seed: int,
    store: ShardStore | None = None,
) -> CleverTable:
    """:func:`clever_table` in ``runner``'s shards of images, finished shards kept in ``store``.

    Each image's stream is seeded by its source index (:func:`image_seed`) and scored alone,
    so the rows are those of :func:`clever_table`, in set order. ``seconds`` is the shards'
    summed time (the work, whatever the number of workers).
    """
    if n_images < 1:
        raise ValueError(f"n_images={n_images}; expected at least 1")
    chosen = example_set.head(min(n_images, len(example_set)))
    parts = run_shards(
        _clever_shard,
        _CleverJob(model, chosen, settings, seed),
        len(chosen),
        runner,
        store=store,
        what=f"CLEVER {example_set.name}",
    )
    if not parts:
        return clever_table(model, chosen, settings=settings, n_images=n_images, seed=seed)
    return CleverTable(
        frame=pd.concat([part.frame for part in parts], ignore_index=True),
        seconds=sum(float(part.info["seconds"]) for part in parts),
        n_fallbacks=sum(int(part.info["fallbacks"]) for part in parts),
    )


def select_in_score_range(
    frames: dict[str, pd.DataFrame],
    *,
    score: str,
    score_range: Sequence[float],
    n_examples: int,
    seed: int,
) -> pd.DataFrame:
    """Up to ``n_examples`` scored images whose ``score`` lies in ``score_range`` (inclusive).

    The paper's Figure 2 uses "100 examples whose CLEVER scores range from 0 to 0.3" without
    saying which; we draw them uniformly (seeded) from every set's qualifying images, so no set
    is favoured by its position. Fewer qualify: all of them are taken.

    Args:
        frames: set name -> per-image table of :func:`clever_table`, in set order.
        score: the label type whose score is tested (e.g. ``"untargeted"``).
        score_range: (low, high).
        n_examples: the most rows returned.
        seed: seeds the draw.

    Returns:
        Columns ``set``, ``position`` (row in the set's table = position in the set),
        ``index``, ``score``; ordered by set (as in ``frames``) then position.
    """
    low, high = (float(v) for v in score_range)
    pool = []
    for order, (name, frame) in enumerate(frames.items()):
        if score not in frame.columns:
            raise ValueError(f"the CLEVER table of {name!r} has no {score!r} scores")
        values = frame[score].astype(float)
        inside = values.between(low, high)
        pool.append(
            pd.DataFrame(
                {
                    "set": name,
                    "order": order,
                    "position": frame.index[inside],
                    "index": frame.loc[inside, "index"].astype(int),
                    "score": values[inside],
                }
            )
        )
    candidates = pd.concat(pool, ignore_index=True) if pool else pd.DataFrame()
    if len(candidates) > n_examples:
        picked = np.random.default_rng(seed).choice(len(candidates), n_examples, replace=False)
        candidates = candidates.iloc[np.sort(picked)]
    ordered = candidates.sort_values(["order", "position"], kind="stable")
    return ordered.drop(columns="order").reset_index(drop=True)
