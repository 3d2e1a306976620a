"""The dialogue policy: what to do with one understood utterance.

Deterministic by design. It reads the :class:`Extraction` (from the rules, or
LLM proposals that survived validation), updates the :class:`DialogueState`,
calls tools only where the rules allow it (a booking is created only after an
explicit yes to a summary built from tool results), and returns what to say
as template :class:`Part` objects. Booking rules themselves (capacity, prices,
stay limits) live in the booking domain behind the tools, not here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.booking.types import Availability, Booking, Quote
from appliance.brain.dialogue import dates
from appliance.brain.dialogue.clarify import Clarifications
from appliance.brain.dialogue.flows import ExistingBookingFlows, idempotency_key
from appliance.brain.state import Awaiting, DialogueState, Task
from appliance.brain.text.render import Choice, Days, Digits, Money, Nights, Part, Room
from appliance.brain.understanding.extract import Extraction
from appliance.core.config import Config
from appliance.core.messages import Action, Intent, OutcomeStatus
from appliance.tools.executor import ToolResult

YES_NO = {
    Awaiting.CONFIRMATION,
    Awaiting.CANCEL_CONFIRMATION,
    Awaiting.CHANGE_CONFIRMATION,
    Awaiting.CALLER_ID,
    Awaiting.CALLBACK_OFFER,
    Awaiting.YEAR_CONFIRMATION,
    Awaiting.RESUME_OFFER,
}
_ISO_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})\s*(?:/|–|-{1,2}|\.\.)\s*(\d{4}-\d{2}-\d{2})")


class ToolRunner:
    """What the dialogue needs from the tool layer: run one named tool to a result.

    The engine implements it on top of :class:`appliance.tools.executor.ToolExecutor`.
    """

    async def __call__(self, name: str, args: dict[str, Any], *, idempotency_key: str | None = None) -> ToolResult:
        raise NotImplementedError


QuestionAnswerer = Callable[[str, str, DialogueState], Awaitable[list[Part]]]


@dataclass
class TurnOutput:
    parts: list[Part] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    booking_id: str | None = None
    transfer_to: str | None = None
    end: bool = False
    alternatives: list[tuple[dt.date, dt.date]] = field(default_factory=list)

    def say(self, key: str, **facts: Any) -> None:
        self.parts.append(Part(key, facts))


class Dialogue(Clarifications, ExistingBookingFlows):
    def __init__(self, config: Config, tools: ToolRunner, answer_question: QuestionAnswerer) -> None:
        self.config = config
        self.tools = tools
        self.answer_question = answer_question
        self.pet_types = tuple(config.tenant.pet_types)

    # ------------------------------------------------------------------ entry

    async def step(self, state: DialogueState, ex: Extraction, text: str, today: dt.date) -> TurnOutput:
        out = TurnOutput()
        intents = set(ex.intents)
        primary = ex.intents[0] if ex.intents else None
        has_slots = any(
            v is not None
            for v in (ex.pet_type, ex.pet_name, ex.start, ex.end, ex.nights, ex.single_date, ex.phone, ex.owner_name)
        )

        # Switches that win over whatever we were doing.
        if Intent.HUMAN in intents:
            await self._transfer(state, out, reason="customer asked for a person")
            return out
        if Intent.GOODBYE in intents and not has_slots and ex.yes is None:
            out.say("goodbye")
            state.reset_task()
            state.ended = True
            out.end = True
            return out
        if state.awaiting is Awaiting.RESUME_OFFER:  # a caller back after a dropped call
            state.awaiting = None
            if ex.yes is not None and not has_slots:
                if ex.yes:
                    await self._next(state, out, today)
                else:
                    state.reset_task()
                    out.say("resume_declined")
                return out
        starting_other = self._new_task(state, ex, intents)
        if starting_other is not None:
            state.reset_task()
            state.task = starting_other

        if state.task is Task.BOOK:
            await self._book(state, ex, text, today, out, intents)
        elif state.task in (Task.CANCEL, Task.CHANGE, Task.CHECK):
            await self._existing(state, ex, text, today, out)
        elif state.task is Task.CALLBACK:
            await self._callback(state, ex, out)
        elif state.awaiting is Awaiting.CALLBACK_OFFER and ex.yes is not None:
            if ex.yes:
                state.task = Task.CALLBACK
                await self._callback(state, ex, out)
            else:
                state.awaiting = None
                out.say("anything_else")
        elif Intent.QUESTION in intents or (primary is None and not has_slots and text.strip().endswith("?")):
            out.parts += await self.answer_question(text, state.language, state)
        elif has_slots:
            state.task = Task.BOOK
            await self._book(state, ex, text, today, out, intents)
        elif Intent.THANKS in intents:
            out.say("thanks")
            out.say("anything_else")
        elif Intent.GREETING in intents:
            out.say("greeting_back" if state.greeted else "greeting")
            state.greeted = True
        elif primary is Intent.OUT_OF_SCOPE:
            out.say("out_of_scope")
        else:
            state.misunderstood += 1
            out.say("not_understood")
            out.say("help")
        return out

    async def keypad(self, state: DialogueState, digit: str) -> TurnOutput:
        """A keypad digit (voice): 0 asks for staff (a transfer on the phone), 1 for a callback
        (the ticket points at this session, so staff read the transcript so far; the call ends
        after it); any other digit repeats the keypad menu."""
        out = TurnOutput()
        if digit == "0":
            await self._transfer(state, out, reason="transfer_requested_keypad")
        elif digit == "1":
            phone = state.slots.owner_phone or state.caller_id
            if phone:
                await self._request_callback(state, out, phone, "callback_requested_keypad")
                out.end = state.task is not Task.CALLBACK
            else:
                state.reset_task()
                state.task = Task.CALLBACK
                state.awaiting = Awaiting.CALLBACK_PHONE
                out.say("ask_callback_phone")
        else:
            out.say("keypad_menu")
        return out

    def _new_task(self, state: DialogueState, ex: Extraction, intents: set[Intent]) -> Task | None:
        """Does this utterance start a different task than the current one?"""
        pending_yes_no = state.awaiting in YES_NO and ex.yes is not None
        if Intent.CANCEL_BOOKING in intents and state.task is not Task.CANCEL and not pending_yes_no:
            if state.task is Task.BOOK and ex.booking_id is None:
                return None  # "cancel that" while booking: handled as a "no"
            return Task.CANCEL
        if Intent.CHANGE_BOOKING in intents and state.task not in (Task.CHANGE, Task.BOOK):
            return Task.CHANGE
        if Intent.CHECK_BOOKING in intents and state.task is not Task.CHECK and not pending_yes_no:
            if state.task is Task.BOOK:
                return None
            return Task.CHECK
        if Intent.BOOK in intents and state.task is not Task.BOOK:
            if state.task in (Task.CANCEL, Task.CHANGE, Task.CHECK) and state.target_booking_id and ex.booking_id:
                return None
            return Task.BOOK
        return None

    # ---------------------------------------------------------------- booking

    async def _book(
        self, state: DialogueState, ex: Extraction, text: str, today: dt.date, out: TurnOutput, intents: set[Intent]
    ) -> None:
        s = state.slots
        before = s.to_dict()
        awaiting = state.awaiting

        # Answers to yes/no questions.
        if awaiting is Awaiting.CALLER_ID and ex.yes is not None and ex.phone is None:
            if ex.yes and state.caller_id:
                s.owner_phone = state.caller_id
            state.caller_id_offered = True
            state.awaiting = None
        if awaiting is Awaiting.ALTERNATIVE and self._pick_alternative(state, ex, text):
            ex = dataclasses.replace(ex, start=None, end=None, nights=None, single_date=None, yes=None)
        if awaiting is Awaiting.YEAR_CONFIRMATION:
            ex, ask_date = dates.answer(state, ex)
            if ask_date:
                out.say("ask_start_date", pet_name=s.pet_name or "")
                return
        ex, weekday_question = dates.weekday_question(ex)
        ex, year_question = dates.hold_questionable(state, ex, today)

        changed = self._apply_slots(state, ex, today, out)
        if weekday_question is not None:
            out.parts.append(weekday_question)
            state.awaiting = Awaiting.START_DATE if state.slots.start_date is None else Awaiting.END_DATE
            return
        if year_question is not None:
            out.parts.append(year_question)
            state.awaiting = Awaiting.YEAR_CONFIRMATION
            return

        if awaiting is Awaiting.CONFIRMATION and not changed:
            if ex.yes is True:
                await self._commit(state, out)
                return
            if ex.yes is False or Intent.CANCEL_BOOKING in intents or Intent.CHANGE_BOOKING in intents:
                state.awaiting = None
                state.callback_declined = state.callback_ticket is not None
                out.say("declined")
                return
            if Intent.QUESTION in intents:
                out.parts += await self.answer_question(text, state.language, state)
            out.say("not_confirmed_yet")
            state.awaiting = Awaiting.CONFIRMATION
            return
        if awaiting is Awaiting.ALTERNATIVE and s.to_dict() == before and ex.yes is False:
            state.awaiting = None
            out.say("declined")
            return

        if out.parts and state.awaiting is not None:
            return  # a validation problem was reported and the slot is being asked again
        if s.to_dict() == before and ex.yes is None and awaiting is not None and not intents & {Intent.BOOK}:
            if Intent.QUESTION in intents:
                out.parts += await self.answer_question(text, state.language, state)
            else:
                state.misunderstood += 1
                out.say("not_understood")
        await self._next(state, out, today)

    def _apply_slots(self, state: DialogueState, ex: Extraction, today: dt.date, out: TurnOutput) -> bool:
        """Merge extracted values into the slots. Later values override earlier ones."""
        s = state.slots
        before = s.to_dict()
        awaiting = state.awaiting
        if ex.pet_type is not None:
            if ex.pet_type in self.pet_types:
                s.pet_type = ex.pet_type
            else:
                out.say("pet_type_not_offered", options=Choice(self.pet_types))
                state.awaiting = Awaiting.PET_TYPE
        if ex.pet_name:
            s.pet_name = ex.pet_name.strip()[:60]
        if ex.owner_name:
            s.owner_name = ex.owner_name.strip()[:80]
        if ex.phone:
            s.owner_phone = ex.phone
            state.caller_id_offered = True

        start, end, nights = ex.start, ex.end, ex.nights
        if ex.single_date is not None and start is None and end is None:
            if awaiting is Awaiting.END_DATE or (s.start_date is not None and awaiting is not Awaiting.START_DATE):
                if s.start_date is not None and ex.single_date > s.start_date:
                    end = ex.single_date
                else:
                    start = ex.single_date
            else:
                start = ex.single_date
        if start is not None:
            s.start_date = start
            if end is None and nights is None and s.end_date is not None and s.end_date <= start:
                s.end_date = None
        if end is not None:
            s.end_date = end
        if nights is not None:
            if s.start_date is not None and end is None:
                s.end_date = s.start_date + dt.timedelta(days=nights)
                s.nights = None
            else:
                s.nights = nights
        elif s.nights is not None and s.start_date is not None and s.end_date is None:
            s.end_date = s.start_date + dt.timedelta(days=s.nights)
            s.nights = None

        # Checks a customer can fix right away; the domain rules re-check everything on commit.
        rules = self.config.booking
        earliest = today + dt.timedelta(days=rules.min_lead_days)
        if s.start_date is not None and s.start_date < earliest:
            s.start_date = None
            s.end_date = None if end is None or (start is not None) else s.end_date
            out.say("date_past")
            state.awaiting = Awaiting.START_DATE
        elif s.start_date is not None and s.start_date > today + dt.timedelta(days=rules.max_advance_days):
            s.start_date = None
            out.say("too_far_ahead", max_days=Days(rules.max_advance_days))
            state.awaiting = Awaiting.START_DATE
        if s.start_date is not None and s.end_date is not None:
            if s.end_date <= s.start_date:
                s.end_date = None
                out.say("end_before_start", date=s.start_date, pet_name=s.pet_name or "")
                state.awaiting = Awaiting.END_DATE
            elif (s.end_date - s.start_date).days > rules.max_stay_nights:
                s.end_date = None
                out.say("stay_too_long", max_nights=Nights(rules.max_stay_nights))
                state.awaiting = Awaiting.END_DATE
        changed = s.to_dict() != before
        if changed:
            state.quote_total_minor = None
        return changed

    def _pick_alternative(self, state: DialogueState, ex: Extraction, text: str) -> bool:
        alts = [(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in state.alternatives]
        if not alts:
            return False
        chosen: tuple[dt.date, dt.date] | None = None
        m = _ISO_RANGE.search(text)
        if m:
            pick = (dt.date.fromisoformat(m.group(1)), dt.date.fromisoformat(m.group(2)))
            chosen = pick if pick in alts else None
        elif ex.yes is True and ex.start is None and ex.single_date is None:
            chosen = alts[0]
        else:
            day = ex.start or ex.single_date
            chosen = next((a for a in alts if a[0] == day), None)
        if chosen is None:
            return False
        state.slots.start_date, state.slots.end_date = chosen
        state.alternatives = []
        state.awaiting = None
        return True

    async def _next(self, state: DialogueState, out: TurnOutput, today: dt.date) -> None:
        """Ask for the next missing slot, or check, quote and summarise."""
        s = state.slots
        name = s.pet_name or ""
        for slot in s.missing():
            if slot == "pet_type":
                state.awaiting = Awaiting.PET_TYPE
                out.say("ask_pet_type", options=Choice(self.pet_types))
            elif slot == "pet_name":
                state.awaiting = Awaiting.PET_NAME
                out.say("ask_pet_name")
            elif slot == "start_date":
                state.awaiting = Awaiting.START_DATE
                out.say("ask_start_date", pet_name=name)
            elif slot == "end_date":
                state.awaiting = Awaiting.END_DATE
                out.say("ask_end_date", pet_name=name)
            elif slot == "owner_name":
                state.awaiting = Awaiting.OWNER_NAME
                out.say("ask_owner_name")
            elif slot == "owner_phone":
                if state.caller_id and not state.caller_id_offered:
                    state.awaiting = Awaiting.CALLER_ID
                    out.say("offer_caller_id", phone=Digits(state.caller_id))
                else:
                    state.awaiting = Awaiting.OWNER_PHONE
                    out.say("ask_owner_phone")
            return
        await self._quote(state, out)

    async def _quote(self, state: DialogueState, out: TurnOutput) -> None:
        s = state.slots
        assert s.start_date and s.end_date and s.pet_type
        args = {"pet_type": s.pet_type, "start_date": s.start_date, "end_date": s.end_date}
        avail = await self._run(out, "check_availability", args)
        if avail.status is not OutcomeStatus.OK:
            self._clarify(state, out, avail)
            return
        av: Availability = avail.value
        if not av.available:
            self._no_availability(state, out, av.alternatives)
            return
        quote = await self._run(out, "quote_price", args)
        if quote.status is not OutcomeStatus.OK:
            self._clarify(state, out, quote)
            return
        q: Quote = quote.value
        state.quote_total_minor = q.total_minor
        state.quote_currency = q.currency
        state.room = av.resource_id
        state.awaiting = Awaiting.CONFIRMATION
        state.new_confirmation()
        out.parts.append(
            Part(
                "summary",
                {
                    "room": Room(state.room),
                    "pet_name": s.pet_name,
                    "start": s.start_date,
                    "end": s.end_date,
                    "nights": Nights((s.end_date - s.start_date).days),
                    "price": Money(state.quote_total_minor, state.quote_currency),
                },
                protected=True,
            )
        )

    async def _commit(self, state: DialogueState, out: TurnOutput) -> None:
        s = state.slots
        args = {
            "pet_name": s.pet_name,
            "pet_type": s.pet_type,
            "start_date": s.start_date,
            "end_date": s.end_date,
            "owner_name": s.owner_name,
            "owner_phone": s.owner_phone,
        }
        key = idempotency_key(state, "create", args)
        if state.commit_key and state.commit_args == s.to_public():  # an automatic callback: see state.py
            key = state.commit_key
        res = await self._run(out, "create_booking", args, idempotency_key=key)
        if res.status is OutcomeStatus.OK:
            b: Booking = res.value
            out.booking_id = b.id
            state.last_booking_id = out.booking_id
            out.parts.append(
                Part(
                    "booking_held" if b.status == "held" else "confirmed",  # bookings.require_approval
                    {
                        "pet_name": b.pet_name,
                        "start": b.start,
                        "end": b.end,
                        "booking_id": Digits(out.booking_id),
                    },
                    protected=True,
                )
            )
            state.reset_task()
            out.parts.append(Part("anything_else", optional=True))
        elif res.status is OutcomeStatus.FALLBACK:
            out.say("fallback_callback", ticket=res.fallback_ticket_id)
            state.fallback_slots = s.to_dict()
            state.reset_task()
        elif res.status is OutcomeStatus.NEEDS_CLARIFICATION:
            self._clarify(state, out, res)
        else:
            out.say("error")
            state.awaiting = Awaiting.CALLBACK_OFFER
            out.say("kb_none")

    # ---------------------------------------------------------------- helpers

    async def _run(self, out: TurnOutput, name: str, args: dict[str, Any], **kw: Any) -> ToolResult:
        res = await self.tools(name, args, **kw)
        out.actions.append(res.to_action())
        return res
