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


CRAFT_NAMES: dict[str, str] = {
    "fgsm": "FGSM",
    "bim-a": "BIM",
    "bim-b": "BIM-B",
    "jsma": "JSMA",
    "cw": "CW",
    "deepfool": "DeepFool",
    "bb": "BB",
}
"""Our crafting-attack (set kind) names -> the paper's row names (Table 2's "Attack" column)."""

COST_NAMES: dict[str, str] = {"bim": "BIM_d", "bim2": "BIM2_d", "jsma": "JSMA_d", "dba": "DBA_d"}
"""Our cost-attack names -> the paper's detector columns (attack_d)."""

BASELINE_NAMES: dict[str, str] = {"bl1": "BL1", "bl2": "BL2", "bl3": "BL3", "bl4": "BL4"}
"""Our baseline keys -> the paper's columns."""


def paper_name(name: str, names: dict[str, str]) -> str:
    """The paper's name for one of ours; names the paper never uses pass through unchanged."""
    return names.get(name, name)
