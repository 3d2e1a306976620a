"""An in-memory callback sink: the narrow seam where the store's CallbackRepository plugs in."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from appliance.core.tickets import CallbackTicket


class MemoryCallbackSink:
    """Implements ``appliance.tools.context.CallbackSink``; ``fail`` makes it raise like a broken store."""

    def __init__(self, tenant_id: str = "demo") -> None:
        self.tenant_id = tenant_id
        self.tickets: list[CallbackTicket] = []
        self.fail: Exception | None = None

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
    ) -> CallbackTicket:
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        ticket = CallbackTicket(
            id=len(self.tickets) + 1,
            tenant_id=self.tenant_id,
            phone=phone,
            name=name,
            reason=reason,
            language=language,
            session_id=session_id,
            channel=channel,
            status="open",
            created_at=dt.datetime.now(dt.UTC),
            details=dict(details),
        )
        self.tickets.append(ticket)
        return ticket
