"""The live board: what is going on right now, built from the event bus alone.

Every call and chat that produced an event in the last ``idle_s`` seconds is a
live session, with its recent turns (and per-turn latency), slots, tool
actions and take-over state. Ended sessions stay ``linger_s`` seconds so staff
see how they ended. The board publishes ``session_started``/``session_ended``
when it first sees or drops a session.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from appliance.core.bus import Publisher
from appliance.core.control import LiveSession, LiveTurn, ToolActionView
from appliance.core.messages import Event, EventType

MAX_TURNS = 60
MAX_ACTIONS = 30
_OWN = {EventType.SESSION_STARTED, EventType.SESSION_ENDED}


@dataclass
class _Live:
    id: str
    channel: str
    started_at: str
    updated_at: str
    seen: float
    caller_id: str | None = None
    language: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    awaiting: str | None = None
    turns: collections.deque[LiveTurn] = field(default_factory=lambda: collections.deque(maxlen=MAX_TURNS))
    actions: collections.deque[ToolActionView] = field(default_factory=lambda: collections.deque(maxlen=MAX_ACTIONS))
    degraded: bool = False
    taken_over_by: str | None = None
    ended_at: float | None = None
    mode: str = ""
    tenant: str | None = None

    def view(self) -> LiveSession:
        return LiveSession(
            id=self.id, channel=self.channel, started_at=self.started_at, updated_at=self.updated_at,
            caller_id=self.caller_id, language=self.language, slots=dict(self.slots), awaiting=self.awaiting,
            turns=tuple(self.turns), actions=tuple(self.actions), degraded=self.degraded,
            taken_over_by=self.taken_over_by, ended=self.ended_at is not None, mode=self.mode, tenant=self.tenant,
        )  # fmt: skip


class LiveBoard:
    def __init__(self, bus: Publisher, *, idle_s: float = 900.0, linger_s: float = 60.0) -> None:
        self.bus = bus
        self.idle_s = idle_s
        self.linger_s = linger_s
        self._live: dict[str, _Live] = {}

    # ------------------------------------------------------------------ reading

    def sessions(self) -> list[LiveSession]:
        self.prune()
        return [s.view() for s in sorted(self._live.values(), key=lambda s: s.started_at)]

    def get(self, session_id: str) -> LiveSession | None:
        live = self._live.get(session_id)
        return live.view() if live is not None else None

    def prune(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for sid, s in list(self._live.items()):
            gone = s.ended_at is not None and now - s.ended_at > self.linger_s
            if gone or now - s.seen > self.idle_s:
                del self._live[sid]  # consoles drop it from their Live list
                data = {"reason": "idle", "removed": True, **({"tenant": s.tenant} if s.tenant else {})}
                self.bus.publish(Event(EventType.SESSION_ENDED, data, sid))

    def seed(self, sessions: list[LiveSession]) -> None:
        """Start from a snapshot (the console: ``GET /v1/sessions`` on connect), then follow events."""
        self._live.clear()
        now = time.monotonic()
        for s in sessions:
            live = _Live(
                s.id, s.channel, s.started_at, s.updated_at, now, caller_id=s.caller_id, language=s.language,
                slots=dict(s.slots), awaiting=s.awaiting, degraded=s.degraded, taken_over_by=s.taken_over_by,
                ended_at=now if s.ended else None, mode=s.mode, tenant=s.tenant,
            )  # fmt: skip
            live.turns.extend(s.turns)
            live.actions.extend(s.actions)
            self._live[s.id] = live

    def tenant_of(self, session_id: str) -> str | None:
        """Whose conversation a live session is (several businesses on one box), when known."""
        live = self._live.get(session_id)
        return live.tenant if live is not None else None

    def drop(self, session_id: str) -> None:
        self._live.pop(session_id, None)

    # ------------------------------------------------------------------ events

    def _session(self, ev: Event, channel: str) -> _Live:
        assert ev.session_id is not None
        at = ev.at.astimezone(dt.UTC).isoformat()
        live = self._live.get(ev.session_id)
        tenant = ev.data.get("tenant")
        if live is None:
            live = self._live[ev.session_id] = _Live(ev.session_id, channel, at, at, time.monotonic(), tenant=tenant)
            data = {"channel": channel, **({"tenant": tenant} if tenant else {})}
            self.bus.publish(Event(EventType.SESSION_STARTED, data, ev.session_id))
        live.tenant = live.tenant or tenant
        live.updated_at, live.seen = at, time.monotonic()
        return live

    def _end(self, live: _Live, reason: str) -> None:
        if live.ended_at is None:
            live.ended_at = time.monotonic()
            data = {"reason": reason, **({"tenant": live.tenant} if live.tenant else {})}
            self.bus.publish(Event(EventType.SESSION_ENDED, data, live.id))

    def on_event(self, ev: Event) -> None:
        if ev.session_id is None or ev.type in _OWN:
            return
        d = ev.data
        at = ev.at.astimezone(dt.UTC).isoformat()
        if ev.type is EventType.CALL_STARTED:
            live = self._session(ev, "voice")
            live.caller_id, live.mode = d.get("caller_id"), str(d.get("mode") or "")
        elif ev.type is EventType.CALL_ENDED:
            if ev.session_id in self._live:
                self._end(self._session(ev, "voice"), str(d.get("outcome") or "hangup"))
        elif ev.type is EventType.TURN:
            live = self._session(ev, str(d.get("channel") or "web"))
            if d.get("user"):
                live.turns.append(LiveTurn("user", str(d["user"]), at))
            if d.get("text"):
                live.turns.append(LiveTurn("assistant", str(d["text"]), at, d.get("ms")))
            live.language = str(d.get("language") or live.language)
            live.caller_id = d.get("caller_id") or live.caller_id
            live.degraded = bool(d.get("degraded", live.degraded))
            if d.get("ended"):
                self._end(live, "goodbye")
        elif ev.type is EventType.SLOTS:
            live = self._session(ev, "web")
            live.slots, live.awaiting = dict(d.get("slots") or {}), d.get("awaiting")
        elif ev.type is EventType.TOOL_ACTION:
            live = self._session(ev, "web")
            live.actions.append(
                ToolActionView(
                    str(d.get("tool")), str(d.get("status")), d.get("error_code"), float(d.get("ms") or 0),
                    d.get("booking_id"),
                )
            )  # fmt: skip
        elif ev.type is EventType.STAFF_REPLY:
            self._session(ev, "web").turns.append(LiveTurn("staff", str(d.get("text", "")), at))
        elif ev.type is EventType.TAKEOVER:
            self._session(ev, "web").taken_over_by = str(d.get("staff"))
        elif ev.type is EventType.HANDBACK and ev.session_id in self._live:
            self._live[ev.session_id].taken_over_by = None
        elif ev.type is EventType.DEGRADED and ev.session_id in self._live:
            self._live[ev.session_id].degraded = True
