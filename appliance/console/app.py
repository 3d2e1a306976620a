"""``appliance console``: the front desk's terminal app (Textual), a client of the control API only.

One worker keeps an event stream open to the daemon: on connect it loads
everything (live sessions, callbacks, bookings, health), then each event
refreshes just what it touches. When the daemon goes away the header says so
and the worker retries every second; when it is back the console says so and
reloads. Keys are listed in :data:`appliance.console.forms.HELP`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from appliance.console.actions import StaffActions
from appliance.console.client import ApiClient
from appliance.console.panes import BookingsPane, CallbacksPane, HealthPane, LivePane
from appliance.core.control import ApiError, BookingView, LiveSession, TicketView
from appliance.core.live import LiveBoard
from appliance.core.messages import Event, EventType

log = logging.getLogger(__name__)

BOOKING_EVENTS = {
    EventType.BOOKING_CREATED, EventType.BOOKING_CHANGED, EventType.BOOKING_CANCELLED, EventType.BOOKING_HELD,
    EventType.BOOKING_APPROVED, EventType.BOOKING_DECLINED, EventType.BOOKING_EXPIRED,
}  # fmt: skip
CALLBACK_EVENTS = {
    EventType.CALLBACK_REQUESTED, EventType.CALLBACK_CLAIMED, EventType.CALLBACK_DONE, EventType.CALLBACK_REOPENED,
    EventType.CALLBACK_ATTEMPT,
}  # fmt: skip
HEALTH_EVENTS = {EventType.DEGRADED, EventType.DEGRADED_OFF, EventType.SIP_REGISTRATION, EventType.AI_PAUSED}
SESSION_EVENTS = {
    EventType.SESSION_STARTED, EventType.SESSION_ENDED, EventType.TURN, EventType.SLOTS, EventType.TOOL_ACTION,
    EventType.STAFF_REPLY, EventType.TAKEOVER, EventType.HANDBACK, EventType.CALL_STARTED, EventType.CALL_ENDED,
}  # fmt: skip


ACTION_TAB = {
    **dict.fromkeys(("takeover", "reply", "handback", "transfer", "end_call"), "live"),
    **dict.fromkeys(("claim", "done", "reopen", "toggle_done"), "callbacks"),
    **dict.fromkeys(
        ("search", "day", "week", "new_booking", "change_booking", "cancel_booking", "approve", "decline"), "bookings"
    ),
}


FRAME_S = 0.04  # the Live view redraws at most 25 times a second, however many events arrive


class _Quiet:
    """The console's board publishes nothing (the daemon's board already did)."""

    def publish(self, event: Event) -> None:
        pass


class StreamEnded(Exception):
    """The daemon closed the event stream."""


class ConsoleApp(StaffActions):
    TITLE = "Appliance front desk"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #conn { height: 1; padding: 0 1; background: $primary-background; }
    #conn.down { background: $error; color: $text; }
    TabbedContent, ContentSwitcher, TabPane { height: 1fr; }
    TabPane { padding: 0; }
    """
    BINDINGS = [
        Binding("1", "tab('live')", "Live", show=False),
        Binding("2", "tab('callbacks')", "Callbacks", show=False),
        Binding("3", "tab('bookings')", "Bookings", show=False),
        Binding("4", "tab('health')", "Health", show=False),
        Binding("question_mark,f1", "help", "Help"),
        Binding("p", "pause", "Pause AI", show=False),
        Binding("q", "quit", "Quit", show=False),
        # Live
        Binding("t", "takeover", "Take over"),
        Binding("r", "reply", "Reply"),
        Binding("b", "handback", "Hand back"),
        Binding("x", "transfer", "Transfer"),
        Binding("e", "end_call", "End call"),
        # Callbacks
        Binding("c", "claim", "Claim"),
        Binding("d", "done", "Done"),
        Binding("o", "reopen", "Reopen"),
        Binding("a", "toggle_done", "Open/done"),
        # Bookings
        Binding("slash", "search", "Search"),
        Binding("left_square_bracket", "day(-1)", "Prev day", show=False),
        Binding("right_square_bracket", "day(1)", "Next day", show=False),
        Binding("w", "week", "Day/week"),
        Binding("n", "new_booking", "New"),
        Binding("g", "change_booking", "Change"),
        Binding("k", "cancel_booking", "Cancel"),
        Binding("y", "approve", "Approve"),
        Binding("D", "decline", "Decline"),
    ]

    def __init__(
        self,
        socket_path: Path | str,
        *,
        now: Callable[[], dt.datetime] | None = None,
        today: dt.date | None = None,
        retry_s: float = 1.0,
        tenant: str | None = None,
    ) -> None:
        super().__init__()
        self.client = ApiClient(socket_path, tenant=tenant)  # tenant: one tenant's view, or "all" (lists)
        self.socket_path = str(socket_path)
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.day = today or self.now().date()
        self.week = False
        self.search_q = ""
        self.show_done = False
        self.retry_s = retry_s
        self.connected = False
        self.ever_connected = False
        self.sessions: dict[str, LiveSession] = {}
        self.tickets: list[TicketView] = []
        self.health: dict[str, Any] | None = None
        self.board = LiveBoard(_Quiet(), idle_s=10**9, linger_s=10**9)  # the daemon says when one is gone
        self._dirty: set[str] = set()
        self._snapshot_at: dict[str, dt.datetime] = {}
        self._flush_pending = False
        self._last_flush = 0.0

    # ------------------------------------------------------------------ layout

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Each tab's keys work (and show in the footer) only on that tab."""
        owner = ACTION_TAB.get(action)
        if owner is None:
            return True
        try:
            return self.tab == owner
        except Exception:  # noqa: BLE001 - before the tabs exist
            return False

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        table = {"live": "#live-list", "callbacks": "#cb-list", "bookings": "#bk-list"}.get(self.tab)
        if table:  # arrow keys move in the list at once
            self.query_one(table).focus()

    def compose(self) -> ComposeResult:
        yield Static("connecting...", id="conn", markup=False)
        with TabbedContent(initial="live"):
            with TabPane("1 Live", id="live"):
                yield LivePane()
            with TabPane("2 Callbacks", id="callbacks"):
                yield CallbacksPane()
            with TabPane("3 Bookings", id="bookings"):
                yield BookingsPane()
            with TabPane("4 Health", id="health"):
                yield HealthPane()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LivePane).detail(None)
        self.query_one("#live-list").focus()
        self.stream()
        self.set_interval(5, self._poll)  # queue lengths and disk change without events

    async def _poll(self) -> None:
        """A safety net under the events: the visible list is refreshed every few seconds."""
        if not self.connected:
            return
        try:
            if self.tab == "health":
                await self.load_health()
            elif self.tab == "callbacks":
                await self.load_callbacks()
        except (ApiError, NoMatches):
            pass

    async def on_unmount(self) -> None:
        await self.client.close()

    def _status(self, text: str, down: bool = False) -> None:
        conn = self.query_one("#conn", Static)
        conn.update(text)
        conn.set_class(down, "down")

    # ------------------------------------------------------------------ the stream

    @work(exclusive=True, group="stream")
    async def stream(self) -> None:
        attempt = 0
        while True:
            try:
                async for ev in self.client.events():
                    if ev is None:  # subscribed: now the snapshot, so nothing falls between the two
                        await self.reload()
                        self.connected = True
                        self._status(f"connected to the daemon ({Path(self.socket_path).name})")
                        if self.ever_connected and attempt:
                            self.notify("Reconnected to the daemon", title="connection")
                        self.ever_connected, attempt = True, 0
                    else:
                        await self.on_api_event(ev)
                raise StreamEnded  # the daemon closed the stream (restart, shutdown): reconnect
            except NoMatches:  # the app is closing: its widgets are gone
                return
            except (ApiError, OSError, StreamEnded, KeyError, TypeError, ValueError) as exc:
                log.info("console stream: %s", exc)
                attempt += 1
                if self.connected:
                    self.notify("Lost the daemon; reconnecting...", title="connection", severity="warning")
                self.connected = False
                self._status(f"daemon not reachable at {self.socket_path}: retrying ({attempt})", down=True)
                self.query_one(HealthPane).show(None, False)
                await asyncio.sleep(self.retry_s)

    async def reload(self) -> None:
        data = await self.client.get("/sessions")
        snapshot = [LiveSession.from_dict(d) for d in data["sessions"]]
        self._snapshot_at = {s.id: dt.datetime.fromisoformat(s.updated_at) for s in snapshot if s.updated_at}
        self.board.seed(snapshot)
        self.draw_live()
        await asyncio.gather(self.load_callbacks(), self.load_bookings(), self.load_health())

    async def on_api_event(self, ev: Event) -> None:
        sid = ev.session_id
        if sid and ev.type is EventType.SESSION_ENDED and ev.data.get("removed"):
            self.board.drop(sid)
            self._dirty.add(sid)
            self._kick()
        elif sid and ev.type in SESSION_EVENTS:
            seen = self._snapshot_at.get(sid)
            if seen is not None and ev.at <= seen:  # already in the snapshot loaded after subscribing
                return
            self.board.on_event(ev)  # the same pure board the daemon keeps, fed by the same events
            self._dirty.add(sid)
            self._kick()
        if ev.type in CALLBACK_EVENTS:
            await self.load_callbacks()
        if ev.type in BOOKING_EVENTS:
            await self.load_bookings()
        if ev.type in HEALTH_EVENTS:
            self.alert(ev)
            await self.load_health()

    def alert(self, ev: Event) -> None:
        """A part of the box failed or came back: a notice on whatever tab staff are on (the
        Health tab has the details)."""
        component = str(ev.data.get("component") or "")
        if ev.session_id or not component or component == "llm":  # in-call notices: the Live view shows them
            return
        what = component.replace("_", " ")
        if "worker" in ev.data:
            what += f" {ev.data['worker']}"
        if ev.type is EventType.DEGRADED:
            self.notify(f"{what} failed; restarting (see Health)", title="health", severity="error", markup=False)
        elif ev.type is EventType.DEGRADED_OFF:
            self.notify(f"{what} is back", title="health", markup=False)

    def _kick(self) -> None:
        """Redraw the Live view soon: at most every FRAME_S, so a burst of events costs one redraw."""
        if self._flush_pending:
            return
        self._flush_pending = True
        delay = FRAME_S - (time.monotonic() - self._last_flush)
        if delay > 0:
            self.set_timer(delay, self._flush_live)
        else:
            self.call_later(self._flush_live)

    def _flush_live(self) -> None:
        self._flush_pending = False
        self._last_flush = time.monotonic()
        dirty, self._dirty = self._dirty, set()
        try:
            self.draw_live(dirty)
        except NoMatches:  # the app is closing
            return
        self.drawn(dirty)

    def drawn(self, sessions: set[str]) -> None:
        """Hook: these sessions' latest state is on screen now (the benchmark times it)."""

    async def load_callbacks(self) -> None:
        data = await self.client.get("/callbacks", status="done" if self.show_done else "open")
        self.tickets = [TicketView.from_dict(d) for d in data["callbacks"]]
        pane = self.query_one(CallbacksPane)
        pane.show(self.tickets, self.now())
        await self.show_ticket()

    async def show_ticket(self) -> None:
        pane = self.query_one(CallbacksPane)
        tid = pane.selected
        if tid is None:
            pane.detail(None)
            return
        try:
            pane.detail(TicketView.from_dict(await self.client.get(f"/callbacks/{tid}")))
        except ApiError:
            pane.detail(None)

    @work(exclusive=True, group="speakers")
    async def load_speakers(self, sid: str) -> None:
        """An ended call's speaker turns (diarization runs after the call), under its transcript."""
        try:
            data = await self.client.get(f"/sessions/{sid}/speakers")
        except ApiError:
            return
        pane = self.query_one(LivePane)
        if pane.shown_id == sid:
            pane.speakers(list(data.get("diarizations") or []))

    @work(exclusive=True, group="ticket")
    async def refresh_ticket(self) -> None:
        try:
            await self.show_ticket()
        except NoMatches:  # the app is closing
            pass

    async def load_bookings(self) -> None:
        days = 7 if self.week else 1
        params = {"day": self.day.isoformat(), "days": str(days)}
        if self.search_q:
            params = {"q": self.search_q}
        data, occ = await asyncio.gather(
            self.client.get("/bookings", **params),
            self.client.get("/occupancy", start=self.day.isoformat(), days=str(days)),
        )
        rows = [BookingView.from_dict(d) for d in data["bookings"]]
        span = f"{self.day.isoformat()}" + (" + 6 days" if self.week else "")
        title = f"search: {self.search_q}" if self.search_q else f"stays on {span}"
        self.query_one(BookingsPane).show(f"{title}  ({len(rows)} bookings)  [ ] day  w week  / search", occ, rows)

    async def load_health(self) -> None:
        self.health = await self.client.get("/health")
        self.query_one(HealthPane).show(self.health, True)

    def draw_live(self, dirty: set[str] | None = None) -> None:
        self.sessions = {s.id: s for s in self.board.sessions()}
        pane = self.query_one(LivePane)
        before = pane.selected
        pane.show(list(self.sessions.values()))
        sid = pane.selected
        if dirty is None or sid != before or sid in dirty or sid is None:
            pane.detail(self.sessions.get(sid) if sid else None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "live-list":
            sid = str(event.row_key.value)
            s = self.sessions.get(sid)
            self.query_one(LivePane).detail(s)
            if s is not None and s.ended and s.channel == "voice":
                self.load_speakers(sid)
        elif event.data_table.id == "cb-list":
            self.refresh_ticket()


def run_console(socket_path: Path | str, tenant: str | None = None) -> int:
    ConsoleApp(socket_path, tenant=tenant).run()
    return 0
