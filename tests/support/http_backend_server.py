"""A real local booking server implementing docs/HTTP_BACKEND.md, with failure knobs.

It listens on 127.0.0.1 on an ephemeral port, keeps bookings in memory with a
per-pet-type capacity, and honours ``Idempotency-Key`` (the same key replays the
stored answer; concurrent requests with one key are serialised). Per endpoint a
test can set :class:`Knobs`:

* ``delay_s``            -- sleep before answering (a slow backend)
* ``fail_500``           -- answer 500 for the next N calls
* ``fail_400``           -- answer 400 ``validation_error`` (``fail_400_field``) for the next N calls
* ``drop``               -- close the connection without an answer for the next N calls
* ``fail_after_commit``  -- commit the change, then answer 500 (``after_commit="500"``)
                            or drop the connection (``after_commit="drop"``), for the next N calls

Endpoint names: ``health``, ``availability``, ``quote``, ``create``, ``find``,
``get``, ``change``, ``cancel``. ``calls[name]`` counts requests per endpoint.

Two ways to run it: ``async with BookingServer() as srv`` in the test's own loop,
or :func:`serve_in_thread` (its own loop in a daemon thread), which the
:func:`http_backend_server` fixture uses.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MUTATING = ("create", "change", "cancel")


@dataclass
class Knobs:
    delay_s: float = 0.0
    fail_500: int = 0
    fail_400: int = 0
    fail_400_field: str = "owner_phone"
    drop: int = 0
    fail_after_commit: int = 0
    after_commit: Literal["500", "drop"] = "500"


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.field, self.details = status, code, field, details


def _error(status: int, code: str, message: str, field: str | None = None, details: dict | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field, "details": details or {}}}
    return web.json_response(body, status=status)


@dataclass
class BookingServer:
    capacity: dict[str, int] = field(default_factory=lambda: {"dog": 2, "cat": 3})
    per_night_minor: dict[str, int] = field(default_factory=lambda: {"dog": 3500, "cat": 2500})
    token: str = "test-token"
    currency: str = "EUR"
    tenant_id: str = "demo"
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.knobs: dict[str, Knobs] = collections.defaultdict(Knobs)
        self.calls: collections.Counter[str] = collections.Counter()
        self.bookings: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.seen_keys: list[tuple[str, str | None]] = []  # (endpoint, Idempotency-Key) per request
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._next_id = 1000
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        r = app.router
        r.add_get("/v1/health", self._wrap("health", self._health))
        r.add_get("/v1/availability", self._wrap("availability", self._availability))
        r.add_get("/v1/quote", self._wrap("quote", self._quote))
        r.add_post("/v1/bookings", self._wrap("create", self._create))
        r.add_get("/v1/bookings", self._wrap("find", self._find))
        r.add_get("/v1/bookings/{id}", self._wrap("get", self._get))
        r.add_patch("/v1/bookings/{id}", self._wrap("change", self._change))
        r.add_post("/v1/bookings/{id}/cancel", self._wrap("cancel", self._cancel))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]  # the port the OS gave (public AppRunner API)
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BookingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def knob(self, endpoint: str) -> Knobs:
        return self.knobs[endpoint]

    def active_bookings(self) -> list[dict[str, Any]]:
        return [b for b in self.bookings.values() if b["status"] != "cancelled"]

    # -- knobs and idempotency -------------------------------------------------------

    def _wrap(self, endpoint: str, handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            self.calls[endpoint] += 1
            key = request.headers.get("Idempotency-Key")
            self.seen_keys.append((endpoint, key))
            k = self.knobs[endpoint]
            if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
                return _error(401, "unauthorized", "missing or wrong bearer token")
            body: dict[str, Any] = {}
            if request.can_read_body:  # read first: a slow server has the request, then works slowly
                try:
                    body = await request.json()
                except json.JSONDecodeError:
                    return _error(400, "validation_error", "body is not JSON")
            if k.delay_s:
                await asyncio.sleep(k.delay_s)
            if k.drop > 0:
                k.drop -= 1
                return self._drop(request)
            if k.fail_500 > 0:
                k.fail_500 -= 1
                return _error(500, "internal", "injected failure")
            if k.fail_400 > 0:
                k.fail_400 -= 1
                return _error(400, "validation_error", f"{k.fail_400_field} is not valid", k.fail_400_field)
            if endpoint in MUTATING and key:
                status, payload = await self._idempotent(endpoint, key, request, body, handler)
            else:
                status, payload = await self._run(handler, request, body)
            if endpoint in MUTATING and k.fail_after_commit > 0 and status < 300:
                k.fail_after_commit -= 1
                if k.after_commit == "drop":
                    return self._drop(request)
                return _error(500, "internal", "failed after commit")
            return web.json_response(payload, status=status)

        return run

    async def _run(self, handler: Handler, request: web.Request, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            return await handler(request, body)  # type: ignore[call-arg,misc]
        except _Reject as rej:
            return rej.status, {
                "error": {"code": rej.code, "message": str(rej), "field": rej.field, "details": rej.details}
            }

    async def _idempotent(
        self, endpoint: str, key: str, request: web.Request, body: dict[str, Any], handler: Handler
    ) -> tuple[int, dict[str, Any]]:
        fingerprint = hashlib.sha256(
            json.dumps([endpoint, request.match_info.get("id"), body], sort_keys=True).encode()
        ).hexdigest()
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        async with lock:
            stored = self.idempotency.get(key)
            if stored is not None:
                if stored[0] != fingerprint:
                    return 409, {
                        "error": {
                            "code": "conflict",
                            "message": "Idempotency-Key reused with other data",
                            "field": None,
                            "details": {},
                        }
                    }
                return stored[1], stored[2]
            status, payload = await self._run(handler, request, body)
            if status < 500:
                self.idempotency[key] = (fingerprint, status, payload)
            return status, payload

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    # -- domain (a tiny in-memory hotel) -----------------------------------------

    def _dates(self, data: Any, start_key: str = "start", end_key: str = "end") -> tuple[dt.date, dt.date]:
        out = []
        for key in (start_key, end_key):
            try:
                out.append(dt.date.fromisoformat(str(data[key])))
            except (KeyError, ValueError):
                raise _Reject(400, "validation_error", f"{key} must be an ISO date", key) from None
        if out[1] <= out[0]:
            raise _Reject(400, "validation_error", "end must be after start", "end")
        return out[0], out[1]

    def _pet(self, data: Any) -> str:
        pet = str(data.get("pet_type") or "")
        if pet not in self.capacity:
            raise _Reject(400, "validation_error", f"pet_type {pet!r} is not offered", "pet_type")
        return pet

    def _free(self, pet: str, start: dt.date, end: dt.date, exclude: str | None = None) -> int:
        free = self.capacity[pet]
        day = start
        while day < end:
            used = sum(
                1
                for b in self.active_bookings()
                if b["pet_type"] == pet
                and b["id"] != exclude
                and dt.date.fromisoformat(b["start"]) <= day < dt.date.fromisoformat(b["end"])
            )
            free = min(free, self.capacity[pet] - used)
            day += dt.timedelta(days=1)
        return max(free, 0)

    def _alternatives(self, pet: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        nights = (end - start).days
        out = []
        for shift in range(1, 15):
            for sign in (-1, 1):
                s = start + dt.timedelta(days=sign * shift)
                e = s + dt.timedelta(days=nights)
                if self._free(pet, s, e) > 0:
                    out.append({"start": s.isoformat(), "end": e.isoformat()})
                if len(out) == 3:
                    return out
        return out

    def _quote_body(self, pet: str, start: dt.date, end: dt.date) -> dict[str, Any]:
        nights = (end - start).days
        unit = self.per_night_minor[pet]
        return {
            "pet_type": pet,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "nights": nights,
            "currency": self.currency,
            "total_minor": unit * nights,
            "lines": [{"code": "nights", "quantity": nights, "unit_minor": unit, "total_minor": unit * nights}],
        }

    def _booking(self, booking_id: str) -> dict[str, Any]:
        b = self.bookings.get(booking_id)
        if b is None:
            raise _Reject(404, "not_found", f"no booking {booking_id}", "booking_id")
        return b

    async def _health(self, request: web.Request, body: dict) -> tuple[int, dict]:
        return 200, {"ok": True}

    async def _availability(self, request: web.Request, body: dict) -> tuple[int, dict]:
        q = request.query
        pet, (start, end) = self._pet(q), self._dates(q)
        free = self._free(pet, start, end)
        return 200, {
            "pet_type": pet,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "available": free > 0,
            "resource_id": f"{pet}-room",
            "free_units": free,
            "alternatives": [] if free else self._alternatives(pet, start, end),
        }

    async def _quote(self, request: web.Request, body: dict) -> tuple[int, dict]:
        q = request.query
        pet, (start, end) = self._pet(q), self._dates(q)
        return 200, self._quote_body(pet, start, end)

    async def _create(self, request: web.Request, body: dict) -> tuple[int, dict]:
        pet, (start, end) = self._pet(body), self._dates(body)
        for key in ("pet_name", "owner_name", "owner_phone"):
            if not str(body.get(key) or "").strip():
                raise _Reject(400, "validation_error", f"{key} is required", key)
        if self._free(pet, start, end) <= 0:
            raise _Reject(
                409,
                "no_availability",
                "no free room for those dates",
                None,
                alternatives=self._alternatives(pet, start, end),
            )
        self._next_id += 1
        now = dt.datetime.now(dt.UTC).isoformat()
        booking = {
            "id": f"B{self._next_id}",
            "tenant_id": self.tenant_id,
            "resource_id": f"{pet}-room",
            "pet_name": body["pet_name"],
            "pet_type": pet,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "owner_name": body["owner_name"],
            "owner_phone": body["owner_phone"],
            "status": "confirmed",
            "total_minor": self._quote_body(pet, start, end)["total_minor"],
            "currency": self.currency,
            "created_at": now,
            "updated_at": now,
            "channel": body.get("channel") or "cli",
            "session_id": body.get("session_id"),
            "idempotency_key": request.headers.get("Idempotency-Key"),
            "notes": body.get("notes") or "",
        }
        self.bookings[booking["id"]] = booking
        return 201, booking

    async def _find(self, request: web.Request, body: dict) -> tuple[int, dict]:
        q = request.query
        if not any(q.get(k) for k in ("booking_id", "phone", "pet_name")):
            raise _Reject(400, "validation_error", "give booking_id, phone or pet_name", "booking_id")
        digits = "".join(ch for ch in q.get("phone", "") if ch.isdigit())
        found = [
            b
            for b in self.bookings.values()
            if (not q.get("booking_id") or b["id"] == q["booking_id"])
            and (not digits or "".join(ch for ch in b["owner_phone"] if ch.isdigit()).endswith(digits[-7:]))
            and (not q.get("pet_name") or b["pet_name"].casefold() == q["pet_name"].casefold())
        ]
        return 200, {"bookings": found}

    async def _get(self, request: web.Request, body: dict) -> tuple[int, dict]:
        return 200, self._booking(request.match_info["id"])

    async def _change(self, request: web.Request, body: dict) -> tuple[int, dict]:
        b = self._booking(request.match_info["id"])
        if b["status"] == "cancelled":
            raise _Reject(409, "conflict", "the booking is cancelled")
        merged = {**b, **{k: v for k, v in body.items() if v is not None}}
        pet, (start, end) = self._pet(merged), self._dates(merged)
        if self._free(pet, start, end, exclude=b["id"]) <= 0:
            raise _Reject(
                409,
                "no_availability",
                "no free room for the new dates",
                None,
                alternatives=self._alternatives(pet, start, end),
            )
        b.update({k: merged[k] for k in ("pet_name", "pet_type", "owner_name", "owner_phone")})
        b.update(
            start=start.isoformat(),
            end=end.isoformat(),
            total_minor=self._quote_body(pet, start, end)["total_minor"],
            updated_at=dt.datetime.now(dt.UTC).isoformat(),
        )
        return 200, b

    async def _cancel(self, request: web.Request, body: dict) -> tuple[int, dict]:
        b = self._booking(request.match_info["id"])
        if b["status"] == "cancelled":
            raise _Reject(409, "conflict", "the booking is already cancelled", "booking_id")
        b.update(status="cancelled", updated_at=dt.datetime.now(dt.UTC).isoformat())
        return 200, b


@contextlib.contextmanager
def serve_in_thread(**kwargs: Any) -> Iterator[BookingServer]:
    """Run a :class:`BookingServer` on its own event loop in a daemon thread (bounded start and stop)."""
    server = BookingServer(**kwargs)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    thread = threading.Thread(target=loop.run_forever, name="booking-server", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
        started.set()
        yield server
    finally:
        if started.is_set():
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def http_backend_server() -> Iterator[BookingServer]:
    """A fresh server per test (import this fixture into a conftest or a test module)."""
    with serve_in_thread() as server:
        yield server
