"""Is the booking backend answering again? An availability query, the cheapest real request.

An answer of any kind (free, full, or a client error such as a date in the past) means the
backend works; only ``BackendError`` (5xx, refused, dropped) or a timeout means it does not.
Used by automatic callbacks (``appliance/channels/sip/autocall.py``) before they call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping

from appliance.booking.types import BookingBackend
from appliance.core.errors import BackendError, BookingError

log = logging.getLogger(__name__)


def probe_stay(args: Mapping[str, object], pet_types: list[str], today: dt.date) -> tuple[str, dt.date, dt.date]:
    """The stay the failed request was about when it is known and still ahead, else tomorrow."""
    pet = str(args.get("pet_type") or pet_types[0])
    try:
        start = dt.date.fromisoformat(str(args.get("start_date")))
        end = dt.date.fromisoformat(str(args.get("end_date")))
    except ValueError:
        start, end = today, today
    if start <= today or end <= start:
        start, end = today + dt.timedelta(days=1), today + dt.timedelta(days=2)
    return pet, start, end


async def backend_answers(backend: BookingBackend, pet: str, start: dt.date, end: dt.date, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(backend.check_availability(pet, start, end), timeout_s)
    except BookingError:
        return True  # it answered (e.g. "no room"): it works
    except (BackendError, TimeoutError, OSError) as exc:
        log.info("booking backend still failing: %s", getattr(exc, "code", type(exc).__name__))
        return False
    return True
