"""Calls cut by a SIGKILL or a crash: a callback ticket for each unfinished booking, at start.

A killed process cannot write the ``call_dropped_unfinished`` ticket that a hang-up leaves
(``channels/sip/service.py``). Every turn is stored with the dialogue state, though, and a call
that ends records its end (``BrainPort.end_session``). So before the SIP channel starts, the
daemon looks at voice sessions with no end recorded: each belonged to a call the last process
never finished. One whose caller was in the middle of a booking (an answer awaited, slots filled,
a caller ID to ring) gets a ticket ``call_cut_by_restart`` holding the transcript so far and the
slots; every one is then marked ended, so a later restart never looks at it again.

Idempotent across restarts (a crash during this scan included): the ticket is written before the
end, and a session that has its ticket already gets no second one.

A SIP worker process (``sip.workers > 1``) that dies while the daemon stays up cuts only its own
calls: the daemon knows which sessions it held (``SipCluster``) and runs the same scan on just
those, at once, rather than at the next start.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from typing import Any

from appliance.brain.state import DialogueState
from appliance.core.clock import Clock, system_clock
from appliance.core.messages import Channel
from appliance.core.tickets import CallbackTicket
from appliance.store.conversations import ConversationStore, SessionRecord
from appliance.store.open_calls import has_ticket, mark_ended, open_sessions
from appliance.tools.context import CallbackSink

log = logging.getLogger("appliance.brain")

REASON = "call_cut_by_restart"
# Older sessions without an end are closed without a ticket: a database from before ends were
# recorded has one for every past call, and staff cannot act on a booking talk days old.
WINDOW = dt.timedelta(hours=24)


def unfinished(state: DialogueState) -> bool:
    """The caller was in the middle of something with data to keep (what a hang-up tickets too)."""
    return (
        not state.ended
        and state.awaiting is not None
        and bool(state.caller_id)
        and any(v for v in state.slots.to_public().values())
    )


def _state(rec: SessionRecord) -> DialogueState | None:
    try:
        return DialogueState.from_dict(rec.state) if rec.state else None
    except (KeyError, TypeError, ValueError):
        return None


async def ticket_cut_calls(
    sessions: ConversationStore,
    callbacks: CallbackSink,
    *,
    tenant_id: str,
    clock: Clock = system_clock,
    window: dt.timedelta = WINDOW,
    only: Collection[str] | None = None,
    source: str = "restart_recovery",
) -> list[CallbackTicket]:
    """Run once at start, before any call can begin (every open voice session), or when a SIP
    worker died (``only`` its sessions: the others' calls go on). Returns the tickets made now."""
    db = sessions.db
    now = clock()
    made: list[CallbackTicket] = []
    for rec in await open_sessions(db, tenant_id=tenant_id, channel=str(Channel.VOICE)):
        if only is not None and rec.id not in only:
            continue
        state = _state(rec)
        recent = now - rec.updated_at <= window
        if state is not None and recent and unfinished(state) and not await has_ticket(db, rec.id, REASON):
            turns = await sessions.turns(rec.id)
            details: dict[str, Any] = {
                "source": source,
                "task": str(state.task),
                "awaiting": state.awaiting.value if state.awaiting else None,
                "slots": state.slots.to_public(),
                "transcript": [{"role": t["role"], "text": t["text"]} for t in turns],
                "last_turn_at": rec.updated_at.isoformat(),
            }
            ticket = await callbacks.create(
                phone=state.caller_id,
                name=state.slots.owner_name,
                reason=REASON,
                language=state.language,
                session_id=rec.id,
                channel=str(Channel.VOICE),
                details=details,
            )
            made.append(ticket)
            log.warning("call %s was cut mid-booking (%s): callback ticket %s", rec.id, source, ticket.id)
        await mark_ended(db, rec.id, now)
    return made
