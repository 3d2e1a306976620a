"""Deterministic understanding: rule-based slot and intent extraction for English, Estonian and Russian.

This is the primary path for everything a booking depends on; the LLM may only propose on top of it.
``extract()`` is pure (no I/O, no clock: everything is relative to ``today``), fast (precompiled
regexes and dict lookups, typically well under a millisecond), and grounded: ``Extraction.spans``
maps each slot to the text it came from. The rules and known gaps are in docs/EXTRACTION.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.brain.understanding.extract.dates import DateResult, parse_dates
from appliance.brain.understanding.extract.intents import correction_cue, intents, yes_no
from appliance.brain.understanding.extract.morph import base_name, word_before
from appliance.brain.understanding.extract.names import owner_name, pet_name, pet_type
from appliance.brain.understanding.extract.numbers import find_numbers
from appliance.brain.understanding.extract.tokens import normalize, tokenize
from appliance.core.messages import Intent

__all__ = ["Extraction", "extract", "AWAITABLE", "dateparser_calls"]

AWAITABLE = frozenset(
    {"pet_name", "pet_type", "start_date", "end_date", "owner_name", "owner_phone", "booking_id", "confirmation"}
)
_BUILTIN = ("en", "et", "ru")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_CYRILLIC = re.compile(r"[а-яё]", re.I)
_LATIN = re.compile(r"[a-zõäöüšž]", re.I)


@dataclass(frozen=True, slots=True)
class Extraction:
    intents: tuple[Intent, ...]  # most likely first; empty if none
    pet_type: str | None = None  # canonical: "dog", "cat", or another tenant pet type
    pet_name: str | None = None
    owner_name: str | None = None
    phone: str | None = None  # E.164 if it parses with the region, else None
    start: dt.date | None = None
    end: dt.date | None = None  # check-out day (nights are [start, end))
    nights: int | None = None  # a duration ("for a week" -> 7)
    single_date: dt.date | None = None  # one date with no role decided
    yes: bool | None = None  # yes/no answer
    booking_id: str | None = None  # 6-digit booking number (first digit 1-9)
    correction: bool = False  # "actually", "no, it's a cat", "tegelikult", "нет, это кошка", "не ..., а ..."
    year_given: bool = False  # a date named its year; without it a far date is a guess worth checking
    weekday_conflict: tuple[dt.date, int] | None = None  # (the date, the weekday said with it: 0 = Monday)
    spans: dict[str, str] = field(default_factory=dict)  # slot -> the text it came from


_stats = {"dateparser_calls": 0}


def dateparser_calls() -> int:
    """How many times the dateparser fallback ran in this process (benchmarks report it)."""
    return _stats["dateparser_calls"]


def _languages(language: str, norm: str) -> list[str]:
    has_cyr = _CYRILLIC.search(norm) is not None
    has_lat = _LATIN.search(norm) is not None
    order = [language] if language in _BUILTIN else []
    order += [lang for lang in _BUILTIN if lang not in order]
    if not has_cyr:
        order = [lang for lang in order if lang != "ru"] or order
    if not has_lat:
        order = [lang for lang in order if lang == "ru"] or order
    return order


def _dateparser_fallback(text: str, langs: Sequence[str], today: dt.date) -> tuple[dt.date, str] | None:
    """dateparser for month forms our rules could not place (English/Russian only: its Estonian is weak)."""
    dp_langs = [lang for lang in langs if lang in ("en", "ru")]
    if not dp_langs:
        return None
    try:
        from dateparser.search import search_dates
    except ImportError:  # optional at run time: the rules work without it
        return None
    _stats["dateparser_calls"] += 1
    base = dt.datetime.combine(today, dt.time(12, 0))
    settings: dict[str, Any] = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "REQUIRE_PARTS": ["day", "month"],
        "DATE_ORDER": "DMY",
    }
    try:
        found = search_dates(text, languages=dp_langs, settings=settings)
    except Exception:  # dateparser raises assorted errors on odd input; a fallback must never break a turn
        return None
    for snippet, when in found or ():
        if when.date() >= today and re.search(r"[^\W\d_]", snippet):
            return when.date(), snippet
    return None


def extract(
    text: str,
    language: str,
    *,
    today: dt.date,
    region: str = "EE",
    pet_types: Sequence[str] = ("dog", "cat"),
    awaiting: str | None = None,
) -> Extraction:
    """Extract intents and booking slots from one user turn.

    ``language`` is the session language (its rules are tried first; the others still apply to mixed
    input). ``awaiting`` is the slot the engine just asked for; it decides what a short answer means
    ("Max" -> pet name, "Sunday" -> end date).
    """
    text = text or ""
    norm = normalize(text)
    langs = _languages(language, norm)
    spans: dict[str, str] = {}

    def ground(slot: str, sp: tuple[int, int] | None) -> None:
        if sp is not None:
            spans[slot] = text[sp[0] : sp[1]]

    toks = tokenize(norm, langs)
    d: DateResult = parse_dates(toks, today)
    start, end, single = d.start, d.end, d.single
    year_given = d.year_given
    for slot, sp in d.spans.items():
        ground(slot, sp)
    if start is None and end is None and single is None and d.unparsed_month:
        fb = _dateparser_fallback(text, langs, today)
        if fb is not None:
            single = fb[0]
            spans["single_date"] = fb[1]
            year_given = _YEAR.search(fb[1]) is not None
            at = text.find(fb[1])
            if at >= 0:
                d.date_spans.append((at, at + len(fb[1])))
    if single is not None:
        target = None
        if awaiting == "start_date" and start is None:
            target = "start"
        elif awaiting == "end_date" and end is None:
            target = "end"
        elif d.nights is not None and start is None:
            target = "start"  # "tomorrow for 3 nights"
        if target == "start":
            start, single = single, None
            spans["start"] = spans.pop("single_date", "")
        elif target == "end":
            end, single = single, None
            spans["end"] = spans.pop("single_date", "")

    nums = find_numbers(text, norm, region, awaiting, d.date_spans)
    ground("phone", nums.phone_span)
    ground("booking_id", nums.booking_span)

    pt = pet_type(norm, pet_types)
    if pt:
        ground("pet_type", pt[1])
    owner = owner_name(text, norm, awaiting)
    if owner:
        ground("owner_name", owner[1])
        owner = (base_name(owner[0]), owner[1])
    pname = None
    if awaiting != "owner_name" or owner is None:
        pname = pet_name(text, norm, awaiting, exclude=owner[0] if owner else None)
        if pname:
            ground("pet_name", pname[1])
            pname = (base_name(pname[0], before=word_before(text, pname[1][0])), pname[1])

    answer, leading_no = yes_no(norm, awaiting)
    has_slot = any(x is not None for x in (pt, pname, owner, start, end, single, d.nights, nums.phone, nums.booking_id))
    correction = correction_cue(norm) or d.negated
    if leading_no and has_slot:
        answer, correction = None, True  # "no, it's a cat": a correction, not a refusal
    if answer is not None:
        spans["yes"] = text.strip()

    return Extraction(
        intents=intents(norm),
        pet_type=pt[0] if pt else None,
        pet_name=pname[0] if pname else None,
        owner_name=owner[0] if owner else None,
        phone=nums.phone,
        start=start,
        end=end,
        nights=d.nights,
        single_date=single,
        yes=answer,
        booking_id=nums.booking_id,
        correction=correction,
        year_given=year_given,
        weekday_conflict=d.weekday_conflict,
        spans=spans,
    )
