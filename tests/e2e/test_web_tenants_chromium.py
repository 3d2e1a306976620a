"""Two businesses' chat pages in one real headless Chromium (one browser profile, so one
localStorage): the pet hotel at / and the clinic at /t/clinic/ on the same real server. Each page
is branded and answered by its own tenant, keeps its own session, and resumes it after a reload."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.core.clock import fixed_clock
from appliance.core.config import Config, load_config
from tests.e2e.conftest import PINNED_NOW
from tests.e2e.test_web_chromium import TIMEOUT_MS, send
from tests.integration.test_tenancy import CLINIC, HOTEL, clinic_site

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[tuple[str, Config]]:
    from appliance.brain.factory import build_tenant_brains
    from appliance.channels.web.server import WebServer

    cfg = load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(tmp_path / "data")}, "llm": {"mode": "off"}, "web": {"port": 0},
            "tenants": [clinic_site(tmp_path)],
        },
    )  # fmt: skip
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="web-server-loop", daemon=True)
    thread.start()

    async def start() -> tuple[Any, Any]:
        brains = await build_tenant_brains(cfg, clock=fixed_clock(PINNED_NOW))
        server = WebServer(brains.default, cfg, tenants=brains)
        await server.start()
        return brains, server

    brains, server = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    try:
        yield server.url.rstrip("/"), cfg
    finally:

        async def stop() -> None:
            await server.stop()
            await brains.aclose()

        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


def test_two_chat_pages_reach_their_own_tenants(chromium: Any, two_sites: tuple[str, Config]) -> None:
    from playwright.sync_api import expect

    base, cfg = two_sites
    expect.set_options(timeout=TIMEOUT_MS)
    context = chromium.new_context(viewport={"width": 1200, "height": 850}, reduced_motion="reduce")
    errors: list[str] = []
    try:
        hotel, clinic = context.new_page(), context.new_page()
        for pg, url in ((hotel, f"{base}/"), (clinic, f"{base}/t/{CLINIC}/")):
            pg.set_default_timeout(TIMEOUT_MS)
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(url)
            expect(pg.locator("#log .msg-bot")).to_have_count(1)  # the greeting
        expect(hotel).to_have_title("Paws & Whiskers Pet Hotel")
        expect(clinic).to_have_title("Kesklinna Loomakliinik")
        expect(clinic.get_by_role("heading", level=1)).to_have_text("Kesklinna Loomakliinik")
        expect(clinic.locator("#log .msg-bot .text").first).to_contain_text("Kesklinna Loomakliinik")
        expect(hotel.locator("#lang-badge")).to_have_text("EN")
        expect(clinic.locator("#lang-badge")).to_have_text("ET")

        assert "4711" in send(clinic, "Kus ma saan parkida?")
        assert "4711" not in send(hotel, "Where can I park?")

        # one localStorage, two sessions: each page keeps its own and resumes it after a reload
        keys = clinic.evaluate("() => Object.keys(localStorage).sort()")
        assert keys == ["appliance.chat.session", f"appliance.chat.session:/t/{CLINIC}/"], keys
        hotel_sid = hotel.evaluate("() => localStorage.getItem('appliance.chat.session')")
        clinic_sid = clinic.evaluate(f"() => localStorage.getItem('appliance.chat.session:/t/{CLINIC}/')")
        before = clinic.locator("#log .msg .text").all_inner_texts()
        clinic.reload()
        expect(clinic.locator("#log .msg-bot")).to_have_count(2)
        assert clinic.locator("#log .msg .text").all_inner_texts() == before
        assert errors == [], f"JavaScript errors on the pages: {errors}"
    finally:
        context.close()
    con = sqlite3.connect(f"file:{cfg.db_path}?mode=ro", uri=True)
    try:
        rows = dict(con.execute("SELECT id, tenant_id FROM conversation_sessions").fetchall())
    finally:
        con.close()
    assert rows == {hotel_sid: HOTEL, clinic_sid: CLINIC}
