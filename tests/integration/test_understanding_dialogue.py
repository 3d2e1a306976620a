"""The understanding classes through the real brain (real SQLite, rules only), per language."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_conversations import Convo, make_config

IDENTIFY = ("booking number", "broneeringu number", "номер брони")


@pytest.mark.parametrize(
    ("lang", "text", "answer_words"),
    [
        ("en", "How does cancelling work?", "48 hours"),
        ("en", "What is your cancellation policy?", "48 hours"),
        ("et", "Kuidas tühistamine käib?", "48 tundi"),
        ("et", "Mis tingimustel saab broneeringu tühistada?", "48 tundi"),
        ("ru", "Как работает отмена брони?", "48 часов"),
        ("ru", "Какие условия отмены брони?", "48 часов"),
    ],
)
def test_how_questions_get_the_knowledge_base_answer(tmp_path: Path, lang: str, text: str, answer_words: str) -> None:
    c = Convo(make_config(tmp_path), session=f"how-{lang}")
    try:
        reply = c.say(text, lang)
        assert answer_words in reply.text, reply.text
        assert not any(w in reply.text for w in IDENTIFY) and reply.awaiting != "booking_id"
    finally:
        c.close()


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "I'm Mari Tamm, please book a room for my dog Rex from 10 to 12 December, my phone is +372 5123 4567"),
        ("en", "Could my dog Rex stay with you from 10 to 12 December? I'm Mari Tamm, phone +372 5123 4567"),
        ("et", "Olen Mari Tamm, soovin broneerida toa koerale Rex 10. kuni 12. detsembrini, telefon +372 5123 4567"),
        (
            "et",
            "Kas mu koer Rex saaks teie juures olla 10. kuni 12. detsembrini? Mu nimi on Mari Tamm, telefon +372 5123 4567",
        ),
        (
            "ru",
            "Меня зовут Мария Иванова, хочу забронировать номер для собаки Рекс с 10 по 12 декабря, телефон +372 5123 4567",
        ),
        (
            "ru",
            "Может ли моя собака Рекс пожить у вас с 10 по 12 декабря? Меня зовут Мария Иванова, телефон +372 5123 4567",
        ),
    ],
)
def test_details_in_the_request_are_used_at_once(tmp_path: Path, lang: str, text: str) -> None:
    c = Convo(make_config(tmp_path), session=f"all-{lang}")
    try:
        reply = c.say(text, lang)
        assert reply.awaiting == "confirmation", reply.text  # nothing asked again: straight to the read-back
        assert reply.slots["owner_phone"] == "+37251234567" and reply.slots["pet_name"] in ("Rex", "Рекс")
        assert c.say({"en": "yes", "et": "jah", "ru": "да"}[lang], lang).booking_id
    finally:
        c.close()


@pytest.mark.parametrize(
    ("lang", "text", "words", "answer"),
    [
        ("en", "A room for my dog Rex from Friday 5 December", ("Saturday", "Friday"), "Saturday 5 December"),
        ("et", "Tuba koerale Rex alates reedest, 5. detsembrist", ("laupäev", "reede"), "laupäeval 5. detsembril"),
        ("ru", "Номер для собаки Рекс с пятницы 5 декабря", ("суббота", "пятница"), "в субботу 5 декабря"),
    ],
)
def test_a_weekday_and_date_that_disagree_are_asked_about(
    tmp_path: Path, lang: str, text: str, words: tuple[str, str], answer: str
) -> None:
    c = Convo(make_config(tmp_path), session=f"wd-{lang}")
    try:
        reply = c.say(text, lang)
        assert all(w in reply.text for w in words), reply.text
        assert reply.awaiting == "start_date" and not reply.slots.get("start_date")
        reply = c.say(answer, lang)
        assert reply.slots.get("start_date") == "2026-12-05", reply.text
    finally:
        c.close()


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "<b>Book</b> a room for my dog <i>Rex</i> from 10 to 12 December"),
        ("et", "```\nrm -rf /\n```\nSoovin broneerida toa koerale Rex 10. kuni 12. detsembrini"),
        ("ru", "<script>alert(1)</script>Хочу забронировать номер для собаки Рекс с 10 по 12 декабря"),
    ],
)
def test_pasted_markup_does_not_refuse_the_message(tmp_path: Path, lang: str, text: str) -> None:
    c = Convo(make_config(tmp_path), session=f"md-{lang}")
    try:
        reply = c.say(text, lang)
        assert reply.slots.get("start_date") == "2026-12-10" and reply.slots.get("pet_name") in ("Rex", "Рекс")
    finally:
        c.close()
