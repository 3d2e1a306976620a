"""Texts about bookings: a confirmation after a booking is committed, a reminder before check-in,
the staff's decision on a held booking, and a confirmation of a change (with a reminder for the
new start; the old date's reminder is skipped at send time). Fed by the daemon's event bus.

Who gets one: bookings made by SMS always (the customer is texting us); bookings made on
another channel when the owner's number has texted us before (and not opted out), or when
``sms.confirm_other_channels`` is on (the tenant's say-so).
The text is in the session's language, to the booking's owner number; each kind has its
idempotency key (``confirm:<id>``, ``remind:<id>:<start>``, ``approved:<id>``,
``change:<id>:<updated_at>``...), so an event seen
twice, or the restart sweep finding a booking whose event died with the daemon, adds
nothing twice. A booking's texts are its tenant's (the booking's ``tenant_id``): in its
language default and name, from its number (docs/SMS.md "Several businesses").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from appliance.brain.text.render import Part
from appliance.channels.sms.service import SmsService, reminder_key
from appliance.channels.sms.tenants import SmsTenant
from appliance.core.messages import Event, EventType
from appliance.store.outbox import OutboxKind, recent_bookings

log = logging.getLogger(__name__)

_KINDS = {
    EventType.BOOKING_CREATED: (OutboxKind.CONFIRMATION, "confirm", "sms_confirmation"),
    EventType.BOOKING_HELD: (OutboxKind.CONFIRMATION, "confirm", "sms_held"),
    EventType.BOOKING_APPROVED: (OutboxKind.APPROVED, "approved", "sms_approved"),
    EventType.BOOKING_DECLINED: (OutboxKind.DECLINED, "declined", "sms_declined"),
    EventType.BOOKING_CHANGED: (OutboxKind.CONFIRMATION, "change", "sms_changed"),
}
SWEEP_HOURS = 48  # at start, bookings this recent without a confirmation get one


class BookingTexts:
    def __init__(self, service: SmsService) -> None:
        self.sms = service
        self.cfg = service.cfg
        self.config = service.config
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the bus listener (synchronous: it only schedules) ------------------------------

    def on_event(self, event: Event) -> None:
        if event.type in _KINDS or event.type is EventType.BOOKING_CANCELLED:
            task = asyncio.get_running_loop().create_task(self.handle(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the events already scheduled (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def handle(self, event: Event) -> None:
        try:
            if event.type is EventType.BOOKING_CANCELLED:
                return  # a pending reminder is skipped at send time (SmsService._reminder_stale)
            await self.booking_event(event.type, event.data, event.session_id)
        except Exception:  # a text must never break the booking it is about
            log.exception("booking text for %s", event.type)

    # -- what is sent when --------------------------------------------------------------

    def tenant_of(self, booking: dict[str, Any]) -> SmsTenant | None:
        """The business a booking is of (None: a tenant no longer configured)."""
        tenant = str(booking.get("tenant_id") or booking.get("tenant") or self.config.tenant.id)
        return self.sms.tenants.get(tenant)

    async def wanted(self, booking: dict[str, Any]) -> bool:
        """Texts about a booking need the customer's agreement: the booking was made by text, or the
        owner's number has texted this business before, or the tenant texts every booking (its say-so)."""
        phone = str(booking.get("owner_phone") or "")
        lane = self.tenant_of(booking)
        if not self.cfg.enabled or not phone or lane is None:
            return False
        if booking.get("channel") == "sms" or self.cfg.confirm_other_channels:
            return True
        return await lane.inbound.has_texted(phone)

    async def _language(self, lane: SmsTenant, session_id: str | None) -> str:
        if session_id:
            rec = await lane.brain.sessions.get(session_id)
            if rec is not None and rec.language:
                return str(rec.language)
        return lane.config.tenant.default_language

    def _recipient(self, phone: str) -> str:
        if self.cfg.outbound_transport == "sip" and self.cfg.sip_domain and not phone.startswith("sip"):
            return f"sip:{phone}@{self.cfg.sip_domain}"
        return phone

    async def booking_event(self, kind: EventType, booking: dict[str, Any], session_id: str | None) -> None:
        lane = self.tenant_of(booking)
        if lane is None or not await self.wanted(booking):
            return
        out_kind, prefix, template = _KINDS[kind]
        if out_kind is OutboxKind.CONFIRMATION and not self.cfg.confirmations:
            return
        if out_kind in (OutboxKind.APPROVED, OutboxKind.DECLINED) and not self.cfg.approvals:
            return
        bid = str(booking["id"])
        session_id = session_id or booking.get("session_id")
        lang = await self._language(lane, session_id)
        start, end = dt.date.fromisoformat(str(booking["start"])), dt.date.fromisoformat(str(booking["end"]))
        facts = {"booking_id": bid, "pet_name": booking.get("pet_name", ""), "start": start, "end": end}
        text, _speak, _sms = lane.renderer.render([Part(template, facts)], lang)
        to = self._recipient(str(booking["owner_phone"]))
        transport = self.cfg.outbound_transport
        key = f"{prefix}:{bid}"
        if kind is EventType.BOOKING_CHANGED:  # one text per change (a second change gets its own)
            key += f":{booking.get('updated_at') or f'{start.isoformat()}:{end.isoformat()}'}"
        await self.sms.enqueue(
            key, out_kind, transport, to, text, lang, session_id=session_id, booking_id=bid, tenant=lane.tenant_id
        )
        if kind is EventType.BOOKING_DECLINED or self.cfg.reminder_hours <= 0:
            return
        at = self.reminder_at(start, lane)
        if at > self.sms.clock():
            text, _speak, _sms = lane.renderer.render(
                [Part("sms_reminder", {"booking_id": bid, "pet_name": facts["pet_name"], "date": start})], lang
            )
            await self.sms.enqueue(
                reminder_key(bid, start), OutboxKind.REMINDER, transport, to, text, lang,
                not_before=at, session_id=session_id, booking_id=bid, tenant=lane.tenant_id,
            )  # fmt: skip

    def reminder_at(self, start: dt.date, lane: SmsTenant | None = None) -> dt.datetime:
        """When the reminder of a stay starting ``start`` is due (check-in in the tenant's time zone)."""
        hh, mm = (int(x) for x in self.cfg.checkin_time.split(":"))
        tz = (lane.config if lane is not None else self.config).tenant.tz
        checkin = dt.datetime.combine(start, dt.time(hh, mm), tzinfo=tz)
        return (checkin - dt.timedelta(hours=self.cfg.reminder_hours)).astimezone(dt.UTC)

    async def sweep(self) -> int:
        """At start: recent bookings whose confirmation never reached the outbox (the daemon died
        between the booking's commit and its event) get it now. Returns how many were added."""
        since = self.sms.clock() - dt.timedelta(hours=SWEEP_HOURS)
        added = 0
        for tenant_id in self.sms.tenants:
            for b in await recent_bookings(self.sms.db, tenant_id, since):
                if b["status"] == "cancelled" or await self.sms.outbox.has(f"confirm:{b['id']}"):
                    continue
                kind = EventType.BOOKING_HELD if b["status"] == "held" else EventType.BOOKING_CREATED
                if await self.wanted(b):
                    await self.booking_event(kind, b, b.get("session_id"))  # type: ignore[arg-type]
                    added += 1
        return added
