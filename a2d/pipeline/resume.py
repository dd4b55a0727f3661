"""Resume by fingerprint: a finished piece of work is kept only if it was made from the same inputs.

The long stages (crafting, attack costs, CLEVER, training) write their work in pieces, and a
rerun keeps every piece that carries the fingerprint of its inputs (model hash, config slice,
input-file hashes): a killed run resumes where it stopped, and a config change redoes exactly
the pieces it changes. A piece is a file that stores its fingerprint in one of three ways:

* a JSON sidecar beside a table (``{"fingerprint": key, ...}``): :func:`reuse_json`,
  :func:`write_sidecar` (cost tables, CLEVER scores);
* a torch archive with a tag field: :func:`reuse_torch`, :func:`write_torch` (crafting
  batches tag ``"key"``, training checkpoints ``"fingerprint"``);
* anything else with a loader and a stamp: :func:`reuse` (example sets keep it in
  ``meta["fingerprint"]``).

Notes:
    The keys are those the stages wrote before this module existed (same hash, same
    encoding), so the pieces already on disk and in the DVC remote are still reused.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import torch

from a2d.errors import error_line
from a2d.pipeline.timings import count_reused_piece
from a2d.utils.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

T = TypeVar("T")
PathLike = str | os.PathLike[str]

FINGERPRINT = "fingerprint"
"""The field that holds a piece's key in JSON sidecars, training checkpoints and set metadata."""


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts: a finished piece is reused only if it matches.

    Dict keys are sorted; anything JSON cannot encode is hashed through ``str()``.
    """
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def reuse(
    path: PathLike,
    key: Any,
    *,
    load: Callable[[Path], T],
    stamp: Callable[[T], Any],
    needs: Iterable[PathLike] = (),
) -> T | None:
    """``load(path)`` if ``path`` and every file in ``needs`` exist and its stamp equals ``key``.

    Args:
        path: the file that carries the fingerprint.
        key: the fingerprint the current inputs give (a :func:`fingerprint` string, or any
            value compared with ``==``).
        load: reads ``path``.
        stamp: the fingerprint stored in what ``load`` returned.
        needs: other files the piece consists of (e.g. the table beside a sidecar).

    Returns ``None`` (redo the piece) when a file is missing, unreadable (truncated or
    corrupted: its fingerprint cannot be checked) or the fingerprint differs.
    """
    path = Path(path)
    if not path.is_file() or not all(Path(p).is_file() for p in needs):
        return None
    try:
        found = load(path)
        stamped = stamp(found)
    except Exception as exc:  # any reader's error: a damaged piece is redone, never trusted
        log.warning(
            "ignoring %s: unreadable (%s: %s); redoing it",
            path,
            type(exc).__name__,
            error_line(exc),
        )
        return None
    if stamped != key:
        log.info("ignoring %s: it was made from other inputs (fingerprint differs)", path)
        return None
    count_reused_piece()  # the stage time of this run is then only part of the work
    return found


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _read_torch(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def reuse_json(
    sidecar: PathLike, key: str, *, needs: Iterable[PathLike] = ()
) -> dict[str, Any] | None:
    """The JSON ``sidecar`` (a dict) if it and ``needs`` exist and its ``"fingerprint"`` is ``key``."""
    return reuse(sidecar, key, load=_read_json, stamp=lambda d: d.get(FINGERPRINT), needs=needs)


def write_sidecar(sidecar: PathLike, key: str, **content: Any) -> None:
    """Write ``{"fingerprint": key, **content}`` as key-sorted JSON, atomically.

    Write it after the piece it describes: a sidecar then never vouches for a missing table.
    """
    write_json_atomic(sidecar, {FINGERPRINT: key, **content})


def reuse_torch(path: PathLike, key: Any, *, tag: str = FINGERPRINT) -> dict[str, Any] | None:
    """The torch archive at ``path`` (a dict) if its ``tag`` field equals ``key``."""
    return reuse(path, key, load=_read_torch, stamp=lambda d: d.get(tag))


def write_torch(path: PathLike, obj: dict[str, Any]) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically.

    Serialised in memory first: the archive's inner name then does not depend on the temporary
    file name, so equal objects give equal bytes.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
