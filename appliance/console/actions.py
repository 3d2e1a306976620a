"""The console's key actions (take over, reply, claim, approve, ...): each one API call, then a reload.

Split from :mod:`appliance.console.app`, which owns the connection, the data and the drawing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.widgets import TabbedContent

from appliance.console.client import ApiClient
from appliance.console.forms import FormScreen, HelpScreen
from appliance.console.panes import BookingsPane, CallbacksPane, LivePane
from appliance.core.control import ApiError


class StaffActions(App[None]):
    """The action_* handlers behind the key bindings of :class:`~appliance.console.app.ConsoleApp`."""

    client: ApiClient
    health: dict[str, Any] | None
    day: dt.date
    week: bool
    search_q: str
    show_done: bool

    @property
    def tab(self) -> str:
        return str(self.query_one(TabbedContent).active)

    async def load_health(self) -> None:
        raise NotImplementedError

    async def load_callbacks(self) -> None:
        raise NotImplementedError

    async def load_bookings(self) -> None:
        raise NotImplementedError

    async def _call(self, coro: Any, done: str) -> Any:
        try:
            result = await coro
        except ApiError as exc:
            self.notify(f"{exc.code}: {exc.message}"[:200], severity="error", markup=False)
            return None
        self.notify(done, markup=False)
        return result

    def _ask(self, title: str, fields: list[tuple[str, str, str]], then: Callable[[dict[str, str]], Any]) -> None:
        def answered(values: dict[str, str] | None) -> None:
            if values is not None:
                self.run_worker(then(values), group="action")

        self.push_screen(FormScreen(title, fields), answered)

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_pause(self) -> None:
        paused = not bool((self.health or {}).get("ai_paused"))
        await self._call(self.client.post("/ai/pause", {"paused": paused}), f"AI {'paused' if paused else 'resumed'}")
        await self.load_health()

    def _live(self) -> str | None:
        sid = self.query_one(LivePane).selected if self.tab == "live" else None
        if sid is None and self.tab == "live":
            self.notify("Select a call or chat first", severity="warning")
        return sid

    async def action_takeover(self) -> None:
        if sid := self._live():
            await self._call(
                self.client.post(f"/sessions/{sid}/takeover"), "You have the chat: r to reply, b to hand back"
            )

    async def action_handback(self) -> None:
        if sid := self._live():
            await self._call(self.client.post(f"/sessions/{sid}/handback"), "Handed back to the AI")

    def action_reply(self) -> None:
        if sid := self._live():
            self._ask("Reply to the caller", [("text", "Message", "")], lambda v: self._reply(sid, v["text"]))

    async def _reply(self, sid: str, text: str) -> None:
        await self._call(self.client.post(f"/sessions/{sid}/reply", {"text": text}), "Sent")

    def action_transfer(self) -> None:
        if sid := self._live():
            self._ask(
                "Transfer the call", [("extension", "Extension (empty: the staff line)", "")],
                lambda v: self._call(self.client.post(f"/sessions/{sid}/transfer", v), "Transferring"),
            )  # fmt: skip

    async def action_end_call(self) -> None:
        if sid := self._live():
            await self._call(self.client.post(f"/sessions/{sid}/end"), "Call ended")

    def _ticket(self) -> str | None:
        return self.query_one(CallbacksPane).selected if self.tab == "callbacks" else None

    async def _ticket_action(self, action: str, note: str) -> None:
        if tid := self._ticket():
            await self._call(
                self.client.post(f"/callbacks/{tid}/{action}", {"note": note}), f"Callback {tid}: {action}"
            )
            await self.load_callbacks()

    async def action_claim(self) -> None:
        await self._ticket_action("claim", "")

    def action_done(self) -> None:
        if self._ticket():
            self._ask(
                "Callback done",
                [("note", "Note (what was agreed)", "")],
                lambda v: self._ticket_action("done", v["note"]),
            )

    def action_reopen(self) -> None:
        if self._ticket():
            self._ask("Reopen callback", [("note", "Why", "")], lambda v: self._ticket_action("reopen", v["note"]))

    async def action_toggle_done(self) -> None:
        if self.tab == "callbacks":
            self.show_done = not self.show_done
            await self.load_callbacks()

    def _booking(self) -> str | None:
        return self.query_one(BookingsPane).selected if self.tab == "bookings" else None

    def action_search(self) -> None:
        if self.tab == "bookings":
            self._ask(
                "Search bookings (number, name, phone; empty: by day)", [("q", "Search", self.search_q)], self._search
            )

    async def _search(self, values: dict[str, str]) -> None:
        self.search_q = values["q"].strip()
        await self.load_bookings()

    async def action_day(self, delta: int) -> None:
        if self.tab == "bookings":
            self.day += dt.timedelta(days=delta * (7 if self.week else 1))
            self.search_q = ""
            await self.load_bookings()

    async def action_week(self) -> None:
        if self.tab == "bookings":
            self.week = not self.week
            await self.load_bookings()

    def action_new_booking(self) -> None:
        if self.tab != "bookings":
            return
        d = self.day.isoformat()
        fields = [("pet_name", "Pet name", ""), ("pet_type", "Pet type", "dog"), ("start_date", "From", d),
                  ("end_date", "To", (self.day + dt.timedelta(days=1)).isoformat()),
                  ("owner_name", "Owner", ""), ("owner_phone", "Phone", "")]  # fmt: skip
        self._ask("New booking", fields, self._create)

    async def _create(self, values: dict[str, str]) -> None:
        b = await self._call(self.client.post("/bookings", values), "Booking made")
        if b:
            self.notify(f"Booking {b.get('id')} is {b.get('status')}", markup=False)
        await self.load_bookings()

    def action_change_booking(self) -> None:
        if bid := self._booking():
            fields = [("start_date", "New from (YYYY-MM-DD)", ""), ("end_date", "New to (YYYY-MM-DD)", "")]
            self._ask(f"Change booking {bid}", fields, lambda v: self._change(bid, v))

    async def _change(self, bid: str, values: dict[str, str]) -> None:
        body = {k: v.strip() for k, v in values.items() if v.strip()}
        await self._call(self.client.post(f"/bookings/{bid}/change", body), f"Booking {bid} changed")
        await self.load_bookings()

    async def _booking_action(self, action: str) -> None:
        if bid := self._booking():
            await self._call(self.client.post(f"/bookings/{bid}/{action}"), f"Booking {bid}: {action}")
            await self.load_bookings()

    async def action_cancel_booking(self) -> None:
        await self._booking_action("cancel")

    async def action_approve(self) -> None:
        await self._booking_action("approve")

    async def action_decline(self) -> None:
        await self._booking_action("decline")
