"""The README's example of applying the paper's saved detector runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from a2d.config import PROJECT_ROOT

from .conftest import real_data_root, skip_or_fail


def _block_after(heading: str) -> str:
    text = (PROJECT_ROOT / "README.md").read_text()
    start = text.index(heading)
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_the_saved_paper_detector_applies_in_the_readmes_lines() -> None:
    code = _block_after("Apply the paper's fitted END detector")
    assert len([line for line in code.splitlines() if line.strip()]) <= 5
    if not (PROJECT_ROOT / "results/detectors/env1_mnist_zscore.json").is_file():
        skip_or_fail("results/detectors/env1_mnist_zscore.json is missing: dvc repro detect")
    root = real_data_root()
    code = code.replace('"../shared/data"', repr(str(root)))  # A2D_DATA_ROOT may point elsewhere
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "A2D_PROGRESS": "0"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    flags = result.stdout.strip()
    assert re.fullmatch(r"\[(True|False)( (True|False)){3}\]", flags), flags
