"""The control API (/v1 on the Unix socket) against a real brain, store and web chat."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.core.clock import fixed_clock
from appliance.core.control import ApiError, ErrorCode
from appliance.core.messages import Event, EventType
from tests.support.control_harness import NOW, Desk, front_desk, make_config, recv, say

BOOKING = {
    "pet_name": "Rex",
    "pet_type": "dog",
    "start_date": "2026-12-10",
    "end_date": "2026-12-12",
    "owner_name": "Mari Tamm",
    "owner_phone": "+372 5123 4567",
}


def run(tmp_path: Path, scenario: Callable[[Desk], Awaitable[None]], **cfg: Any) -> None:
    async def go() -> None:
        async with front_desk(make_config(tmp_path, **cfg), fixed_clock(NOW)) as desk:
            await asyncio.wait_for(scenario(desk), 120)

    asyncio.run(go())


async def raw(desk: Desk, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    conn = aiohttp.UnixConnector(path=str(desk.cfg.api_socket))
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.request(method, "http://x" + path, data=body) as r:
            return r.status, json.loads(await r.read())


def test_socket_is_0660_and_status_answers(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        mode = stat.S_IMODE(desk.cfg.api_socket.stat().st_mode)
        assert mode == 0o660
        assert (await desk.api.get("/status"))["tenant"] == desk.cfg.tenant.name
        health = await desk.api.get("/health")
        assert health["models"]["llm"] == "off" and health["ai_paused"] is False
        assert health["queues"]["open_callbacks"] == 0 and health["disk"]["free_bytes"] > 0

    run(tmp_path, scenario)


def test_live_chat_shows_transcript_slots_actions_and_events(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        events: list[Event] = []
        opened = asyncio.Event()

        async def listen() -> None:
            async for ev in desk.api.events():
                if ev is None:  # the stream is open: nothing after this is missed
                    opened.set()
                else:
                    events.append(ev)

        task = asyncio.create_task(listen())
        await asyncio.wait_for(opened.wait(), 30)
        ws = await desk.chat("live-chat-0001")
        await say(ws, "I need a room for my dog Max from 10 December to 12 December")
        await say(ws, "Mari Tamm")
        sessions = (await desk.api.get("/sessions"))["sessions"]
        [s] = [s for s in sessions if s["id"] == "live-chat-0001"]
        assert s["channel"] == "web" and s["language"] == "en"
        assert s["slots"]["pet_name"] == "Max" and s["slots"]["owner_name"] == "Mari Tamm"
        assert s["awaiting"] == "owner_phone"
        roles = [t["role"] for t in s["turns"]]
        assert roles.count("user") == 2 and "assistant" in roles
        assert all(t["ms"] is not None for t in s["turns"] if t["role"] == "assistant")
        await say(ws, "+372 5123 4567")
        r = await say(ws, "yes")
        assert r["booking_id"]
        s = await desk.api.get("/sessions/live-chat-0001")
        assert any(a["tool"] == "create_booking" and a["status"] == "ok" for a in s["actions"]), s["actions"]
        wanted = {EventType.SESSION_STARTED, EventType.TURN, EventType.SLOTS, EventType.TOOL_ACTION,
                  EventType.BOOKING_CREATED}  # fmt: skip
        for _ in range(300):  # the events reach the stream a moment after the replies (at most 30 s)
            if wanted <= {e.type for e in events}:
                break
            await asyncio.sleep(0.1)
        assert wanted <= {e.type for e in events}, [e.type for e in events]
        task.cancel()
        one = await desk.api.get("/sessions/live-chat-0001")
        assert one["id"] == "live-chat-0001"
        await ws.close()

    run(tmp_path, scenario)


def test_take_over_sends_staff_reply_and_hands_back(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        ws = await desk.chat("takeover-0001")
        await say(ws, "hello")
        await desk.api.post("/sessions/takeover-0001/takeover")
        await ws.send_json({"type": "message", "text": "are you a robot?"})
        with pytest.raises(asyncio.TimeoutError):
            await recv(ws, timeout=0.5)  # the AI stays quiet
        live = await desk.api.get("/sessions/takeover-0001")
        assert live["taken_over_by"].startswith("staff")
        assert live["turns"][-1] == {**live["turns"][-1], "role": "user", "text": "are you a robot?"}
        got = await desk.api.post("/sessions/takeover-0001/reply", {"text": "Hi, this is Anna from the front desk."})
        assert got["delivered"] == 1
        msg = await recv(ws)
        assert msg["type"] == "reply" and msg["staff"] is True and "Anna" in msg["text"]
        want = ["are you a robot?", "Hi, this is Anna from the front desk."]
        for _ in range(100):  # the staff reply is stored by the writer thread: poll, up to 10 s
            turns = await desk.brain.sessions.turns("takeover-0001")
            if [t["text"] for t in turns[-2:]] == want:
                break
            await asyncio.sleep(0.1)
        assert [t["text"] for t in turns[-2:]] == want
        await desk.api.post("/sessions/takeover-0001/handback")
        r = await say(ws, "what are your opening hours?")
        assert r["type"] == "reply" and "staff" not in r
        with pytest.raises(ApiError) as err:
            await desk.api.post("/sessions/takeover-0001/reply", {"text": "x"})
        assert err.value.code is ErrorCode.CONFLICT
        await ws.close()

    run(tmp_path, scenario)


def test_callbacks_claim_done_reopen_with_notes_and_transcript(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        ws = await desk.chat("callback-0001")
        await say(ws, "hello")
        t = await desk.brain.callbacks.create(
            phone="+37251234567", name="Mari", reason="all_lines_busy", language="en",
            session_id="callback-0001", channel="web", details={},
        )  # fmt: skip
        [row] = (await desk.api.get("/callbacks"))["callbacks"]
        assert row["id"] == t.id and row["reason"] == "all_lines_busy" and row["phone"] == "+37251234567"
        one = await desk.api.get(f"/callbacks/{t.id}")
        assert [x["text"] for x in one["transcript"]][1] == "hello"
        c = await desk.api.post(f"/callbacks/{t.id}/claim", {"note": "calling now"})
        assert c["claimed_by"].startswith("staff")
        d = await desk.api.post(f"/callbacks/{t.id}/done", {"note": "booked for Friday"})
        assert d["status"] == "done" and any("booked for Friday" in n for n in d["notes"])
        assert (await desk.api.get("/callbacks"))["callbacks"] == []
        r = await desk.api.post(f"/callbacks/{t.id}/reopen", {"note": "no answer after all"})
        assert r["status"] == "open"
        # someone else holding a claim: a conflict, not a second owner
        await desk.control.tickets.claim(t.id, actor="staff:other")
        with pytest.raises(ApiError) as err:
            await desk.api.post(f"/callbacks/{t.id}/claim")
        assert err.value.code is ErrorCode.CONFLICT
        for path in ("/callbacks/99999", "/callbacks/abc"):
            with pytest.raises(ApiError) as err:
                await desk.api.get(path)
            assert err.value.code is ErrorCode.NOT_FOUND
        await ws.close()

    run(tmp_path, scenario)


def test_bookings_create_change_cancel_through_the_tools(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        b = await desk.api.post("/bookings", BOOKING)
        assert b["status"] == "confirmed" and b["channel"] == "console" and b["total_minor"] > 0
        day = (await desk.api.get("/bookings", day="2026-12-11"))["bookings"]
        assert [x["id"] for x in day] == [b["id"]]
        assert (await desk.api.get("/bookings", q="mari"))["bookings"][0]["id"] == b["id"]
        assert (await desk.api.get("/bookings", day="2026-12-20"))["bookings"] == []
        occ = await desk.api.get("/occupancy", start="2026-12-10", days="3")
        dog = next(r for r in occ["resources"] if r["resource_id"] == "dog-room")
        assert dog["used"] == {"2026-12-10": 1, "2026-12-11": 1, "2026-12-12": 0}
        ch = await desk.api.post(f"/bookings/{b['id']}/change", {"end_date": "2026-12-13"})
        assert ch["end"] == "2026-12-13"
        cx = await desk.api.post(f"/bookings/{b['id']}/cancel")
        assert cx["status"] == "cancelled"
        with pytest.raises(ApiError) as err:
            await desk.api.post("/bookings/XYZ123/cancel")
        assert err.value.code is ErrorCode.NOT_FOUND

    run(tmp_path, scenario)


def test_bad_requests_get_clear_errors(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        status, body = await raw(desk, "POST", "/v1/bookings", b"{not json")
        assert status == 400 and body["error"]["code"] == "bad_request"
        status, body = await raw(desk, "POST", "/v1/bookings", json.dumps({**BOOKING, "start_date": "soon"}).encode())
        assert status == 400 and body["error"]["details"]["field"] == "start_date"
        status, body = await raw(desk, "POST", "/v1/bookings", json.dumps({**BOOKING, "admin": True}).encode())
        assert status == 400 and "admin" in body["error"]["message"]
        status, body = await raw(desk, "POST", "/v1/bookings", json.dumps({"pet_name": "Rex"}).encode())
        assert status == 400 and body["error"]["details"]["field"] == "pet_type"
        status, body = await raw(desk, "POST", "/v1/bookings", json.dumps(["a"]).encode())
        assert status == 400
        status, body = await raw(desk, "POST", "/v1/bookings", b"x" * 200_000)
        assert status == 413 and body["error"]["code"] == "too_large"
        status, body = await raw(desk, "POST", "/v1/sessions/nobody-here/reply", json.dumps({"text": "x"}).encode())
        assert status == 404 and body["error"]["code"] == "not_found"
        for path in ("/v1/sessions/nobody-here", "/v1/bookings/NOPE99", "/v1/nothing"):
            status, body = await raw(desk, "GET", path)
            assert status == 404 and body["error"]["code"] == "not_found", path
        status, body = await raw(desk, "POST", "/v1/bookings/NOPE99/approve")
        assert status == 404
        status, body = await raw(desk, "GET", "/v1/bookings?day=2026-13-01")
        assert status == 400
        status, body = await raw(desk, "POST", "/v1/sessions/x/transfer", json.dumps({"extension": 5}).encode())
        assert status == 400
        assert (await desk.api.get("/status"))["tenant"]  # still serving

    run(tmp_path, scenario)


def test_a_client_that_falls_behind_is_dropped_with_a_reason(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        conn = aiohttp.UnixConnector(path=str(desk.cfg.api_socket))
        async with aiohttp.ClientSession(connector=conn) as s:
            async with s.ws_connect("http://x/v1/events") as ws:
                await asyncio.sleep(0.2)
                for i in range(desk.cfg.api.client_queue + 50):  # one burst, faster than anyone reads
                    desk.control.bus.publish(Event(EventType.LOG, {"i": i}))
                closed = None
                async for msg in ws:
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        closed = msg
                        break
                assert ws.close_code == 4008
                assert closed is None or "too slow" in str(closed.extra)
        # the bus is still fine for everyone else
        assert desk.control.bus.clients == 0
        assert (await desk.api.get("/status"))["tenant"]

    run(tmp_path, scenario, api={"client_queue": 10})


def test_paused_ai_sends_new_chat_messages_to_staff(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        ws = await desk.chat("paused-chat-01")
        await desk.api.post("/ai/pause", {"paused": True})
        assert (await desk.api.get("/health"))["ai_paused"] is True
        await ws.send_json({"type": "message", "text": "hello, anyone there?"})
        with pytest.raises(asyncio.TimeoutError):
            await recv(ws, timeout=0.5)  # no AI answer
        live = await desk.api.get("/sessions/paused-chat-01")
        assert live["taken_over_by"] == "queue" and live["turns"][-1]["text"] == "hello, anyone there?"
        await desk.api.post("/sessions/paused-chat-01/takeover")  # a person takes it from the queue
        await desk.api.post("/sessions/paused-chat-01/reply", {"text": "Yes, Anna here."})
        assert (await recv(ws))["text"] == "Yes, Anna here."
        await desk.api.post("/ai/pause", {"paused": False})
        await ws.close()

    run(tmp_path, scenario)


def test_kb_reindex_and_status_over_the_api(tmp_path: Path) -> None:
    async def scenario(desk: Desk) -> None:
        stats = await desk.api.post("/kb/reindex")
        assert stats["files"] >= 1 and stats["chunks"] >= 1
        assert (await desk.api.get("/status"))["tenant"] == desk.cfg.tenant.name

    run(tmp_path, scenario)
