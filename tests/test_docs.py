"""The documentation site builds with warnings as errors (broken links and anchors fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from a2d.config import PROJECT_ROOT
from tests.conftest import skip_or_fail


def test_docs_build_strict(tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        skip_or_fail("mkdocs is not installed (pip install -e '.[docs]', done by make setup)")
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "site" / "index.html").is_file()


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
