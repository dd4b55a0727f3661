"""The code and files a stage reads, from its command and its imports, against what dvc.yaml declares.

A stage whose dvc.yaml entry misses a module it imports, or a path its command reads, is not
re-run when that changes, and its committed outputs silently stop matching (the clever stage
once missed the crafted sets and the weights it reads). :func:`check` compares, for every stage
(``foreach`` and ``matrix`` expanded by DVC itself):

* the first-party files ``python -m stages.X`` imports, transitively and also inside functions
  (:func:`imported_files`), and the package data files they name (:func:`package_data`, e.g.
  ``a2d/paper_values.yaml``), with the declared deps (a file, or a folder above it);
* every path argument of the command with the stage's own argparse help: an argument whose help
  starts with "input" must be a declared dep, one whose help starts with "output" a declared
  out, metric or plot (:func:`argument_roles`);
* declared code deps (under ``a2d/`` or ``stages/``) that cover nothing the stage imports.

Each finding is one sentence naming the dvc.yaml line to add or remove, so a failing test says
exactly how to fix the pipeline. The analysis is static (``ast``): nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

FIRST_PARTY = ("a2d", "stages")
_MODULE_IN_CMD = re.compile(r"python\s+-m\s+([\w.]+)")
Role = Literal["input", "output", "value"]
INPUT_FLAGS = ("--params",)
"""Input flags whose help does not start with "input" (the shared parser's params file)."""


def _module_file(root: Path, module: str) -> Path | None:
    path = root.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _lazy_hook(tree: ast.Module) -> ast.FunctionDef | None:
    return next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"), None
    )


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _found_imports(tree: ast.AST, package: str) -> set[str]:
    found: set[str] = set()
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


def _parse(root: Path, file: Path) -> tuple[ast.Module, str]:
    tree = ast.parse(file.read_text(), filename=str(file))
    return tree, ".".join(file.relative_to(root).with_suffix("").parts[:-1])


def _imports(root: Path, file: Path) -> set[str]:
    """First-party modules ``file`` imports (``from a.b import c`` counts a.b and a.b.c).

    Imports inside a module-level ``__getattr__`` (PEP 562 lazy attributes) are left out: they
    run only when such an attribute is used, which :func:`imported_files` follows.
    """
    tree, package = _parse(root, file)
    hook = _lazy_hook(tree)
    if hook is not None:
        tree.body.remove(hook)
    return _found_imports(tree, package)


def _lazy_imports(root: Path, module: str, attribute: str) -> set[str]:
    """What ``from module import attribute`` imports through ``module``'s lazy ``__getattr__``.

    All of the hook's imports when ``attribute`` is not a name the module binds itself: a sound
    over-estimate (the hook may import different things for different names).
    """
    file = _module_file(root, module)
    if file is None or _module_file(root, f"{module}.{attribute}") is not None:
        return set()
    tree, package = _parse(root, file)
    hook = _lazy_hook(tree)
    if hook is None or attribute in _top_level_names(tree):
        return set()
    return _found_imports(hook, package)


def imported_files(root: Path, module: str) -> set[Path]:
    """Every first-party file that running ``python -m module`` imports, with package inits.

    ``from pkg import name``, where ``name`` is a lazy attribute of ``pkg`` (PEP 562), counts
    what ``pkg.__getattr__`` imports; a lazy attribute nobody imports costs nothing.
    """
    seen: set[Path] = set()
    done: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in done:
            continue
        done.add(name)
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
            file = _module_file(root, ".".join(parts[:depth]))
            if file is not None and file not in seen:
                seen.add(file)
                pending.extend(_imports(root, file))
        if len(parts) > 1:
            pending.extend(_lazy_imports(root, ".".join(parts[:-1]), parts[-1]))
    return {file.relative_to(root) for file in seen}


def _strings(file: Path) -> set[str]:
    tree = ast.parse(file.read_text(), filename=str(file))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def package_data(root: Path, files: set[Path]) -> set[Path]:
    """Non-Python files inside the first-party packages whose name one of ``files`` spells out.

    Package data is read through a path built in code (``Path(__file__).parent /
    "paper_values.yaml"``), which no import shows; a string literal ending in the file's name
    is taken as reading it.
    """
    by_name: dict[str, set[Path]] = defaultdict(set)
    for package in FIRST_PARTY:
        for path in (root / package).rglob("*"):
            if (
                path.is_file()
                and path.suffix not in (".py", ".pyc")
                and "__pycache__" not in path.parts
            ):
                by_name[path.name].add(path.relative_to(root))
    found: set[Path] = set()
    for file in files:
        for text in _strings(root / file):
            found |= by_name.get(text.rsplit("/", 1)[-1], set())
    return found


def _inert(root: Path, file: Path) -> bool:
    """A file of a docstring and nothing else (a bare package init) cannot change any output."""
    if file.suffix != ".py":
        return False
    body = ast.parse((root / file).read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def argument_roles(root: Path, module: str) -> dict[str, Role]:
    """Each ``--flag`` the stage's parser defines -> input, output or value, read from its help.

    The stages say "input: ..." or "output: ..." at the start of every path argument's help;
    that convention is the source here, so a new argument is classified where it is defined.
    Shared parsers in other first-party stage modules (``stages/_cli.py``) are read too.
    """
    roles: dict[str, Role] = {}
    own = _module_file(root, module)
    files = sorted(imported_files(root, module), key=lambda f: (root / f == own, str(f)))
    for file in files:
        if file.parts[0] != "stages":
            continue
        for node in ast.walk(ast.parse((root / file).read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"
            ):
                continue
            flags = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant)
                and isinstance(a.value, str)
                and a.value.startswith("--")
            ]
            help_text = next(
                (
                    str(k.value.value)
                    for k in node.keywords
                    if k.arg == "help" and isinstance(k.value, ast.Constant)
                ),
                "",
            ).lower()
            role: Role = (
                "input"
                if help_text.startswith("input")
                else "output"
                if help_text.startswith("output")
                else "value"
            )
            for flag in flags:
                roles[flag] = "input" if flag in INPUT_FLAGS else role
    return roles


def command_arguments(cmd: str) -> dict[str, str]:
    """``--flag value`` pairs of a command line (flags without a value are left out)."""
    words = shlex.split(cmd)
    return {
        word: words[i + 1]
        for i, word in enumerate(words[:-1])
        if word.startswith("--") and not words[i + 1].startswith("--")
    }


def _covered(path: str | Path, deps: list[str]) -> bool:
    path = Path(path)
    return any(path == Path(dep) or Path(dep) in path.parents for dep in deps)


def _written(path: str, outs: list[str]) -> bool:
    """An output argument names an out, a folder above one, or a path without its suffix."""
    return any(
        out == path or out.startswith(path) or Path(out) in Path(path).parents for out in outs
    )


@dataclass(frozen=True)
class Stage:
    """One expanded stage: what dvc.yaml declares, and the template entry to edit."""

    address: str  # e.g. costs@env1_mnist-bim
    key: str  # the dvc.yaml key, e.g. costs
    cmd: str
    template_cmd: str  # the command before ${...} is filled in
    deps: list[str]
    outs: list[str]


def stages(root: Path) -> list[Stage]:
    """The stages of ``root``/dvc.yaml, foreach and matrix expanded by DVC itself."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    raw = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    found = []
    for stage in Repo(str(root)).index.stages:
        key = stage.addressing.split("@")[0]
        entry = raw.get(key, {})
        template = entry.get("do", entry).get("cmd", "")
        deps = [d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)]
        outs = [o.def_path for o in stage.outs]
        found.append(Stage(stage.addressing, key, stage.cmd or "", template, deps, outs))
    return found


def _fold(root: Path, files: list[Path], imported: set[Path]) -> list[str]:
    """Dep lines for ``files``: a package folder when the stage imports most of its modules."""
    lines: list[str] = []
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for file in files:
        by_folder[file.parent].append(file)
    for folder, group in sorted(by_folder.items()):
        modules = list((root / folder).glob("*.py"))
        used = [f for f in imported if f.parent == folder]
        if len(folder.parts) > 1 and len(group) > 1 and 2 * len(used) >= len(modules):
            lines.append(str(folder))
        else:
            lines.extend(str(f) for f in sorted(group))
    return lines


Kind = Literal["code", "input", "output", "stale", "argument"]


@dataclass(frozen=True)
class Finding:
    """One line to add to or remove from a stage's dvc.yaml entry, and why."""

    kind: Kind  # code/input: a dep to add; output: an out to add; stale: a dep to remove
    where: str  # the list to edit, e.g. stages.costs.deps
    line: str  # the entry as dvc.yaml writes it (with ${item}), or the flag for "argument"
    why: str

    def __str__(self) -> str:
        if self.kind == "argument":
            return f"{self.where}: {self.why}"
        action = "remove" if self.kind == "stale" else "add"
        return f"{self.where}: {action} `- {self.line}` ({self.why})"


@dataclass(frozen=True)
class _Code:
    imported: set[Path]
    read: set[Path]  # imported files and the package data they name
    roles: dict[str, Role]


def _analyse(root: Path, module: str) -> _Code:
    imported = imported_files(root, module)
    return _Code(imported, imported | package_data(root, imported), argument_roles(root, module))


def check_stage(root: Path, stage: Stage, code: _Code | None = None) -> list[Finding]:
    """Findings for one stage: each names the line to add to or remove from its dvc.yaml entry."""
    match = _MODULE_IN_CMD.search(stage.cmd)
    if not match:
        return []
    module, where = match.group(1), f"stages.{stage.key}"
    code = code or _analyse(root, module)
    missing = sorted(f for f in code.read if not _covered(f, stage.deps) and not _inert(root, f))
    findings = [
        Finding("code", f"{where}.deps", line, f"`python -m {module}` imports or reads it")
        for line in _fold(root, missing, code.imported)
    ]
    for dep in stage.deps:
        above = [d for d in stage.deps if Path(d) in Path(dep).parents]
        if above:
            why = f"`- {above[0]}` covers it"
            findings.append(Finding("stale", f"{where}.deps", dep, why))
        elif Path(dep).parts[0] in FIRST_PARTY and not any(
            f == Path(dep) or Path(dep) in f.parents for f in code.read
        ):
            why = f"`python -m {module}` imports nothing under it"
            findings.append(Finding("stale", f"{where}.deps", dep, why))
    templates = command_arguments(stage.template_cmd)
    for flag, value in command_arguments(stage.cmd).items():
        line, role = templates.get(flag, value), code.roles.get(flag)
        if role is None:
            why = f"it passes {flag}, which `python -m {module}` does not define"
            findings.append(Finding("argument", f"{where}.cmd", flag, why))
        elif role == "input" and not _covered(value, stage.deps):
            findings.append(Finding("input", f"{where}.deps", line, f"the {flag} input"))
        elif role == "output" and not _written(value, stage.outs):
            why = f"the {flag} output; with each suffix the stage writes, if any"
            findings.append(Finding("output", f"{where}.outs", line, why))
    return findings


def check(root: Path) -> list[Finding]:
    """Every finding of every stage of ``root``/dvc.yaml, once per dvc.yaml line."""
    analysed: dict[str, _Code] = {}
    found: dict[tuple[str, str, str], Finding] = {}
    for stage in stages(root):
        match = _MODULE_IN_CMD.search(stage.cmd)
        if not match:
            continue
        module = match.group(1)
        if module not in analysed:
            analysed[module] = _analyse(root, module)
        for finding in check_stage(root, stage, analysed[module]):
            found.setdefault((finding.kind, finding.where, finding.line), finding)
    return list(found.values())


def undeclared(root: Path) -> dict[str, list[str]]:
    """Stage name -> the files it imports or reads (code, package data) that no dep covers."""
    missing: dict[str, list[str]] = {}
    for stage in stages(root):
        match = _MODULE_IN_CMD.search(stage.cmd)
        if not match:
            continue
        read = _analyse(root, match.group(1)).read
        absent = sorted(str(f) for f in read if not _covered(f, stage.deps) and not _inert(root, f))
        if absent:
            missing[stage.address] = absent
    return missing


def fix_deps(text: str, findings: list[Finding]) -> str:
    """``dvc.yaml`` text with the deps lines of ``findings`` added or removed, the rest untouched.

    Code deps go after a stage's last ``a2d/`` or ``stages/`` entry, inputs at the end of its
    list; outs and commands are left to a person (they change what a stage produces).
    """
    lines = text.splitlines(keepends=True)
    by_stage: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.where.endswith(".deps"):
            by_stage[finding.where.split(".")[1]].append(finding)
    for key, todo in by_stage.items():
        head = next(i for i, ln in enumerate(lines) if re.fullmatch(rf"  {re.escape(key)}:\s*", ln))
        tail = next(
            (i for i in range(head + 1, len(lines)) if re.match(r"  \S|\S", lines[i])), len(lines)
        )
        deps = next(i for i in range(head + 1, tail) if lines[i].strip() == "deps:")
        first = lines[deps + 1]  # the list's items may sit deeper than `deps:` itself
        indent = " " * (len(first) - len(first.lstrip()))
        entries: list[tuple[list[str], str]] = []  # (comment lines above it, item)
        comments: list[str] = []
        end = deps + 1
        while end < len(lines) and lines[end].startswith((indent + "- ", indent + "#")):
            if lines[end].startswith(indent + "#"):
                comments.append(lines[end])
            else:
                entries.append((comments, lines[end][len(indent) + 2 :].strip()))
                comments = []
            end += 1
        items = [item for _, item in entries]
        stale = {f.line for f in todo if f.kind == "stale"}
        code: list[tuple[list[str], str]] = [
            ([], f.line) for f in todo if f.kind == "code" and f.line not in items
        ]
        inputs: list[tuple[list[str], str]] = [
            ([], f.line) for f in todo if f.kind == "input" and f.line not in items
        ]
        kept = [entry for entry in entries if entry[1] not in stale]
        last_code = max(
            (i for i, (_, item) in enumerate(kept) if Path(item).parts[0] in FIRST_PARTY),
            default=-1,
        )
        new = [*kept[: last_code + 1], *code, *kept[last_code + 1 :], *inputs]
        lines[deps + 1 : end] = [
            text for above, item in new for text in [*above, f"{indent}- {item}\n"]
        ] + comments
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print what dvc.yaml should add or remove; ``--fix`` edits its deps lists in place."""
    import argparse

    from a2d.config import PROJECT_ROOT

    p = argparse.ArgumentParser(prog="python -m a2d.pipeline.deps", description=main.__doc__)
    p.add_argument("--fix", action="store_true", help="add and remove dvc.yaml deps lines")
    args = p.parse_args(argv)
    findings = check(PROJECT_ROOT)
    print("\n".join(map(str, findings)) or "dvc.yaml declares what every stage imports and reads")
    if args.fix and findings:
        from a2d.utils.io import write_text_atomic

        path = PROJECT_ROOT / "dvc.yaml"
        for _ in range(5):  # a new folder dep makes the file deps under it redundant: go again
            fixable = [f for f in findings if f.where.endswith(".deps")]
            if not fixable:
                break
            write_text_atomic(path, fix_deps(path.read_text(), fixable))
            findings = check(PROJECT_ROOT)
        print(f"dvc.yaml deps fixed; {len(findings)} finding(s) left for a person")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
