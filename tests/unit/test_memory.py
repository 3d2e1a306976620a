"""core/memory.py on this (glibc) system: the arena limit and malloc_trim take effect, and an
operator's MALLOC_ARENA_MAX is left alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from appliance.core.memory import limit_malloc_arenas, release_free_memory

GLIBC = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_limit_and_trim_work_in_a_fresh_process() -> None:
    code = (
        "from appliance.core.memory import limit_malloc_arenas, release_free_memory;"
        "print(limit_malloc_arenas(), release_free_memory() in (True, False))"
    )
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_an_operators_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_malloc_arenas() is True  # nothing changed: glibc read the variable at start
    assert isinstance(release_free_memory(), bool)
