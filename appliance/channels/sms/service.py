"""The SMS channel: received texts go to the brain of the business whose number they were sent
to (the default tenant's on a single-business box; ``tenants.py``), every text sent goes through
the outbox.

``receive`` (called by a transport for each text): pick the tenant (``tenant_for_text``), store
the text in its inbound log (a redelivery of a gateway message id stops here), then
- STOP/START words opt the number out or in, of this tenant only (with one receipt text);
- an opted-out number is not answered (its texts are still stored);
- over the per-number rate limit: stored as ``rate_limited``, not answered;
- unreadable (binary, unknown charset): a polite "please resend as text";
- else an :class:`Utterance` on the ``sms`` channel, in the session of that number
  (resumed when its last turn is within ``sms.session_window_min``), and the reply
  goes into the outbox, shortened to ``sms.max_segments``.

The sender task claims due outbox rows and hands each to its transport, with
backoff retries; opted-out numbers are never texted (the row is marked skipped), nor are
numbers whose opt-out outlived an erasure as a salted hash (``privacy.find.optout_key``). A
reminder goes out only while its booking exists, is held or confirmed and still starts on the
date the reminder names (a changed booking has a new reminder; an erased one has none).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from appliance.brain.text.render import Part
from appliance.channels.sms.encoding import fit, plan
from appliance.channels.sms.rules import Keyword, RateLimiter, keyword
from appliance.channels.sms.tenants import HashedOptOuts, SmsBrains, SmsTenant, sms_tenants
from appliance.channels.sms.transport import InboundSms, SendError, SmsTransport
from appliance.core.bus import StaffDesk
from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.messages import Channel, Utterance
from appliance.core.tenancy import tenant_for_text
from appliance.store.db import Database
from appliance.store.models import BookingRow
from appliance.store.outbox import InboundStatus, NewMessage, Outbox, OutboxKind, OutboxMessage, latest_session

log = logging.getLogger(__name__)

_NOT_DIGITS = re.compile(r"[^0-9A-Za-z]+")


def number_of(address: str, region: str) -> str:
    """The E.164 number in a sender address (``+372...``, ``372...``, ``sip:+372...@pbx``), or the
    address itself when it holds none (a SIP user name)."""
    import phonenumbers

    text = address.strip()
    if text.lower().startswith(("sip:", "sips:", "tel:")):
        text = text.split(":", 1)[1]
    text = text.split("@", 1)[0].split(";", 1)[0].strip("<> ")
    candidates = [text] if text.startswith("+") else [text, "+" + text]
    for c in candidates:
        try:
            n = phonenumbers.parse(c, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(n):
            return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
    return text or address


def reminder_key(booking_id: str, start: dt.date) -> str:
    """The idempotency key of a booking's reminder: one per start date (a change adds a new one)."""
    return f"remind:{booking_id}:{start.isoformat()}"


def reminder_start(key: str) -> dt.date | None:
    """The start date a reminder key names (None for a key of another form)."""
    try:
        return dt.date.fromisoformat(key.rsplit(":", 1)[-1])
    except ValueError:
        return None


async def booking_now(db: Database, booking_id: str) -> tuple[str, dt.date] | None:
    """(status, start date) of a booking in the local store; None when it is not there (erased)."""

    def r(s: Any) -> tuple[str, dt.date] | None:
        row = s.get(BookingRow, booking_id)
        return (str(row.status), row.start_date) if row is not None else None

    return await db.aread(r)


class SmsService:
    def __init__(
        self,
        config: Config,
        brain: Any,
        db: Database,
        transports: dict[str, SmsTransport],
        *,
        desk: StaffDesk | None = None,
        tenants: SmsBrains | None = None,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.cfg = config.sms
        self.brain = brain
        self.db = db
        self.transports = transports
        self.desk = desk
        self.clock = clock
        self.monotonic = monotonic
        # each business's brain and rows (docs/SMS.md "Several businesses"); the default tenant's
        # are also self.outbox, self.inbound, self.optouts and self.renderer
        self.tenants = sms_tenants(config, brain, db, tenants, clock=clock)
        self.default = self.tenants[config.tenant.id]
        self.outbox, self.inbound = self.default.outbox, self.default.inbound
        self.optouts: HashedOptOuts = self.default.optouts
        self.renderer = self.default.renderer
        self.inbound_limit = RateLimiter(self.cfg.inbound_per_minute, self.cfg.inbound_per_hour)
        self.outbound_limit = RateLimiter(max(self.cfg.outbound_per_hour, 1), self.cfg.outbound_per_hour)
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._staff_sinks: dict[str, Callable[[], None]] = {}  # session -> detach
        self._sender_locks: dict[str, list[Any]] = {}  # tenant:number -> [lock, users]

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        back = await self.outbox.recover()
        if back:
            log.info("outbox: %d message(s) a stopped daemon was sending are pending again", back)
        for t in self.transports.values():
            await t.start(self.receive)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop(), name="sms-outbox")

    async def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        for t in self.transports.values():
            await t.stop()
        for detach in self._staff_sinks.values():
            detach()
        self._staff_sinks.clear()

    def wake(self) -> None:
        self._wake.set()

    # --------------------------------------------------------------- inbound

    def tenant_of(self, sms: InboundSms) -> SmsTenant:
        """The business a text is for: the one whose number it was sent to (else the default)."""
        return self.tenants.get(tenant_for_text(self.config, sms.receiver, sms.account), self.default)

    async def receive(self, sms: InboundSms) -> InboundStatus | None:
        """Handle one received text; None when it was a redelivery of one handled before."""
        lane = self.tenant_of(sms)
        sender = number_of(sms.sender, lane.config.tenant.phone_region)
        raw_hex = sms.raw.hex() if sms.raw is not None and sms.text is None else None
        inbound_id = await lane.inbound.record(
            transport=sms.transport, sender=sender, text=sms.text if sms.text is not None else "",
            status=InboundStatus.RECEIVED, message_id=sms.message_id, raw_hex=raw_hex,
        )  # fmt: skip
        if inbound_id is None:
            return None
        who = f"{lane.tenant_id}:{sender}"
        entry = self._sender_locks.setdefault(who, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:  # one text of a number at a time: its session and its order are kept
                status, session_id = await self._handle(lane, sms, sender, inbound_id)
        except Exception:  # stored as received: staff see it in sms_inbound, nothing is lost
            log.exception("sms %s from %s: handling failed", inbound_id, sender)
            return InboundStatus.RECEIVED
        finally:
            entry[1] -= 1
            if entry[1] == 0:  # nobody holds or awaits it: a long-running appliance keeps no lock per number
                self._sender_locks.pop(who, None)
        await lane.inbound.settle(inbound_id, status, session_id)
        return status

    async def _handle(
        self, lane: SmsTenant, sms: InboundSms, sender: str, inbound_id: int
    ) -> tuple[InboundStatus, str | None]:
        reply_to = sms.reply_to or sms.sender
        word = keyword(sms.text) if sms.text else None
        session_id = await self._session_for(lane, sender)
        lang = await self._language(lane, session_id)
        if word is not None:  # honoured even over the rate limit; a receipt only when it changes something
            was_out = await lane.optouts.is_opted_out(sender)  # this business's list only
            if word is Keyword.STOP:
                await lane.optouts.opt_out(sender, (sms.text or "").strip())
                if not was_out:
                    await self._notice(lane, f"optout:{inbound_id}", "sms_opted_out", sms.transport, reply_to, lang)
                return InboundStatus.OPT_OUT, None
            await lane.optouts.opt_in(sender)
            if was_out:
                await self._notice(lane, f"optin:{inbound_id}", "sms_opted_in", sms.transport, reply_to, lang)
            return InboundStatus.OPT_IN, None
        if await lane.optouts.is_opted_out(sender):
            return InboundStatus.IGNORED, None
        if not self.inbound_limit.allow(f"{lane.tenant_id}:{sender}", self.monotonic()):
            log.warning("sms from %s over the rate limit: stored, not answered", sender)
            return InboundStatus.RATE_LIMITED, None
        if sms.text is None:
            log.info("sms from %s unreadable (%s): %d bytes kept", sender, sms.problem, len(sms.raw or b""))
            await self._notice(lane, f"unreadable:{inbound_id}", "sms_unreadable", sms.transport, reply_to, lang)
            return InboundStatus.UNREADABLE, None
        self._attach_staff(lane, session_id, sms.transport, reply_to)
        if self.desk is not None and self.desk.is_taken(session_id):
            self.desk.caller_said(session_id, sms.text)
            return InboundStatus.ANSWERED, session_id
        utt = Utterance(
            session_id=session_id, channel=Channel.SMS, text=sms.text, received_at=self.clock(), caller_id=sender
        )
        reply = await lane.brain.handle(utt)
        text = reply.text if plan(reply.text).segments <= self.cfg.max_segments else (reply.sms or reply.text)
        await self.enqueue(
            f"reply:{inbound_id}", OutboxKind.REPLY, sms.transport, reply_to, fit(text, self.cfg.max_segments),
            reply.language, session_id=session_id, booking_id=reply.booking_id, tenant=lane.tenant_id,
        )  # fmt: skip
        return InboundStatus.ANSWERED, session_id

    async def _session_for(self, lane: SmsTenant, sender: str) -> str:
        """The number's conversation with this business: the latest one when it was active within
        the window, else a new one (``sms-<number>-<stamp>``; another tenant's: ``sms-<number>-<id>-<stamp>``)."""
        prefix = f"sms-{_NOT_DIGITS.sub('', sender)}-{lane.session_tag}"
        now = self.clock()
        seen = await latest_session(self.db, prefix, lane.tenant_id)
        window = dt.timedelta(minutes=self.cfg.session_window_min)
        if seen is not None and not seen.ended and now - seen.updated_at <= window:
            return seen.id
        return f"{prefix}{now.astimezone(dt.UTC):%Y%m%d%H%M%S%f}"

    def _attach_staff(self, lane: SmsTenant, session_id: str, transport: str, reply_to: str) -> None:
        """Staff replies to a taken-over SMS conversation (the console) go out as texts."""
        if self.desk is None or session_id in self._staff_sinks:
            return

        async def sink(staff: str, text: str) -> None:
            lang = await self._language(lane, session_id)
            key = f"staff:{session_id}:{time.time_ns()}"
            await self.enqueue(key, OutboxKind.REPLY, transport, reply_to, text, lang, session_id=session_id,
                               tenant=lane.tenant_id)  # fmt: skip

        self._staff_sinks[session_id] = self.desk.attach(session_id, sink)

    async def _language(self, lane: SmsTenant, session_id: str) -> str:
        """The language of the number's conversation (the tenant's default for a new one)."""
        rec = await lane.brain.sessions.get(session_id)
        return str(rec.language) if rec is not None and rec.language else lane.config.tenant.default_language

    async def _notice(self, lane: SmsTenant, key: str, template: str, transport: str, to: str, lang: str) -> None:
        text, _speak, _sms = lane.renderer.render([Part(template)], lang)
        await self.enqueue(key, OutboxKind.NOTICE, transport, to, text, lang, tenant=lane.tenant_id)

    # --------------------------------------------------------------- outbound

    async def enqueue(
        self, key: str, kind: OutboxKind, transport: str, recipient: str, text: str, language: str, *,
        not_before: dt.datetime | None = None, session_id: str | None = None, booking_id: str | None = None,
        tenant: str | None = None,
    ) -> tuple[OutboxMessage, bool]:  # fmt: skip
        """Put one text of tenant ``tenant`` (None: the default) in the outbox (once per key); its
        encoding and segments are known now."""
        lane = self.tenants.get(tenant or "", self.default)
        text = fit(text, self.cfg.max_segments)
        p = plan(text)
        skip = None
        if kind is not OutboxKind.NOTICE and await lane.optouts.is_opted_out(
            number_of(recipient, lane.config.tenant.phone_region)
        ):
            skip = "opted_out"
        msg = NewMessage(
            idempotency_key=key, kind=kind, transport=transport, recipient=recipient, text=text, language=language,
            encoding=p.encoding.value, segments=p.segments, not_before=not_before or self.clock(),
            session_id=session_id, booking_id=booking_id,
        )  # fmt: skip
        row, new = await lane.outbox.enqueue(msg, skip_reason=skip)
        if new and skip is None:
            self.wake()
        return row, new

    async def _reminder_stale(self, msg: OutboxMessage) -> str | None:
        """Why a reminder must not go out (None: send it)."""
        now = await booking_now(self.db, str(msg.booking_id))
        if now is None:
            return "booking_gone"  # erased (or deleted): nothing to remind of
        status, start = now
        if status not in ("confirmed", "held"):
            return f"booking_{status}"
        named = reminder_start(msg.idempotency_key)
        if named is not None and named != start:
            return "booking_changed"
        return None

    def _backoff(self, attempts: int) -> dt.timedelta:
        delay = min(self.cfg.retry_base_s * 2 ** max(attempts - 1, 0), self.cfg.retry_max_s)
        return dt.timedelta(seconds=delay)

    async def deliver(self, msg: OutboxMessage) -> None:
        """Send one claimed row and record the outcome (sent / later / failed / skipped). A row is
        sent as its tenant's: its opt-outs, its number and SIP account."""
        lane = self.tenants.get(msg.tenant_id)
        if lane is None:  # a tenant no longer configured: nobody to send it as
            await self._outbox_of(msg.tenant_id).mark_failed(msg.id, "no_such_tenant")
            return
        outbox = lane.outbox
        number = number_of(msg.recipient, lane.config.tenant.phone_region)
        if msg.kind is not OutboxKind.NOTICE and await lane.optouts.is_opted_out(number):
            await outbox.mark_skipped(msg.id, "opted_out")
            return
        if msg.kind is OutboxKind.REMINDER and msg.booking_id:
            why = await self._reminder_stale(msg)
            if why is not None:
                await outbox.mark_skipped(msg.id, why)
                return
        transport = self.transports.get(msg.transport)
        if transport is None:
            await self._failed(msg, f"transport {msg.transport!r} is not running")
            return
        if not self.outbound_limit.allow(f"{lane.tenant_id}:{number}", self.monotonic()):
            later = self.clock() + dt.timedelta(minutes=1)
            await outbox.retry_later(msg.id, "rate_limited", later, attempted=False)
            return
        try:
            await transport.send(msg.recipient, plan(msg.text), origin=lane.origin)
        except SendError as exc:
            if exc.retryable:
                await self._failed(msg, str(exc))
            else:
                await outbox.mark_failed(msg.id, str(exc))
            return
        await outbox.mark_sent(msg.id)
        log.info("sms %s %s to %s sent (%d segment(s))", msg.kind, msg.id, msg.recipient, msg.segments)

    def _outbox_of(self, tenant_id: str) -> Outbox:
        """The tenant's outbox; for a tenant no longer configured, one just to settle its rows."""
        lane = self.tenants.get(tenant_id)
        return lane.outbox if lane is not None else Outbox(self.db, tenant_id=tenant_id, clock=self.clock)

    async def _failed(self, msg: OutboxMessage, error: str) -> None:
        outbox = self._outbox_of(msg.tenant_id)
        if msg.attempts >= self.cfg.max_attempts:
            log.warning("sms %s to %s failed for good: %s", msg.id, msg.recipient, error)
            await outbox.mark_failed(msg.id, error)
        else:
            await outbox.retry_later(msg.id, error, self.clock() + self._backoff(msg.attempts))

    async def flush(self) -> int:
        """Send every due row once; returns how many were claimed."""
        batch = await self.outbox.claim_due()
        for msg in batch:
            try:
                await self.deliver(msg)
            except Exception as exc:  # a bug with one row must not stop the outbox
                log.exception("outbox row %s", msg.id)
                await self._failed(msg, f"internal: {type(exc).__name__}")
        return len(batch)

    async def _send_loop(self) -> None:
        while True:
            self.inbound_limit.prune(self.monotonic())  # numbers quiet for an hour are forgotten
            self.outbound_limit.prune(self.monotonic())
            try:
                if await self.flush():
                    continue
                nxt = await self.outbox.next_due()
            except Exception:
                log.exception("outbox sender")
                nxt = None
            wait = 30.0 if nxt is None else (nxt - self.clock()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.05, min(wait, 30.0)))
            self._wake.clear()
