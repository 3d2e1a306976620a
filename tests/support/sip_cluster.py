"""The SIP channel in multi-worker mode (``sip.workers > 1``: proxy + worker processes) in its own
process, for the tests. Prints JSON lines like sip_appliance.py: ``ready`` (the proxy's port),
``call_ended`` per call, ``stats`` on a ``stats`` stdin line, ``summary`` (tickets) on ``stop``.

    python tests/support/sip_cluster.py --data DIR --port 5062 --workers 3 --max-calls 9

``--services``: the shared model services as the daemon starts them (appliance/ops/model_services.py):
no scripted STT, the workers use the STT/TTS services (``--stt-model``), and the LLM through one
shared llama_cpp.server when ``--llm-model`` is given. Extra stdin lines: ``pids`` (workers' and
services' pids), ``kill-service NAME`` (SIGKILL a service), ``service-status NAME`` (its load report).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from appliance.channels.sip.cluster import SipCluster
from appliance.core.config import load_config
from appliance.core.messages import Event


def out(event: str, **data: Any) -> None:
    # one write: with PYTHONUNBUFFERED print() writes the line and its newline separately, and a
    # log line on stderr (the same pipe) could land between them
    sys.stdout.write(json.dumps({"event": event, **data}, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def rows(db: Path, sql: str) -> list[list[Any]]:
    if not db.exists():
        return []
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [list(r) for r in c.execute(sql).fetchall()]
    finally:
        c.close()


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--max-calls", type=int, default=9)
    ap.add_argument("--over-capacity", default="callback")
    ap.add_argument("--allowed", default="127.0.0.1")
    ap.add_argument("--answer-delay", type=float, default=0.2)
    ap.add_argument("--record", type=int, default=0)
    ap.add_argument("--script", default="", help="JSON list of transcripts for ScriptedSTT")
    ap.add_argument("--services", action="store_true", help="shared model services, no scripted STT")
    ap.add_argument("--stt-model", default="")
    ap.add_argument("--llm-model", default="")
    ap.add_argument("--stt-timeout", type=float, default=0.0, help="voice.stt_timeout_s (0: the default)")
    ap.add_argument("--tenants", default="", help="JSON file: a list of [[tenants]] entries (more businesses)")
    args = ap.parse_args()
    script = Path(args.script) if args.script else Path(args.data) / "script.json"
    if not args.script:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("[]")
    cfg = load_config(
        environ={}, use_system=False,
        overrides={"store": {"data_dir": args.data}, "voice": {"stt_model": args.stt_model,
                   **({"stt_timeout_s": args.stt_timeout} if args.stt_timeout else {})},
                   "llm": {"mode": "auto", "model": args.llm_model} if args.llm_model else {"mode": "off"}, "sip": {
            "udp_port": args.port, "tcp_port": args.port, "workers": args.workers, "max_calls": args.max_calls,
            "over_capacity": args.over_capacity, "allowed_sources": [a for a in args.allowed.split(",") if a],
            "answer_delay_s": args.answer_delay, "record": bool(args.record)},
                   "tenants": json.loads(Path(args.tenants).read_text()) if args.tenants else []},
    )  # fmt: skip

    def on_event(ev: Event) -> None:
        out("app_event", type=str(ev.type), session_id=ev.session_id, data=ev.data)

    services = None
    if args.services:
        from appliance.ops.model_services import ModelServices

        services = ModelServices(cfg)
        cfg = await services.start()
    worker_args = [] if args.services else ["--scripted-stt", str(script)]
    cluster = SipCluster(cfg, on_event=on_event, worker_args=worker_args)
    ports = await cluster.start()
    out("ready", **ports, workers=[w for w in cluster.proxy.workers],
        services=services.snapshot() if services else None)  # fmt: skip
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    seen = 0
    line_task = asyncio.ensure_future(reader.readline())
    while True:
        done, _ = await asyncio.wait({line_task}, timeout=0.1)
        while seen < len(cluster.records):
            out("call_ended", **cluster.records[seen])
            seen += 1
        if line_task in done:
            line = line_task.result().decode().strip()
            if line.startswith("stats"):
                pids = [os.getpid(), *(p.pid for p in cluster._procs if p is not None and p.returncode is None)]
                out("stats", seq=int(line.split()[1]) if " " in line else 0, pids=pids, **cluster.snapshot())
                line_task = asyncio.ensure_future(reader.readline())
                continue
            if line == "pids":
                out("pids", workers=[p.pid if p else None for p in cluster._procs],
                    services=services.snapshot() if services else None)  # fmt: skip
                line_task = asyncio.ensure_future(reader.readline())
                continue
            if line.startswith("kill-service ") and services is not None:  # SIGKILL a model service
                pid = services.children[line.split()[1]].pid
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                out("killed", service=line.split()[1], pid=pid)
                line_task = asyncio.ensure_future(reader.readline())
                continue
            if line.startswith("service-status ") and services is not None:
                from dataclasses import asdict

                from appliance.engines.service.client import ServiceConnection

                name = line.split()[1]
                conn = ServiceConnection(cfg.services_path / f"{name}.sock", name=name)
                out("service_status", **asdict(await asyncio.to_thread(conn.status)))
                line_task = asyncio.ensure_future(reader.readline())
                continue
            if line.startswith("kill "):  # crash a worker on purpose (supervision test)
                proc = cluster._procs[int(line.split()[1])]
                if proc is not None:
                    proc.kill()
                line_task = asyncio.ensure_future(reader.readline())
                continue
            break
    await cluster.stop()
    if services is not None:
        await services.stop()
    while seen < len(cluster.records):
        out("call_ended", **cluster.records[seen])
        seen += 1
    tickets = rows(cfg.db_path, "SELECT id, phone, reason, channel, session_id FROM callback_tickets ORDER BY id")
    out("summary", tickets=tickets, restarts=cluster.restarts,
        services=services.snapshot() if services else None)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
