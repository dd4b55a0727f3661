"""The code a stage runs, read from its imports, against the dependencies dvc.yaml declares.

A stage whose dvc.yaml entry misses a module it imports is not re-run when that module changes,
and its committed outputs silently stop matching the code (the clever stage once missed the
crafted sets it reads). :func:`undeclared` lists, per stage, the first-party files its command
imports (transitively, also imports inside functions) that no declared dependency covers; a
test keeps it empty.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

FIRST_PARTY = ("a2d", "stages")
_MODULE_IN_CMD = re.compile(r"python\s+-m\s+([\w.]+)")


def _module_file(root: Path, module: str) -> Path | None:
    path = root.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _imports(root: Path, file: Path) -> set[str]:
    """First-party modules ``file`` imports (``from a.b import c`` counts a.b and a.b.c)."""
    tree = ast.parse(file.read_text(), filename=str(file))
    package = ".".join(file.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for lazy in [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]:
        tree.body.remove(lazy)  # PEP 562 lazy attributes import only when the attribute is used
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in FIRST_PARTY}


def imported_files(root: Path, module: str) -> set[Path]:
    """Every first-party file that running ``python -m module`` imports, with package inits."""
    seen: set[Path] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
            file = _module_file(root, ".".join(parts[:depth]))
            if file is not None and file not in seen:
                seen.add(file)
                pending.extend(_imports(root, file))
    return {file.relative_to(root) for file in seen}


def _covered(file: Path, deps: list[str]) -> bool:
    return any(file == Path(dep) or Path(dep) in file.parents for dep in deps)


def undeclared(root: Path) -> dict[str, list[str]]:
    """Stage name -> imported first-party files no declared dependency covers."""
    from dvc.repo import Repo

    repo = Repo(str(root))
    missing: dict[str, list[str]] = {}
    for stage in repo.index.stages:
        match = _MODULE_IN_CMD.search(stage.cmd or "")
        if not match:
            continue
        deps = [dep.def_path for dep in stage.deps]
        files = imported_files(root, match.group(1))
        absent = sorted(str(f) for f in files if not _covered(f, deps))
        if absent:
            missing[stage.addressing] = absent
    return missing
