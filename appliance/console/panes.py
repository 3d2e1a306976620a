"""The console's four views. Each only draws what the app hands it (typed views from the API).

Callers' words and every value that came over the API go through
:func:`appliance.console.text.inert`: shown as text, never as markup.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from appliance.console.text import age, clean, inert, money
from appliance.core.control import BookingView, LiveSession, TicketView

SLOTS = ("pet_type", "pet_name", "start_date", "end_date", "owner_name", "owner_phone")
ROLE_STYLE = {"user": "bold cyan", "assistant": "green", "staff": "bold magenta"}


def _table(widget_id: str, *columns: str, widths: tuple[int, ...] = ()) -> DataTable[Any]:
    """A row-cursor table; fixed ``widths`` keep a live-updating table from jumping about."""
    t: DataTable[Any] = DataTable(id=widget_id, cursor_type="row", zebra_stripes=True)
    if widths:
        for label, width in zip(columns, widths, strict=True):
            t.add_column(label, width=width)
    else:
        t.add_columns(*columns)
    return t


def _selected_key(table: DataTable[Any]) -> str | None:
    if table.row_count == 0:
        return None
    try:
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
    except Exception:  # noqa: BLE001 - an empty or refreshing table has no selection
        return None


def _fill(table: DataTable[Any], rows: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Show these rows, keeping the selected row selected. With the same rows as before only the
    changed cells are updated (a busy Live list must not rebuild itself on every turn)."""
    keys = [k for k, _ in rows]
    texts = [tuple(c if isinstance(c, Text) else inert(c, limit=80) for c in cells) for _k, cells in rows]
    if [str(k.value) for k in table.rows] == keys:
        columns = list(table.columns)
        for key, cells in zip(keys, texts, strict=True):
            old = table.get_row(key)
            for col, new, was in zip(columns, cells, old, strict=False):
                if str(new) != str(was) or getattr(new, "style", None) != getattr(was, "style", None):
                    table.update_cell(key, col, new)
        return
    keep = _selected_key(table)
    table.clear()
    for key, cells in zip(keys, texts, strict=True):
        table.add_row(*cells, key=key)
    if keep in keys:
        table.move_cursor(row=keys.index(keep), animate=False)


class LivePane(Vertical):
    """Active calls and chats; the selected one's transcript, slots, tools and latency."""

    DEFAULT_CSS = """
    LivePane #live-list { height: 7; }
    LivePane #live-head { height: 3; padding: 0 1; background: $boost; }
    LivePane #live-lines { height: 1fr; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield _table(
            "live-list", "session", "kind", "caller", "lang", "awaiting", "flags", widths=(18, 4, 14, 4, 12, 16)
        )
        # Fixed sizes: a new turn repaints these two widgets and never costs a layout pass (a
        # scrolling log re-lays out the screen on every line). The transcript shows its newest
        # lines; `appliance sessions show ID` prints all of it.
        yield Static(id="live-head", markup=False)
        yield Static(id="live-lines", markup=False)

    shown_id: str | None = None  # whose details are on screen

    @property
    def selected(self) -> str | None:
        return _selected_key(self.query_one("#live-list", DataTable))

    def show(self, sessions: list[LiveSession]) -> None:
        rows = []
        for s in sessions:
            flags = " ".join(
                f for f, on in (("STAFF", s.taken_over_by), ("degraded", s.degraded), ("ended", s.ended)) if on
            )
            kind = "call" if s.channel == "voice" else "chat"
            rows.append((s.id, (s.id[:18], kind, s.caller_id or "-", s.language, s.awaiting or "-", flags)))
        _fill(self.query_one("#live-list", DataTable), rows)

    def detail(self, s: LiveSession | None) -> None:
        head, lines = self.query_one("#live-head", Static), self.query_one("#live-lines", Static)
        self.shown_id = s.id if s else None
        if s is None:
            head.update(Text("No live calls or chats. They appear here as they start."), layout=False)
            lines.update(Text(""), layout=False)
            return
        filled = sum(1 for k in SLOTS if s.slots.get(k))
        lat = [t.ms for t in s.turns if t.ms is not None]
        top = Text()
        top.append(f"{s.id}  ", "bold")
        top.append(f"{'call' if s.channel == 'voice' else 'chat'}  lang {s.language or '-'}  ")
        top.append(f"slots {filled}/{len(SLOTS)}  awaiting {s.awaiting or '-'}")
        if lat:
            top.append(f"  last turn {lat[-1]:.0f} ms")
        if s.taken_over_by:
            top.append(f"  taken over by {clean(s.taken_over_by, 40)}", "bold magenta")
        if s.degraded:
            top.append("  DEGRADED", "bold red")
        top.append("\n")
        top.append_text(inert("  ".join(f"{k}={s.slots.get(k)}" for k in SLOTS if s.slots.get(k)), limit=200))
        if s.actions:
            top.append("  ")
            acts = [f"{a.tool}:{a.status}" + (f"({a.error_code})" if a.error_code else "") for a in s.actions[-4:]]
            top.append_text(inert("tools: " + "  ".join(acts), limit=200))
        head.update(top, layout=False)
        body = Text()
        for t in s.turns:
            body.append(f"{t.role:>9}: ", ROLE_STYLE.get(t.role, ""))
            body.append_text(inert(t.text))
            if t.ms is not None:
                body.append(f"  ({t.ms:.0f} ms)", "dim")
            body.append("\n")
        self._body = body
        lines.update(_tail(body, lines.content_size.width, lines.content_size.height), layout=False)

    _body: Text = Text()

    def speakers(self, diarizations: list[dict[str, Any]]) -> None:
        """Append an ended call's speaker turns to its transcript (app.load_speakers)."""
        if not diarizations:
            return
        lines = self.query_one("#live-lines", Static)
        body = self._body.copy()
        body.append_text(speaker_lines(diarizations))
        lines.update(_tail(body, lines.content_size.width, lines.content_size.height), layout=False)


def speaker_lines(diarizations: list[dict[str, Any]]) -> Text:
    """Who spoke when on the caller's line: one line per speaker turn (start-end, speaker, the
    transcript turn it belongs to), after a summary. Labels come from the diarization job."""
    out = Text()
    for d in diarizations:
        if d.get("status") != "done":
            out.append(f"speakers: {d.get('status')}\n", "dim")
            continue
        talk: dict[str, float] = {}
        for t in d["turns"]:
            talk[t["speaker"]] = talk.get(t["speaker"], 0.0) + t["end_s"] - t["start_s"]
        out.append(f"speakers: {d.get('speakers', len(talk))}  ", "bold")
        out.append("  ".join(f"{k} {v:.1f} s" for k, v in sorted(talk.items())) + "\n")
        for t in d["turns"]:
            turn = f"  turn {t['transcript_turn']}" if t.get("transcript_turn") is not None else ""
            out.append(f"{t['start_s']:7.1f}-{t['end_s']:.1f} s  {clean(str(t['speaker']), 24)}{turn}\n")
    return out


def _tail(text: Text, width: int, height: int) -> Text:
    """The last ``height`` lines of ``text`` wrapped at ``width`` (the newest turns stay in view)."""
    if width <= 0 or height <= 0:
        return text
    from rich.console import Console

    wrapped = text.wrap(Console(width=width, legacy_windows=False), width)
    return Text("\n").join(wrapped[-height:])


class CallbacksPane(Vertical):
    DEFAULT_CSS = """
    CallbacksPane #cb-list { height: 1fr; min-height: 5; }
    CallbacksPane #cb-detail { height: 1fr; padding: 0 1; background: $boost; }
    """

    def compose(self) -> ComposeResult:
        yield _table("cb-list", "#", "age", "reason", "phone", "name", "status", "claimed")
        with VerticalScroll(id="cb-detail"):
            yield Static(id="cb-text", markup=False)

    @property
    def selected(self) -> str | None:
        return _selected_key(self.query_one("#cb-list", DataTable))

    def show(self, tickets: list[TicketView], now: dt.datetime) -> None:
        rows = [
            (str(t.id), (str(t.id), age(t.created_at, now), t.reason, t.phone or "-", t.name or "-", t.status,
                         t.claimed_by or "-"))
            for t in tickets
        ]  # fmt: skip
        _fill(self.query_one("#cb-list", DataTable), rows)

    def detail(self, t: TicketView | None) -> None:
        out = Text()
        if t is None:
            out.append("No callback tickets in this list.")
        else:
            out.append(f"Ticket {t.id}: ", "bold")
            out.append_text(inert(f"{t.reason}, {t.channel}, {t.language}, call {t.phone or '-'} ({t.name or '-'})"))
            for n in t.notes:
                out.append("\nnote: ", "bold")
                out.append_text(inert(n))
            for a in t.attempts:
                out.append("\nauto callback: ", "bold")
                out.append_text(inert(a))
            if t.transcript:
                out.append("\n--- what led to it ---\n", "dim")
            for turn in t.transcript:
                out.append(f"{turn.role:>9}: ", ROLE_STYLE.get(turn.role, ""))
                out.append_text(inert(turn.text))
                out.append("\n")
        self.query_one("#cb-text", Static).update(out)


class BookingsPane(Vertical):
    DEFAULT_CSS = """
    BookingsPane #bk-title { height: 1; padding: 0 1; background: $boost; }
    BookingsPane #bk-occupancy { height: auto; max-height: 6; }
    BookingsPane #bk-list { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="bk-title", markup=False)
        yield DataTable(id="bk-occupancy", cursor_type="none", show_cursor=False)
        yield _table("bk-list", "number", "status", "from", "to", "pet", "owner", "phone", "total")

    @property
    def selected(self) -> str | None:
        return _selected_key(self.query_one("#bk-list", DataTable))

    def show(self, title: str, occupancy: dict[str, Any], bookings: list[BookingView]) -> None:
        self.query_one("#bk-title", Static).update(inert(title, limit=200))
        occ = self.query_one("#bk-occupancy", DataTable)
        occ.clear(columns=True)
        resources: list[dict[str, Any]] = list(occupancy.get("resources") or [])
        days = sorted(resources[0].get("used", {})) if resources else []
        occ.add_columns("room", *(d[5:] for d in days))
        for r in occupancy.get("resources") or []:
            cap = int(r.get("capacity") or 0)
            cells = []
            for d in days:
                used = int(r["used"].get(d, 0))
                cells.append(Text(f"{used}/{cap}", "bold red" if used >= cap else ("yellow" if used else "green")))
            occ.add_row(inert(r.get("name") or r.get("resource_id"), limit=20), *cells)
        rows = [
            (b.id, (b.id, Text(b.status, "bold yellow" if b.status == "held" else ""), b.start[5:], b.end[5:],
                    f"{b.pet_name} ({b.pet_type})", b.owner_name, b.owner_phone, money(b.total_minor, b.currency)))
            for b in bookings
        ]  # fmt: skip
        _fill(self.query_one("#bk-list", DataTable), rows)


class HealthPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="health-text", markup=False)

    def show(self, health: dict[str, Any] | None, connected: bool) -> None:
        out = Text()
        if not connected or health is None:
            out.append("Not connected to the daemon.", "bold red")
            self.query_one("#health-text", Static).update(out)
            return

        def line(label: str, value: Any, bad: bool = False) -> None:
            out.append(f"{label:<22}", "bold")
            out.append_text(inert(value, "bold red" if bad else "", limit=200))
            out.append("\n")

        models = health.get("models") or {}
        line("language model", models.get("llm"), models.get("llm") not in ("ready", "off"))
        line("knowledge base", models.get("knowledge"))
        line("degraded mode", "YES" if health.get("degraded") else "no", bool(health.get("degraded")))
        line(
            "AI paused",
            "YES: new calls go to staff" if health.get("ai_paused") else "no",
            bool(health.get("ai_paused")),
        )
        sip = health.get("sip") or {}
        line("SIP", "on " + str(sip.get("ports") or "") if sip.get("enabled") else "off")
        line("SIP registration", (sip.get("registration") or {}).get("state", "none"))
        workers = sip.get("workers") or []
        if workers:
            up = sum(1 for w in workers if w.get("up"))
            restarts = sum(int(w.get("restarts") or 0) for w in workers)
            text = f"{up} of {len(workers)} up" + (f", {restarts} restarts" if restarts else "")
            line("SIP workers", text if up < len(workers) else text.replace(f"{up} of ", "all "), up < len(workers))
        for name, svc in (health.get("services") or {}).items():
            restarts = int(svc.get("restarts") or 0)
            state = "up" if svc.get("state") == "up" else "RESTARTING"
            line(f"{name} service", state + (f" ({restarts} restarts)" if restarts else ""), state != "up")
        web = health.get("web") or {}
        line("web chat", f"{web.get('host')}:{web.get('port')}" if web.get("enabled") else "off")
        disk = health.get("disk") or {}
        free = int(disk.get("free_bytes") or 0)
        line("disk free", f"{free / 1e9:.1f} GB of {int(disk.get('total_bytes') or 0) / 1e9:.1f} GB", free < 1e9)
        for k, v in (health.get("queues") or {}).items():
            line(k.replace("_", " "), v)
        line("uptime", f"{float(health.get('uptime_s') or 0):.0f} s")
        self.query_one("#health-text", Static).update(out)
