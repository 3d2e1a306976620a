"""Date, range and duration grammar over classified tokens (language-independent).

Pass 1 turns token runs into *atoms* (a calendar day, a weekday, "tomorrow",
a weekend, "next week", a duration, or a bare number that may inherit a month).
Pass 2 joins atoms separated only by connectors ("to", "-", "kuni", "по") into
ranges, giving bare numbers the month of their partner ("10-15 December").
Pass 3 resolves everything against ``today`` and picks the slots. The rules are
documented in docs/EXTRACTION.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import cast

from appliance.brain.understanding.extract.lexicon import (
    AFTER,
    ART,
    CONN,
    CUE_E,
    CUE_S,
    DAYWORD,
    DUR,
    END,
    FILL,
    IN,
    MOD,
    MONTH,
    NEG,
    NUM,
    REL,
    START,
    THE,
    UNIT,
    WD,
    WEEKEND,
)
from appliance.brain.understanding.extract.tokens import DASH, DATE, YEAR, Tok

_SKIP = frozenset({FILL, THE})
_LOOKBACK_SKIP = frozenset({FILL, THE, DUR})
_JOIN = frozenset({CONN, CUE_E, DASH})


@dataclass(slots=True)
class Atom:
    kind: str  # "day", "bare", "wd", "rel", "weekend", "nextweek", "dur", "reldur"
    i: int  # first token
    j: int  # one past the last token
    day: int | None = None
    month: int | None = None
    year: int | None = None
    wd: int | None = None
    mod: str | None = None
    offset: int = 0
    nights: int | None = None
    strength: int = 0
    role: str | None = None
    neg: bool = False
    used: bool = False


@dataclass(slots=True)
class DateResult:
    start: dt.date | None = None
    end: dt.date | None = None
    nights: int | None = None
    single: dt.date | None = None
    negated: bool = False
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    date_spans: list[tuple[int, int]] = field(default_factory=list)  # every date-like atom, for masking numbers
    unparsed_month: bool = False  # a month word no rule could use (dateparser fallback)
    year_given: bool = False  # some date in the turn named its year ("5 June 2027")
    weekday_conflict: tuple[dt.date, int] | None = None  # "Friday 5 December" when the 5th is a Saturday


def _nxt(toks: list[Tok], i: int) -> int:
    n = len(toks)
    while i < n and toks[i].kind in _SKIP:
        i += 1
    return i


def _atoms(toks: list[Tok]) -> list[Atom]:
    out: list[Atom] = []
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        k = t.kind
        if k == DATE:
            d, m, y = cast(tuple[int, int, int | None], t.val)  # DATE tokens carry (day, month, year or None)
            out.append(Atom("day", i, i + 1, day=d, month=m, year=y, strength=2))
        elif k in (NUM, ART):
            j = _nxt(toks, i + 1)
            nk = toks[j].kind if j < n else None
            val = int(t.val)  # type: ignore[call-overload]
            if k == ART and nk == NUM:  # "a couple of nights": the number carries the count
                i += 1
                continue
            if j < n and nk == FILL:
                j += 1
            if nk == UNIT and t.strength < 2:
                unit = int(toks[j].val)  # type: ignore[call-overload]
                prev = toks[i - 1].kind if i else None
                after = j + 1 < n and toks[j + 1].kind == AFTER
                if prev == IN or after:
                    out.append(Atom("rel", i, j + (2 if after else 1), offset=val * unit, strength=2))
                else:
                    out.append(Atom("dur", i, j + 1, nights=val * unit))
                i = j + 1
                continue
            if nk == WEEKEND and val == 1:
                out.append(Atom("dur", i, j + 1, nights=1))
                i = j + 1
                continue
            if k == ART or not 1 <= val <= 31 or t.strength < 0:
                i += 1
                continue
            if nk == MONTH:
                mt = toks[j]
                end = j + 1
                y = None
                if end < n and toks[end].kind == YEAR:
                    y = int(toks[end].val)  # type: ignore[call-overload]
                    end += 1
                out.append(Atom("day", i, end, day=val, month=int(mt.val), year=y, strength=2, role=mt.role))  # type: ignore[call-overload]
                i = end
                continue
            strength = t.strength
            if nk == DAYWORD or (i and toks[i - 1].kind == THE and strength >= 0):
                strength = 2
            kind = "day" if strength == 2 else "bare"
            out.append(Atom(kind, i, j + 1 if nk == DAYWORD else i + 1, day=val, strength=strength, role=t.role))
        elif k == MONTH:
            j = _nxt(toks, i + 1)
            if j < n and toks[j].kind == NUM and 1 <= int(toks[j].val) <= 31 and toks[j].strength >= 0:  # type: ignore[call-overload]
                nj = _nxt(toks, j + 1)
                if not (nj < n and toks[nj].kind == UNIT):
                    end = j + 1
                    y = None
                    if end < n and toks[end].kind == YEAR:
                        y = int(toks[end].val)  # type: ignore[call-overload]
                        end += 1
                    out.append(Atom("day", i, end, day=int(toks[j].val), month=int(t.val), year=y, strength=2))  # type: ignore[call-overload]
                    i = end
                    continue
        elif k == REL:
            out.append(Atom("rel", i, i + 1, offset=int(t.val), role=t.role, strength=2))  # type: ignore[call-overload]
        elif k == MOD:
            j = _nxt(toks, i + 1)
            if j < n:
                nt = toks[j]
                if nt.kind == WD:
                    out.append(Atom("wd", i, j + 1, wd=int(nt.val), mod=str(t.val), role=nt.role or t.role))  # type: ignore[call-overload]
                    i = j + 1
                    continue
                if nt.kind == WEEKEND:
                    out.append(Atom("weekend", i, j + 1, mod=str(t.val)))
                    i = j + 1
                    continue
                if nt.kind == UNIT and nt.val == 7 and t.val == "next":
                    out.append(Atom("nextweek", i, j + 1))
                    i = j + 1
                    continue
        elif k == WD:
            out.append(Atom("wd", i, i + 1, wd=int(t.val), role=t.role))  # type: ignore[call-overload]
        elif k == WEEKEND:
            prev = toks[i - 1].kind if i else None
            if prev == ART:  # "a weekend": a length, not a date
                out.append(Atom("dur", i - 1, i + 1, nights=1))
            else:
                out.append(Atom("weekend", i, i + 1, mod="this"))
        elif k == UNIT and t.implied:
            prev = toks[i - 1].kind if i else None
            unit = int(t.val)  # type: ignore[call-overload]
            if prev == IN:
                out.append(Atom("rel", i - 1, i + 1, offset=unit, strength=2))
            elif prev == DUR or t.text.endswith("ks") or t.text == "overnight":
                out.append(Atom("dur", i, i + 1, nights=unit))
        i += 1
    return out


def _lookback(toks: list[Tok], atoms: list[Atom]) -> None:
    """Roles from cues before an atom ("from", "alates", "с", "kuni", "до") and negation ("not", "не")."""
    for a in atoms:
        p = a.i - 1
        steps = 0
        while p >= 0 and steps < 4:
            t = toks[p]
            if t.kind in _LOOKBACK_SKIP:
                pass
            elif t.kind == CUE_S and a.role is None:
                a.role = START
            elif (t.kind == CUE_E or (t.kind == CONN and t.role == END)) and a.role is None:
                a.role = END
            elif t.kind == NEG:
                a.neg = True
                break
            else:
                break
            p -= 1
            steps += 1


def _joined(toks: list[Tok], a: Atom, b: Atom) -> bool:
    if b.i <= a.j:
        return False
    between = toks[a.j : b.i]
    if not between or any(t.kind not in _JOIN and t.kind not in _SKIP for t in between):
        return False
    conns = [t for t in between if t.kind in _JOIN]
    if not conns:
        return False
    if all(t.kind == CONN and t.val == "and" for t in conns):
        return a.role == START  # "between X and Y"
    return True


_DATEISH = frozenset({"day", "bare", "wd", "rel"})


def _pair_ranges(toks: list[Tok], atoms: list[Atom]) -> list[tuple[Atom, Atom]]:
    pairs: list[tuple[Atom, Atom]] = []
    for a, b in zip(atoms, atoms[1:], strict=False):
        if a.used or a.kind not in _DATEISH or b.kind not in _DATEISH or not _joined(toks, a, b):
            continue
        if a.kind == "bare" and b.kind == "bare":
            if a.strength < 1 or b.strength < 1:
                continue
            a.kind = b.kind = "day"
        if a.kind == "bare":
            if b.kind != "day" or b.month is None:
                continue
            a.kind, a.month, a.year = "day", b.month, b.year
            if a.day is not None and b.day is not None and a.day > b.day:  # "30.-2. jaanuar"
                a.month = 12 if b.month == 1 else b.month - 1
                a.year = None
        elif b.kind == "bare":
            if a.kind != "day":
                continue
            b.kind, b.month, b.year = "day", a.month, a.year
            if a.month is not None and a.day is not None and b.day is not None and b.day < a.day:
                b.month = 1 if a.month == 12 else a.month + 1
                b.year = None
        elif a.kind == "day" and b.kind == "day" and a.month is None and b.month is not None:
            a.month = b.month  # "from the 10th to the 15th of December"
        a.used = b.used = True
        a.role, b.role = START, END
        pairs.append((a, b))
    return pairs


def _next_dom(day: int, month: int | None, year: int | None, ref: dt.date) -> dt.date | None:
    """The first date on or after ``ref`` with this day (and month), or the exact date when a year is given."""
    if year is not None:
        if month is None:
            return None
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    if month is not None:
        for y in range(ref.year, ref.year + 5):
            try:
                d = dt.date(y, month, day)
            except ValueError:
                continue
            if d >= ref:
                return d
        return None
    y, m = ref.year, ref.month
    for _ in range(13):
        try:
            d = dt.date(y, m, day)
            if d >= ref:
                return d
        except ValueError:
            pass
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return None


def _resolve(a: Atom, today: dt.date, after: dt.date | None = None) -> dt.date | None:
    ref = after or today
    if a.kind == "day":
        assert a.day is not None
        return _next_dom(a.day, a.month, a.year, ref)
    if a.kind == "wd":
        assert a.wd is not None
        if after is not None or a.mod == "this":
            return ref + dt.timedelta(days=(a.wd - ref.weekday()) % 7)
        return ref + dt.timedelta(days=(a.wd - ref.weekday() - 1) % 7 + 1)
    if a.kind == "rel":
        return today + dt.timedelta(days=a.offset)
    return None


def _weekdays_with_dates(toks: list[Tok], atoms: list[Atom]) -> tuple[list[Atom], list[tuple[int, Atom]]]:
    """A weekday said right next to a date ("Friday 5 December", "5. detsember, reede") names the
    same day: it is taken out of the atoms (the date decides) and returned with its date, to be
    checked once the date is resolved."""
    said: list[tuple[int, Atom]] = []
    drop: set[int] = set()
    for a, b in zip(atoms, atoms[1:], strict=False):
        if {a.kind, b.kind} not in ({"wd", "day"}, {"wd", "bare"}) or a.neg or b.neg:
            continue
        if any(t.kind not in _SKIP for t in toks[a.j : b.i]):
            continue
        wd, day = (a, b) if a.kind == "wd" else (b, a)
        if wd.mod is not None or id(wd) in drop:
            continue
        assert wd.wd is not None
        drop.add(id(wd))
        if day.kind == "bare":
            day.strength = max(day.strength, 1)  # "Friday the 5th": a weekday makes a bare number a date
        day.role = day.role or wd.role
        day.i, day.j = min(day.i, wd.i), max(day.j, wd.j)  # the weekday is part of the date's words
        said.append((wd.wd, day))
    return [a for a in atoms if id(a) not in drop], said


def weekend_saturday(today: dt.date, mod: str | None) -> dt.date:
    """The Saturday a weekend phrase means.

    "this weekend": the coming Saturday (today on a Saturday). "next weekend": one week later when
    today is Friday, Saturday or Sunday, else the coming Saturday.
    """
    wd = today.weekday()
    sat = today + dt.timedelta(days=(5 - wd) % 7)
    if mod == "next" and wd in (4, 5, 6):
        sat += dt.timedelta(days=7)
    return sat


def parse_dates(toks: list[Tok], today: dt.date) -> DateResult:
    res = DateResult()
    if not toks:
        return res
    atoms = _atoms(toks)
    used_months = {i for a in atoms for i in range(a.i, a.j) if toks[i].kind == MONTH}
    # a month word no rule could place, with a number nearby: worth asking dateparser
    res.unparsed_month = any(
        t.kind == MONTH and i not in used_months and any(x.kind in (NUM, YEAR) for x in toks[max(0, i - 3) : i + 4])
        for i, t in enumerate(toks)
    )
    if not atoms:
        return res
    res.date_spans = [(toks[a.i].start, toks[a.j - 1].end) for a in atoms if a.kind != "bare"]
    res.year_given = any(a.year is not None and not a.neg for a in atoms)
    _lookback(toks, atoms)
    atoms, said_weekdays = _weekdays_with_dates(toks, atoms)
    pairs = _pair_ranges(toks, atoms)
    res.negated = any(a.neg for a in atoms)

    def span(a: Atom, b: Atom | None = None) -> tuple[int, int]:
        return toks[a.i].start, toks[(b or a).j - 1].end

    ranges: list[tuple[int, dt.date, dt.date, tuple[int, int]]] = []
    for a, b in pairs:
        if a.neg:
            continue
        s = _resolve(a, today)
        if s is None:
            continue
        e = _resolve(b, today, after=s + dt.timedelta(days=1)) if b.kind != "rel" else _resolve(b, today)
        if e is None:
            continue
        ranges.append((a.i, s, e, span(a, b)))
    singles: list[tuple[Atom, dt.date]] = []
    durs: list[Atom] = []
    for a in atoms:
        if a.neg or a.used:
            continue
        if a.kind == "weekend":
            sat = weekend_saturday(today, a.mod)
            ranges.append((a.i, sat, sat + dt.timedelta(days=1), span(a)))
        elif a.kind == "nextweek":
            mon = today + dt.timedelta(days=7 - today.weekday())
            ranges.append((a.i, mon, mon + dt.timedelta(days=7), span(a)))
        elif a.kind == "dur":
            durs.append(a)
        elif a.kind == "bare" and not (a.strength >= 1 and a.role):
            continue
        else:
            if a.kind == "bare":
                a.kind = "day"
            d = _resolve(a, today)
            if d is not None:
                singles.append((a, d))
    if ranges:
        _, res.start, res.end, sp = ranges[-1]
        res.spans["start"] = res.spans["end"] = sp
    for a, d in singles:
        if a.role == START and res.start is None:
            res.start = d
            res.spans["start"] = span(a)
        elif a.role == END and res.end is None:
            if res.start is not None and a.kind in ("wd", "day") and d <= res.start:
                d = _resolve(a, today, after=res.start + dt.timedelta(days=1)) or d
            res.end = d
            res.spans["end"] = span(a)
    loose = [(a, d) for a, d in singles if a.role is None]
    if loose:
        a, d = loose[-1]
        res.single = d
        res.spans["single_date"] = span(a)
    if durs:
        res.nights = durs[-1].nights
        res.spans["nights"] = span(durs[-1])
    for wd, day in said_weekdays:
        d = _resolve(day, today) if day.kind == "day" else None
        if d is not None and d.weekday() != wd:
            res.weekday_conflict = (d, wd)
    return res
