"""Continuing a booking left unfinished in another session: the caller who calls back after a
dropped call (``Brain.greet``, issue #10) and the customer the appliance calls back by itself
after a failure (``Brain.open_callback``, an automatic callback).

Both take the old session's task, slots and language over (:func:`take_over`). The callback
also restores the slots the failed tool call carried (the ticket's ``arguments``: a failed
``create_booking`` has reset the old session's task), says who is calling and why, and goes
straight to the summary and its yes/no question, so one "yes" commits the booking; that
commit reuses the failed attempt's idempotency key (``DialogueState.commit_key``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from appliance.brain.dialogue.policy import Dialogue, TurnOutput
from appliance.brain.state import DialogueState, Slots, Task
from appliance.core.callback_policy import Cause, cause_of
from appliance.core.tickets import CallbackTicket


def state_of(record: Any) -> DialogueState | None:
    """A stored session's dialogue state, or None (none stored, or unreadable)."""
    try:
        return DialogueState.from_dict(record.state) if record is not None and record.state else None
    except (KeyError, TypeError, ValueError):
        return None


def unfinished_booking(old: DialogueState | None) -> bool:
    return old is not None and old.task is Task.BOOK and not old.ended and any(old.slots.to_public().values())


def take_over(state: DialogueState, old: DialogueState) -> None:
    """Continue ``old``'s booking in ``state`` (a new session), in its language."""
    state.task, state.slots, state.room = old.task, old.slots, old.room
    state.language, state.language_state = old.language, old.language_state


def ticket_slots(ticket: CallbackTicket) -> dict[str, Any]:
    """The slots the failed tool call carried (``details.arguments``), by slot name."""
    args = ticket.details.get("arguments")
    if not isinstance(args, dict):
        return {}
    return {k: v for k, v in args.items() if k in Slots.__dataclass_fields__ and v not in (None, "")}


def commit_key(ticket: CallbackTicket, slots: Slots) -> str:
    """The idempotency key a callback commits with: the failed ``create_booking``'s own key, else
    one fixed by the ticket and the booking's content, so every attempt of this ticket's callback
    (a crash between the commit and its record included) sends the same request with the same key."""
    key = ticket.details.get("idempotency_key")
    if ticket.details.get("tool") == "create_booking" and isinstance(key, str):
        return key
    blob = json.dumps({"ticket": ticket.id, "slots": slots.to_public()}, sort_keys=True, default=str)
    return f"create-cb{ticket.id}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}"


async def open_callback(
    state: DialogueState, old: DialogueState | None, ticket: CallbackTicket, dialogue: Dialogue, today: dt.date
) -> TurnOutput:
    """The first words of an automatic callback: who calls and why, then the booking summary (or
    the next missing detail)."""
    out = TurnOutput()
    restored = ticket_slots(ticket)
    if unfinished_booking(old):
        assert old is not None
        take_over(state, old)
    elif old is not None:
        state.language, state.language_state = old.language, old.language_state
        restored = {**{k: v for k, v in old.fallback_slots.items() if v is not None}, **restored}
    if restored:
        merged = {**state.slots.to_dict(), **restored}
        state.slots = Slots.from_dict(merged)
        state.task = Task.BOOK
    if ticket.language:
        state.language = ticket.language
    if ticket.phone and not state.slots.owner_phone:
        state.slots.owner_phone = ticket.phone
    state.caller_id = ticket.phone
    state.callback_ticket = ticket.id
    if ticket.session_id:
        state.commit_key, state.commit_args = commit_key(ticket, state.slots), state.slots.to_public()
        state.commit_origin = [ticket.session_id, ticket.channel]
    cause = cause_of(ticket.reason, ticket.details, ticket.channel)
    out.say("callback_intro_speech" if cause is Cause.SPEECH else "callback_intro_backend")
    if state.task is Task.BOOK:
        await dialogue._next(state, out, today)
    else:
        out.say("help")
    return out
