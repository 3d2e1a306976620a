"""The metric objects and the Grafana dashboard that uses them: every series the dashboard queries
exists, and the voice/tool helpers count what they say they count."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from appliance.core import metrics

ROOT = Path(__file__).resolve().parents[2]


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_dashboard_queries_only_metrics_that_exist() -> None:
    dash = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(appliance_[a-z_]+)", e)}
    known: set[str] = set()
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            for fam in obj.describe():
                suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(fam.type, [""])
                known |= {fam.name + s for s in suffixes}
    known |= {"appliance_callback_queue_length", "appliance_callback_queue_oldest_age_seconds"}  # scrape-time
    missing = sorted(u for u in used if u not in known)
    assert not missing, missing
    assert len(used) >= 14


def test_voice_turn_latencies_land_in_their_stages() -> None:
    before = _value("appliance_voice_stage_seconds_count", stage="stt")
    metrics.observe_voice_turn({"stt_wall_ms": 180.0, "response_wall_ms": 640.0, "stt_audio_ms": 5.0})
    assert _value("appliance_voice_stage_seconds_count", stage="stt") == before + 1
    assert _value("appliance_voice_stage_seconds_sum", stage="first_audio") >= 0.64


def test_tool_outcomes() -> None:
    cases = [
        ("ok", 1, "ok"),
        ("ok", 2, "retried"),
        ("needs_clarification", 1, "client_error"),
        ("fallback", 3, "fallback"),
    ]
    for status, attempts, outcome in cases:
        before = _value("appliance_tool_calls_total", tool="t", outcome=outcome)
        metrics.tool_outcome("t", status, attempts)
        assert _value("appliance_tool_calls_total", tool="t", outcome=outcome) == before + 1
