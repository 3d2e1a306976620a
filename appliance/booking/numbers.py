"""Booking numbers: short and speakable.

Six digits, first digit non-zero ("482 913"), random so they reveal nothing
about volume and cannot be guessed in order. Uniqueness is checked inside the
write transaction and a collision simply draws again.
"""

from __future__ import annotations

import re
import secrets

DIGITS = 6
_SEPARATORS = re.compile(r"[\s\-./#]")


def new_booking_number() -> str:
    low = 10 ** (DIGITS - 1)
    return str(low + secrets.randbelow(9 * low))


def normalise_booking_number(raw: str) -> str:
    """What a caller said or typed ("482-913", " 482 913 ") -> the stored form ("482913")."""
    return _SEPARATORS.sub("", raw or "").upper()


def speakable(number: str) -> str:
    """Group for reading aloud or display: "482913" -> "482 913"."""
    return f"{number[:3]} {number[3:]}" if len(number) == DIGITS else number
