"""Injectable time, so the domain and the brain can be tested on a pinned date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def fixed_clock(at: dt.datetime) -> Clock:
    """A clock frozen at ``at`` (naive values are taken as UTC)."""
    when = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return lambda: when


def shifted_clock(at: dt.datetime) -> Clock:
    """A clock that reads ``at`` now and runs on from there (naive values are taken as UTC): a
    daemon started on a pinned date for a test or a demo, whose time still passes."""
    when = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    offset = when - dt.datetime.now(dt.UTC)
    return lambda: dt.datetime.now(dt.UTC) + offset


def local_today(clock: Clock, tz: ZoneInfo) -> dt.date:
    """Today's date in the tenant's timezone."""
    return clock().astimezone(tz).date()
