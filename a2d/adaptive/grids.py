"""Image grids of C&W-kappa examples (paper Figures 8, 9 and 11-13): which cells, crafted and kept.

A grid attacks a few benign source images, one per class (the first image of that class in
the benign evaluation set that the attacked model classifies correctly), towards chosen target
classes at chosen confidences kappa, with the same C&W setting as the kappa sweep
(:mod:`a2d.adaptive.confidence`). Two layouts (``adaptive.grids.<name>.layout``):

- ``kappas`` (Figure 8, "a target attack from 4 to 0 with different kappa"): one row per
  (source class, target class) pair, the benign source first, then one column per kappa.
- ``pairs`` (Figures 11-13, "targeted adversarial examples for each label pair"): one row per
  source class and one column per target class at one kappa, the benign source on the diagonal.

:func:`craft_grid` crafts every cell (one C&W run per kappa over all the grid's cells) and keeps
each kappa's examples on disk, fingerprinted like the sweep, so a rerun reuses them; the
:class:`ImageGrid` it returns knows where every cell's image is. Drawing is
:func:`a2d.reporting.adaptive.grid_figure`.

Notes:
    The paper does not say which images its grids show, nor Figure 8's kappas; the first
    correctly classified image of each class is our choice (deterministic, seed-free).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from a2d.adaptive.confidence import confidence_attack
from a2d.adaptive.examples import AdaptiveExamples
from a2d.adaptive.run import correct_only, load_examples, save_examples
from a2d.config import AdaptiveCWConfig, AdaptiveGridConfig
from a2d.data.sets import ExampleSet
from a2d.errors import DataError
from a2d.models.wrapper import ClassifierWrapper
from a2d.pipeline.resume import fingerprint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridCell:
    """One cell of an image grid.

    Attributes:
        row, column: its place in the grid.
        source: the row of its source image in :attr:`ImageGrid.sources`.
        target: the target class (``None`` for the benign source itself).
        kappa: the confidence it was crafted with (``None`` for the benign source).
        position: its row in ``ImageGrid.examples[kappa]`` (``None`` for the benign source).
    """

    row: int
    column: int
    source: int
    target: int | None = None
    kappa: float | None = None
    position: int | None = None

    @property
    def benign(self) -> bool:
        return self.kappa is None


@dataclass(frozen=True)
class ImageGrid:
    """A crafted image grid: its cells, their source images and the C&W examples behind them.

    Attributes:
        layout: ``kappas`` or ``pairs`` (see the module docstring).
        row_labels: one label per row (``"4 → 0"``, or the source class).
        column_labels: one heading per column (``"Benign"``, ``"κ = 20"``, or the target class).
        sources: the benign source images, one per source class.
        cells: every cell, row by row.
        examples: kappa -> the examples crafted at that kappa (cells point into them).
    """

    layout: str
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    sources: ExampleSet
    cells: tuple[GridCell, ...]
    examples: dict[float, AdaptiveExamples]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_labels), len(self.column_labels)

    def frame(self) -> pd.DataFrame:
        """One row per cell: place, source index and class, target, kappa, success, L2, margin."""
        rows = []
        for cell in self.cells:
            record = {
                "row": cell.row,
                "column": cell.column,
                "index": int(self.sources.indices[cell.source]),
                "label": int(self.sources.labels[cell.source]),
                "target": cell.target,
                "kappa": cell.kappa,
                "success": None,
                "l2": 0.0,
                "margin": None,
            }
            if not cell.benign:
                found = self.examples[float(cell.kappa)]  # type: ignore[arg-type]
                at = int(cell.position)  # type: ignore[arg-type]
                record.update(
                    success=bool(found.success[at]),
                    l2=float(found.l2[at]),
                    margin=float(found.margin[at]),
                )
            rows.append(record)
        frame = pd.DataFrame.from_records(rows)
        return frame.astype({"target": "Int64"})  # empty on the benign sources

    def image(self, cell: GridCell) -> Tensor:
        """The (C, H, W) image shown in ``cell``."""
        if cell.benign:
            return self.sources.x[cell.source]
        return self.examples[float(cell.kappa)].adversarial[int(cell.position)]  # type: ignore[arg-type]


def first_of_each(examples: ExampleSet, classes: Sequence[int]) -> ExampleSet:
    """The first example of each class in ``classes``, in that order.

    Raises:
        DataError: a class has no example (name it, and say how to get one).
    """
    positions = []
    for cls in classes:
        hits = (examples.labels == int(cls)).nonzero().flatten()
        if not len(hits):
            raise DataError(
                f"no correctly classified benign image of class {cls} among the "
                f"{len(examples)} evaluation images; choose other classes in adaptive.grids or "
                "raise sets.n_eval"
            )
        positions.append(int(hits[0]))
    rows = torch.tensor(positions, dtype=torch.long)
    return examples.select(rows)


def plan_grid(
    spec: AdaptiveGridConfig, num_classes: int
) -> tuple[list[int], list[GridCell], list[str], list[str]]:
    """The grid's source classes, cells and labels (nothing crafted): see the module docstring.

    Returns:
        ``(source_classes, cells, row_labels, column_labels)``; the cells of each kappa are
        numbered (``position``) in row order, the order they are crafted in.
    """
    cells: list[GridCell] = []
    if spec.layout == "kappas":
        sources = list(dict.fromkeys(int(s) for s, _ in spec.pairs))
        rows = [f"{int(s)} → {int(t)}" for s, t in spec.pairs]
        columns = ["Benign", *(f"κ = {float(k):g}" for k in spec.kappas)]
        for r, (s, t) in enumerate(spec.pairs):
            cells.append(GridCell(r, 0, sources.index(int(s))))
            for j, kappa in enumerate(spec.kappas, start=1):
                cells.append(GridCell(r, j, sources.index(int(s)), int(t), float(kappa), r))
        return sources, cells, rows, columns
    classes = list(range(num_classes)) if spec.classes is None else [int(c) for c in spec.classes]
    kappa = float(spec.kappas[0])
    position = 0
    for r in range(len(classes)):
        for j, t in enumerate(classes):
            if r == j:
                cells.append(GridCell(r, j, r))
            else:
                cells.append(GridCell(r, j, r, t, kappa, position))
                position += 1
    return classes, cells, [str(c) for c in classes], [str(c) for c in classes]


def craft_grid(
    model: ClassifierWrapper,
    benign: ExampleSet,
    spec: AdaptiveGridConfig,
    *,
    cw: AdaptiveCWConfig,
    out: str | os.PathLike[str],
    model_hash: str,
) -> ImageGrid:
    """The ``adaptive_grid`` stage: craft (or reuse) every cell of one grid.

    Args:
        model: the attacked model (wrapped, eval mode).
        benign: the benign evaluation set of ``spec.sets`` (only images ``model`` classifies
            correctly are used).
        spec: the grid (``adaptive.grids.<name>``).
        cw: the C&W setting (``adaptive.cw``: preset, overrides, batch size).
        out: folder of the per-kappa files ``k<kappa>.pt``.
        model_hash: sha256 of the weights, part of every fingerprint.

    Raises:
        DataError: a source class has no correctly classified image.
    """
    device = next(model.parameters()).device
    with torch.no_grad():
        num_classes = int(model(benign.x[:1].to(device)).shape[1])
    classes, cells, rows, columns = plan_grid(spec, num_classes)
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise DataError(
            f"adaptive.grids class {bad[0]} is not one of the model's {num_classes} classes"
        )
    sources = first_of_each(correct_only(model, benign), classes)
    examples: dict[float, AdaptiveExamples] = {}
    for kappa in dict.fromkeys(c.kappa for c in cells if not c.benign):
        chosen = sorted((c for c in cells if c.kappa == kappa), key=lambda c: int(c.position))  # type: ignore[arg-type]
        at = torch.tensor([c.source for c in chosen], dtype=torch.long)
        target = torch.tensor([c.target for c in chosen], dtype=torch.long)
        key = fingerprint(
            model_hash, sources.indices[at].tolist(), target.tolist(), cw.preset, dict(cw.overrides),
            float(kappa), cw.batch_size,  # type: ignore[arg-type]
        )  # fmt: skip
        path = Path(out) / f"k{kappa:g}.pt"
        found = load_examples(path, key)
        if found is None:
            log.info("grid: C&W kappa %g on %d cells", kappa, len(chosen))
            found = confidence_attack(
                model,
                sources.x[at].to(device),
                sources.labels[at].to(device),
                kappa=float(kappa),  # type: ignore[arg-type]
                target=target.to(device),
                preset=cw.preset,
                indices=sources.indices[at],
                batch_size=cw.batch_size,
                **dict(cw.overrides),
            )
            save_examples(found, path, key)
        examples[float(kappa)] = found  # type: ignore[arg-type]
    return ImageGrid(spec.layout, tuple(rows), tuple(columns), sources, tuple(cells), examples)
