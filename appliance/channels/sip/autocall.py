"""Automatic callbacks: the appliance calls a customer back by itself once what failed works again.

Every ``check_interval_s`` the open, unclaimed callback tickets are looked at. A ticket made
because the booking backend or a speech engine failed (``callback_policy.cause_of``) is called
when the pure policy says so (``callback_policy.decide``: calling hours, attempts, spacing, age)
and the failed part is healthy: its probe (an availability query for the backend, loading the
model for speech) is run only then, and after a failed probe not again before the backoff
(``probe_delay``) has passed. Calls are placed one at a time through the SIP service
(``outbound.run_outbound``: the one call runner, the callback's opening instead of the
greeting). Each attempt is written to the ticket before dialling and completed after
(``store/callback_attempts.py``); a yes books once (``brain/dialogue/resume.py``).

Staff switch it per tenant (``callbacks.auto``); a ticket a staff member has claimed is theirs
and is never called automatically.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from appliance.booking.probe import backend_answers, probe_stay
from appliance.booking.types import BookingBackend
from appliance.core.callback_policy import (
    AttemptOutcome,
    CallbackPolicy,
    Cause,
    DecisionType,
    cause_of,
    decide,
    dialable,
    probe_delay,
)
from appliance.core.clock import Clock, local_today, system_clock
from appliance.core.config import Config
from appliance.core.messages import Event, EventType
from appliance.core.ports import CallbackPort
from appliance.core.tickets import CallbackTicket
from appliance.engines.supervised import SupervisedSTT
from appliance.store.callback_attempts import CallbackAttempts, attempts_of

if TYPE_CHECKING:
    from appliance.channels.sip.service import SipService
    from appliance.channels.sip.tenants import TenantBrain
    from appliance.store.conversations import ConversationStore

    class CallbackBrain(TenantBrain, CallbackPort, Protocol):
        """What a tenant's automatic callbacks need of its brain."""

        @property
        def backend(self) -> BookingBackend: ...
        @property
        def sessions(self) -> ConversationStore: ...
        @property
        def clock(self) -> Clock: ...


log = logging.getLogger("appliance.callbacks")

Probe = Callable[[CallbackTicket], Awaitable[bool]]


def policy_from(config: Config) -> CallbackPolicy:
    c = config.callbacks
    return CallbackPolicy(
        hours=c.calling_hours.model_dump(),
        tz=config.tenant.tz,
        max_attempts=c.max_attempts,
        first_delay_s=c.first_delay_s,
        spacing_s=c.spacing_s,
        spacing_max_s=c.spacing_max_s,
        max_age_s=c.max_age_h * 3600,
    )


@dataclass
class HealthGate:
    """One failed part's probe with backoff (monotonic seconds)."""

    probe: Probe
    base_s: float
    max_s: float
    failures: int = 0
    next_at: float = 0.0

    async def healthy(self, ticket: CallbackTicket, now: float) -> bool:
        if now < self.next_at:
            return False
        try:
            ok = await self.probe(ticket)
        except Exception:  # noqa: BLE001 - a broken probe is an unhealthy part
            log.exception("callback health probe failed")
            ok = False
        if ok:
            self.failures, self.next_at = 0, now
        else:
            self.next_at = now + probe_delay(self.failures, self.base_s, self.max_s)
            self.failures += 1
        return ok


class AutoCallbacks:
    def __init__(
        self,
        config: Config,
        service: SipService,
        brain: CallbackPort,
        attempts: CallbackAttempts,
        probes: dict[Cause, Probe],
        *,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        on_event: Callable[[Event], Any] | None = None,
    ) -> None:
        self.config = config
        self.service = service
        self.brain = brain
        self.attempts = attempts
        c = config.callbacks
        self.gates = {cause: HealthGate(p, c.probe_base_s, c.probe_max_s) for cause, p in probes.items()}
        self.clock = clock
        self.monotonic = monotonic
        self.policy = policy_from(config)
        self._task: asyncio.Task[None] | None = None
        self.on_event = on_event  # staff see each attempt start and end (CALLBACK_ATTEMPT)

    def _publish(self, ticket_id: int, session_id: str, outcome: AttemptOutcome) -> None:
        if self.on_event is not None:
            try:
                self.on_event(Event(EventType.CALLBACK_ATTEMPT, {"ticket_id": ticket_id, "outcome": str(outcome)},
                                    session_id))  # fmt: skip
            except Exception:  # noqa: BLE001 - a broken listener must not stop the callbacks
                log.exception("callback event listener failed")

    @property
    def enabled(self) -> bool:
        return self.config.callbacks.auto and bool(self.config.callbacks.dial_uri)

    def start(self) -> None:
        if not self.enabled:
            log.info("automatic callbacks are off (callbacks.auto, callbacks.dial_uri)")
            return
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("automatic callbacks: a round failed")
            await asyncio.sleep(self.config.callbacks.check_interval_s)

    async def run_once(self) -> list[tuple[int, str]]:
        """One look at the open tickets; returns (ticket id, what was done) for each one acted on."""
        done: list[tuple[int, str]] = []
        if not self.enabled or self.service.closing:
            return done
        for ticket in await self.attempts.open_unclaimed():
            cause = cause_of(ticket.reason, ticket.details, ticket.channel)
            gate = self.gates.get(cause) if cause is not None else None
            if gate is None or (cause is not Cause.SPEECH and not self.service.speech_ok):
                continue  # not ours; or no voice to call with (its own ticket brings it back)
            number = dialable(ticket.phone)
            if number is None:
                await self.attempts.stop(ticket.id, "no_number")
                done.append((ticket.id, "stop:no_number"))
                continue
            now = self.clock()
            decision = decide(now, ticket.created_at, attempts_of(ticket), self.policy, healthy=True)
            if decision.type is DecisionType.STOP:
                await self.attempts.stop(ticket.id, decision.reason)
                done.append((ticket.id, f"stop:{decision.reason}"))
                continue
            if decision.type is DecisionType.WAIT or not await gate.healthy(ticket, self.monotonic()):
                continue
            outcome = await self.call(ticket, number)
            done.append((ticket.id, str(outcome)))
        return done

    async def call(self, ticket: CallbackTicket, number: str) -> AttemptOutcome:
        """One attempt: recorded before dialling, completed with how it ended."""
        from appliance.channels.sip.outbound import run_outbound

        c = self.config.callbacks
        sid = f"cb-{uuid.uuid4().hex[:12]}"
        await self.attempts.begin(ticket.id, sid)
        self._publish(ticket.id, sid, AttemptOutcome.DIALING)
        log.info("automatic callback: ticket %d, attempt in session %s", ticket.id, sid)
        # its own task, so the SIP service's stop() ends it like any call (with the goodbye)
        result = await asyncio.ensure_future(
            run_outbound(
                self.service,
                c.dial_uri.format(number=number),
                number=number,
                session_id=sid,
                greeting=lambda: self.brain.open_callback(sid, ticket),
                account=c.account,
                ring_timeout_s=c.ring_timeout_s,
            )
        )
        booking_id = None
        if result.answered:
            seen = await self.brain.callback_outcome(sid)
            booking_id = seen.booking_id
            if seen.booking_id:
                outcome = AttemptOutcome.BOOKED
            elif seen.declined:
                outcome = AttemptOutcome.DECLINED
            else:
                outcome = AttemptOutcome.ANSWERED
        else:
            outcome = result.outcome or AttemptOutcome.FAILED
        await self.attempts.finish(ticket.id, sid, outcome, booking_id=booking_id, sip_code=result.sip_code)
        self._publish(ticket.id, sid, outcome)
        log.info("automatic callback: ticket %d: %s", ticket.id, outcome)
        return outcome


def default_probes(
    config: Config, service: SipService, backend: BookingBackend, *, clock: Clock = system_clock
) -> dict[Cause, Probe]:
    """The health probes: an availability query for the backend (the failed request's stay when it
    is still ahead), loading the speech-to-text model for speech."""

    async def backend_ok(ticket: CallbackTicket) -> bool:
        args = ticket.details.get("arguments")
        today = local_today(clock, config.tenant.tz)
        pet, start, end = probe_stay(args if isinstance(args, dict) else {}, config.tenant.pet_types, today)
        return await backend_answers(backend, pet, start, end, config.tools.timeout_s)

    async def speech_ok(ticket: CallbackTicket) -> bool:
        stt = service.engines.stt
        if stt is None or service.engines.tts is None:
            return False
        try:
            await asyncio.to_thread(stt.load)
        except Exception:  # noqa: BLE001 - still broken
            return False
        return not (isinstance(stt, SupervisedSTT) and stt.supervisor.health.restarting)

    return {Cause.BACKEND: backend_ok, Cause.SPEECH: speech_ok}


class TenantAutoCallbacks:
    """The rounds of every tenant with automatic callbacks on, started and stopped together.
    Each round calls only its own tenant's tickets; they run side by side, each one call at a time."""

    def __init__(self, rounds: list[AutoCallbacks]) -> None:
        self.rounds = rounds

    @classmethod
    def build(
        cls,
        service: SipService,
        brains: Iterable[CallbackBrain],
        *,
        on_event: Callable[[Event], Any] | None = None,
        shown: Callable[[Cause, Probe], Probe] | None = None,
        kind: type[AutoCallbacks] = AutoCallbacks,
    ) -> TenantAutoCallbacks:
        """A round for each tenant whose ``callbacks.auto`` is on (the top-level ``[callbacks]``
        with the tenant's changes), on its brain's clock, dialling through its view of
        ``service`` (its brain answers). ``shown`` wraps each health probe (the tests print
        them); ``kind``: the round class (a test's seam for the dialling)."""
        from appliance.channels.sip.tenants import tenant_view_of

        rounds = []
        for brain in brains:
            cfg = brain.config
            if not cfg.callbacks.auto:
                continue
            view = tenant_view_of(service, brain)
            probes = default_probes(cfg, view, brain.backend, clock=brain.clock)
            if shown is not None:
                probes = {cause: shown(cause, p) for cause, p in probes.items()}
            attempts = CallbackAttempts(brain.sessions.db, tenant_id=cfg.tenant.id, clock=brain.clock)
            rounds.append(kind(cfg, view, brain, attempts, probes, clock=brain.clock, on_event=on_event))
        return cls(rounds)

    def start(self) -> None:
        for r in self.rounds:
            r.start()

    async def stop(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.rounds), return_exceptions=True)
