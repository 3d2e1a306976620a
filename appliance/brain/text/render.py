"""Per-language templates filled with typed facts, rendered per channel.

The dialogue decides *what* to say as a list of :class:`Part` (a template key
and typed facts). This module decides *how*: text for web/CLI (digits, short
dates, "€70.00"), speakable for voice (numbers, dates and prices as words of
the session language), and a <= 160 character SMS form. Facts always come from
tool results; templates never contain facts.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.brain.text import verbalize as vb

TEMPLATE_DIR = Path(__file__).with_name("templates")
SMS_LIMIT = 160


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Nights:
    n: int


@dataclass(frozen=True, slots=True)
class Days:
    """A number of days, the noun agreeing with it ("21 день", "30 дней")."""

    n: int


@dataclass(frozen=True, slots=True)
class Digits:
    """A booking number or phone number: read digit by digit on voice."""

    value: str


@dataclass(frozen=True, slots=True)
class Ranges:
    items: tuple[tuple[dt.date, dt.date], ...]


@dataclass(frozen=True, slots=True)
class Word:
    """A word from the template file's [words] table (e.g. a pet type)."""

    key: str


@dataclass(frozen=True, slots=True)
class Choice:
    """'a dog or a cat': words joined with the language's 'or'."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Room:
    """A room kind, named per language (by resource id, or the first room for a pet type)."""

    resource_id: str | None
    pet_type: str | None = None


@dataclass(frozen=True, slots=True)
class DateWithYear:
    """A date read back with its year whatever the year (to check a date said without one)."""

    date: dt.date


@dataclass(frozen=True, slots=True)
class DayMonth:
    """A date without its weekday ("5 December"), e.g. to say which weekday it really is."""

    date: dt.date


@dataclass(frozen=True, slots=True)
class BookingList:
    """Several bookings to tell apart: number, pet and first day of each ([forms] booking_item)."""

    items: tuple[tuple[str, str, dt.date], ...]


@dataclass(frozen=True, slots=True)
class Part:
    key: str
    facts: dict[str, Any] = field(default_factory=dict)
    optional: bool = False  # dropped first when a form must be short (SMS)
    protected: bool = False  # voice: a read-back that must not be interrupted


@functools.cache
def _templates(lang: str) -> dict[str, dict[str, str]]:
    path = TEMPLATE_DIR / f"{lang}.toml"
    if not path.is_file():
        path = TEMPLATE_DIR / "en.toml"
    with path.open("rb") as fh:
        return tomllib.load(fh)


def supported_template_languages() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.toml"))


def word(lang: str, key: str) -> str:
    return _templates(lang).get("words", {}).get(key) or _templates("en").get("words", {}).get(key, key)


def quick_label(lang: str, key: str) -> str:
    return _templates(lang).get("quick", {}).get(key) or _templates("en")["quick"].get(key, key)


def form(lang: str, key: str) -> str:
    """A sentence fragment from the [forms] table (how a language joins facts)."""
    return _templates(lang).get("forms", {}).get(key) or _templates("en")["forms"][key]


def error_text(lang: str, code: str) -> str:
    """What to say about an error, by its code ([errors] table; ``default`` for unknown codes).

    For the channels' boundaries (web JSON errors, a voice call whose brain failed): errors
    carry a code and parameters, never prose."""
    table = _templates(lang).get("errors", {})
    return table.get(code) or table.get("default") or _templates("en")["errors"]["default"]


def template(lang: str, key: str) -> str:
    text = _templates(lang).get("text", {}).get(key)
    if text is None:
        text = _templates("en")["text"][key]
    return text


class Renderer:
    def __init__(
        self,
        business: str,
        room_names: dict[str, dict[str, str]] | None = None,
        rooms_by_pet: dict[str, str] | None = None,
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self.business = business
        # A date outside the current year is read back with its year (None: never).
        self.today = today
        self.room_names = room_names or {}
        self.rooms_by_pet = rooms_by_pet or {}

    # -- facts ---------------------------------------------------------------

    def _other_year(self, d: dt.date) -> bool:
        return self.today is not None and d.year != self.today().year

    def fact(self, value: Any, lang: str, voice: bool, role: str | None = None) -> str:
        if isinstance(value, dt.date) and role in ("start", "end"):
            return vb.date_in_range(value, lang, role, voice=voice, year=self._other_year(value))
        if isinstance(value, DayMonth):
            year = self._other_year(value.date)
            if voice:
                return vb.speak_date(value.date, lang, weekday=False, year=year)
            return vb.format_date(value.date, lang, weekday=False, year=year)
        if isinstance(value, dt.date | DateWithYear):
            day = value.date if isinstance(value, DateWithYear) else value
            year = isinstance(value, DateWithYear) or self._other_year(day)
            weekday = lang != "ru"  # a Russian weekday would need the case of its context
            if voice:
                return vb.speak_date(day, lang, weekday=weekday, year=year)
            return vb.format_date(day, lang, weekday=weekday, year=year)
        if isinstance(value, Money):
            return (
                vb.speak_money(value.minor, value.currency, lang)
                if voice
                else vb.format_money(value.minor, value.currency, lang)
            )
        if isinstance(value, Days):
            return vb.format_days(value.n, lang, spoken=voice)
        if isinstance(value, Nights):
            text = vb.format_nights(value.n, lang)
            return vb.speakable(text, lang) if voice else text
        if isinstance(value, Digits):
            return vb.speak_digits(value.value, lang) if voice else value.value
        if isinstance(value, Room):
            rid = value.resource_id or self.rooms_by_pet.get(value.pet_type or "")
            return self.room(rid, lang)
        if isinstance(value, Word):
            return word(lang, value.key)
        if isinstance(value, Choice):
            words = [word(lang, k) for k in value.keys]
            if len(words) == 1:
                return words[0]
            return f"{', '.join(words[:-1])} {word(lang, 'or')} {words[-1]}"
        if isinstance(value, Ranges):
            joined = [self.date_range(a, b, lang, voice) for a, b in value.items]
            sep = f" {word(lang, 'or')} "
            return sep.join(joined)
        if isinstance(value, BookingList):
            return "; ".join(
                form(lang, "booking_item").format(
                    booking_id=self.fact(Digits(number), lang, voice), pet_name=pet, start=self.fact(day, lang, voice)
                )
                for number, pet, day in value.items
            )
        if isinstance(value, int) and voice:
            return vb.number_words(value, lang)
        return str(value)

    def date_range(self, a: dt.date, b: dt.date, lang: str, voice: bool) -> str:
        start = vb.date_in_range(a, lang, "start", voice=voice, year=self._other_year(a))
        end = vb.date_in_range(b, lang, "end", voice=voice, year=self._other_year(b))
        return form(lang, "date_range").format(start=start, end=end)

    def room(self, resource_id: str | None, lang: str) -> str:
        names = self.room_names.get(resource_id or "", {})
        return names.get(lang) or names.get("en") or word(lang, "pet")

    def part(self, part: Part, lang: str, *, voice: bool) -> str:
        facts = {"business": self.business}
        for k, v in part.facts.items():
            facts[k] = self.fact(v, lang, voice, role=k if k in ("start", "end") else None)
        text = template(lang, part.key).format_map(_Missing(facts))
        if voice:
            # Whatever digits remain in free text (KB answers, names) become words too.
            text = vb.speakable(text, lang)
        return text

    def render(self, parts: list[Part], lang: str) -> tuple[str, str, str]:
        """Return (text, speakable, sms)."""
        text = " ".join(self.part(p, lang, voice=False) for p in parts if p.key)
        speak_parts = [p for p in parts if p.key and p.key != "degraded_notice"]
        speakable = " ".join(self.part(p, lang, voice=True) for p in speak_parts)
        return _tidy(text), _tidy(speakable), self._sms(parts, lang)

    def _sms(self, parts: list[Part], lang: str) -> str:
        essential = [p for p in parts if p.key and not p.optional and p.key != "degraded_notice"]
        text = _tidy(" ".join(self.part(p, lang, voice=False) for p in essential))
        if len(text) <= SMS_LIMIT:
            return text
        # Keep the sentence with the booking/ticket number if there is one.
        return text[: SMS_LIMIT - 1].rstrip() + "…"


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


_SPACES = re.compile(r"\s+")


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", text).strip()
