"""The live board and the event bus as pure state: events in, views and drops out (no I/O)."""

from __future__ import annotations

import asyncio
import time

from appliance.core.bus import DROP_REASON, EventBus, StaffDesk
from appliance.core.live import LiveBoard
from appliance.core.messages import Event, EventType


def turn(sid: str, user: str, text: str, **extra: object) -> Event:
    return Event(EventType.TURN, {"user": user, "text": text, "language": "et", "channel": "web", "ms": 12.5,
                                  **extra}, sid)  # fmt: skip


def test_board_builds_sessions_from_events_and_announces_them() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.listen(seen.append)
    board = LiveBoard(bus)
    bus.listen(board.on_event)
    bus.publish(turn("s1", "tere", "Tere! Kuidas saan aidata?"))
    bus.publish(Event(EventType.SLOTS, {"slots": {"pet_type": "cat"}, "awaiting": "pet_name"}, "s1"))
    bus.publish(Event(EventType.TOOL_ACTION, {"tool": "check_availability", "status": "ok", "ms": 3.0}, "s1"))
    [s] = board.sessions()
    assert (s.id, s.channel, s.language, s.awaiting) == ("s1", "web", "et", "pet_name")
    assert [t.role for t in s.turns] == ["user", "assistant"] and s.turns[1].ms == 12.5
    assert s.slots == {"pet_type": "cat"} and s.actions[0].tool == "check_availability"
    assert [e.type for e in seen].count(EventType.SESSION_STARTED) == 1


def test_ended_sessions_linger_then_go_and_idle_ones_are_dropped() -> None:
    bus = EventBus()
    ended: list[Event] = []
    bus.listen(lambda e: ended.append(e) if e.type is EventType.SESSION_ENDED else None)
    board = LiveBoard(bus, idle_s=100, linger_s=10)
    board.on_event(turn("done", "bye", "Goodbye!", ended=True))
    board.on_event(turn("idle", "hi", "Hello!"))
    now = time.monotonic()
    board.prune(now + 5)
    assert {s.id for s in board.sessions()} == {"done", "idle"}
    assert board.get("done").ended  # type: ignore[union-attr]
    board.prune(now + 11)
    assert set(board._live) == {"idle"}
    board.prune(now + 101)
    assert board.sessions() == []
    assert [e.data.get("removed") for e in ended if e.session_id == "idle"] == [True]


def test_seeded_board_continues_from_a_snapshot() -> None:
    a, b = LiveBoard(EventBus()), LiveBoard(EventBus())
    a.on_event(turn("s1", "one", "reply one"))
    b.seed(a.sessions())
    b.on_event(turn("s1", "two", "reply two"))
    assert [t.text for t in b.get("s1").turns] == ["one", "reply one", "two", "reply two"]  # type: ignore[union-attr]


def test_a_full_client_queue_drops_that_client_only() -> None:
    async def go() -> None:
        bus = EventBus(client_queue=3)
        slow, fast = bus.subscribe(), bus.subscribe(maxsize=100)
        for i in range(5):
            bus.publish(Event(EventType.LOG, {"i": i}))
        assert slow.dropped == DROP_REASON and fast.dropped is None
        assert await slow.next() is None
        assert (await fast.next()).data == {"i": 0}  # type: ignore[union-attr]

    asyncio.run(go())


def test_staff_desk_takeover_and_reply_sinks() -> None:
    async def go() -> None:
        bus = EventBus()
        events: list[Event] = []
        bus.listen(events.append)
        desk = StaffDesk(bus)
        got: list[tuple[str, str]] = []

        async def sink(staff: str, text: str) -> None:
            got.append((staff, text))

        detach = desk.attach("s1", sink)
        desk.take_over("s1", "staff:anna")
        assert desk.is_taken("s1") and await desk.reply("s1", "staff:anna", "Hi!") == 1
        detach()
        assert await desk.reply("s1", "staff:anna", "anyone?") == 0 and not desk.reachable("s1")
        assert desk.hand_back("s1", "staff:anna") and not desk.hand_back("s1", "staff:anna")
        assert got == [("staff:anna", "Hi!")]
        assert [e.type for e in events] == [EventType.TAKEOVER, EventType.STAFF_REPLY, EventType.STAFF_REPLY,
                                            EventType.HANDBACK]  # fmt: skip

    asyncio.run(go())
