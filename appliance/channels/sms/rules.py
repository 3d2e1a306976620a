"""Two small pure rules of the SMS channel: opt-out/opt-in keywords and per-number rate limits.

A keyword counts only as the whole message (``STOP``, ``stop!``), so "stop the booking"
still reaches the brain. The rate limiter is a sliding window per number, fed the time
by the caller (a state machine tested with numbers).
"""

from __future__ import annotations

import collections
import enum
import re
import unicodedata


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"


_WORDS = {
    Keyword.STOP: {
        # en, et, ru
        "stop", "stopall", "unsubscribe", "quit", "end", "optout",
        "stopp", "lõpeta", "lopeta", "loobun",
        "стоп", "отписаться", "отписка", "хватит",
    },
    Keyword.START: {
        "start", "unstop", "subscribe", "optin",
        "alusta", "jätka", "jatka", "luba",
        "старт", "подписаться", "начать",
    },
}  # fmt: skip
_LOOKUP = {w: k for k, words in _WORDS.items() for w in words}
_PUNCT = re.compile(r"[\s\W_]+")


def keyword(text: str) -> Keyword | None:
    """STOP/START when the whole message is one of the words (any case, punctuation ignored)."""
    word = _PUNCT.sub("", unicodedata.normalize("NFC", text).casefold())
    return _LOOKUP.get(word)


class RateLimiter:
    """At most ``per_minute`` and ``per_hour`` events per key (a number), sliding windows."""

    def __init__(self, per_minute: int, per_hour: int) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._seen: dict[str, collections.deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        """Record an event at ``now`` (seconds) and say whether it is within the limits.

        A refused event is not counted, so a flood does not lock a number out for longer
        than the window."""
        seen = self._seen.setdefault(key, collections.deque())
        while seen and seen[0] <= now - 3600:
            seen.popleft()
        last_minute = sum(1 for t in seen if t > now - 60)
        if last_minute >= self.per_minute or len(seen) >= self.per_hour:
            return False
        seen.append(now)
        return True

    def prune(self, now: float) -> None:
        for key in [k for k, v in self._seen.items() if not v or v[-1] <= now - 3600]:
            del self._seen[key]
