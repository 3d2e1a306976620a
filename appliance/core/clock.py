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


def local_today(clock: Clock, tz: ZoneInfo) -> dt.date:
    """Today's date in the tenant's timezone."""
    return clock().astimezone(tz).date()
