"""Dates a receptionist would question, on the real brain: a start date said without a year
that lies far ahead (it has passed this year, or is most of a year away) is read back with its
year and confirmed; read-backs name the year of any date outside the current one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.integration.test_conversations import NOW, Convo, make_config

# NOW is Tuesday 1 December 2026.
CASES = [
    # lang, request with a passed date, the year as written in the question, yes, words of the read-back year
    ("en", "I want to book a room for my dog Rex from 20 November to 23 November", "2027", "yes", "2027"),
    ("et", "Soovin broneerida toa koerale Rex 20. novembrist 23. novembrini", "2027", "jah", "2027"),
    ("ru", "Хочу забронировать номер для собаки Рекс с 20 ноября по 23 ноября", "2027", "да", "2027"),
]


@pytest.mark.parametrize(("lang", "request_text", "year", "yes", "readback_year"), CASES)
def test_a_passed_date_is_asked_about_with_its_year(
    tmp_path: Path, lang: str, request_text: str, year: str, yes: str, readback_year: str
) -> None:
    c = Convo(make_config(tmp_path), session=f"year-{lang}")
    try:
        asked = c.say(request_text, lang)
        assert year in asked.text, asked.text
        assert asked.awaiting == "confirmation"
        assert [q.value for q in asked.quick_replies]  # yes / no offered
        later = c.say(yes, lang)
        # the dates are taken: the next question is about the owner, not the dates
        assert later.slots.get("start_date") == "2027-11-20" and later.slots.get("end_date") == "2027-11-23"
        assert later.awaiting not in ("start_date", "end_date", "confirmation"), later.text
    finally:
        c.close()


@pytest.mark.parametrize(
    ("lang", "request_text", "no", "ask_words"),
    [
        ("en", "A room for my cat Tom from 25 November please", "no", "When"),
        ("et", "Tuba kassile Tom alates 25. novembrist", "ei", "Millal"),
        ("ru", "Номер для кошки Том с 25 ноября", "нет", "Когда"),
    ],
)
def test_no_to_the_year_question_asks_for_the_date_again(
    tmp_path: Path, lang: str, request_text: str, no: str, ask_words: str
) -> None:
    c = Convo(make_config(tmp_path), session=f"year-no-{lang}")
    try:
        c.say(request_text, lang)
        again = c.say(no, lang)
        assert again.awaiting == "start_date", again.text
        assert ask_words in again.text
        assert again.slots.get("start_date") is None
    finally:
        c.close()


@pytest.mark.parametrize(
    ("lang", "request_text"),
    [
        ("en", "A room for my dog Rex from 5 January to 8 January"),
        ("et", "Tuba koerale Rex 5. jaanuarist 8. jaanuarini"),
        ("ru", "Номер для собаки Рекс с 5 января по 8 января"),
    ],
)
def test_a_near_date_next_year_is_not_questioned_but_read_back_with_its_year(
    tmp_path: Path, lang: str, request_text: str
) -> None:
    c = Convo(make_config(tmp_path), session=f"near-{lang}")
    try:
        reply = c.say(request_text, lang)
        assert reply.slots.get("start_date") == "2027-01-05", reply.text
        for text in ("Mari Maasikas", "+372 5123 4567"):
            reply = c.say(text)
        assert reply.awaiting == "confirmation", reply.text
        assert "2027" in reply.text  # the summary names the year: it is not the current one
    finally:
        c.close()


def test_a_date_this_year_is_read_back_without_a_year(tmp_path: Path) -> None:
    c = Convo(make_config(tmp_path), session="this-year")
    try:
        for text in ("A room for my dog Rex from 10 December to 12 December", "Mari Maasikas", "+372 5123 4567"):
            reply = c.say(text, "en")
        assert reply.awaiting == "confirmation", reply.text
        assert str(NOW.year) not in reply.text and "2027" not in reply.text
    finally:
        c.close()


def test_an_explicit_year_is_not_questioned(tmp_path: Path) -> None:
    c = Convo(make_config(tmp_path), session="explicit")
    try:
        reply = c.say("A room for my dog Rex from 20 November 2027 to 23 November 2027", "en")
        assert reply.slots.get("start_date") == "2027-11-20" and reply.awaiting != "confirmation", reply.text
    finally:
        c.close()


def test_the_year_question_is_kept_across_a_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    first = Convo(cfg, session="restart")
    try:
        assert "2027" in first.say("I want to book a room for my dog Rex from 20 November to 23 November").text
    finally:
        first.close()
    second = Convo(cfg, session="restart")
    try:
        reply = second.say("yes")
        assert reply.slots.get("start_date") == "2027-11-20", reply.text
    finally:
        second.close()


assert dt.date(2026, 11, 20) < NOW.date()  # the premise of the first case


@pytest.mark.parametrize(
    ("lang", "book", "change", "new_dates", "yes"),
    [
        (
            "en",
            ["A room for my dog Rex from 10 December to 12 December", "Mari Maasikas", "+372 5123 4567", "yes"],
            "I want to change booking {id}",
            "20 November to 23 November",
            "yes",
        ),
        (
            "et",
            ["Tuba koerale Rex 10. detsembrist 12. detsembrini", "Mari Maasikas", "+372 5123 4567", "jah"],
            "Soovin muuta broneeringut {id}",
            "20. novembrist 23. novembrini",
            "jah",
        ),
        (
            "ru",
            ["Номер для собаки Рекс с 10 декабря по 12 декабря", "Мария Иванова", "+372 5123 4567", "да"],
            "Хочу изменить бронь {id}",
            "с 20 ноября по 23 ноября",
            "да",
        ),
    ],
)
def test_a_change_to_a_passed_date_is_asked_about_too(
    tmp_path: Path, lang: str, book: list[str], change: str, new_dates: str, yes: str
) -> None:
    cfg = make_config(tmp_path)
    first = Convo(cfg, session=f"book-{lang}")
    try:
        for text in book:
            reply = first.say(text, lang)
        booking_id = reply.booking_id
        assert booking_id
    finally:
        first.close()
    c = Convo(cfg, session=f"change-{lang}")
    try:
        c.say(change.format(id=booking_id), lang)
        asked = c.say(new_dates, lang)
        assert "2027" in asked.text and asked.awaiting == "confirmation", asked.text
        read_back = c.say(yes, lang)
        assert "2027" in read_back.text and read_back.awaiting == "confirmation", read_back.text
        done = c.say(yes, lang)
        assert done.booking_id == booking_id
        rows = c.rows("SELECT start_date, end_date FROM bookings WHERE id = ?", booking_id)
        assert rows == [("2027-11-20", "2027-11-23")]
    finally:
        c.close()
