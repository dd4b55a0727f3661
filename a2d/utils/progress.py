"""The one progress-bar hook of the library (tqdm), switchable off by config or environment.

Library code never prints; long loops go through :func:`progress`, which honours
``set_progress(False)`` (stages call it from ``progress: false`` in params) and the
``A2D_PROGRESS=0`` environment variable (useful in CI logs).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_enabled = os.environ.get("A2D_PROGRESS", "1") not in ("0", "false", "False")


def set_progress(enabled: bool) -> None:
    """Switch progress bars on or off for the whole process (the environment variable wins when 0)."""
    global _enabled
    _enabled = enabled and os.environ.get("A2D_PROGRESS", "1") not in ("0", "false", "False")


def progress(
    iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr when progress bars are enabled."""
    return iter(
        tqdm(iterable, desc=desc, total=total, unit=unit, disable=not _enabled, leave=False)
    )
