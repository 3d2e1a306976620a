"""Dates, ranges and durations in English, Estonian and Russian (table-driven).

``TODAY`` is Wednesday 18 November 2026 unless a case says otherwise.
"""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.brain.understanding.extract import extract

TODAY = dt.date(2026, 11, 18)  # a Wednesday
D = dt.date

# (language, text, start, end) for utterances that give both ends of a stay
RANGES = [
    ("en", "from the 10th to the 15th", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "from the 20th to the 25th", D(2026, 11, 20), D(2026, 11, 25)),
    ("en", "10-15 December", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "10 - 15 December", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "December 10-15", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "December 10th to December 15th", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "from 10 December until 15 December", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "from the 10th to the 15th of December", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "between the 3rd and the 7th of January", D(2027, 1, 3), D(2027, 1, 7)),
    ("en", "30 December to 2 January", D(2026, 12, 30), D(2027, 1, 2)),
    ("en", "from 10.12 to 15.12", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "10.12.2027 - 15.12.2027", D(2027, 12, 10), D(2027, 12, 15)),
    ("en", "2026-12-10 to 2026-12-15", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "from Friday to Sunday", D(2026, 11, 20), D(2026, 11, 22)),
    ("en", "Friday till Monday", D(2026, 11, 20), D(2026, 11, 23)),
    ("en", "from tomorrow until Sunday", D(2026, 11, 19), D(2026, 11, 22)),
    ("en", "this weekend", D(2026, 11, 21), D(2026, 11, 22)),
    ("en", "next weekend", D(2026, 11, 21), D(2026, 11, 22)),
    ("en", "for the weekend", D(2026, 11, 21), D(2026, 11, 22)),
    ("en", "next week", D(2026, 11, 23), D(2026, 11, 30)),
    ("en", "I need a room for my dog from the tenth to the fifteenth of December", D(2026, 12, 10), D(2026, 12, 15)),
    ("en", "drop off on Friday and pick up on Sunday", D(2026, 11, 20), D(2026, 11, 22)),
    ("et", "10.-15. detsembrini", D(2026, 12, 10), D(2026, 12, 15)),
    ("et", "10. kuni 15. detsember", D(2026, 12, 10), D(2026, 12, 15)),
    ("et", "10. detsembrist 15. detsembrini", D(2026, 12, 10), D(2026, 12, 15)),
    ("et", "alates 10. detsembrist kuni 15. detsembrini", D(2026, 12, 10), D(2026, 12, 15)),
    ("et", "10.-15. jaanuarini", D(2027, 1, 10), D(2027, 1, 15)),
    ("et", "10.12-15.12", D(2026, 12, 10), D(2026, 12, 15)),
    ("et", "reedest pühapäevani", D(2026, 11, 20), D(2026, 11, 22)),
    ("et", "reedest kuni esmaspäevani", D(2026, 11, 20), D(2026, 11, 23)),
    ("et", "homsest kuni pühapäevani", D(2026, 11, 19), D(2026, 11, 22)),
    ("et", "sel nädalavahetusel", D(2026, 11, 21), D(2026, 11, 22)),
    ("et", "järgmisel nädalavahetusel", D(2026, 11, 21), D(2026, 11, 22)),
    ("et", "nädalavahetuseks", D(2026, 11, 21), D(2026, 11, 22)),
    ("et", "järgmisel nädalal", D(2026, 11, 23), D(2026, 11, 30)),
    ("et", "järgmiseks nädalaks", D(2026, 11, 23), D(2026, 11, 30)),
    ("et", "kahekümnendast kuni kahekümne viienda novembrini", D(2026, 11, 20), D(2026, 11, 25)),
    ("ru", "с 10 по 15 декабря", D(2026, 12, 10), D(2026, 12, 15)),
    ("ru", "с 10 до 15 декабря", D(2026, 12, 10), D(2026, 12, 15)),
    ("ru", "с 10-го по 15-е декабря", D(2026, 12, 10), D(2026, 12, 15)),
    ("ru", "с десятого по пятнадцатое декабря", D(2026, 12, 10), D(2026, 12, 15)),
    ("ru", "с 10 декабря по 15 декабря", D(2026, 12, 10), D(2026, 12, 15)),
    ("ru", "с 30 декабря по 2 января", D(2026, 12, 30), D(2027, 1, 2)),
    ("ru", "10-15 декабря", D(2026, 12, 10), D(2026, 12, 15)),
    ("ru", "с пятницы до воскресенья", D(2026, 11, 20), D(2026, 11, 22)),
    ("ru", "с завтрашнего дня до воскресенья", D(2026, 11, 19), D(2026, 11, 22)),
    ("ru", "на этих выходных", D(2026, 11, 21), D(2026, 11, 22)),
    ("ru", "в следующие выходные", D(2026, 11, 21), D(2026, 11, 22)),
    ("ru", "на выходные", D(2026, 11, 21), D(2026, 11, 22)),
    ("ru", "на следующей неделе", D(2026, 11, 23), D(2026, 11, 30)),
    ("ru", "на следующую неделю", D(2026, 11, 23), D(2026, 11, 30)),
    ("ru", "с 20 по 25 ноября", D(2026, 11, 20), D(2026, 11, 25)),
]


@pytest.mark.parametrize(("lang", "text", "start", "end"), RANGES)
def test_ranges(lang: str, text: str, start: dt.date, end: dt.date) -> None:
    e = extract(text, lang, today=TODAY)
    assert (e.start, e.end) == (start, end), e
    assert e.single_date is None
    assert "start" in e.spans and "end" in e.spans


# (language, text, date) for one date with no role
SINGLES = [
    ("en", "today", D(2026, 11, 18)),
    ("en", "tomorrow", D(2026, 11, 19)),
    ("en", "the day after tomorrow", D(2026, 11, 20)),
    ("en", "day after tomorrow", D(2026, 11, 20)),
    ("en", "on Friday", D(2026, 11, 20)),
    ("en", "Friday", D(2026, 11, 20)),
    ("en", "next Friday", D(2026, 11, 20)),
    ("en", "this Friday", D(2026, 11, 20)),
    ("en", "Wednesday", D(2026, 11, 25)),
    ("en", "this Wednesday", D(2026, 11, 18)),
    ("en", "on Monday", D(2026, 11, 23)),
    ("en", "10 December", D(2026, 12, 10)),
    ("en", "December 10th", D(2026, 12, 10)),
    ("en", "December 10", D(2026, 12, 10)),
    ("en", "Dec 10", D(2026, 12, 10)),
    ("en", "the 10th of December", D(2026, 12, 10)),
    ("en", "the tenth of December", D(2026, 12, 10)),
    ("en", "December the twenty-first", D(2026, 12, 21)),
    ("en", "the 10th", D(2026, 12, 10)),
    ("en", "on the 20th", D(2026, 11, 20)),
    ("en", "the 18th", D(2026, 11, 18)),
    ("en", "the 31st", D(2026, 12, 31)),
    ("en", "10.12", D(2026, 12, 10)),
    ("en", "10.12.2026", D(2026, 12, 10)),
    ("en", "10/12/2026", D(2026, 12, 10)),
    ("en", "2026-12-10", D(2026, 12, 10)),
    ("en", "10 December 2027", D(2027, 12, 10)),
    ("en", "1 March", D(2027, 3, 1)),
    ("en", "March 1st", D(2027, 3, 1)),
    ("en", "17 November", D(2027, 11, 17)),
    ("en", "18 November", D(2026, 11, 18)),
    ("en", "February 29", D(2028, 2, 29)),
    ("en", "in 3 days", D(2026, 11, 21)),
    ("en", "in a week", D(2026, 11, 25)),
    ("en", "May I come on the 3rd of May?", D(2027, 5, 3)),
    ("et", "täna", D(2026, 11, 18)),
    ("et", "homme", D(2026, 11, 19)),
    ("et", "ülehomme", D(2026, 11, 20)),
    ("et", "reedel", D(2026, 11, 20)),
    ("et", "järgmisel reedel", D(2026, 11, 20)),
    ("et", "tuleval esmaspäeval", D(2026, 11, 23)),
    ("et", "pühapäeval", D(2026, 11, 22)),
    ("et", "10. detsember", D(2026, 12, 10)),
    ("et", "10. detsembril", D(2026, 12, 10)),
    ("et", "10 detsembril", D(2026, 12, 10)),
    ("et", "1. jaanuaril", D(2027, 1, 1)),
    ("et", "5. jaanuari", D(2027, 1, 5)),
    ("et", "3. veebruaril", D(2027, 2, 3)),
    ("et", "3. märtsil", D(2027, 3, 3)),
    ("et", "3. aprillil", D(2027, 4, 3)),
    ("et", "3. mail", D(2027, 5, 3)),
    ("et", "3. juunil", D(2027, 6, 3)),
    ("et", "3. juulil", D(2027, 7, 3)),
    ("et", "3. augustil", D(2027, 8, 3)),
    ("et", "3. septembril", D(2027, 9, 3)),
    ("et", "3. oktoobril", D(2027, 10, 3)),
    ("et", "30. novembril", D(2026, 11, 30)),
    ("et", "kümnendal detsembril", D(2026, 12, 10)),
    ("et", "kahekümne esimesel detsembril", D(2026, 12, 21)),
    ("et", "10.12.2026", D(2026, 12, 10)),
    ("et", "10. kuupäeval", D(2026, 12, 10)),
    ("et", "kolme päeva pärast", D(2026, 11, 21)),
    ("ru", "сегодня", D(2026, 11, 18)),
    ("ru", "завтра", D(2026, 11, 19)),
    ("ru", "послезавтра", D(2026, 11, 20)),
    ("ru", "в пятницу", D(2026, 11, 20)),
    ("ru", "в следующую пятницу", D(2026, 11, 20)),
    ("ru", "в понедельник", D(2026, 11, 23)),
    ("ru", "в эту субботу", D(2026, 11, 21)),
    ("ru", "в воскресенье", D(2026, 11, 22)),
    ("ru", "10 декабря", D(2026, 12, 10)),
    ("ru", "10-го декабря", D(2026, 12, 10)),
    ("ru", "десятого декабря", D(2026, 12, 10)),
    ("ru", "двадцать первого декабря", D(2026, 12, 21)),
    ("ru", "1 января", D(2027, 1, 1)),
    ("ru", "3 февраля", D(2027, 2, 3)),
    ("ru", "8 марта", D(2027, 3, 8)),
    ("ru", "3 апреля", D(2027, 4, 3)),
    ("ru", "9 мая", D(2027, 5, 9)),
    ("ru", "3 июня", D(2027, 6, 3)),
    ("ru", "3 июля", D(2027, 7, 3)),
    ("ru", "3 августа", D(2027, 8, 3)),
    ("ru", "3 сентября", D(2027, 9, 3)),
    ("ru", "3 октября", D(2027, 10, 3)),
    ("ru", "30 ноября", D(2026, 11, 30)),
    ("ru", "10 числа", D(2026, 12, 10)),
    ("ru", "через три дня", D(2026, 11, 21)),
    ("ru", "через неделю", D(2026, 11, 25)),
]


@pytest.mark.parametrize(("lang", "text", "date"), SINGLES)
def test_single_dates(lang: str, text: str, date: dt.date) -> None:
    e = extract(text, lang, today=TODAY)
    assert e.single_date == date, e
    assert e.start is None and e.end is None
    assert e.spans["single_date"]


# (language, text, nights)
DURATIONS = [
    ("en", "for a week", 7),
    ("en", "a week", 7),
    ("en", "for one week", 7),
    ("en", "for two weeks", 14),
    ("en", "2 weeks", 14),
    ("en", "3 nights", 3),
    ("en", "for 3 days", 3),
    ("en", "for three nights", 3),
    ("en", "for a night", 1),
    ("en", "overnight", 1),
    ("en", "one night", 1),
    ("en", "a weekend", 1),
    ("en", "for a couple of nights", 2),
    ("en", "for twenty-one days", 21),
    ("en", "for a fortnight", 14),
    ("et", "nädalaks", 7),
    ("et", "üheks nädalaks", 7),
    ("et", "kaheks nädalaks", 14),
    ("et", "kaks ööd", 2),
    ("et", "kolm ööd", 3),
    ("et", "kolmeks päevaks", 3),
    ("et", "viieks ööks", 5),
    ("et", "ööks", 1),
    ("et", "kümneks päevaks", 10),
    ("et", "kaksteist päeva", 12),
    ("et", "kaheteistkümneks päevaks", 12),
    ("et", "kahekümne üheks päevaks", 21),
    ("et", "kolmkümmend üks päeva", 31),
    ("et", "paariks ööks", 2),
    ("et", "4 ööd", 4),
    ("ru", "на неделю", 7),
    ("ru", "на две недели", 14),
    ("ru", "на три дня", 3),
    ("ru", "две ночи", 2),
    ("ru", "на 5 ночей", 5),
    ("ru", "на ночь", 1),
    ("ru", "на одну ночь", 1),
    ("ru", "на двое суток", None),  # collective numerals are a known gap
    ("ru", "на пять дней", 5),
    ("ru", "на трое", None),
    ("ru", "на двадцать один день", 21),
    ("ru", "на пару дней", 2),
    ("ru", "на четыре ночи", 4),
    ("ru", "на десять дней", 10),
]


@pytest.mark.parametrize(("lang", "text", "nights"), DURATIONS)
def test_durations(lang: str, text: str, nights: int | None) -> None:
    e = extract(text, lang, today=TODAY)
    assert e.nights == nights, e
    assert e.start is None and e.end is None and e.single_date is None


@pytest.mark.parametrize(
    ("today", "mod", "start"),
    [
        (D(2026, 11, 16), "this", D(2026, 11, 21)),  # Monday
        (D(2026, 11, 16), "next", D(2026, 11, 21)),
        (D(2026, 11, 19), "next", D(2026, 11, 21)),  # Thursday
        (D(2026, 11, 20), "this", D(2026, 11, 21)),  # Friday
        (D(2026, 11, 20), "next", D(2026, 11, 28)),
        (D(2026, 11, 21), "this", D(2026, 11, 21)),  # Saturday
        (D(2026, 11, 21), "next", D(2026, 11, 28)),
        (D(2026, 11, 22), "this", D(2026, 11, 28)),  # Sunday
        (D(2026, 11, 22), "next", D(2026, 12, 5)),
    ],
)
def test_weekend_rule(today: dt.date, mod: str, start: dt.date) -> None:
    phrases = {
        "this": [("en", "this weekend"), ("et", "sel nädalavahetusel"), ("ru", "на этих выходных")],
        "next": [("en", "next weekend"), ("et", "järgmisel nädalavahetusel"), ("ru", "в следующие выходные")],
    }[mod]
    for lang, text in phrases:
        e = extract(text, lang, today=today)
        assert e.start == start, (lang, text, e)
        assert e.end == start + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("lang", "text", "start", "end", "nights"),
    [
        ("en", "tomorrow for 3 nights", D(2026, 11, 19), None, 3),
        ("en", "from Friday for a week", D(2026, 11, 20), None, 7),
        ("en", "until Sunday", None, D(2026, 11, 22), None),
        ("en", "from the 10th", D(2026, 12, 10), None, None),
        ("en", "starting 10 December for two weeks", D(2026, 12, 10), None, 14),
        ("et", "alates reedest", D(2026, 11, 20), None, None),
        ("et", "reedest nädalaks", D(2026, 11, 20), None, 7),
        ("et", "pühapäevani", None, D(2026, 11, 22), None),
        ("et", "kuni 15. detsembrini", None, D(2026, 12, 15), None),
        ("et", "alates 10.", D(2026, 12, 10), None, None),
        ("ru", "с пятницы на неделю", D(2026, 11, 20), None, 7),
        ("ru", "до воскресенья", None, D(2026, 11, 22), None),
        ("ru", "с 10 декабря", D(2026, 12, 10), None, None),
        ("ru", "завтра на три дня", D(2026, 11, 19), None, 3),
    ],
)
def test_roles(lang: str, text: str, start: dt.date | None, end: dt.date | None, nights: int | None) -> None:
    e = extract(text, lang, today=TODAY)
    assert (e.start, e.end, e.nights) == (start, end, nights), e


@pytest.mark.parametrize(
    ("lang", "text", "awaiting", "field", "date"),
    [
        ("en", "Sunday", "end_date", "end", D(2026, 11, 22)),
        ("en", "Sunday", "start_date", "start", D(2026, 11, 22)),
        ("en", "the 10th", "start_date", "start", D(2026, 12, 10)),
        ("en", "10 December", "end_date", "end", D(2026, 12, 10)),
        ("et", "pühapäeval", "end_date", "end", D(2026, 11, 22)),
        ("et", "homme", "start_date", "start", D(2026, 11, 19)),
        ("ru", "в воскресенье", "end_date", "end", D(2026, 11, 22)),
        ("ru", "10 декабря", "start_date", "start", D(2026, 12, 10)),
        ("en", "Sunday", "pet_name", "single_date", D(2026, 11, 22)),
        ("en", "Sunday", None, "single_date", D(2026, 11, 22)),
    ],
)
def test_awaiting_decides_role(lang: str, text: str, awaiting: str, field: str, date: dt.date) -> None:
    e = extract(text, lang, today=TODAY, awaiting=awaiting)
    assert getattr(e, field) == date, e
    assert e.pet_name is None


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "I have 2 dogs"),
        ("en", "hello"),
        ("en", "my number is 5123 4567"),
        ("en", "booking 123456"),
        ("en", "wait a second"),
        ("en", "may I ask something"),
        ("et", "mul on kaks koera"),
        ("et", "teisel pool"),
        ("ru", "у меня две собаки"),
        ("ru", "это моя собака"),
        ("en", "31 November"),
    ],
)
def test_no_date(lang: str, text: str) -> None:
    e = extract(text, lang, today=TODAY)
    assert (e.start, e.end, e.single_date, e.nights) == (None, None, None, None), e


def test_year_rollover_and_explicit_year() -> None:
    today = D(2026, 12, 28)
    assert extract("5 January", "en", today=today).single_date == D(2027, 1, 5)
    assert extract("the 2nd", "en", today=today).single_date == D(2027, 1, 2)
    assert extract("28 December", "en", today=today).single_date == D(2026, 12, 28)
    assert extract("5.1.2028", "et", today=today).single_date == D(2028, 1, 5)


def test_mixed_language_dates() -> None:
    e = extract("Hi! Я хочу book a room с 10 по 15 декабря", "en", today=TODAY)
    assert (e.start, e.end) == (D(2026, 12, 10), D(2026, 12, 15))
    e = extract("I'd like reedest pühapäevani", "en", today=TODAY)
    assert (e.start, e.end) == (D(2026, 11, 20), D(2026, 11, 22))


def test_spans_ground_the_text() -> None:
    text = "My dog Rex needs a room from 10 December to 15 December please"
    e = extract(text, "en", today=TODAY)
    assert e.spans["start"] == "10 December to 15 December"
    for value in e.spans.values():
        assert value in text


def test_dateparser_fallback_only_for_leftover_month_words() -> None:
    from appliance.brain.understanding.extract import dateparser_calls

    before = dateparser_calls()
    assert extract("10 December", "en", today=TODAY).single_date == D(2026, 12, 10)
    assert extract("in December", "en", today=TODAY).single_date is None  # no number near: not even tried
    assert dateparser_calls() == before
    # our rules do not place "10 in December"; dateparser (English/Russian only) does
    e = extract("10 in December", "en", today=TODAY)
    assert dateparser_calls() == before + 1
    assert e.single_date == D(2026, 12, 10)
    e = extract("декабрь 2026 10", "ru", today=TODAY)
    assert e.single_date == D(2026, 12, 10)
    assert e.booking_id is None  # the date's digits are not a booking number
