"""The appliance's SIP channel in its own process (pjsua2 allows one Endpoint per process), with
the real brain and the scripted STT seam. Prints JSON lines: ``ready`` (ports), ``call_ended``
(the call record) per call, and on ``stop`` (stdin line, or stdin closed) ``summary`` with the
callback tickets and bookings, then exits.

    python tests/support/sip_appliance.py --data DIR --port 5062 --script script.json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from appliance.brain.dialogue.cut_calls import ticket_cut_calls
from appliance.brain.factory import build_tenant_brains
from appliance.channels.sip.service import SipEngines, SipService
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.core.messages import Event
from appliance.engines.stt import FasterWhisperSTT, ScriptedSTT
from appliance.engines.tts import EspeakTTS
from tests.support.faults import FaultySTT, FaultyTTS, HangingBrain, indices

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def out(event: str, **data: Any) -> None:
    # one write: with PYTHONUNBUFFERED print() writes the line and its newline separately, and a
    # log line on stderr (the same pipe) could land between them
    sys.stdout.write(json.dumps({"event": event, **data}, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def rows(db: Path, sql: str) -> list[list[Any]]:
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [list(r) for r in c.execute(sql).fetchall()]
    finally:
        c.close()


def _diarization_jobs(models: str, cfg: Any, brain: Any) -> Any:
    """Diarization after recorded calls with the tiny pyannote models in ``models`` (2 speakers)."""
    from appliance.channels.sip.diarize_job import DiarizationJobs
    from appliance.core.config import DiarizationConfig
    from appliance.engines.diarize import Diarizer

    d = Path(models)
    dcfg = DiarizationConfig(enabled=True, segmentation=str(d / "segmentation.ckpt"),
                             embedding=str(d / "embedding.ckpt"), plda=str(d / "plda"), num_speakers=2)  # fmt: skip
    return DiarizationJobs(brain.sessions.db, Diarizer(dcfg), tenant_id=cfg.tenant.id)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--script", default="", help="JSON list of transcripts for ScriptedSTT")
    ap.add_argument("--stt-broken", action="store_true", help="an STT whose model is missing")
    ap.add_argument("--max-calls", type=int, default=8)
    ap.add_argument("--over-capacity", default="callback")
    ap.add_argument("--allowed", default="127.0.0.1")
    ap.add_argument("--answer-delay", type=float, default=0.2)
    ap.add_argument("--record", type=int, default=1)
    ap.add_argument("--diarize", default="", help="diarize recordings with the tiny pyannote models in DIR")
    ap.add_argument("--wpm", type=int, default=240)
    ap.add_argument("--account", default="", help="id,registrar,username,password")
    ap.add_argument("--inbound-auth", default="", help="USER:PASSWORD required on INVITEs (digest)")
    # fault injection (tests/support/faults.py): 0-based call indices
    ap.add_argument("--stt-fail-at", default="")
    ap.add_argument("--stt-hang-at", default="")
    ap.add_argument("--tts-fail-from", type=int, default=None)
    ap.add_argument("--tts-hang-from", type=int, default=None)
    ap.add_argument("--brain-hang-at", default="")
    ap.add_argument("--brain-timeout", type=float, default=12.0)
    ap.add_argument("--stop-timeout", type=float, default=20.0, help="sip.stop_timeout_s")
    ap.add_argument("--backend", default="", help="URL of an HTTP booking backend (token 'test-token')")
    ap.add_argument("--tool-timeout", type=float, default=2.0)
    ap.add_argument("--ai-paused", action="store_true", help="staff paused the AI for new calls")
    ap.add_argument("--auto-callback", default="", help="callbacks.dial_uri: automatic callbacks on, fast")
    ap.add_argument("--ring-timeout", type=float, default=8.0)
    ap.add_argument("--tenants", default="", help="JSON file: a list of [[tenants]] entries (more businesses)")
    args = ap.parse_args()

    sip: dict[str, Any] = {
        "udp_port": args.port,
        "tcp_port": args.port,
        "max_calls": args.max_calls,
        "over_capacity": args.over_capacity,
        "allowed_sources": [a for a in args.allowed.split(",") if a],
        "answer_delay_s": args.answer_delay,
        "record": bool(args.record),
        "stop_timeout_s": args.stop_timeout,
    }
    if args.inbound_auth:
        user, _, password = args.inbound_auth.partition(":")
        sip["inbound_auth"] = [{"username": user, "password": password}]
    if args.account:
        acc_id, registrar, user, password = args.account.split(",")
        sip["accounts"] = [{"id": acc_id, "registrar": registrar, "username": user, "password": password}]
    tools: dict[str, Any] = {}
    if args.backend:
        tools = {"tools": {"backend": "http", "http_url": args.backend, "http_token": "test-token",
                           "timeout_s": args.tool_timeout, "max_retries": 1}}  # fmt: skip
    if args.auto_callback:
        tools["callbacks"] = {"auto": True, "dial_uri": args.auto_callback, "first_delay_s": 0,
                              "probe_base_s": 0.4, "probe_max_s": 1.6, "check_interval_s": 0.3,
                              "ring_timeout_s": args.ring_timeout}  # fmt: skip
    cfg = load_config(
        environ={}, use_system=False,
        overrides={"store": {"data_dir": args.data}, "llm": {"mode": "off"}, "sip": sip,
                   "voice": {"brain_timeout_s": args.brain_timeout}, **tools,
                   "tenants": json.loads(Path(args.tenants).read_text()) if args.tenants else []},
    )  # fmt: skip
    brains = await build_tenant_brains(cfg, clock=fixed_clock(NOW), llm=None)
    brain = brains.default
    script = json.loads(Path(args.script).read_text()) if args.script else []
    stt: Any = FasterWhisperSTT(Path(args.data) / "no-such-model") if args.stt_broken else ScriptedSTT(script)
    if args.stt_fail_at or args.stt_hang_at:
        stt = FaultySTT(script, fail_at=indices(args.stt_fail_at), hang_at=indices(args.stt_hang_at))
    tts: Any = EspeakTTS(words_per_minute=args.wpm)
    if args.tts_fail_from is not None or args.tts_hang_from is not None:
        tts = FaultyTTS(fail_from=args.tts_fail_from, hang_from=args.tts_hang_from, words_per_minute=args.wpm)
    engines = SipEngines(stt=stt, tts=tts)

    def on_event(ev: Event) -> None:
        out("app_event", type=str(ev.type), session_id=ev.session_id, data=ev.data)

    port: Any = HangingBrain(brain, indices(args.brain_hang_at)) if args.brain_hang_at else brain
    paused = bool(args.ai_paused)
    # what the daemon does before its SIP channel starts (daemon.py: _ticket_cut_calls)
    cut = await ticket_cut_calls(brain.sessions, brain.callbacks, tenant_id=cfg.tenant.id, clock=brain.clock)
    service = SipService(
        cfg, port, engines, callbacks=brain.callbacks, on_event=on_event, ai_paused=lambda: paused, tenants=brains
    )
    jobs = service.diarization = _diarization_jobs(args.diarize, cfg, brain) if args.diarize else None
    ports = await service.start()
    out("ready", **ports, speech_ok=service.speech_ok, cut_call_tickets=[t.id for t in cut])
    auto = None
    if args.auto_callback:
        auto = _auto_callbacks(service, brains)
        auto.start()
    seen = 0
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line_task = asyncio.ensure_future(reader.readline())
    job_state: tuple[Any, ...] = (False, 0, 0, ())
    while True:
        done, _ = await asyncio.wait({line_task}, timeout=0.1)
        while seen < len(service.records):
            out("call_ended", **service.records[seen])
            seen += 1
        if jobs is not None:  # the diarization job's progress, in order with the calls' events
            state = (jobs.busy, jobs.done, jobs.failed, tuple(sorted(service.live_calls)))
            if state != job_state:
                out("diarization", busy=jobs.busy, done=jobs.done, failed=jobs.failed,
                    live_calls=sorted(service.live_calls))  # fmt: skip
                job_state = state
        if line_task in done:
            line = line_task.result().decode().strip()
            if line == "stats":
                out("stats", **{k: v for k, v in vars(service.endpoint.stats).items() if k != "registrations"},
                    registrations={k: dataclasses.asdict(v)
                                   for k, v in service.endpoint.stats.registrations.items()},
                    active=service.endpoint.active_calls)  # fmt: skip
                line_task = asyncio.ensure_future(reader.readline())
                continue
            break
    t0 = time.monotonic()
    await service.stop()  # first, as the daemon does: a callback in progress hears the goodbye
    out("stopped", stop_s=round(time.monotonic() - t0, 2))
    if auto is not None:
        await auto.stop()
    while seen < len(service.records):
        out("call_ended", **service.records[seen])
        seen += 1
    tickets = rows(cfg.db_path, "SELECT id, phone, reason, channel, session_id, status, details FROM callback_tickets "
                                "ORDER BY id")  # fmt: skip
    bookings = rows(cfg.db_path, "SELECT id, pet_name, owner_name, owner_phone, status FROM bookings")
    await brains.aclose()
    out("summary", tickets=tickets, bookings=bookings)
    return 0


def _auto_callbacks(service: SipService, brains: Any) -> Any:
    """The daemon's automatic callbacks (every tenant's, on the fixed clock), each health probe
    printed (``probe``)."""
    from appliance.channels.sip.autocall import TenantAutoCallbacks

    def shown(cause: Any, probe: Any) -> Any:
        async def run(ticket: Any) -> bool:
            ok = await probe(ticket)
            out("probe", cause=str(cause), ticket=ticket.id, ok=ok, t=round(time.monotonic(), 3))
            return ok

        return run

    return TenantAutoCallbacks.build(service, brains, on_event=service.on_event, shown=shown)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
