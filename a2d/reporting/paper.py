"""The paper's reported numbers, kept as data (a copy of ../shared/paper/paper-values.yaml)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PAPER_VALUES_FILE = Path(__file__).resolve().parent.parent / "paper_values.yaml"


@lru_cache(maxsize=1)
def paper_values() -> dict[str, Any]:
    """All transcribed paper values (Table 1-4, Fig 6, model accuracies)."""
    with open(PAPER_VALUES_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def paper_value(*keys: str, default: Any = None) -> Any:
    """A nested paper value, e.g. ``paper_value('models', 'env1', 'mnist', 'test')``; ``default`` if absent."""
    node: Any = paper_values()
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node
