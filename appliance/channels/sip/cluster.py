"""``SipCluster``: the SIP channel as a proxy plus worker processes (``sip.workers > 1``).

The pinned pjsua2 wheel holds 4 calls per process, so N workers (``appliance sip-worker``, each a
full SipService on an ephemeral port) sit behind :class:`SipProxy` on the public address. This
module starts them, restarts a crashed one (with backoff), forwards their events to the daemon's
bus, collects their call records, and stops them with the daemon (a worker also exits when its
stdin closes, so none outlives a killed daemon). It follows each worker's calls (``CALL_STARTED``
/ ``CALL_ENDED``): when a worker dies, the sessions it still held go to ``on_calls_cut`` at once,
so the daemon tickets a booking cut mid-way without waiting for its own next start.

Sizing: each worker takes ``lines_per_worker`` calls (3, plus one overflow slot for the "all lines
busy" prompt when ``over_capacity = "callback"``; 4 when it is "busy"); the proxy allows at most
``sip.max_calls`` lines in total.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from appliance.channels.sip.endpoint import PJSUA_MAX_CALLS
from appliance.channels.sip.proxy import SipProxy
from appliance.core import metrics
from appliance.core.config import Config
from appliance.core.errors import ApplianceError
from appliance.core.messages import Event, EventType

log = logging.getLogger("appliance.sip")

READY_TIMEOUT_S = 180.0
COMMAND_TIMEOUT_S = 10.0  # a staff command (transfer, end) waits this long for the worker's answer


def worker_layout(cfg: Config) -> tuple[int, int, int]:
    """(lines per worker, overflow slots per worker, total lines) for ``cfg.sip``."""
    sip = cfg.sip
    if sip.over_capacity == "callback":
        lines, overflow = PJSUA_MAX_CALLS - 1, 1
    else:
        lines, overflow = PJSUA_MAX_CALLS, 0
    lines = min(lines, sip.max_calls)
    total = min(sip.max_calls, lines * sip.workers)
    if sip.max_calls > total:
        log.warning("sip.max_calls = %d, but %d workers hold %d calls: using %d", sip.max_calls, sip.workers,
                    total, total)  # fmt: skip
    return lines, overflow, total


class SipCluster:
    """Same surface the daemon uses on SipService: ``start() -> ports``, ``stop()``, ``ports``, ``records``."""

    def __init__(
        self,
        config: Config,
        *,
        on_event: Callable[[Event], Any] | None = None,
        on_calls_cut: Callable[[int, list[str]], Awaitable[None]] | None = None,
        on_worker: Callable[[int, bool, Any], None] | None = None,
        worker_args: list[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.config = config
        self.sip = config.sip
        self.on_event = on_event
        self.on_calls_cut = on_calls_cut
        self.on_worker = on_worker  # (index, up, exit status): a worker died, or is back after a restart
        self.worker_args = list(worker_args or [])
        self.python = python
        self.lines, self.overflow, self.total = worker_layout(config)
        host = self.sip.host
        self.worker_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.proxy = SipProxy(
            host=host, port=self.sip.udp_port, allowed_sources=list(self.sip.allowed_sources),
            workers=self.sip.workers, lines_per_worker=self.lines, max_lines=self.total,
            overflow_per_worker=self.overflow, idle_timeout_s=self.sip.max_call_s + 120,
        )  # fmt: skip
        self.records: list[dict[str, Any]] = []
        self.ports: dict[str, int] = {}
        self.restarts = [0] * self.sip.workers
        self._procs: list[asyncio.subprocess.Process | None] = [None] * self.sip.workers
        self.live: list[set[str]] = [set() for _ in range(self.sip.workers)]  # session ids per worker
        self.up = [False] * self.sip.workers
        self._commands: dict[int, asyncio.Future[bool]] = {}  # staff commands awaiting a worker's answer
        self.paused = False  # staff paused the AI: new calls get the keypad menu (told to every worker)
        self._command_ids = 0
        self._ready: list[asyncio.Future[None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.worker_config = config.data_path / "sip-worker-config.json"
        self.metrics_dir = metrics.workers_dir(config.data_path)  # the workers' counts (core.metrics)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> dict[str, int]:
        if self.sip.accounts:
            log.warning("SIP: registering accounts is not supported with sip.workers > 1; point the PBX's trunk "
                        "at %s:%d instead", self.sip.host, self.sip.udp_port)  # fmt: skip
        self._write_worker_config()
        self._fresh_metrics_dir()
        port = await self.proxy.start()
        self.ports = {"udp": port}
        loop = asyncio.get_running_loop()
        self._ready = [loop.create_future() for _ in range(self.sip.workers)]
        self._tasks = [loop.create_task(self._supervise(i)) for i in range(self.sip.workers)]
        done, pending = await asyncio.wait(self._ready, timeout=READY_TIMEOUT_S)
        failed = [f for f in done if f.exception() is not None]
        if pending or failed:
            await self.stop()
            raise ApplianceError(f"SIP workers did not start ({len(pending)} timed out, {len(failed)} failed)",
                                 code="sip_workers")  # fmt: skip
        log.info("SIP: proxy udp:%d, %d workers x %d lines (%d in total)", port, self.sip.workers, self.lines,
                 self.total)  # fmt: skip
        return self.ports

    def _fresh_metrics_dir(self) -> None:
        """The workers count from zero at every start, like the daemon's own counters."""
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        for old in self.metrics_dir.glob("*.db"):
            old.unlink(missing_ok=True)

    def _worker_gone(self, pid: int) -> None:
        """A worker process ended: its gauges leave the sums (its counts stay in the totals)."""
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, str(self.metrics_dir))

    async def stop(self) -> None:
        self._stopping = True
        for proc in self._procs:
            if proc is not None and proc.stdin is not None and proc.returncode is None:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b"stop\n")
                    proc.stdin.close()
        if self._tasks:  # each worker says goodbye to its calls within its stop budget
            await asyncio.wait(self._tasks, timeout=self.sip.stop_timeout_s + 1.0)
        for proc in self._procs:
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
        for t in self._tasks:
            t.cancel()
        await self.proxy.stop()

    def _write_worker_config(self) -> None:
        data = self.config.model_dump(mode="json")
        allowed = ["127.0.0.1"] + ([self.worker_host] if self.worker_host != "127.0.0.1" else [])
        data["sip"].update(
            host=self.worker_host, udp_port=0, tcp_port=0, workers=1, accounts=[], allowed_sources=allowed,
            max_calls=self.lines, over_capacity=self.sip.over_capacity,
        )  # fmt: skip
        self.config.data_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.worker_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds secrets
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)

    # ------------------------------------------------------------------ supervision

    async def _supervise(self, index: int) -> None:
        backoff = 1.0
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            try:
                await self._run_worker(index)
            except Exception:  # noqa: BLE001
                log.exception("SIP worker %d supervision failed", index)
            self.proxy.worker_down(index)
            was_up, self.up[index] = self.up[index], False
            proc = self._procs[index]
            if was_up and not self._stopping:
                self._worker_state(index, False, proc.returncode if proc is not None else None)
            await self._calls_cut(index)
            if self._stopping:
                return
            if not self._ready[index].done():
                self._ready[index].set_exception(ApplianceError(f"SIP worker {index} exited before it was ready"))
                return
            if asyncio.get_running_loop().time() - started > 60:
                backoff = 1.0
            self.restarts[index] += 1
            log.error("SIP worker %d exited; restarting in %.0f s", index, backoff)
            await asyncio.sleep(backoff)
            backoff = min(30.0, backoff * 2)

    async def _run_worker(self, index: int) -> None:
        argv = [self.python, "-m", "appliance", "sip-worker", "--worker-config", str(self.worker_config),
                "--index", str(index), *self.worker_args]  # fmt: skip
        root = str(Path(__file__).resolve().parents[3])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)  # served by the daemon with its own
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, limit=4 * 1024 * 1024
        )
        self._procs[index] = proc
        assert proc.stdout is not None
        try:
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if not line.startswith("{"):
                    continue  # pjsua's own console lines
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                self._on_worker_line(index, msg)
        finally:
            rc = await proc.wait()
            self._worker_gone(proc.pid)
            if not self._stopping:
                log.warning("SIP worker %d (pid %d) exited with %s", index, proc.pid, rc)

    async def _calls_cut(self, index: int) -> None:
        """The worker is gone: the calls it still held are over, unfinished (a stop says goodbye
        and ends them first, so this finds none then)."""
        cut = sorted(self.live[index])
        self.live[index].clear()
        if not cut or self.on_calls_cut is None or self._stopping:  # after a stop: the next start
            return
        log.error("SIP worker %d died holding %d call(s): %s", index, len(cut), ", ".join(cut))
        try:
            await self.on_calls_cut(index, cut)
        except Exception:  # noqa: BLE001 - the turns are stored; staff still find them in the sessions
            log.exception("could not ticket the calls SIP worker %d held", index)

    # ------------------------------------------------------------------ staff call control

    async def transfer_call(self, session_id: str, extension: str) -> bool:
        """Blind-transfer a live call (the worker holding it sends the REFER); False when no
        worker holds it."""
        return await self._command(session_id, {"cmd": "transfer", "extension": extension})

    async def end_call(self, session_id: str) -> bool:
        return await self._command(session_id, {"cmd": "end"})

    def set_paused(self, paused: bool) -> None:
        """Staff paused the AI for new calls (or resumed it): every worker is told, and a worker
        that starts later is told when it is ready."""
        if paused == self.paused:
            return
        self.paused = paused
        for index in range(len(self._procs)):
            self._tell_pause(index)

    def _tell_pause(self, index: int) -> None:
        proc = self._procs[index]
        if proc is not None and proc.stdin is not None and proc.returncode is None:
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.write(json.dumps({"cmd": "pause", "paused": self.paused, "id": 0}).encode() + b"\n")

    async def _command(self, session_id: str, msg: dict[str, Any]) -> bool:
        index = next((i for i, calls in enumerate(self.live) if session_id in calls), None)
        proc = self._procs[index] if index is not None else None
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return False
        self._command_ids += 1
        cid = self._command_ids
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._commands[cid] = done
        try:
            proc.stdin.write(json.dumps({**msg, "id": cid, "session_id": session_id}).encode() + b"\n")
            await proc.stdin.drain()
            return await asyncio.wait_for(done, COMMAND_TIMEOUT_S)
        except (TimeoutError, OSError, ConnectionError):
            log.warning("SIP worker %d did not answer a %s command for %s", index, msg["cmd"], session_id)
            return False
        finally:
            self._commands.pop(cid, None)

    def _worker_state(self, index: int, up: bool, status: Any) -> None:
        if self.on_worker is None:
            return
        try:
            self.on_worker(index, up, status)
        except Exception:  # noqa: BLE001 - a broken listener must not stop the supervision
            log.exception("SIP worker state listener failed")

    def _track(self, index: int, kind: str, session_id: str | None) -> None:
        if not session_id:
            return
        if kind == EventType.CALL_STARTED:
            self.live[index].add(session_id)
        elif kind == EventType.CALL_ENDED:
            self.live[index].discard(session_id)

    def _on_worker_line(self, index: int, msg: dict[str, Any]) -> None:
        kind = msg.pop("event", "")
        if kind == "ready":
            self.proxy.worker_up(index, (self.worker_host, int(msg["udp"])))
            self.up[index] = True
            if self.paused:
                self._tell_pause(index)
            if self.restarts[index]:  # back after a crash
                self._worker_state(index, True, None)
            if not self._ready[index].done():
                self._ready[index].set_result(None)
        elif kind == "command_done":
            fut = self._commands.get(int(msg.get("id") or 0))
            if fut is not None and not fut.done():
                fut.set_result(bool(msg.get("ok")))
        elif kind == "call_ended":
            self.live[index].discard(str(msg.get("session_id", "")))
            self.records.append(msg)
            del self.records[:-200]
        elif kind == "app_event":
            self._track(index, str(msg.get("type", "")), msg.get("session_id"))
            if self.on_event is None:
                return
            try:
                at = dt.datetime.fromisoformat(msg["at"]) if msg.get("at") else dt.datetime.now(dt.UTC)
                result = self.on_event(Event(EventType(msg["type"]), msg.get("data") or {}, msg.get("session_id"), at))
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)
            except Exception:  # noqa: BLE001
                log.debug("bad event from SIP worker %d: %s", index, msg, exc_info=True)

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.proxy.snapshot(), "restarts": list(self.restarts), "records": len(self.records),
            "workers": [{"up": up, "restarts": n} for up, n in zip(self.up, self.restarts, strict=True)],
        }  # fmt: skip
