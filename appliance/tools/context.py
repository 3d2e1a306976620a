"""What a tool function receives besides its arguments.

The executor injects a :class:`ToolContext` as the first argument of every tool;
it is not an argument, so no caller can forge it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from appliance.booking.types import BookingBackend
from appliance.core.tickets import CallbackTicket

if TYPE_CHECKING:
    from appliance.core.config import Config


@runtime_checkable
class CallbackSink(Protocol):
    """Where callback tickets go (the store's ``CallbackRepository`` implements it).

    It must be local (no network): the executor falls back to it exactly when the
    booking backend is unreachable.
    """

    async def create(
        self,
        *,
        phone: str | None,
        name: str | None,
        reason: str,
        language: str,
        session_id: str | None,
        channel: str,
        details: dict[str, Any],
    ) -> CallbackTicket: ...


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Per-session facts and services a tool may use.

    ``idempotency_key`` is set by the executor for each call (the same key on
    every retry of that call); tools pass it to the backend's mutating methods.
    """

    backend: BookingBackend
    callbacks: CallbackSink
    config: Config
    session_id: str | None = None
    channel: str = "cli"
    language: str = "en"
    caller_id: str | None = None  # voice: the caller's number, when known
    caller_name: str | None = None  # collected by the brain, when known
    idempotency_key: str | None = None
