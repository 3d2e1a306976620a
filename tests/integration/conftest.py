"""Shared fixtures for integration tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_MODELS = REPO_ROOT / "models" / "test"


@pytest.fixture(scope="session")
def test_models() -> dict[str, Path]:
    """Tiny random-weight models (scripts/make_test_models.py; idempotent, offline except a one-off
    pip download of the openai-whisper sdist for the tokenizer). Maps name -> path:
    chat_llm (GGUF), embed (GGUF), whisper (CTranslate2 folder), piper (folder of tiny-{en,ru}.onnx)."""
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_test_models.py"), "--out", str(TEST_MODELS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"make_test_models.py failed:\n{proc.stderr[-4000:]}"
    manifest = json.loads((TEST_MODELS / "MANIFEST.json").read_text())
    return {name: TEST_MODELS / entry["path"] for name, entry in manifest["models"].items()}
