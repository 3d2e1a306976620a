"""What ``appliance run`` does for operations, in one object the daemon calls at a few points:
offline switches, systemd notify (status, readiness, watchdog heartbeat, stopping) and the
Prometheus endpoint. The daemon stays about wiring; this module is about running unattended."""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import threading
import time
from collections.abc import Callable

from prometheus_client import REGISTRY

from appliance.core.config import Config
from appliance.core.errors import ApplianceError
from appliance.core.memory import limit_malloc_arenas
from appliance.ops import offline
from appliance.ops.metrics import MetricsServer
from appliance.ops.systemd import Notifier

log = logging.getLogger("appliance.ops")


def prepare_process() -> None:
    """First thing in ``appliance run``: the offline switches (before any library reads them), and
    faulthandler: when the watchdog fires, systemd sends SIGABRT (``WatchdogSignal``), and every
    thread's Python stack goes to the journal, showing where the event loop was stuck. Two malloc
    arenas (``core/memory.py``). The SIP workers call this too."""
    faulthandler.enable()
    limit_malloc_arenas()  # before any thread: memory does not grow with the threads calls use
    changed = offline.apply()
    if changed:
        log.debug("offline switches set: %s", ", ".join(sorted(changed)))


class DaemonOps:
    def __init__(self, cfg: Config, *, degraded: Callable[[], bool]) -> None:
        self.cfg = cfg
        self.metrics = MetricsServer(cfg, degraded) if cfg.metrics.enabled else None
        self.degraded = degraded
        self.notify = Notifier(on_tick=self._tick)
        self._summary = ""  # READY's text; STATUS= then follows what changes (calls, chats, degraded)
        self._last_status = ""

    def begin(self) -> None:
        """On the event loop, before anything is loaded: the heartbeat (watchdog pings) runs from now."""
        self.notify.status("starting")
        self.notify.start_heartbeat()

    def status(self, text: str) -> None:
        self.notify.status(text)

    def _tick(self, elapsed_s: float) -> None:
        if self.metrics is not None:
            self.metrics.tick(elapsed_s)
        if not self._summary:
            return
        calls = int(REGISTRY.get_sample_value("appliance_active_calls") or 0)
        chats = int(REGISTRY.get_sample_value("appliance_active_chats") or 0)
        text = f"running: {calls} call(s), {chats} chat(s)" + ("; degraded (rules only)" if self.degraded() else "")
        text += f"; {self._summary}"
        if text != self._last_status:
            self._last_status = text
            self.notify.status(text)

    def start_metrics(self) -> None:
        """The /metrics endpoint. Not a channel: when its port is taken the appliance still answers
        calls and chats; the error is logged and ``appliance doctor`` shows the port in use."""
        if self.metrics is None:
            return
        host, port = self.cfg.metrics.host, self.cfg.metrics.port
        self.notify.status(f"starting the metrics endpoint on {host}:{port}")
        try:
            self.metrics.start()
        except OSError as exc:
            log.error("metrics endpoint cannot listen on %s:%s: %s; running without it", host, port, exc.strerror)
            self.metrics = None

    def ready(self, summary: str, missing: list[str]) -> None:
        """All up: READY=1. An enabled channel that did not come up: under systemd the start fails
        (no READY=1; ``Restart=on-failure`` tries again), by hand the daemon runs without it."""
        if missing and self.notify.enabled:
            text = f"not ready: {', '.join(missing)} failed to start"
            self.notify.status(text)
            raise ApplianceError(text, code="channel_failed")
        self._summary = summary
        self.notify.ready(f"running: {summary}" + (f" (without {', '.join(missing)})" if missing else ""))

    def stopping(self) -> None:
        self.notify.stopping()

    async def close(self) -> None:
        await self.notify.stop_heartbeat()
        if self.metrics is not None:
            self.metrics.stop()


EXIT_GRACE_S = 5.0


def exit_after_stop(grace_s: float = EXIT_GRACE_S) -> threading.Thread:
    """Called once the daemon has stopped (every part closed, the store's last write done): if the
    interpreter has not exited ``grace_s`` later, because asyncio's shutdown still waits on a task
    that will not finish its cancellation or on an executor thread blocked in a library call, the
    process ends itself (exit status 0, with the stacks of every thread in the log first), so a
    stop never runs into systemd's TimeoutStopSec and its SIGKILL."""

    def guard() -> None:
        time.sleep(grace_s)
        log.error("still running %.0f s after a clean stop: exiting (stacks follow)", grace_s)
        with contextlib.suppress(Exception):
            faulthandler.dump_traceback(all_threads=True)
        logging.shutdown()
        os._exit(0)

    thread = threading.Thread(target=guard, name="exit-guard", daemon=True)
    thread.start()
    return thread
