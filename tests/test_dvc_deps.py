"""dvc.yaml declares what every stage runs and reads, so a change re-runs exactly what it affects.

A stage that misses a dep is not re-run when that code or input changes, and its committed
outputs silently stop matching; a dep that covers nothing re-runs it for nothing. The expected
lists come from the code (a2d/pipeline/deps.py): each stage's imports and the input/output
arguments of its command. A failure names the dvc.yaml lines to add or remove;
`python -m a2d.pipeline.deps --fix` edits the deps lists (outs and commands stay manual).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from a2d.config import PROJECT_ROOT
from a2d.pipeline.deps import (
    Finding,
    Stage,
    argument_roles,
    check,
    check_stage,
    command_arguments,
    fix_deps,
    imported_files,
    package_data,
    stages,
)

HOW = "edit dvc.yaml (deps lines: `python -m a2d.pipeline.deps --fix`):\n"


@pytest.fixture(scope="module")
def findings() -> list[Finding]:
    return check(PROJECT_ROOT)


def _of(findings: list[Finding], kind: str) -> list[str]:
    return [str(f) for f in findings if f.kind == kind]


def test_every_stage_runs_a_stage_module() -> None:
    """The analysis reads `python -m stages.X`; a stage run any other way would go unchecked."""
    others = [s.address for s in stages(PROJECT_ROOT) if "python -m stages." not in s.cmd]
    assert not others, f"stages not run as `python -m stages.<name>`: {others}"


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("code", "code the stage imports (or package data it reads) that no dep covers"),
        ("input", "input arguments of the command that are not deps"),
        ("output", "output arguments of the command that are not outs, metrics or plots"),
        ("stale", "deps that cover no code the stage imports, or that another dep covers"),
        ("argument", "command flags the stage's parser does not define"),
    ],
)
def test_dvc_yaml_matches_the_code(findings: list[Finding], kind: str, what: str) -> None:
    wrong = _of(findings, kind)
    assert not wrong, f"{what}; {HOW}" + "\n".join(wrong)


USER_MODULE_IMPORTERS = {"a2d/cli/model.py"}
"""Files that import by string on purpose: the command line imports the user's own
``module:factory`` (never a first-party module), and no stage imports the command line."""


def test_no_first_party_import_by_string() -> None:
    """importlib.import_module / __import__ would hide an import from the analysis."""
    hidden = []
    for package in ("a2d", "stages"):
        for file in sorted((PROJECT_ROOT / package).rglob("*.py")):
            if str(file.relative_to(PROJECT_ROOT)) in USER_MODULE_IMPORTERS:
                continue
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                    if name in ("import_module", "__import__"):
                        hidden.append(f"{file.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert not hidden, f"imports by string, invisible to a2d/pipeline/deps.py: {hidden}"


# --- the analysis itself, on small trees --------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


STAGE_SOURCE = """
    import argparse
    from a2d.lib import run
    from a2d.lazy import Thing
    def cli():
        p = argparse.ArgumentParser()
        p.add_argument("--target", help="model name")
        p.add_argument("--weights", help="input: the target's weights")
        p.add_argument("--out", help="output path without suffix")
        p.add_argument("--fast", action="store_true", help="skip the slow part")
"""

TREE = {
    "a2d/__init__.py": '"""Only a docstring: cannot change an output."""\n',
    "a2d/lib.py": "import a2d.helper\ndef run():\n    import a2d.late\n",
    "a2d/helper.py": "NAME = 'values.yaml'\n",
    "a2d/late.py": "LATE = 1\n",
    "a2d/values.yaml": "a: 1\n",
    "a2d/lazy/__init__.py": (
        "X = 1\ndef __getattr__(name):\n    from a2d.lazy.heavy import Thing\n    return Thing\n"
    ),
    "a2d/lazy/heavy.py": "Thing = 1\n",
    "a2d/unused.py": "UNUSED = 1\n",
    "stages/__init__.py": "",
    "stages/s.py": STAGE_SOURCE,
}


def test_imports_lazy_attributes_and_package_data(tmp_path: Path) -> None:
    root = _tree(tmp_path, TREE)
    files = imported_files(root, "stages.s")
    assert files == {
        Path(f)
        for f in [
            "stages/__init__.py",
            "stages/s.py",
            "a2d/__init__.py",
            "a2d/lib.py",
            "a2d/helper.py",
            "a2d/late.py",  # imported inside a function: code the stage can run
            "a2d/lazy/__init__.py",
            "a2d/lazy/heavy.py",  # `from a2d.lazy import Thing` runs the lazy hook
        ]
    }
    assert package_data(root, files) == {Path("a2d/values.yaml")}
    (root / "stages/s.py").write_text("from a2d.lazy import X\n")  # bound: the hook never runs
    assert Path("a2d/lazy/heavy.py") not in imported_files(root, "stages.s")


def test_argument_roles_come_from_the_help_text(tmp_path: Path) -> None:
    root = _tree(tmp_path, TREE)
    assert argument_roles(root, "stages.s") == {
        "--target": "value",
        "--weights": "input",
        "--out": "output",
        "--fast": "value",
    }
    assert command_arguments("python -m stages.s --fast --target t --out 'a b'") == {
        "--target": "t",
        "--out": "a b",
    }


def _stage(deps: list[str], outs: list[str], extra: str = "") -> Stage:
    template = (
        f"python -m stages.s --target ${{item}} --weights w/${{item}}.pt --out o/${{item}}{extra}"
    )
    return Stage(
        address="s@t",
        key="s",
        cmd=template.replace("${item}", "t"),
        template_cmd=template,
        deps=deps,
        outs=outs,
    )


GOOD_DEPS = ["stages/s.py", "a2d/lib.py", "a2d/helper.py", "a2d/late.py", "a2d/lazy"]
GOOD_DEPS += ["a2d/values.yaml", "w/t.pt"]

CASES = [
    ("complete", GOOD_DEPS, ["o/t.csv", "o/t.md"], "", []),
    (
        "a missing module and input",
        [d for d in GOOD_DEPS if d not in ("a2d/late.py", "w/t.pt")],
        ["o/t.csv"],
        "",
        [
            "stages.s.deps: add `- a2d/late.py` (`python -m stages.s` imports or reads it)",
            "stages.s.deps: add `- w/${item}.pt` (the --weights input)",
        ],
    ),
    (
        "a dep that covers nothing, one that another covers",
        [*GOOD_DEPS, "a2d/unused.py", "a2d/lazy/heavy.py"],
        ["o/t.csv"],
        "",
        [
            "stages.s.deps: remove `- a2d/unused.py` (`python -m stages.s` imports nothing under it)",
            "stages.s.deps: remove `- a2d/lazy/heavy.py` (`- a2d/lazy` covers it)",
        ],
    ),
    (
        "an undeclared output, an unknown flag",
        GOOD_DEPS,
        ["elsewhere.csv"],
        " --colour red",
        [
            "stages.s.outs: add `- o/${item}` (the --out output; with each suffix the stage "
            "writes, if any)",
            "stages.s.cmd: it passes --colour, which `python -m stages.s` does not define",
        ],
    ),
]


@pytest.mark.parametrize(
    ("case", "deps", "outs", "extra", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_findings_name_the_line_to_change(
    tmp_path: Path, case: str, deps: list[str], outs: list[str], extra: str, expected: list[str]
) -> None:
    root = _tree(tmp_path, TREE)
    assert sorted(map(str, check_stage(root, _stage(deps, outs, extra)))) == sorted(expected)


def test_fix_deps_edits_only_the_deps_lists() -> None:
    text = textwrap.dedent(
        """\
        stages:
          s:
            foreach: [t]
            do:
              cmd: python -m stages.s
              deps:
                - stages/s.py
                - a2d/unused.py
                # the weights
                - data/x
              outs:
                - o
          other:
            cmd: python -m stages.other
            deps:
              - stages/other.py
        """
    )
    fixes = [
        Finding("code", "stages.s.deps", "a2d/lib.py", ""),
        Finding("input", "stages.s.deps", "w/${item}.pt", ""),
        Finding("stale", "stages.s.deps", "a2d/unused.py", ""),
        Finding("output", "stages.s.outs", "o2", ""),  # left to a person
    ]
    assert fix_deps(text, fixes) == text.replace(
        "    - stages/s.py\n        - a2d/unused.py\n        # the weights\n        - data/x\n",
        "    - stages/s.py\n        - a2d/lib.py\n        # the weights\n        - data/x\n"
        "        - w/${item}.pt\n",
    )
