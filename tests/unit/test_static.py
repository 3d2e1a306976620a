"""Static quality gates: ruff and mypy, with the project's settings (pyproject.toml).

Both run as subprocesses of the current interpreter (``python -m ruff`` / ``python -m mypy``),
so they check against the same installed packages as the rest of the suite. The tools are
pinned in the ``test`` extra; a missing tool is a failure with an install hint, never a skip.
mypy keeps its incremental cache in the (git-ignored) ``.mypy_cache``: a cold run takes
about 25 s on two cores, a warm one a few seconds.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "pip install -e '.[test]'  (the test extra pins mypy and ruff)"
TOOL_TIMEOUT_S = 240  # below pytest-timeout's 300 s, so a hang reports the tool, not a bare timeout


def _run_tool(module: str, *args: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed for {sys.executable}: {INSTALL_HINT}", pytrace=False)
    version = importlib.metadata.version(module)
    cmd = [sys.executable, "-m", module, *args]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"{' '.join(cmd[2:])} ({module} {version}) ran over {TOOL_TIMEOUT_S} s:\n{out}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd[2:])} ({module} {version}) exited {proc.returncode}:\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )


def test_ruff_clean() -> None:
    _run_tool("ruff", "check", "appliance", "tests", "scripts")


def test_mypy_clean() -> None:
    _run_tool("mypy", "--config-file", "pyproject.toml", "appliance")
