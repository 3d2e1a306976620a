"""Callers' words on screen: always plain text, never markup, never terminal control.

Everything a caller (or an API answer) said goes through :func:`inert` before
it reaches a widget: control characters (ANSI escape sequences included) are
shown as visible symbols, and very long lines are cut with a marker, so a
hostile message can neither restyle the console nor flood it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from rich.text import Text

MAX_CHARS = 600
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch == "\x1b":
        return "␛"
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures
    return "�" if unicodedata.category(ch) in ("Cc", "Cf") else ch


def clean(value: Any, limit: int = MAX_CHARS) -> str:
    s = "" if value is None else str(value)
    if len(s) > limit:
        s = s[:limit] + f"… [+{len(s) - limit} chars]"
    return _CONTROL.sub(_visible, s.replace("\r\n", "\n").replace("\t", " "))


def inert(value: Any, style: str = "", limit: int = MAX_CHARS) -> Text:
    """A Rich Text that shows ``value`` literally (no markup, no escapes)."""
    return Text(clean(value, limit), style=style, no_wrap=False)


def age(created_at: str, now: dt.datetime) -> str:
    try:
        then = dt.datetime.fromisoformat(created_at)
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 60 * 48:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes // 1440}d"


def money(minor: int | None, currency: str | None) -> str:
    return f"{(minor or 0) / 100:.2f} {currency or ''}".strip()
