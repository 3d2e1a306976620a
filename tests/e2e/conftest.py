"""Fixtures for end-to-end web tests: the daemon's web server in-process, and a real headless Chromium.

The server runs on its own event loop in a background thread (Playwright's sync API owns the test
thread). Chromium is Debian's ``/usr/bin/chromium`` (``scripts/setup.sh`` installs it); Playwright's
own browser download is never used. When Chromium is missing or will not start, the tests FAIL with
a message saying so: a skipped browser test would hide a broken install.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appliance.core.clock import fixed_clock
from appliance.core.config import Config, load_config

T = TypeVar("T")

CHROMIUM = os.environ.get("APPLIANCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Tuesday 1 December 2026, 10:00 in Tallinn: "next weekend" is 5-6 December.
PINNED_NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def web_config(data_dir: Path) -> Config:
    return load_config(
        environ={},
        use_system=False,
        overrides={"store": {"data_dir": str(data_dir)}, "llm": {"mode": "off"}, "web": {"port": 0}},
    )


@dataclass
class LiveServer:
    """A running WebServer with a real engine; ``run`` executes a coroutine on the server's loop."""

    url: str
    config: Config
    brain: Any
    server: Any  # appliance.channels.web.server.WebServer
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    from appliance.brain.factory import build_brain
    from appliance.channels.web.server import WebServer

    cfg = web_config(tmp_path / "data")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="web-server-loop", daemon=True)
    thread.start()

    async def start() -> tuple[Any, WebServer]:
        brain = await build_brain(cfg, clock=fixed_clock(PINNED_NOW))
        server = WebServer(brain, cfg)
        await server.start()
        return brain, server

    brain, server = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    live = LiveServer(url=server.url, config=cfg, brain=brain, server=server, loop=loop)
    try:
        yield live
    finally:

        async def stop() -> None:
            await server.stop()
            await brain.aclose()

        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A real headless Chromium driven by Playwright; fails (not skips) when it cannot start.

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in the main
    thread while it is started, which would break every later test that calls asyncio.run().
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is not installed: pip install playwright==1.65.2", pytrace=False)
    exe = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not exe or not os.path.exists(exe):
        pytest.fail(
            f"Chromium not found at {CHROMIUM!r}: install it with `apt-get install -y chromium` "
            "(scripts/setup.sh does), or set APPLIANCE_CHROMIUM",
            pytrace=False,
        )
    pw = sync_playwright().start()
    try:
        try:
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        except Exception as exc:
            pytest.fail(f"Chromium at {exe} failed to start: {exc}", pytrace=False)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()
