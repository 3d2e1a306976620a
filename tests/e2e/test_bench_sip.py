"""Plumbing of scripts/bench_sip.py: one short sweep point, sipp against the SIP proxy and two
workers, the shared STT (the trained test model) and TTS services in the loop.

The numbers mean nothing here (one call on a shared CPU); what is checked is that the script runs the
calls, reads the turn timelines back from the data dir's database and prints the keys
docs/BENCHMARKS.md relies on: end of speech to first audio per turn, per-call frame timing,
transcribed turns against apologies, CPU and RSS per process, the services' queueing delay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sip_harness import SIPP

REPO_ROOT = Path(__file__).resolve().parents[2]
DIST = {"n", "p50", "p95", "max"}
SERVICE = {"requests", "failures", "shed", "batches", "batch_sizes", "queue_ms_p50", "queue_ms_p95", "queue_ms_max"}


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
def test_a_sweep_point_with_the_services_reports_latency_frames_and_processes() -> None:
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "bench_sip.py"), "--sweep", "1", "--workers", "2",
           "--services", "--stt-model", str(REPO_ROOT / "models" / "stt-test"), "--seconds", "12", "--turn-s", "5"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    point, summary = lines[-2], lines[-1]
    assert summary["results"] == [point], point.get("error")
    assert point["calls"] == 1 and point["workers"] == 2
    assert point["answered"] == 1 and point["sipp_failed"] == 0
    # the caller said three whole phrases (at 0, 5 and 10 s of the 12; the last may end with the call)
    assert point["phrases_per_call"] == 3
    assert point["turns_transcribed"] >= 1, point["per_call"]
    assert point["turns_transcribed"] + point["turns_stt_apology"] >= 2, point["per_call"]
    for key in ("eos_to_first_audio_ms", "speech_end_to_first_audio_ms", "stt_ms", "brain_ms", "tts_first_audio_ms"):
        assert set(point[key]) == DIST, key
    assert point["eos_to_first_audio_ms"]["n"] >= 1
    assert point["speech_end_to_first_audio_ms"]["n"] >= 1
    # the true end of speech comes before the silence rule fires
    assert point["speech_end_to_first_audio_ms"]["p50"] > point["eos_to_first_audio_ms"]["p50"]
    (call,) = point["per_call"]
    assert call["tx_p99_ms"] > 0 and call["tx_max_gap_ms"] >= call["tx_p99_ms"]
    assert set(point["tx_p99_ms_per_call"]) == DIST and set(point["tx_max_gap_ms_per_call"]) == DIST
    assert {"main (SIP proxy)", "sip-worker-0", "sip-worker-1", "stt", "tts", "sipp"} <= set(point["processes"])
    assert all({"cpu_pct", "rss_idle_mb", "rss_peak_mb", "rss_end_mb"} <= set(p) for p in point["processes"].values())
    assert point["processes"]["stt"]["cpu_pct"] > 0  # the real model decoded the phrases
    assert len(point["rss_over_time"]) >= 2
    assert SERVICE <= set(point["stt_service"]) and SERVICE <= set(point["tts_service"])
    assert point["stt_service"]["requests"] >= 1 and point["tts_service"]["requests"] >= 1
    (row,) = summary["table"]
    assert {"eos_to_audio_p50_ms", "eos_to_audio_p95_ms", "true_end_to_audio_p50_ms", "turns_stt_apology",
            "stt_queue_ms_p95", "tx_p99_ms_worst_call", "tx_max_gap_ms", "cpu_pct"} <= set(row)  # fmt: skip
