"""The web chat server over real HTTP and WebSocket on 127.0.0.1, with a real engine on a tmp SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from appliance.brain.factory import build_brain
from appliance.channels.web.server import WebServer
from appliance.core.clock import fixed_clock
from appliance.core.config import Config, load_config

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
SESSION = "web-test-session-1"
RECV_TIMEOUT = 30


def make_config(tmp_path: Path, **web: Any) -> Config:
    return load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(tmp_path / "data")},
            "llm": {"mode": "off"},
            "web": {"port": 0, **web},
        },
    )


Scenario = Callable[[aiohttp.ClientSession, str, Any], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, **web: Any) -> None:
    """Start a real server on 127.0.0.1:0, run ``scenario(http, base_url, brain)``, stop everything."""
    cfg = make_config(tmp_path, **web)

    async def go() -> None:
        brain = await build_brain(cfg, clock=fixed_clock(NOW))
        server = WebServer(brain, cfg)
        await server.start()
        try:
            assert cfg.web.host == "127.0.0.1"
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(scenario(http, server.url.rstrip("/"), brain), 120)
        finally:
            await server.stop()
            await brain.aclose()

    asyncio.run(go())


async def recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECV_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type} {msg.data!r}"
    data = json.loads(msg.data)
    assert isinstance(data, dict)
    return data


async def hello(ws: aiohttp.ClientWebSocketResponse, session: str | None = SESSION) -> list[dict[str, Any]]:
    """Say hello; returns the history frame, plus the greeting reply for a new session."""
    await ws.send_json({"type": "hello"} if session is None else {"type": "hello", "session": session})
    history = await recv(ws)
    assert history["type"] == "history", history
    if history["turns"]:
        return [history]
    return [history, await recv(ws)]


async def say(ws: aiohttp.ClientWebSocketResponse, text: str) -> dict[str, Any]:
    await ws.send_json({"type": "message", "text": text})
    return await recv(ws)


# --------------------------------------------------------------------- tests


def test_hello_greets_a_new_session(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        async with http.ws_connect(base + "/ws") as ws:
            history, greeting = await hello(ws)
            assert history == {"type": "history", "session": SESSION, "turns": []}
            assert greeting["type"] == "reply"
            assert greeting["session"] == SESSION
            assert "Paws & Whiskers" in greeting["text"]
            assert greeting["language"] == "en"
            labels = [q["label"] for q in greeting["quick_replies"]]
            assert "Book a stay" in labels
            assert all(set(q) == {"label", "value"} for q in greeting["quick_replies"])

    run(tmp_path, scenario)


def test_hello_without_session_gets_one_from_the_server(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        async with http.ws_connect(base + "/ws") as ws:
            history, greeting = await hello(ws, session=None)
            assert 8 <= len(history["session"]) <= 64
            assert greeting["session"] == history["session"]

    run(tmp_path, scenario)


def test_message_round_trip_books_a_stay(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        async with http.ws_connect(base + "/ws") as ws:
            await hello(ws)
            r = await say(ws, "I need a room for my dog Max next weekend")
            assert r["type"] == "reply"
            assert r["slots"]["pet_name"] == "Max"
            assert r["slots"]["start_date"] == "2026-12-05"
            assert r["awaiting"] == "owner_name"
            assert isinstance(r["ms"], float | int) and r["ms"] >= 0
            assert set(r) >= {"session", "text", "language", "quick_replies", "slots", "booking_id", "degraded", "end"}
            r = await say(ws, "John Smith")
            assert r["awaiting"] == "owner_phone"
            r = await say(ws, "+372 5123 4567")
            assert r["awaiting"] == "confirmation"
            assert [q["value"] for q in r["quick_replies"]] == ["Yes", "No"]
            r = await say(ws, "Yes")
            assert r["booking_id"], r
        booking = await brain.backend.get_booking(r["booking_id"])
        assert booking.pet_name == "Max"
        assert (booking.start, booking.end) == (dt.date(2026, 12, 5), dt.date(2026, 12, 6))
        assert booking.channel == "web" and booking.session_id == SESSION

    run(tmp_path, scenario)


def test_reconnect_resumes_with_history_and_snapshot(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        async with http.ws_connect(base + "/ws") as ws:
            await hello(ws)
            await say(ws, "I need a room for my dog Max next weekend")
            await say(ws, "John Smith")
            last = await say(ws, "+372 5123 4567")
        async with http.ws_connect(base + "/ws") as ws:
            frames = await hello(ws)
            assert len(frames) == 1, "a known session must not be greeted again"
            history = frames[0]
            roles = [t["role"] for t in history["turns"]]
            assert roles == ["assistant", "user", "assistant", "user", "assistant", "user", "assistant"]
            texts = [t["text"] for t in history["turns"]]
            assert texts[1] == "I need a room for my dog Max next weekend"
            assert texts[-1] == last["text"]
            assert [t["seq"] for t in history["turns"]] == sorted(t["seq"] for t in history["turns"])
            assert history["language"] == "en"
            assert history["awaiting"] == "confirmation"
            assert [q["label"] for q in history["quick_replies"]] == ["Yes", "No"]
            assert history["slots"]["owner_name"] == "John Smith"
            # and the conversation goes on where it stopped
            r = await say(ws, "Yes")
            assert r["booking_id"]

    run(tmp_path, scenario)


def test_bad_frames_get_clear_errors_and_the_socket_stays_usable(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        async with http.ws_connect(base + "/ws") as ws:
            await ws.send_json({"type": "message", "text": "hi"})
            e = await recv(ws)
            assert e == {"type": "error", "code": "no_session", "error": "say hello first"}

            await ws.send_str("{not json")
            e = await recv(ws)
            assert e["type"] == "error" and e["code"] == "bad_json" and "JSON" in e["error"]

            await ws.send_str("[1, 2, 3]")
            assert (await recv(ws))["code"] == "bad_json"

            await ws.send_bytes(b"\x00\x01")
            assert (await recv(ws))["code"] == "bad_json"

            await ws.send_json({"type": "hello", "session": "bad id!"})
            e = await recv(ws)
            assert e["code"] == "bad_session" and "session" in e["error"]

            await hello(ws)

            await ws.send_json({"type": "teleport"})
            e = await recv(ws)
            assert e["code"] == "unknown_type" and "teleport" in e["error"]

            await ws.send_json({"type": "message", "text": 42})
            assert (await recv(ws))["code"] == "bad_text"

            await ws.send_json({"type": "message", "text": "x" * 2001})
            e = await recv(ws)
            assert e["code"] == "too_long" and "2000" in e["error"]

            # a frame over the transport limit is refused too, as an error, not a dropped socket
            await ws.send_json({"type": "message", "text": "\u00e9" * 15000})
            e = await recv(ws)
            assert e["code"] == "too_long"

            await ws.send_json({"type": "ping"})
            assert await recv(ws) == {"type": "pong"}

            # still usable after all that
            r = await say(ws, "I need a room for my dog Max next weekend")
            assert r["type"] == "reply" and r["slots"]["pet_name"] == "Max"
            assert not ws.closed

    run(tmp_path, scenario)


def test_post_message_validates_and_answers(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        url = base + "/api/message"

        async def post(body: Any, *, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
            if raw is not None:
                resp = await http.post(url, data=raw, headers={"Content-Type": "application/json"})
            else:
                resp = await http.post(url, json=body)
            async with resp:
                return resp.status, await resp.json()

        status, body = await post(None, raw=b"{oops")
        assert (status, body["code"]) == (400, "bad_json")
        status, body = await post(["a list"])
        assert (status, body["code"]) == (400, "bad_json")
        status, body = await post({"text": "hi"})
        assert (status, body["code"]) == (400, "bad_session")
        status, body = await post({"session": "short", "text": "hi"})
        assert (status, body["code"]) == (400, "bad_session")
        status, body = await post({"session": SESSION})
        assert (status, body["code"]) == (400, "bad_text")
        status, body = await post({"session": SESSION, "text": "x" * 2001})
        assert (status, body["code"]) == (413, "too_long")

        status, body = await post({"session": SESSION, "text": "I need a room for my dog Max next weekend"})
        assert status == 200
        assert body["type"] == "reply" and body["session"] == SESSION
        assert body["slots"]["pet_name"] == "Max" and body["awaiting"] == "owner_name"
        assert body["ms"] >= 0

        # a cross-site page cannot drive turns: other origins, and non-JSON bodies, are refused
        resp = await http.post(url, json={"session": SESSION, "text": "yes"}, headers={"Origin": "http://evil.example"})
        async with resp:
            assert resp.status == 403 and (await resp.json())["code"] == "cross_origin"
        resp = await http.post(
            url, data=b'{"session": "%s", "text": "yes"}' % SESSION.encode(), headers={"Content-Type": "text/plain"}
        )
        async with resp:
            assert resp.status == 415

    run(tmp_path, scenario)


def test_security_headers_and_static_assets(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        for path in ("/", "/static/chat.js", "/static/chat.css", "/healthz", "/api/info", "/nope"):
            async with http.get(base + path) as resp:
                csp = resp.headers.get("Content-Security-Policy", "")
                assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
                assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
                assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
                assert resp.headers.get("Referrer-Policy") == "no-referrer", path
                assert resp.headers.get("X-Frame-Options") == "DENY", path
                assert resp.status == (404 if path == "/nope" else 200), path
        async with http.get(base + "/") as resp:
            html = await resp.text()
            assert resp.content_type == "text/html"
        # no external assets, no inline script or style
        assert "http://" not in html and "https://" not in html.replace("http://www.w3.org", "")
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        assert 'src="/static/chat.js"' in html
        async with http.get(base + "/static/chat.js") as resp:
            js = await resp.text()
        assert "innerHTML" not in js.replace("never innerHTML", "")
        async with http.get(base + "/healthz") as resp:
            health = await resp.json()
        assert health["ok"] is True and health["name"] == "Paws & Whiskers Pet Hotel"
        async with http.get(base + "/api/info") as resp:
            info = await resp.json()
        assert info == {
            "name": "Paws & Whiskers Pet Hotel",
            "languages": ["en", "et", "ru"],
            "default_language": "en",
            "max_message_chars": 2000,
        }
        async with http.get(base + "/static/../server.py") as resp:
            assert resp.status in (403, 404)

    run(tmp_path, scenario)


def test_cross_origin_websocket_is_refused(tmp_path: Path) -> None:
    async def scenario(http: aiohttp.ClientSession, base: str, brain: Any) -> None:
        try:
            async with http.ws_connect(base + "/ws", origin="http://evil.example"):
                raise AssertionError("a cross-origin WebSocket was accepted")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
        async with http.ws_connect(base + "/ws", origin=base) as ws:
            await hello(ws)

    run(tmp_path, scenario)
