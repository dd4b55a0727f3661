"""Tables 5 and 6: the parameters of the crafting attacks, the pipeline's beside the paper's.

The paper's Appendix A lists, per environment, dataset and crafting attack, the parameters it
crafted with (Table 5: Env1, BL1's attacks; Table 6: Env2, BL3's and BL4's). These tables show
the parameters *our* pipeline crafts with, read from the config (``craft.attacks.<target>``
in ``params.yaml``, composed from ``conf/attack/craft_*.yaml``), beside the paper's
(``a2d/paper_values.yaml``, ``table5`` and ``table6``), one row per parameter:

* the parameters the paper prints, compared value by value (``matches paper``: yes / no);
* every other keyword the attack runs with ("not in paper"): set in conf/, taken from a C&W
  preset the config names (:data:`a2d.attacks.CW_PRESETS`), the run's seed (random attacks),
  or the attack's own default (``source`` says which), so the table is the whole setting;
* a paper attack the pipeline has no crafting attack for (:data:`NOT_CRAFTED`): "not crafted".

A parameter the paper prints must be set in conf/ (or by the preset conf/ names): where it is
not, the attack would silently run at a code default, so rendering stops with a
:class:`~a2d.errors.ConfigError` naming the key and the conf/ file. "Foolbox default parameters"
(Table 6, ImageNet) is compared with the defaults of the installed foolbox's attack.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import foolbox as fb
import pandas as pd

from a2d.attacks import CRAFT_ATTACKS, CW_PRESETS
from a2d.config import Params
from a2d.errors import ConfigError
from a2d.reporting.names import DATASETS, display_name
from a2d.reporting.paper import paper_value

TableName = Literal["table5", "table6"]
Match = Literal["yes", "no", "not in paper", "not crafted"]
Source = Literal["conf", "preset", "seed", "default", "attack", "none"]


@dataclass(frozen=True)
class Layout:
    """One of the two tables: its title and, per paper dataset, our target and attack names."""

    title: str
    conf_file: dict[str, str]
    """target -> the conf/ file that sets its crafting attacks (named in errors)."""
    attacks: dict[str, tuple[str, dict[str, str]]]
    """paper dataset -> (our target, paper attack key -> our crafting attack), the paper's order."""


LAYOUTS: dict[str, Layout] = {
    "table5": Layout(
        title="Table 5: Parameters of attacks for Env1 (ours from params.yaml, beside the paper's)",
        conf_file={
            "env1_mnist": "conf/attack/craft_env1.yaml",
            "env1_cifar10": "conf/attack/craft_env1.yaml",
        },
        attacks={
            "mnist": ("env1_mnist", {"FGSM": "fgsm", "BIM": "bim-a", "JSMA": "jsma", "CW": "cw"}),
            "cifar10": (
                "env1_cifar10",
                {"FGSM": "fgsm", "BIM": "bim-a", "JSMA": "jsma", "CW": "cw"},
            ),
        },
    ),
    "table6": Layout(
        title="Table 6: Parameters of attacks for Env2 (ours from params.yaml, beside the paper's)",
        conf_file={
            "env2_mnist": "conf/attack/craft_env2.yaml",
            "env2_cifar10": "conf/attack/craft_env2_cifar10.yaml",
            "imagenet_resnet101": "conf/attack/craft_imagenet.yaml",
        },
        attacks={
            "mnist": (
                "env2_mnist",
                {"FGSM": "fgsm", "JSMA": "jsma", "DeepFool": "deepfool", "CW": "cw", "BB": "bb"},
            ),
            "cifar10": (
                "env2_cifar10",
                {"FGSM": "fgsm", "JSMA": "jsma", "DeepFool": "deepfool", "CW": "cw"},
            ),
            # BL4's FGSM is the L2 one ("L2 norm"): our `fgm`
            "imagenet": (
                "imagenet_resnet101",
                {"FGSM": "fgm", "JSMA": "jsma", "DeepFool": "deepfool", "CW": "cw"},
            ),
        },
    ),
}
"""The two tables' layouts; a test holds their attacks equal to ``paper_values.yaml``'s."""

PAPER_KEYWORDS: dict[str, dict[str, str]] = {
    "fgsm": {"epsilon": "epsilon"},
    "fgm": {"epsilon": "epsilon"},
    "bim-a": {"epsilon": "epsilon", "alpha": "step_size"},
    "jsma": {"theta": "theta", "gamma": "gamma"},
    "cw": {"kappa": "confidence", "c": "initial_const"},
    "deepfool": {"overshoot": "overshoot"},
    "bb": {"epsilon": "epsilon"},
}
"""Crafting attack -> the paper's parameter name -> our keyword (``a2d.attacks`` signature)."""

ATTACK_PROPERTIES: dict[str, dict[str, str]] = {
    "bb": {"method": "Sub model+FGSM"},  # a2d/attacks/blackbox.py: Papernot substitute, FGSM on it
    "fgm": {"norm": "L2"},  # a2d/attacks/fgm.py: FGSM's L2 version
}
"""Words of the paper's cells that name what an attack *is*, not a config value: what ours is."""

SYMBOLS: dict[str, str] = {
    "epsilon": "ε",
    "alpha": "α",
    "theta": "θ",
    "gamma": "γ",
    "kappa": "κ",
    "c": "c",
    "overshoot": "overshoot",
    "method": "method",
    "norm": "norm",
}
"""The paper's parameter names -> its symbols."""

_CELL_FORMAT: dict[str, str] = {"overshoot": "overshoot={}", "method": "{}", "norm": "{} norm"}
"""How the paper's cells print a parameter (default ``"<symbol> = <value>"``)."""

NOT_CRAFTED: dict[tuple[str, str], str] = {
    ("imagenet_resnet101", "jsma"): (
        "foolbox's default JSMA (foolbox 1.x/2.x SaliencyMapAttack) is not a crafting attack "
        "yet (conf/attack/craft_imagenet.yaml)"
    ),
}
"""(target, crafting attack) the paper lists but the pipeline cannot craft yet -> why. Any other
paper attack missing from ``craft.attacks.<target>`` is a config error."""

FOOLBOX_ATTACKS: dict[str, tuple[type, dict[str, str]]] = {
    "deepfool": (fb.attacks.L2DeepFoolAttack, {}),
    "cw": (fb.attacks.L2CarliniWagnerAttack, {"step_size": "stepsize"}),
}
"""Crafting attack -> (the foolbox 3 attack whose defaults "Foolbox default parameters" means,
our keyword -> foolbox's where the names differ)."""


@dataclass(frozen=True)
class ParameterRow:
    """One parameter of one crafting attack: the paper's value and ours, and where ours is from.

    ``key`` is the config path of a ``conf`` value (``craft.attacks.<target>.<attack>.<kw>``),
    of the preset for a ``preset`` value (``...cw.preset``), ``seed`` for the run's seed, the
    attack class for a ``default`` or ``attack`` value, and the missing entry for ``none``.
    ``paper`` is the printed value (None: the paper prints none for this parameter).
    """

    dataset: str
    attack: str
    crafted_as: str
    parameter: str
    paper: Any
    ours: Any
    matches: Match
    source: Source
    key: str


def format_value(value: Any) -> str:
    """A parameter as the tables print it: ``1.0`` -> ``1``, ``True`` -> ``true``, None -> ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _same(paper: Any, ours: Any) -> bool:
    numbers = (int, float)
    if isinstance(paper, numbers) and isinstance(ours, numbers) and not isinstance(ours, bool):
        return math.isclose(float(paper), float(ours), rel_tol=1e-9, abs_tol=0.0)
    return bool(paper == ours)


def _attack_defaults(name: str) -> dict[str, Any]:
    signature = inspect.signature(CRAFT_ATTACKS[name])
    return {k: p.default for k, p in signature.parameters.items() if k != "bounds"}


def resolved_hyperparameters(
    name: str, configured: Mapping[str, Any], *, seed: int, key: str
) -> dict[str, tuple[Any, Source, str]]:
    """Every keyword crafting attack ``name`` runs with -> (value, source, key), as the craft stage builds it.

    Order of precedence, as :func:`a2d.attacks.make_craft_attack` and
    :func:`a2d.attacks.craft_hyperparameters` apply it: the configured keywords, then (C&W) the
    preset the config names, then the run's ``seed`` (random attacks), then the attack's own
    defaults. ``bounds`` is listed only when configured (default: the model's box).

    Args:
        name: a key of :data:`a2d.attacks.CRAFT_ATTACKS`.
        configured: its ``craft.attacks.<target>.<name>`` mapping.
        seed: the run's seed (``params.seed``).
        key: the config path of ``configured`` (for the ``key`` of each value).

    Raises:
        ConfigError: an unknown keyword or C&W preset.
    """
    defaults = _attack_defaults(name)
    known = [*defaults, "bounds", *(["preset"] if name == "cw" else [])]
    unknown = sorted(set(configured) - set(known))
    if unknown:
        raise ConfigError(
            f"{key} has unknown hyperparameter(s) {', '.join(unknown)}; valid: {', '.join(known)}"
        )
    resolved: dict[str, tuple[Any, Source, str]] = {
        kw: (value, "default", f"a2d.attacks.{CRAFT_ATTACKS[name].__name__}")
        for kw, value in defaults.items()
    }
    if "seed" in defaults:
        resolved["seed"] = (seed, "seed", "seed")
    if "preset" in configured:
        preset = configured["preset"]
        if preset not in CW_PRESETS:
            raise ConfigError(
                f"{key}.preset={preset!r} is not a C&W preset; choose one of "
                f"{', '.join(sorted(CW_PRESETS))}"
            )
        resolved |= {kw: (v, "preset", f"{key}.preset") for kw, v in CW_PRESETS[preset].items()}
    resolved |= {
        kw: (value, "conf", f"{key}.{kw}") for kw, value in configured.items() if kw != "preset"
    }
    return resolved


def foolbox_default(name: str, keyword: str) -> tuple[bool, Any]:
    """(whether foolbox's attack has the keyword, its default) for "Foolbox default parameters"."""
    if name not in FOOLBOX_ATTACKS:
        return False, None
    attack, renamed = FOOLBOX_ATTACKS[name]
    parameters = inspect.signature(attack).parameters
    theirs = renamed.get(keyword, keyword)
    if theirs not in parameters:
        return False, None
    return True, parameters[theirs].default


def _attack_rows(
    base: dict[str, str],
    paper: Mapping[str, Any],
    resolved: dict[str, tuple[Any, Source, str]],
    *,
    name: str,
    key: str,
    table: str,
    conf_file: str,
) -> list[ParameterRow]:
    rows: list[ParameterRow] = []
    shown: set[str] = set()
    source: Source
    for parameter, value in paper.get("values", {}).items():
        if parameter in ATTACK_PROPERTIES.get(name, {}):
            ours, source, where = ATTACK_PROPERTIES[name][parameter], "attack", name
        else:
            keyword = PAPER_KEYWORDS[name][parameter]
            ours, source, where = resolved[keyword]
            if source not in ("conf", "preset"):
                raise ConfigError(
                    f"{key}.{keyword} is not set ({conf_file}); {table} prints "
                    f"{SYMBOLS[parameter]} = {format_value(value)} for it"
                )
            shown.add(keyword)
        match: Match = "yes" if _same(value, ours) else "no"
        rows.append(
            ParameterRow(
                **base,
                parameter=SYMBOLS[parameter],
                paper=value,
                ours=ours,
                matches=match,
                source=source,
                key=where,
            )
        )
    for keyword, (ours, source, where) in resolved.items():
        if keyword in shown:
            continue
        paper_cell: Any = None
        match = "not in paper"
        if paper.get("foolbox_defaults"):
            has, default = foolbox_default(name, keyword)
            if has:
                paper_cell = f"Foolbox default ({format_value(default)})"
                match = "yes" if _same(default, ours) else "no"
        rows.append(
            ParameterRow(
                **base,
                parameter=keyword,
                paper=paper_cell,
                ours=ours,
                matches=match,
                source=source,
                key=where,
            )
        )
    return rows


def parameter_rows(params: Params, table: TableName) -> list[ParameterRow]:
    """Every row of Table 5 or 6: the paper's datasets and attacks in its order, ours beside them.

    Raises:
        ConfigError: a target without ``craft.attacks``, a paper attack missing from it (unless
            in :data:`NOT_CRAFTED`), or a parameter the paper prints that conf/ does not set.
    """
    layout = LAYOUTS[table]
    paper_table = paper_value(table)
    title = "Table 5" if table == "table5" else "Table 6"
    rows: list[ParameterRow] = []
    for dataset, (target, attacks) in layout.attacks.items():
        conf_file = layout.conf_file[target]
        if target not in params.craft.attacks:
            raise ConfigError(
                f"craft.attacks.{target} is not set ({conf_file}); {title} lists its "
                f"{display_name(dataset, DATASETS)} attacks"
            )
        configured = params.craft.attacks[target]
        for paper_key, name in attacks.items():
            paper = paper_table[dataset][paper_key]
            key = f"craft.attacks.{target}.{name}"
            base = {
                "dataset": display_name(dataset, DATASETS),
                "attack": "C&W" if paper_key == "CW" else paper_key,
                "crafted_as": name,
            }
            if name not in configured:
                if (target, name) not in NOT_CRAFTED:
                    raise ConfigError(
                        f"{key} is not set ({conf_file}); {title} lists "
                        f"{base['attack']} ({paper['printed']}) for {base['dataset']}"
                    )
                rows.append(
                    ParameterRow(
                        **base,
                        parameter="",
                        paper=paper["printed"],
                        ours=None,
                        matches="not crafted",
                        source="none",
                        key=key,
                    )
                )
                continue
            resolved = resolved_hyperparameters(name, configured[name], seed=params.seed, key=key)
            rows.extend(
                _attack_rows(
                    base, paper, resolved, name=name, key=key, table=title, conf_file=conf_file
                )
            )
    return rows


def parameter_frame(rows: list[ParameterRow]) -> pd.DataFrame:
    """All rows as printed: values formatted (:func:`format_value`), one row per parameter."""
    records = [
        asdict(row) | {"paper": format_value(row.paper), "ours": format_value(row.ours)}
        for row in rows
    ]
    frame = pd.DataFrame.from_records(records, columns=list(ParameterRow.__dataclass_fields__))
    return frame.rename(columns={"crafted_as": "crafted as", "matches": "matches paper"})


def _cell(parameter: str, value: Any) -> str:
    names = {symbol: name for name, symbol in SYMBOLS.items()}
    template = _CELL_FORMAT.get(names.get(parameter, parameter), f"{parameter} = {{}}")
    return template.format(format_value(value))


def parameter_glance(rows: list[ParameterRow], table: TableName) -> pd.DataFrame:
    """The paper's layout (dataset, attack, parameters as printed), ours in the same notation.

    ``ours`` gives our values of the parameters the paper prints (for "Foolbox default
    parameters": every keyword foolbox's attack has); ``also set`` the other keywords conf/
    (or its preset) sets; ``matches paper`` is yes, ``no (...)`` naming the differing
    parameters, or ``not crafted``.
    """
    paper_table = paper_value(table)
    records = []
    for dataset, (_, attacks) in LAYOUTS[table].attacks.items():
        for paper_key, name in attacks.items():
            attack = "C&W" if paper_key == "CW" else paper_key
            mine = [
                r
                for r in rows
                if r.dataset == display_name(dataset, DATASETS) and r.attack == attack
            ]
            compared = [r for r in mine if r.matches in ("yes", "no")]
            crafted = not any(r.matches == "not crafted" for r in mine)
            differing = [r.parameter for r in compared if r.matches == "no"]
            records.append(
                {
                    "Dataset": display_name(dataset, DATASETS),
                    "Attack Method": attack,
                    "crafted as": name if crafted else "",
                    "Parameters (paper)": paper_table[dataset][paper_key]["printed"],
                    "Parameters (ours)": ", ".join(_cell(r.parameter, r.ours) for r in compared),
                    "also set (conf/)": ", ".join(
                        f"{r.parameter} = {format_value(r.ours)}"
                        for r in mine
                        if r.matches == "not in paper" and r.source in ("conf", "preset")
                    ),
                    "matches paper": (
                        "not crafted"
                        if not crafted
                        else (f"no ({', '.join(differing)})" if differing else "yes")
                    ),
                }
            )
    return pd.DataFrame.from_records(records)


def parameter_notes(params: Params, table: TableName) -> list[str]:
    """What the table compares, which targets this profile crafts, and what is read how."""
    targets = [target for target, _ in LAYOUTS[table].attacks.values()]
    crafted = [t for t in targets if t in params.craft.targets]
    idle = [t for t in targets if t not in params.craft.targets]
    notes = [
        "ours: the keywords each crafting attack runs with, from craft.attacks.<target> in "
        "params.yaml (source conf), a C&W preset it names (preset, a2d.attacks.CW_PRESETS), "
        "the run's seed (seed) or the attack's own default (default); bounds, when not set, "
        "are the model's input box.",
        "matches paper: yes / no compares the printed value; 'not in paper' = a keyword the "
        "paper does not print; 'not crafted' = a paper attack the pipeline has no crafting "
        "attack for. Equal values can still be read differently (units, a C&W constant that "
        "starts a binary search): see the 'not in paper' rows and results/DEVIATIONS.md.",
        f"Crafted in this profile (craft.targets): {', '.join(crafted) or 'none'}"
        + (f"; configured, not crafted here: {', '.join(idle)}." if idle else "."),
    ]
    if table == "table5":
        notes.append("The paper's BIM is BL1's 'bim-a' (Appendix A): our crafting attack bim-a.")
    else:
        notes.append(
            "'Foolbox default parameters' (ImageNet JSMA, DeepFool, C&W; Appendix A) is compared "
            f"with the defaults of foolbox {fb.__version__}'s attack (the paper names no "
            "version); ImageNet's FGSM is the L2 one (our fgm)."
        )
    return notes


def parameter_table(
    params: Params, table: TableName
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Table 5 or 6 for ``params``: (all rows, the paper-layout glance, notes); see the module doc.

    Raises:
        ConfigError: a value the table needs is not in the config (:func:`parameter_rows`).
    """
    rows = parameter_rows(params, table)
    return parameter_frame(rows), parameter_glance(rows, table), parameter_notes(params, table)
