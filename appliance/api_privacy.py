"""Control API routes for privacy requests (staff only: the socket's group; docs/PRIVACY.md).

- ``GET /v1/privacy/export?phone=N`` (or ``booking=N``): everything held about the caller as
  JSON (``format=zip``: the same archive as ``appliance privacy export``, with the recordings);
- ``POST /v1/privacy/erase`` ``{"phone"|"booking": ..., "reason": ...}``: erase it; the actor
  (the socket peer's user name) is the receipt's "by". Answers with the receipt. The daemon's
  own memory is cleared too: recent events of the erased conversations are dropped.
"""

from __future__ import annotations

import asyncio
import collections
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.api import Control, actor, body, control, ok
from appliance.core.control import ApiError, ErrorCode
from appliance.privacy import erase as erasing
from appliance.privacy.export import record_export, summary, write_archive
from appliance.privacy.find import Findings, Subject, find, mentions, subject_for_booking, subject_for_phone


def _db(c: Control) -> Any:
    if c.brain is None:
        raise ApiError(ErrorCode.UNAVAILABLE, "the store is not open")
    return c.brain.sessions.db


async def _subject(c: Control, phone: Any, booking: Any) -> Subject:
    if bool(phone) == bool(booking):
        raise ApiError(ErrorCode.BAD_REQUEST, "give exactly one of phone and booking")
    if phone:
        return subject_for_phone(c.config, str(phone))
    return await _db(c).aread(lambda s: subject_for_booking(c.config, s, str(booking)))


async def _find(c: Control, subject: Subject) -> Findings:
    return await _db(c).aread(lambda s: find(c.config, s, subject))


async def export(request: web.Request) -> web.StreamResponse:
    c: Control = control(request)
    q = request.query
    f = await _find(c, await _subject(c, q.get("phone"), q.get("booking")))
    language = q.get("language") or c.config.tenant.default_language
    await asyncio.to_thread(record_export, c.config, _db(c), f, by=actor(request))
    if q.get("format") == "zip":
        with tempfile.TemporaryDirectory() as tmp:
            path = await asyncio.to_thread(write_archive, c.config, f, Path(tmp) / "export.zip", language=language)
            data = await asyncio.to_thread(path.read_bytes)
        return web.Response(body=data, content_type="application/zip")
    import datetime as dt

    now = dt.datetime.now(c.config.tenant.tz)
    return ok({"counts": f.counts(), "data": f.to_dict(), "summary": summary(c.config, f, language=language, now=now)})


async def erase(request: web.Request) -> web.Response:
    c: Control = control(request)
    data = await body(request)
    if not isinstance(data, dict) or not str(data.get("reason") or "").strip():
        raise ApiError(ErrorCode.BAD_REQUEST, "a reason is required")
    subject = await _subject(c, data.get("phone"), data.get("booking"))
    sessions = set((await _find(c, subject)).session_ids)
    receipt = await asyncio.to_thread(
        erasing.erase, c.config, _db(c), subject, reason=str(data["reason"]), by=actor(request)
    )
    recent = c.bus.recent
    kept = [e for e in recent if e.session_id not in sessions and not mentions(subject, str(e.data))]
    c.bus.recent = collections.deque(kept, maxlen=recent.maxlen)
    return ok(receipt)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/v1/privacy/export", export)
    r.add_post("/v1/privacy/erase", erase)
