"""The tiny pyannote test models (scripts/make_test_models.py --only diarize), for the diarization tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.config import DiarizationConfig
from appliance.engines.diarize import python_path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_MODELS = REPO_ROOT / "models" / "test-diarize"  # its own folder and MANIFEST.json (not the shared set)


def diarize_models() -> Path:
    """Make (idempotent) and return the models folder; skip where .venv-diarize was not set up."""
    if not python_path(DiarizationConfig()).exists():
        pytest.skip("no .venv-diarize: scripts/setup_diarize.sh creates it (setup.sh --test runs it)")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_test_models.py"), "--out", str(TEST_MODELS),
         "--only", "diarize"], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return TEST_MODELS / "diarize"
