"""One SIP worker process behind the proxy (``sip.workers > 1``): ``python -m appliance sip-worker``.

A full :class:`SipService` (its own pjsua2 Endpoint, brain on the shared SQLite file, speech
engines) on an ephemeral port. Its whole config comes from the JSON file the supervisor
(cluster.py) writes. Talks JSON lines on stdout: ``ready`` (ports, pid) once, ``app_event`` per
brain/SIP event, ``call_ended`` per finished call and ``command_done`` per staff command (a JSON
line on stdin: transfer or end a call); logs go to stderr. It stops when stdin says ``stop`` or
closes (so it never outlives the daemon), or on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from appliance.core.config import Config
from appliance.core.errors import ApplianceError
from appliance.core.messages import Event, to_dict


def _out(event: str, **data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


async def _engines(cfg: Config, scripted_stt: str | None) -> Any:
    from appliance.channels.sip.service import SipEngines

    if scripted_stt:  # the tests' and benchmark's seam: scripted transcripts, espeak-ng voice
        from appliance.engines.stt import ScriptedSTT
        from appliance.engines.tts import EspeakTTS

        return SipEngines(stt=ScriptedSTT(json.loads(Path(scripted_stt).read_text())), tts=EspeakTTS())
    from appliance.engines.factory import load_speech_engines

    stt, tts = await load_speech_engines(cfg)
    return SipEngines(stt=stt, tts=tts)


async def serve(config_file: Path, index: int, scripted_stt: str | None = None) -> int:
    from appliance.brain.factory import build_tenant_brains
    from appliance.channels.sip.service import SipService
    from appliance.core.logs import setup_logging

    cfg = Config.model_validate(json.loads(config_file.read_text()))
    setup_logging(cfg, rotate=False)  # the daemon rotates logging.file

    def on_event(ev: Event) -> None:
        _out("app_event", **to_dict(ev))

    brains = await build_tenant_brains(cfg, on_event=on_event)
    brain = brains.default
    engines = await _engines(cfg, scripted_stt)
    from appliance.channels.sip.diarize_job import build_jobs

    paused = [False]  # staff paused the AI for new calls (the daemon's "pause" command)
    service = SipService(cfg, brain, engines, callbacks=brain.callbacks, on_event=on_event, behind_proxy=True,
                         tenants=brains, diarization=build_jobs(cfg, brain.sessions.db),
                         ai_paused=lambda: paused[0])  # fmt: skip
    try:
        ports = await service.start()
    except ApplianceError as exc:
        print(f"SIP worker {index} failed to start: {exc}", file=sys.stderr)
        await brains.aclose()
        return 1
    _out("ready", index=index, pid=os.getpid(), **ports)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def watch_stdin() -> None:
        while True:
            line = await reader.readline()
            if not line or line.strip() == b"stop":
                stop.set()
                return
            if line.strip() == b"stats":
                _out("stats", index=index, active=service.endpoint.active_calls,
                     **{k: v for k, v in vars(service.endpoint.stats).items() if k != "registrations"})  # fmt: skip
            elif line.startswith(b"{"):  # staff call control from the daemon's API (cluster.py)
                loop.create_task(command(line))

    async def command(line: bytes) -> None:
        """``{"id", "cmd": "transfer"|"end"|"pause", "session_id", "extension", "paused"}`` ->
        ``command_done``."""
        msg: Any = None
        try:
            msg = json.loads(line)
            sid = str(msg.get("session_id") or "")
            if msg["cmd"] == "transfer":
                ok = await service.transfer_call(sid, str(msg.get("extension") or ""))
            elif msg["cmd"] == "end":
                ok = await service.end_call(sid)
            elif msg["cmd"] == "pause":
                paused[0] = ok = bool(msg.get("paused"))
            else:
                raise ValueError(f"unknown command {msg['cmd']!r}")
            _out("command_done", id=msg.get("id"), ok=ok)
        except Exception as exc:  # noqa: BLE001 - the daemon gets the error, the worker goes on
            _out("command_done", id=msg.get("id") if isinstance(msg, dict) else None, ok=False,
                 error=type(exc).__name__)  # fmt: skip

    watcher = loop.create_task(watch_stdin())
    seen = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except TimeoutError:
            pass
        while seen < len(service.records):
            _out("call_ended", index=index, **service.records[seen])
            seen += 1
    watcher.cancel()
    await service.stop()
    while seen < len(service.records):
        _out("call_ended", index=index, **service.records[seen])
        seen += 1
    await brains.aclose()
    _out("stopped", index=index)
    return 0


def main(args: Any) -> int:
    """Entry point of the hidden ``appliance sip-worker`` subcommand."""
    from appliance.core.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread (core/memory.py)
    return asyncio.run(serve(Path(args.worker_config), args.index, args.scripted_stt))
