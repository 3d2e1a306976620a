"""What the dialogue says when a tool says no: a client error by its field and parameters, no
free room (with the nearest free dates), a fallback ticket, or a failure; and the question to
repeat afterwards. A mixin of :class:`appliance.brain.dialogue.policy.Dialogue`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from appliance.booking.types import DateRange
from appliance.brain.state import Awaiting, DialogueState, Task
from appliance.brain.text.render import Choice, Days, Nights, Ranges, Room
from appliance.core.config import Config
from appliance.core.messages import OutcomeStatus
from appliance.tools.executor import ToolResult

if TYPE_CHECKING:
    from appliance.brain.dialogue.policy import TurnOutput

# The question to repeat for each thing the dialogue can wait for.
ASK_AGAIN: dict[Awaiting, str] = {
    Awaiting.PET_TYPE: "ask_pet_type",
    Awaiting.PET_NAME: "ask_pet_name",
    Awaiting.START_DATE: "ask_start_date",
    Awaiting.END_DATE: "ask_end_date",
    Awaiting.OWNER_NAME: "ask_owner_name",
    Awaiting.OWNER_PHONE: "ask_owner_phone",
    Awaiting.CONFIRMATION: "not_confirmed_yet",
    Awaiting.BOOKING_ID: "identify_booking",
    Awaiting.CALLBACK_PHONE: "ask_callback_phone",
}


class Clarifications:
    """Needs ``config`` and ``pet_types`` from the Dialogue."""

    config: Config
    pet_types: tuple[str, ...]

    def _no_availability(self, state: DialogueState, out: TurnOutput, alternatives: Sequence[DateRange]) -> None:
        s = state.slots
        out.say("no_availability", room=Room(None, s.pet_type), start=s.start_date, end=s.end_date)
        alts = [(r.start, r.end) for r in alternatives][:3]
        if alts:
            state.alternatives = [(a.isoformat(), b.isoformat()) for a, b in alts]
            out.alternatives = alts
            out.say("alternatives", alternatives=Ranges(tuple(alts)))
            state.awaiting = Awaiting.ALTERNATIVE
        else:
            out.say("no_alternatives")
            state.awaiting = Awaiting.CALLBACK_OFFER
            state.task = Task.NONE

    def _clarify(self, state: DialogueState, out: TurnOutput, res: ToolResult) -> None:
        """A client error from a tool: tell the customer what to fix and ask again."""
        if res.status is OutcomeStatus.FALLBACK:
            out.say("fallback_callback", ticket=res.fallback_ticket_id)
            state.fallback_slots = state.slots.to_dict()
            state.reset_task()
            return
        if res.status is OutcomeStatus.ERROR:
            out.say("error")
            state.awaiting = Awaiting.CALLBACK_OFFER
            state.task = Task.NONE
            return
        code, fld = res.error_code, res.error_field
        if code == "no_availability":
            self._no_availability(state, out, res.alternatives)
            return
        s = state.slots
        if fld == "owner_phone":
            s.owner_phone = None
            state.caller_id_offered = True
            out.say("invalid_phone")
            state.awaiting = Awaiting.OWNER_PHONE
            return
        if fld in ("start_date", "end_date", "pet_name", "pet_type", "owner_name"):
            setattr(s, fld, None)
            if fld == "start_date":
                s.end_date = None
            state.awaiting = Awaiting(fld)
            if not self._say_problem(out, fld, res.details or {}):
                self.ask_again(state, out)
            return
        out.say("invalid_value")
        state.awaiting = None

    def _say_problem(self, out: TurnOutput, fld: str, details: dict[str, Any]) -> bool:
        """Say what the domain rules objected to, from its parameters. True when that sentence
        already asks again; False when the generic one was said and the question must follow."""
        if fld == "start_date" and details.get("earliest"):
            out.say("too_soon", date=dt.date.fromisoformat(str(details["earliest"])))
            return True
        if fld == "start_date" and details.get("latest"):
            out.say("too_far_ahead", max_days=Days(self.config.booking.max_advance_days))
            return True
        if fld == "end_date" and details.get("max_stay_nights"):
            out.say("stay_too_long", max_nights=Nights(int(details["max_stay_nights"])))
            return True
        if fld == "pet_type" and (details.get("offered") or details.get("allowed")):
            offered = details.get("offered") or details.get("allowed") or []
            out.say("pet_type_not_offered", options=Choice(tuple(str(p) for p in offered)))
            return False
        out.say("invalid_value")
        return False

    def ask_again(self, state: DialogueState, out: TurnOutput) -> None:
        """Repeat the question for what the dialogue is waiting for (after a problem or an interruption)."""
        key = ASK_AGAIN.get(state.awaiting) if state.awaiting else None
        if key:
            out.say(key, pet_name=state.slots.pet_name or "", options=Choice(self.pet_types))
