"""``GET /v1/outbox``: the SMS outbox for the staff console (docs/SMS.md, docs/CONSOLE.md).

Query: ``status`` (pending, sending, sent, failed, skipped; default all) and ``limit``
(1-500, default 100). Newest first. Read from the store, so it works whether or not the
SMS channel is on.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.api import controls, ok
from appliance.core.control import ApiError, ErrorCode
from appliance.core.messages import to_dict
from appliance.store.outbox import Outbox, OutboxMessage, OutboxStatus

STATUSES = {s.value for s in OutboxStatus}


def message_dict(m: OutboxMessage) -> dict[str, Any]:
    return to_dict(m)


async def list_outbox(request: web.Request) -> web.Response:
    """The texts of one tenant (``?tenant=ID``; none: the default) or of every one (``all``), newest first."""
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(ErrorCode.BAD_REQUEST, f"status: one of {', '.join(sorted(STATUSES))}", {"field": "status"})
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(ErrorCode.BAD_REQUEST, "limit: a number", {"field": "limit"}) from None
    if not 1 <= limit <= 500:
        raise ApiError(ErrorCode.BAD_REQUEST, "limit: 1 to 500", {"field": "limit"})
    rows: list[OutboxMessage] = []
    for c in controls(request):
        rows += await Outbox(c.brain.sessions.db, tenant_id=c.config.tenant.id).list(status=status, limit=limit)
    rows = sorted(rows, key=lambda m: m.id, reverse=True)[:limit]
    return ok({"outbox": [message_dict(m) for m in rows]})


async def health_queues(c: Any) -> dict[str, int]:
    """The outbox lines of ``GET /v1/health`` (the console's Health tab shows every queue)."""
    if not c.config.sms.enabled or c.brain is None:
        return {}
    counts = await Outbox(c.brain.sessions.db, tenant_id=c.config.tenant.id).counts()
    return {"sms_waiting": counts.get("pending", 0) + counts.get("sending", 0), "sms_failed": counts.get("failed", 0)}


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/v1/outbox", list_outbox)
