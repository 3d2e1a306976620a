"""The appliance's Prometheus metrics: one set of objects any layer can count on.

Counting is one call where the event happens (``metrics.TURNS.labels(channel="web").inc()``);
nothing here does I/O. The daemon serves them on ``metrics.host:metrics.port`` (loopback by
default; ``appliance.ops.metrics``). In a process that never serves them (``appliance chat``)
the counts are simply never read. SIP worker processes (``sip.workers > 1``) count in
prometheus_client's multiprocess mode: the cluster starts them with ``PROMETHEUS_MULTIPROC_DIR``
set to :func:`workers_dir`, and the daemon adds their counts to its own when it serves (gauges
sum over the live workers: ``multiprocess_mode``, ignored in a single process). Metric names and what they mean are listed in
docs/INSTALL.md ("Metrics"); docs/grafana-dashboard.json plots them.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets (seconds) for the voice stages and the brain: 20 ms ... 10 s.
_LATENCY = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

ACTIVE_CALLS = Gauge("appliance_active_calls", "SIP calls in progress", multiprocess_mode="livesum")
ACTIVE_CHATS = Gauge("appliance_active_chats", "web chat WebSocket connections open", multiprocess_mode="livesum")
CALLS = Counter("appliance_calls_total", "SIP calls handled, by mode", ["mode"])
TURNS = Counter("appliance_turns_total", "conversation turns answered by the brain, by channel", ["channel"])
BRAIN_SECONDS = Histogram(
    "appliance_brain_turn_seconds", "time the brain took for one turn (all channels)", ["channel"], buckets=_LATENCY
)
# Voice stages of one caller turn (wall clock, from the turn's timeline): end_of_turn (caller
# speech start -> end of turn decided), stt (turn end -> transcript), brain (transcript -> first
# reply text), first_audio (turn end -> first reply audio out: the response time the caller hears).
VOICE_STAGE_SECONDS = Histogram(
    "appliance_voice_stage_seconds", "per-stage latency of a voice turn", ["stage"], buckets=_LATENCY
)
BARGE_INS = Counter("appliance_barge_ins_total", "caller speech that interrupted the appliance")
LANGUAGE_SWITCHES = Counter(
    "appliance_language_switches_total", "conversations that switched language", ["from_language", "to_language"]
)
TOOL_CALLS = Counter(
    "appliance_tool_calls_total",
    "tool calls by tool and outcome (ok, retried = ok after a retry, client_error, error, fallback)",
    ["tool", "outcome"],
)
BOOKINGS = Counter("appliance_bookings_total", "bookings committed by the brain, by action", ["action"])
DEGRADED_SECONDS = Counter("appliance_degraded_seconds_total", "seconds the brain ran in degraded (rules-only) mode")
DEGRADED = Gauge(
    "appliance_degraded", "1 while the brain runs degraded (no language model)", multiprocess_mode="livemax"
)
SIP_REGISTERED = Gauge(
    "appliance_sip_registered", "1 when the SIP account is registered", ["account"], multiprocess_mode="livemax"
)
ENGINE_RESTARTS = Counter("appliance_engine_restarts_total", "engine worker restarts after a crash", ["engine"])
WATCHDOG_PINGS = Counter("appliance_watchdog_pings_total", "WATCHDOG=1 notifications sent to systemd")


def workers_dir(data_path: Path) -> Path:
    """Where the SIP worker processes keep their counts (prometheus_client's multiprocess files)."""
    return data_path / "run" / "sip-worker-metrics"


# timeline latency name (appliance.voice.timeline.TurnTimeline.latencies) -> stage label
_VOICE_STAGES = {
    "end_detect_wall_ms": "end_of_turn",
    "stt_wall_ms": "stt",
    "brain_wall_ms": "brain",
    "response_wall_ms": "first_audio",
}


def observe_voice_turn(latencies_ms: dict[str, float]) -> None:
    """One finished voice turn: its stage latencies (``TurnTimeline.latencies()``, in ms)."""
    for key, stage in _VOICE_STAGES.items():
        value = latencies_ms.get(key)
        if value is not None and value >= 0:
            VOICE_STAGE_SECONDS.labels(stage=stage).observe(value / 1000.0)


def tool_outcome(tool: str, status: str, attempts: int) -> None:
    """One finished tool call (``OutcomeStatus`` value and the attempts it took)."""
    outcome = {"needs_clarification": "client_error"}.get(status, status)
    if outcome == "ok" and attempts > 1:
        outcome = "retried"
    TOOL_CALLS.labels(tool=tool, outcome=outcome).inc()
