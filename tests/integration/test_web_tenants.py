"""Two businesses' chat pages on one real web server (HTTP + WebSocket on 127.0.0.1): the default
tenant's page at /, the clinic's at /t/clinic/ and at / on its own host name; each reaches its
own tenant's brain, and a session id of one tenant is not the other's."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from appliance.brain.factory import build_tenant_brains
from appliance.channels.web.server import WebServer
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from tests.integration.test_tenancy import CLINIC, HOTEL, NOW, clinic_site
from tests.integration.test_web_server import hello, recv, say


def test_each_chat_page_reaches_its_own_tenant(tmp_path: Path) -> None:
    cfg = load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(tmp_path / "data")},
            "llm": {"mode": "off"},
            "web": {"port": 0},
            "tenants": [clinic_site(tmp_path)],
        },
    )

    async def go() -> None:
        brains = await build_tenant_brains(cfg, clock=fixed_clock(NOW))
        server = WebServer(brains.default, cfg, tenants=brains)
        await server.start()
        base = server.url.rstrip("/")
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(scenario(http, base), 120)
        finally:
            await server.stop()
            await brains.aclose()

    async def info(http: aiohttp.ClientSession, url: str, **headers: str) -> dict[str, Any]:
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200, url
            data: dict[str, Any] = await resp.json()
            return data

    async def scenario(http: aiohttp.ClientSession, base: str) -> None:
        assert (await info(http, f"{base}/api/info"))["name"] == "Paws & Whiskers Pet Hotel"
        clinic = await info(http, f"{base}/t/{CLINIC}/api/info")
        assert (clinic["name"], clinic["default_language"], clinic["languages"]) == (
            "Kesklinna Loomakliinik", "et", ["et", "en"],
        )  # fmt: skip
        # the clinic's own host name serves its page at /
        assert (await info(http, f"{base}/api/info", Host="clinic.example"))["name"] == "Kesklinna Loomakliinik"
        async with http.get(f"{base}/t/{CLINIC}/") as resp:  # the page itself, with the security headers
            assert resp.status == 200 and "Content-Security-Policy" in resp.headers
            assert '<script src="/static/chat.js"' in await resp.text()
        async with http.get(f"{base}/t/{CLINIC}", allow_redirects=False) as resp:
            assert resp.status == 301 and resp.headers["Location"] == f"/t/{CLINIC}/"
        async with http.get(f"{base}/t/{CLINIC}/healthz") as resp:
            assert (await resp.json())["name"] == "Kesklinna Loomakliinik"

        async with http.ws_connect(f"{base}/ws") as hotel_ws, http.ws_connect(f"{base}/t/{CLINIC}/ws") as clinic_ws:
            h = await hello(hotel_ws, "web-hotel-page-1")
            c = await hello(clinic_ws, "web-clinic-page-1")
            assert "Paws & Whiskers" in h[-1]["text"] and h[-1]["language"] == "en"
            assert "Kesklinna Loomakliinik" in c[-1]["text"] and c[-1]["language"] == "et", c[-1]
            r = await say(clinic_ws, "Kus ma saan parkida?")
            assert "4711" in r["text"], r
            r = await say(hotel_ws, "Where can I park?")
            assert "4711" not in r["text"], r
            # the hotel page's session id, replayed on the clinic's page: no history leaks, and the
            # clinic cannot write into it (an error frame; the socket stays open)
            await clinic_ws.send_json({"type": "hello", "session": "web-hotel-page-1"})
            err = await recv(clinic_ws)
            assert err["type"] == "error" and err["code"] == "conflict", err
            assert "Where can I park" not in str(err) and "Paws" not in str(err)
            await clinic_ws.send_json({"type": "ping"})
            assert (await recv(clinic_ws))["type"] == "pong"

        async with http.ws_connect(f"{base}/ws", headers={"Host": "clinic.example"}) as by_host:
            g = await hello(by_host, "web-clinic-host-1")
            assert "Kesklinna Loomakliinik" in g[-1]["text"]

        con = sqlite3.connect(f"file:{cfg.db_path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT id, tenant_id FROM conversation_sessions ORDER BY id").fetchall()
        finally:
            con.close()
        assert rows == [
            ("web-clinic-host-1", CLINIC), ("web-clinic-page-1", CLINIC), ("web-hotel-page-1", HOTEL),
        ]  # fmt: skip

    asyncio.run(go())
