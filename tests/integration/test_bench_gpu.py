"""Plumbing of scripts/bench_gpu.py: tiny shapes on the CPU, every stage, every point a JSON line.

The numbers mean nothing here (random tiny models on a shared CPU); what is checked is that the
script builds its models, runs each stage for each call count and prints parseable rows with the
keys docs/BENCHMARKS.md and docs/CAPACITY.md rely on. The GPU run is documented in BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.llm_server import LlamaServer

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMON = {"stage", "device", "shape", "calls", "samples", "p50_ms", "p95_ms", "max_ms"}
EXTRA = {
    "stt": {"mode", "audio_s_mean", "max_new_tokens"},
    "llm": {"mode", "prompt_chars", "prompt_tokens", "max_tokens", "llm_dims", "llm_type", "gpu_offload"},
    "tts": {"model", "text_chars"},
}


def run_bench(tmp_path: Path, *extra: str) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    cmd = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "bench_gpu.py"),
        "--device", "cpu",
        "--shape", "tiny",
        "--calls", "1,3",
        "--rounds", "1",
        "--work", str(tmp_path / "work"),
        *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_bench_gpu_tiny_cpu_runs_every_stage_and_point(tmp_path: Path) -> None:
    rows = run_bench(tmp_path)
    assert [(r["stage"], r["calls"]) for r in rows] == [(s, n) for s in ("stt", "llm", "tts") for n in (1, 3)]
    for row in rows:
        assert COMMON | EXTRA[row["stage"]] <= row.keys(), row
        assert row["device"] == "cpu" and row["shape"] == "tiny"
        assert row["samples"] == row["calls"]
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["max_ms"], row
    llm = next(r for r in rows if r["stage"] == "llm")
    assert llm["prompt_tokens"] >= llm["prompt_chars"] // 4  # the real system prompt's length
    assert llm["llm_dims"]["vocab"] == 512


def test_bench_gpu_llm_against_an_openai_compatible_server(test_models: dict[str, Path], tmp_path: Path) -> None:
    """--llm-server: concurrent requests reach a real llama_cpp.server on loopback."""
    server = LlamaServer(test_models["chat_llm"], tmp_path / "server.log")
    server.start()
    try:
        rows = run_bench(tmp_path, "--stages", "llm", "--llm-server", server.base_url, "--server-prompt", "text")
    finally:
        server.stop()
    assert [(r["stage"], r["calls"], r["mode"]) for r in rows] == [("llm", 1, "server"), ("llm", 3, "server")]
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert log.count("POST /v1/completions") == 1 + 1 + 3, log[-2000:]  # warm-up + one per call per point
