"""Example sets on disk: benign evaluation/training sets and the adversarial sets crafted from them.

One file per (kind, split): ``benign_eval.pt``, ``fgsm_eval.pt``, ``bim-a_train.pt``, ... in a
target's folder. Adversarial sets keep the test indices of their sources, so every adversarial
input stays paired with its benign original, and failed adversarials are kept with
``success = False`` (Env1 protocol; filter with :attr:`ExampleSet.success` where a protocol drops them).

On disk a set is a ``torch.save`` archive compressed with xz (exact float32, no rounding): the
adversarial sets travel with the repository through its DVC remote (README, "Restoring the
intermediates"), and compression keeps them 3-16x smaller. :func:`load_set` also reads the
uncompressed archives written before this format.
"""

from __future__ import annotations

import io
import lzma
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from a2d.errors import DataError
from a2d.utils.io import atomic_path

SPLITS = ("eval", "train")
XZ_MAGIC = b"\xfd7zXZ\x00"
"""The first bytes of an xz stream: how :func:`load_set` tells compressed sets from old ones."""
XZ_PRESET = 6
"""xz level of the set files: deterministic bytes, about 1.4x smaller than zlib -9 on these sets."""
SUCCESSFUL_ONLY = "successful_only"
"""The ``meta`` flag of a set crafted under BL3's protocol (Env2): only its successful
adversarials count. The failed ones stay in the file, so both views can be reported."""


@dataclass
class ExampleSet:
    """Inputs in [0, 1] with their source test indices and true labels, plus attack outcomes."""

    x: Tensor
    indices: Tensor
    labels: Tensor
    kind: str  # "benign" or a crafting attack name
    split: str  # "eval" or "train"
    success: Tensor | None = None  # adversarial sets: the attack met its criterion
    prediction: Tensor | None = None  # the model's prediction on x
    target: Tensor | None = None  # targeted attacks (JSMA): the target class
    meta: dict[str, Any] = field(default_factory=dict)  # hyperparameters, fingerprint, timing

    @property
    def name(self) -> str:
        return set_name(self.kind, self.split)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def successful_only(self) -> bool:
        """True if the set's protocol keeps only successful adversarials (``meta`` flag)."""
        return bool(self.meta.get(SUCCESSFUL_ONLY, False))

    def kept(self) -> ExampleSet:
        """The examples the set's protocol keeps: the successful ones under
        :attr:`successful_only` (BL3, Env2), else all of them (Env1 keeps failures)."""
        if not self.successful_only or self.success is None:
            return self
        return self.select(self.success.bool())

    def select(self, rows: Tensor) -> ExampleSet:
        """The examples at ``rows`` (a bool mask or int64 indices), in that order, same meta."""

        def cut(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[rows]

        return ExampleSet(
            x=self.x[rows],
            indices=self.indices[rows],
            labels=self.labels[rows],
            kind=self.kind,
            split=self.split,
            success=cut(self.success),
            prediction=cut(self.prediction),
            target=cut(self.target),
            meta=dict(self.meta),
        )

    def head(self, n: int) -> ExampleSet:
        """The first ``n`` examples (all when ``n`` >= the size): a reduced run keeps the pairing,
        because every set of a target lists the same source images in the same order."""

        def cut(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[:n]

        return ExampleSet(
            x=self.x[:n],
            indices=self.indices[:n],
            labels=self.labels[:n],
            kind=self.kind,
            split=self.split,
            success=cut(self.success),
            prediction=cut(self.prediction),
            target=cut(self.target),
            meta={**self.meta, "head": n},
        )


def set_name(kind: str, split: str) -> str:
    """File stem of a set: ``<kind>_<split>``, e.g. ``bim-a_eval``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return f"{kind}_{split}"


def save_set(example_set: ExampleSet, folder: str | os.PathLike[str]) -> Path:
    """Write ``<folder>/<kind>_<split>.pt`` atomically, xz-compressed.

    The bytes depend only on the set (not on the path or the time), so an unchanged set keeps
    its DVC hash when a stage rewrites it.
    """
    path = Path(folder) / f"{example_set.name}.pt"
    buffer = io.BytesIO()
    torch.save(asdict(example_set), buffer)
    packed = lzma.compress(buffer.getvalue(), preset=XZ_PRESET)
    with atomic_path(path) as tmp:
        tmp.write_bytes(packed)
    return path


def load_set(path: str | os.PathLike[str]) -> ExampleSet:
    """Read a set written by :func:`save_set`."""
    if not os.path.isfile(path):
        raise DataError(
            f"no example set at '{path}'; run the craft stage first (`dvc repro craft`)"
        )
    raw = Path(path).read_bytes()
    try:
        if raw.startswith(XZ_MAGIC):
            raw = lzma.decompress(raw)
        fields = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
    except (lzma.LZMAError, EOFError, RuntimeError, pickle.UnpicklingError) as exc:
        raise DataError(
            f"example set '{path}' is truncated or corrupt ({type(exc).__name__}); "
            "restore it with `dvc pull` or re-craft it with `dvc repro -f craft@<target>`"
        ) from exc
    return ExampleSet(**fields)


def list_sets(folder: str | os.PathLike[str]) -> list[Path]:
    """The set files of a target folder: evaluation split first, benign first, then by name.

    The paper's tables need only the evaluation split, so stages that walk this list finish
    those sets first and a long run is useful before it ends.
    """
    paths = sorted(Path(folder).glob("*.pt"))
    if not paths:
        raise DataError(
            f"no example sets in '{folder}'; run the craft stage first (`dvc repro craft`)"
        )
    return sorted(
        paths,
        key=lambda p: (not p.stem.endswith("_eval"), not p.stem.startswith("benign_"), p.stem),
    )


def load_sets(folder: str | os.PathLike[str], split: str) -> dict[str, ExampleSet]:
    """The ``<kind>_<split>.pt`` sets of a target folder, by kind (``benign``, ``fgsm``, ...).

    Raises:
        DataError: the folder holds no set files at all.
    """
    suffix = f"_{split}"
    return {
        path.stem[: -len(suffix)]: load_set(path)
        for path in list_sets(folder)
        if path.stem.endswith(suffix)
    }
