"""systemd's notify protocol for ``appliance run`` (``Type=notify``, ``WatchdogSec=``).

- ``READY=1`` once the store, the engines and every enabled channel are up (the daemon decides);
- ``STATUS=...`` lines with what the daemon is doing (``systemctl status`` shows the last one);
- ``WATCHDOG=1`` from a task *on the event loop*, every half of ``WATCHDOG_USEC``: when the loop is
  blocked (a stuck callback, a synchronous call that hangs) the pings stop, systemd sees the
  watchdog expire and restarts the service. A thread would keep pinging a wedged loop.
- ``STOPPING=1`` when SIGTERM/SIGINT arrives.

The datagrams go through ``sdnotify`` (no-ops without ``NOTIFY_SOCKET``). Test hook: with
``APPLIANCE_TEST_BLOCK_LOOP_S=N`` in the environment, SIGUSR2 blocks the event loop for N
seconds (tests/integration/test_systemd_notify.py proves the pings stop); unset, nothing listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

import sdnotify

from appliance.core import metrics

log = logging.getLogger("appliance.ops.systemd")

TEST_BLOCK_ENV = "APPLIANCE_TEST_BLOCK_LOOP_S"


def watchdog_interval(environ: dict[str, str] | os._Environ[str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), or None when systemd wants none
    (no ``WATCHDOG_USEC``, or ``WATCHDOG_PID`` names another process), as ``sd_watchdog_enabled``."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1e6 / 2


class Notifier:
    """The daemon's side of the notify protocol, plus the loop heartbeat."""

    def __init__(self, *, on_tick: Callable[[float], None] | None = None) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self.enabled else None
        self.interval = watchdog_interval()
        self._on_tick = on_tick
        self._task: asyncio.Task[None] | None = None
        self.pings = 0

    def send(self, state: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(state)

    def status(self, text: str) -> None:
        log.debug("status: %s", text)
        self.send(f"STATUS={text}")

    def ready(self, text: str) -> None:
        self.send(f"READY=1\nSTATUS={text}\nMAINPID={os.getpid()}")

    def stopping(self, text: str = "stopping: ending calls and chats") -> None:
        self.send(f"STOPPING=1\nSTATUS={text}")

    def start_heartbeat(self, tick_s: float = 1.0) -> None:
        """Run the loop heartbeat: watchdog pings (when systemd asked for them) and ``on_tick``."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._beat(tick_s))
        block_s = os.environ.get(TEST_BLOCK_ENV)
        if block_s:
            log.warning("test hook %s=%s: SIGUSR2 blocks the event loop", TEST_BLOCK_ENV, block_s)
            loop.add_signal_handler(signal.SIGUSR2, time.sleep, float(block_s))

    async def _beat(self, tick_s: float) -> None:
        period = min(tick_s, self.interval) if self.interval else tick_s
        last_ping = 0.0
        last = time.monotonic()
        while True:
            now = time.monotonic()
            if self._on_tick is not None:
                try:
                    self._on_tick(now - last)
                except Exception:  # noqa: BLE001 - a metrics hiccup must not stop the watchdog
                    log.exception("heartbeat tick failed")
            last = now
            if self.interval and now - last_ping >= self.interval * 0.9:
                self.send("WATCHDOG=1")
                self.pings += 1
                metrics.WATCHDOG_PINGS.inc()
                last_ping = now
            await asyncio.sleep(period)

    async def stop_heartbeat(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
