"""Dialogue flows for existing bookings (check, cancel, change) and for people (callback, transfer).

A mixin of :class:`appliance.brain.dialogue.policy.Dialogue`: same state, same tool
runner, same rules. A booking is only revealed to whoever identifies it by its
number, or by the phone number plus the pet's name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

from appliance.booking.types import Booking, BookingStatus, Quote
from appliance.brain.dialogue import dates
from appliance.brain.state import Awaiting, DialogueState, Task
from appliance.brain.text.render import BookingList, Digits, Money, Nights, Part, Ranges, Room, Word
from appliance.brain.understanding.extract import Extraction
from appliance.core.messages import OutcomeStatus
from appliance.core.tickets import CallbackTicket
from appliance.tools.executor import ToolResult

if TYPE_CHECKING:
    from appliance.brain.dialogue.policy import TurnOutput


def _day(iso: Any) -> dt.date:
    """A date kept in the (JSON) dialogue state."""
    return dt.date.fromisoformat(str(iso))


def idempotency_key(state: DialogueState, op: str, payload: dict[str, Any]) -> str:
    """Stable per session, confirmation question and request content: a repeated "yes", a retry,
    or a restart mid-turn can never create a second booking for the question that was answered;
    the same request confirmed again later (after a cancel, say) is a new booking."""
    blob = json.dumps(
        {"s": state.session_id, "n": state.confirm_nonce, "op": op, "p": payload}, sort_keys=True, default=str
    )
    return f"{op}-{hashlib.sha256(blob.encode()).hexdigest()[:32]}"


class ExistingBookingFlows:
    """Needs ``_run``, ``_clarify`` and ``idempotency_key`` from the Dialogue."""

    async def _run(self, out: TurnOutput, name: str, args: dict[str, Any], **kw: Any) -> ToolResult:
        raise NotImplementedError

    def _clarify(self, state: DialogueState, out: TurnOutput, res: ToolResult) -> None:
        raise NotImplementedError

    # ------------------------------------------------- cancel / change / check

    async def _existing(self, state: DialogueState, ex: Extraction, text: str, today: dt.date, out: TurnOutput) -> None:
        if state.target_booking_id is None:
            await self._identify(state, ex, out)
            if state.target_booking_id is None:
                return
            if state.task is Task.CHECK:
                self._details(state, out)
                state.reset_task()
                out.parts.append(Part("anything_else", optional=True))
                return
            if state.target_summary.get("status") == "cancelled":
                out.say("already_cancelled", booking_id=Digits(state.target_booking_id))
                state.reset_task()
                return
            if state.task is Task.CANCEL:
                state.awaiting = Awaiting.CANCEL_CONFIRMATION
                state.new_confirmation()
                t = state.target_summary
                out.parts.append(
                    Part(
                        "confirm_cancel",
                        {
                            "booking_id": Digits(state.target_booking_id),
                            "pet_name": t["pet_name"],
                            "start": _day(t["start"]),
                            "end": _day(t["end"]),
                        },
                        protected=True,
                    )
                )
                return
            # change: fall through with the same utterance (it may already hold the new dates)
            state.awaiting = Awaiting.CHANGE_DATES
            if not (ex.start or ex.end or ex.nights or ex.single_date) or ex.booking_id:
                out.say("ask_change", pet_name=state.target_summary.get("pet_name", ""))
                return

        if state.awaiting is Awaiting.CANCEL_CONFIRMATION:
            if ex.yes is True:
                await self._cancel(state, out)
            elif ex.yes is False:
                out.say("cancel_kept")
                state.reset_task()
            else:
                out.say("not_understood")
                state.awaiting = Awaiting.CANCEL_CONFIRMATION
            return
        if state.awaiting is Awaiting.CHANGE_CONFIRMATION:
            if ex.yes is True:
                await self._change(state, out)
                return
            if ex.yes is False:
                out.say("cancel_kept")
                state.reset_task()
                return
            # maybe new dates instead of yes/no: fall through
        if state.awaiting is Awaiting.YEAR_CONFIRMATION:
            ex, ask_again = dates.answer(state, ex)
            if ask_again:
                state.awaiting = Awaiting.CHANGE_DATES
                out.say("ask_change", pet_name=state.target_summary.get("pet_name", ""))
                return
        await self._change_dates(state, ex, today, out)

    async def _identify(self, state: DialogueState, ex: Extraction, out: TurnOutput) -> None:
        """Find the customer's booking by its number, or by phone plus pet name.

        Never lists bookings by phone alone, so nobody learns about another
        customer's stays by guessing a number."""
        phone = ex.phone or state.slots.owner_phone or (state.caller_id if state.channel == "voice" else None)
        pet_name = ex.pet_name or state.slots.pet_name
        if ex.pet_name:
            state.slots.pet_name = ex.pet_name
        if ex.phone:
            state.slots.owner_phone = ex.phone
        args: dict[str, Any]
        if ex.booking_id:
            args = {"booking_id": ex.booking_id}
        elif phone and pet_name:
            args = {"phone": phone, "pet_name": pet_name}
        else:
            state.awaiting = Awaiting.BOOKING_ID
            out.say("identify_booking")
            return
        res = await self._run(out, "find_bookings", args)
        if res.status is not OutcomeStatus.OK:
            self._clarify(state, out, res)
            if res.status is OutcomeStatus.NEEDS_CLARIFICATION:
                state.awaiting = Awaiting.BOOKING_ID
            return
        found: list[Booking] = list(res.value.bookings)
        if ex.booking_id:
            found = [b for b in found if b.id == ex.booking_id]
        active = [b for b in found if b.status is not BookingStatus.CANCELLED] or found
        if not active:
            state.awaiting = Awaiting.BOOKING_ID
            out.say("booking_not_found")
            return
        if len(active) > 1:
            state.awaiting = Awaiting.BOOKING_ID
            listing = BookingList(tuple((b.id, b.pet_name, b.start) for b in active[:5]))
            out.say("several_bookings", bookings=listing)
            return
        b = active[0]
        state.target_booking_id = b.id
        state.target_summary = {
            "pet_name": b.pet_name,
            "pet_type": b.pet_type,
            "start": b.start.isoformat(),
            "end": b.end.isoformat(),
            "status": b.status.value,
            "nights": b.nights,
        }

    def _details(self, state: DialogueState, out: TurnOutput) -> None:
        t = state.target_summary
        out.say(
            "booking_details",
            booking_id=Digits(state.target_booking_id or ""),
            pet_name=t["pet_name"],
            start=_day(t["start"]),
            end=_day(t["end"]),
            status=Word(str(t["status"])),
        )

    async def _cancel(self, state: DialogueState, out: TurnOutput) -> None:
        bid = state.target_booking_id
        assert bid
        res = await self._run(
            out, "cancel_booking", {"booking_id": bid}, idempotency_key=idempotency_key(state, "cancel", {"id": bid})
        )
        if res.status is OutcomeStatus.OK:
            out.parts.append(Part("cancelled", {"booking_id": Digits(bid)}, protected=True))
            state.reset_task()
            out.parts.append(Part("anything_else", optional=True))
        else:
            self._clarify(state, out, res)
            state.reset_task()

    async def _change_dates(self, state: DialogueState, ex: Extraction, today: dt.date, out: TurnOutput) -> None:
        t = state.target_summary
        ex, question = dates.weekday_question(ex)
        if question is None:
            ex, question = dates.hold_questionable(state, ex, today)
            if question is not None:
                out.parts.append(question)
                state.awaiting = Awaiting.YEAR_CONFIRMATION
                return
        else:
            out.parts.append(question)
            state.awaiting = Awaiting.CHANGE_DATES
            return
        old_start, old_end = _day(t["start"]), _day(t["end"])
        start, end = ex.start, ex.end
        if start is None and ex.single_date is not None:
            start = ex.single_date
        if start is not None and end is None:
            nights = ex.nights or (old_end - old_start).days
            end = start + dt.timedelta(days=nights)
        elif start is None and end is None and ex.nights:
            start, end = old_start, old_start + dt.timedelta(days=ex.nights)
        if start is None or end is None:
            state.awaiting = Awaiting.CHANGE_DATES
            out.say("not_understood")
            out.say("ask_change", pet_name=t.get("pet_name", ""))
            return
        if start < today:
            state.awaiting = Awaiting.CHANGE_DATES
            out.say("date_past")
            return
        if end <= start:
            state.awaiting = Awaiting.CHANGE_DATES
            out.say("end_before_start", date=start, pet_name=t.get("pet_name", ""))
            return
        quote = await self._run(
            out, "quote_price", {"pet_type": t.get("pet_type"), "start_date": start, "end_date": end}
        )
        if quote.status is not OutcomeStatus.OK:
            self._clarify(state, out, quote)
            state.awaiting = Awaiting.CHANGE_DATES if state.task is Task.CHANGE else None
            return
        q: Quote = quote.value
        state.change_start, state.change_end = start, end
        state.awaiting = Awaiting.CHANGE_CONFIRMATION
        state.new_confirmation()
        out.parts.append(
            Part(
                "confirm_change",
                {
                    "booking_id": Digits(state.target_booking_id or ""),
                    "pet_name": t.get("pet_name", ""),
                    "start": start,
                    "end": end,
                    "nights": Nights((end - start).days),
                    "price": Money(q.total_minor, q.currency),
                },
                protected=True,
            )
        )

    async def _change(self, state: DialogueState, out: TurnOutput) -> None:
        bid = state.target_booking_id
        assert bid and state.change_start and state.change_end
        args = {"booking_id": bid, "start_date": state.change_start, "end_date": state.change_end}
        res = await self._run(out, "change_booking", args, idempotency_key=idempotency_key(state, "change", args))
        if res.status is OutcomeStatus.OK:
            b: Booking = res.value
            out.booking_id = bid
            out.parts.append(
                Part(
                    "changed",
                    {
                        "booking_id": Digits(bid),
                        "start": b.start,
                        "end": b.end,
                        "price": Money(b.total_minor, b.currency),
                    },
                    protected=True,
                )
            )
            state.reset_task()
            out.parts.append(Part("anything_else", optional=True))
        elif res.status is OutcomeStatus.NEEDS_CLARIFICATION and res.error_code == "no_availability":
            s = state.slots
            s.pet_type = state.target_summary.get("pet_type")
            s.start_date, s.end_date = state.change_start, state.change_end
            out.say("no_availability", room=Room(None, s.pet_type), start=s.start_date, end=s.end_date)
            alts = [(r.start, r.end) for r in res.alternatives][:3]
            if alts:
                out.say("alternatives", alternatives=Ranges(tuple(alts)))
                out.alternatives = alts
            state.awaiting = Awaiting.CHANGE_DATES
        else:
            self._clarify(state, out, res)

    # ------------------------------------------------------ callback / person

    async def _transfer(self, state: DialogueState, out: TurnOutput, reason: str) -> None:
        state.reset_task()
        if state.channel == "voice":
            res = await self._run(out, "transfer_to_staff", {"reason": reason})
            if res.status is OutcomeStatus.OK and res.value.transfer_to:
                out.transfer_to = res.value.transfer_to
                out.say("transfer_voice")
                return
        phone = state.slots.owner_phone or state.caller_id
        if phone:
            await self._request_callback(state, out, phone, reason)
            return
        state.task = Task.CALLBACK
        state.awaiting = Awaiting.CALLBACK_PHONE
        out.say("ask_callback_phone")

    async def _callback(self, state: DialogueState, ex: Extraction, out: TurnOutput) -> None:
        phone = ex.phone or state.slots.owner_phone or state.caller_id
        if (
            state.awaiting is Awaiting.CALLBACK_OFFER
            and ex.yes is True
            and (state.slots.owner_phone or state.caller_id)
        ):
            phone = state.slots.owner_phone or state.caller_id
        elif state.awaiting is Awaiting.CALLBACK_OFFER:
            phone = ex.phone
        if ex.owner_name:
            state.slots.owner_name = ex.owner_name
        if not phone:
            state.awaiting = Awaiting.CALLBACK_PHONE
            out.say("ask_callback_phone")
            return
        await self._request_callback(state, out, phone, "callback requested")

    async def _request_callback(self, state: DialogueState, out: TurnOutput, phone: str, reason: str) -> None:
        res = await self._run(
            out, "request_callback", {"phone": phone, "name": state.slots.owner_name, "reason": reason}
        )
        state.reset_task()
        if res.status is OutcomeStatus.OK:
            ticket: CallbackTicket = res.value
            out.say("callback_taken", phone=Digits(ticket.phone or phone), ticket=ticket.id)
        elif res.status is OutcomeStatus.NEEDS_CLARIFICATION:
            state.task = Task.CALLBACK
            state.awaiting = Awaiting.CALLBACK_PHONE
            out.say("invalid_phone")
        else:
            out.say("error")
