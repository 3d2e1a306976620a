"""Dates a receptionist would question.

A weekday said with a date that falls on another weekday ("Friday 5 December" when the 5th is a
Saturday) is asked about, naming the weekday the date really has; neither is guessed.

A day and month said without a year are resolved to the next such day, so "20 November" said on
1 December means November of next year, and "20 December" said in January means eleven months
ahead. Both are more often a slip (a past date, a wrong month) than a plan, so a start date said
without its year that lies more than :data:`YEAR_CHECK_DAYS` ahead is read back with the year and
confirmed before it is used. Read-backs name the year of any date outside the current year
(``text/render.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from appliance.brain.state import Awaiting, DialogueState
from appliance.brain.text.render import DateWithYear, DayMonth, Part, Word
from appliance.brain.understanding.extract import Extraction

YEAR_CHECK_DAYS = 180


def start_candidate(state: DialogueState, ex: Extraction) -> dt.date | None:
    """The date this turn would make the start date (the same choice ``_apply_slots`` makes)."""
    if ex.start is not None:
        return ex.start
    if ex.single_date is None or ex.end is not None:
        return None
    s, awaiting = state.slots, state.awaiting
    takes_end = awaiting is Awaiting.END_DATE or (s.start_date is not None and awaiting is not Awaiting.START_DATE)
    if takes_end and s.start_date is not None and ex.single_date > s.start_date:
        return None
    return ex.single_date


def hold_questionable(state: DialogueState, ex: Extraction, today: dt.date) -> tuple[Extraction, Part | None]:
    """Keep a far start date said without its year aside: returns the extraction without its dates
    and the question to ask, or the extraction unchanged and None."""
    start = start_candidate(state, ex)
    if start is None or ex.year_given or (start - today).days <= YEAR_CHECK_DAYS:
        return ex, None
    end = ex.end if ex.start is not None else None
    state.pending_dates = [start.isoformat(), end.isoformat() if end else ""]
    held = dataclasses.replace(ex, start=None, end=None, single_date=None)
    return held, Part("confirm_year", {"date": DateWithYear(start)})


def answer(state: DialogueState, ex: Extraction) -> tuple[Extraction, bool]:
    """The reply to "do you mean <date with year>?". Yes: the held dates, now with a confirmed year.
    No: nothing (the caller is asked for the date again; returns True). Anything else (new dates,
    say) is taken as it comes."""
    pending, state.pending_dates = state.pending_dates, []
    state.awaiting = None
    if ex.yes is True and pending:
        start = dt.date.fromisoformat(pending[0])
        end = dt.date.fromisoformat(pending[1]) if pending[1] else ex.end
        return dataclasses.replace(ex, start=start, end=end, single_date=None, yes=None, year_given=True), False
    if ex.yes is False and start_candidate(state, ex) is None:
        state.awaiting = Awaiting.START_DATE
        return ex, True
    return ex, False


def weekday_question(ex: Extraction) -> tuple[Extraction, Part | None]:
    """A date and a weekday that disagree: the extraction without its dates, and the question."""
    if ex.weekday_conflict is None:
        return ex, None
    day, said = ex.weekday_conflict
    question = Part(
        "weekday_conflict",
        {"date": DayMonth(day), "actual": Word(f"weekday_{day.weekday()}"), "said": Word(f"weekday_{said}")},
    )
    return dataclasses.replace(ex, start=None, end=None, single_date=None, nights=None), question
