"""The daemon's event bus and the staff desk: the two small objects channels get at construction.

- :class:`EventBus`: the brain, the web channel and the SIP service ``publish``
  :class:`~appliance.core.messages.Event`; in-process listeners (the live
  board) are called synchronously, API clients each get a bounded queue. A
  client whose queue is full is marked dropped (with a reason) instead of ever
  making ``publish`` wait: a slow console never slows a call.
- :class:`StaffDesk`: which chats staff have taken over, whether the AI is
  paused for new conversations, and where a staff reply to a chat goes (the
  web channel attaches one sink per open socket).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from appliance.core.messages import Event, EventType

log = logging.getLogger(__name__)

DROP_REASON = "too slow: event queue overflowed (reconnect to resync)"


class Publisher(Protocol):
    """What a channel or the brain needs to tell the front desk something happened."""

    def publish(self, event: Event) -> None: ...


class Subscription:
    """One API client's bounded view of the bus."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped: str | None = None
        self.wake = asyncio.Event()  # set when dropped, so a waiting sender closes at once

    def offer(self, event: Event) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = DROP_REASON
            self.wake.set()

    async def next(self) -> Event | None:
        """The next event, or None once this client was dropped."""
        if self.dropped:
            return None
        get = asyncio.ensure_future(self.queue.get())
        woke = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({get, woke}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woke.cancel()
        if self.dropped:
            get.cancel()
            return None
        return get.result()


class EventBus:
    def __init__(self, client_queue: int = 1000, recent: int = 200) -> None:
        self.client_queue = client_queue
        self.recent: collections.deque[Event] = collections.deque(maxlen=recent)
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def publish(self, event: Event) -> None:
        self.recent.append(event)
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:  # a broken listener must not break a conversation
                log.exception("event listener failed on %s", event.type)
        for sub in list(self._subs):
            sub.offer(event)

    def listen(self, fn: Callable[[Event], None]) -> None:
        self._listeners.append(fn)

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        sub = Subscription(maxsize or self.client_queue)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    @property
    def clients(self) -> int:
        return len(self._subs)


QUEUE = "queue"  # the owner of a chat that arrived while the AI was paused, until a person takes it

StaffSink = Callable[[str, str], Awaitable[None]]  # (staff name, text) -> delivered to the caller


class StaffDesk:
    """Take-overs of chats, the AI pause switch, and delivery of staff replies."""

    def __init__(self, bus: Publisher) -> None:
        self.bus = bus
        self.ai_paused = False
        self.taken: dict[str, str] = {}  # session -> staff member
        self._sinks: dict[str, set[StaffSink]] = {}

    def is_taken(self, session_id: str) -> bool:
        return session_id in self.taken

    def take_over(self, session_id: str, staff: str) -> None:
        self.taken[session_id] = staff
        self.bus.publish(Event(EventType.TAKEOVER, {"staff": staff}, session_id))

    def hand_back(self, session_id: str, staff: str) -> bool:
        if self.taken.pop(session_id, None) is None:
            return False
        self.bus.publish(Event(EventType.HANDBACK, {"staff": staff}, session_id))
        return True

    def set_paused(self, paused: bool, staff: str) -> None:
        self.ai_paused = paused
        self.bus.publish(Event(EventType.AI_PAUSED, {"paused": paused, "staff": staff}))

    def attach(self, session_id: str, sink: StaffSink) -> Callable[[], None]:
        """A channel registers where staff replies to ``session_id`` go; call the result to detach."""
        self._sinks.setdefault(session_id, set()).add(sink)

        def detach() -> None:
            sinks = self._sinks.get(session_id)
            if sinks is not None:
                sinks.discard(sink)
                if not sinks:
                    self._sinks.pop(session_id, None)

        return detach

    def reachable(self, session_id: str) -> bool:
        return bool(self._sinks.get(session_id))

    async def reply(self, session_id: str, staff: str, text: str) -> int:
        """Send a staff reply to every open view of the chat; returns how many got it."""
        delivered = 0
        for sink in list(self._sinks.get(session_id, ())):
            try:
                await sink(staff, text)
                delivered += 1
            except (ConnectionError, RuntimeError) as exc:
                log.info("staff reply to %s not delivered: %s", session_id, exc)
        self.bus.publish(Event(EventType.STAFF_REPLY, {"staff": staff, "text": text}, session_id))
        return delivered

    def caller_said(self, session_id: str, text: str, language: str | None = None) -> None:
        """A caller's message while staff have the chat (the AI does not answer it)."""
        self.bus.publish(
            Event(EventType.TURN, {"user": text, "text": None, "language": language, "taken_over": True}, session_id)
        )
