"""A callback ticket: "call this person back about this".

It lives below the store (rank 0) because the store writes it, the tools return it and the
brain offers it; none of those may import another's package to get the type.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CallbackTicket:
    id: int
    tenant_id: str
    phone: str | None
    name: str | None
    reason: str
    language: str
    session_id: str | None
    channel: str
    status: str  # open / done
    created_at: dt.datetime
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    """How an automatic callback's conversation ended, as the brain saw it."""

    booking_id: str | None  # a booking committed in the callback session
    declined: bool  # the callee said no to the booking read back to them
    turns: int  # the callee's turns (0: nobody said anything)
