"""A :class:`~appliance.booking.types.BookingBackend` over a small REST contract.

For a business that already has a booking system: it exposes (or adapts) the
endpoints in ``docs/HTTP_BACKEND.md`` and sets ``tools.backend = "http"``.

Failure mapping (what the executor retries is decided by ``retryable``):

* connection refused/reset, server disconnected, 5xx, 429 -> ``BackendUnavailable`` (retried)
* client-side timeout -> ``BackendTimeout`` (retried)
* 400/422 -> ``ValidationError``; 404 -> ``NotFound``; 409 -> ``Conflict`` or
  ``NoAvailability`` (by the error body's ``code``) -- client errors, never retried
* 401/403 and other statuses -> ``BackendError`` (not retried; the executor falls back)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from appliance.booking.serialize import (
    availability_from_dict,
    booking_from_dict,
    change_to_dict,
    quote_from_dict,
    request_to_dict,
)
from appliance.booking.types import Availability, Booking, BookingChange, BookingRequest, Quote
from appliance.core.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BookingError,
    Conflict,
    EngineUnavailable,
    NoAvailability,
    NotFound,
    ValidationError,
)

if TYPE_CHECKING:
    import aiohttp

    from appliance.core.config import ToolsConfig

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_BY_CODE: dict[str, type[BookingError]] = {
    "validation_error": ValidationError,
    "no_availability": NoAvailability,
    "not_found": NotFound,
    "conflict": Conflict,
}
_BY_STATUS: dict[int, type[BookingError]] = {400: ValidationError, 422: ValidationError, 404: NotFound, 409: Conflict}


class HttpBackend:
    """Booking backend that talks to a business's own system over HTTP (aiohttp, one session)."""

    name = "http"

    def __init__(self, base_url: str, token: str = "", timeout: float = 5.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be http(s)://..., got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.sessions_opened = 0  # client sessions (connection pools) made so far: one while open

    @property
    def is_open(self) -> bool:
        """A client session is open (after the first call, until :meth:`aclose`)."""
        return self._session is not None and not self._session.closed

    @classmethod
    def from_config(cls, tools: ToolsConfig) -> HttpBackend:
        """From ``[tools]``: ``http_url``, ``http_token``; the per-request limit is ``timeout_s``."""
        return cls(tools.http_url, tools.http_token, tools.timeout_s)

    # -- BookingBackend --------------------------------------------------------

    async def check_availability(self, pet_type: str, start: dt.date, end: dt.date) -> Availability:
        params = {"pet_type": pet_type, "start": start.isoformat(), "end": end.isoformat()}
        return availability_from_dict(await self._call("GET", "/availability", params=params))

    async def quote_price(self, pet_type: str, start: dt.date, end: dt.date) -> Quote:
        params = {"pet_type": pet_type, "start": start.isoformat(), "end": end.isoformat()}
        return quote_from_dict(await self._call("GET", "/quote", params=params))

    async def create_booking(self, request: BookingRequest, idempotency_key: str) -> Booking:
        body = request_to_dict(request)
        return booking_from_dict(await self._call("POST", "/bookings", json_body=body, key=idempotency_key))

    async def cancel_booking(self, booking_id: str, idempotency_key: str | None = None) -> Booking:
        path = f"/bookings/{_seg(booking_id)}/cancel"
        return booking_from_dict(await self._call("POST", path, json_body={}, key=idempotency_key))

    async def change_booking(self, booking_id: str, change: BookingChange, idempotency_key: str) -> Booking:
        path = f"/bookings/{_seg(booking_id)}"
        return booking_from_dict(await self._call("PATCH", path, json_body=change_to_dict(change), key=idempotency_key))

    async def find_bookings(
        self, *, booking_id: str | None = None, phone: str | None = None, pet_name: str | None = None
    ) -> list[Booking]:
        params = {k: v for k, v in (("booking_id", booking_id), ("phone", phone), ("pet_name", pet_name)) if v}
        data = await self._call("GET", "/bookings", params=params)
        return [booking_from_dict(b) for b in data.get("bookings", [])]

    async def get_booking(self, booking_id: str) -> Booking:
        return booking_from_dict(await self._call("GET", f"/bookings/{_seg(booking_id)}"))

    async def health(self) -> bool:
        """True when ``GET /v1/health`` answers 2xx (for ``appliance doctor``)."""
        try:
            await self._call("GET", "/health")
        except BackendError:
            return False
        return True

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HttpBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- transport -------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover - aiohttp is a core dependency
            raise EngineUnavailable("aiohttp is not installed", install_hint="pip install aiohttp") from exc
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json", "User-Agent": "appliance-http-backend/1"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                raise_for_status=False,
            )
            self.sessions_opened += 1
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        import aiohttp

        session = self._get_session()
        url = f"{self.base_url}{API_PREFIX}{path}"
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        try:
            async with session.request(method, url, params=params, json=json_body, headers=headers) as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise BackendTimeout(f"{method} {path}: no answer within {self.timeout:g}s") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError) as exc:
            # refused, reset, dropped mid-answer, server disconnected
            raise BackendUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise BackendUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        body = _parse(text)
        if 200 <= status < 300:
            if not isinstance(body, dict):
                raise BackendUnavailable(f"{method} {path}: answer {status} is not a JSON object")
            return body
        raise _error_for(method, path, status, body)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _parse(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _error_for(method: str, path: str, status: int, body: Any) -> Exception:
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    code = str(err.get("code") or "")
    message = str(err.get("message") or f"{method} {path}: HTTP {status}")
    raw_details = err.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    if status >= 500 or status == 429:
        return BackendUnavailable(f"{method} {path}: HTTP {status}: {message}", details={"status": status})
    if status in (401, 403):
        return BackendError(
            f"{method} {path}: HTTP {status}: {message}", code="backend_auth", details={"status": status}
        )
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        return BackendError(f"{method} {path}: HTTP {status}: {message}", details={"status": status})
    kw: dict[str, Any] = {"details": details}  # a remote user_message is not used: replies come from templates
    if cls is ValidationError:
        return ValidationError(message, field=err.get("field"), **kw)
    if err.get("field"):
        details = {**details, "field": err["field"]}
        kw["details"] = details
    return cls(message, **kw)


__all__ = ["HttpBackend", "IDEMPOTENCY_HEADER", "API_PREFIX"]
