"""Intents, yes/no answers and corrections (table-driven), plus the public API's contract."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from appliance.brain.understanding.extract import Extraction, extract
from appliance.core.messages import Intent

TODAY = dt.date(2026, 11, 18)
IT = Intent

INTENTS = [
    ("en", "I'd like to book a room for my dog", IT.BOOK),
    ("en", "Can I make a reservation?", IT.BOOK),
    ("en", "I need to drop off my cat next week", IT.BOOK),
    ("en", "What are your opening hours?", IT.QUESTION),
    ("en", "How much does it cost per night?", IT.QUESTION),
    ("en", "Do you require vaccination?", IT.QUESTION),
    ("en", "Can you check my booking?", IT.CHECK_BOOKING),
    ("en", "Do I have a reservation?", IT.CHECK_BOOKING),
    ("en", "I want to cancel my booking", IT.CANCEL_BOOKING),
    ("en", "please cancel my reservation", IT.CANCEL_BOOKING),
    ("en", "I need to change my booking", IT.CHANGE_BOOKING),
    ("en", "can we move the reservation to Friday", IT.CHANGE_BOOKING),
    ("en", "I'd like to reschedule", IT.CHANGE_BOOKING),
    ("en", "let me talk to a person", IT.HUMAN),
    ("en", "can I speak with a human", IT.HUMAN),
    ("en", "operator", IT.HUMAN),
    ("en", "hello", IT.GREETING),
    ("en", "Good morning", IT.GREETING),
    ("en", "thanks", IT.THANKS),
    ("en", "thank you very much", IT.THANKS),
    ("en", "bye", IT.GOODBYE),
    ("en", "goodbye!", IT.GOODBYE),
    ("et", "tahaksin koerale tuba broneerida", IT.BOOK),
    ("et", "sooviksin broneeringut", IT.BOOK),
    ("et", "kas saaksin kassi tuua", IT.BOOK),
    ("et", "kui palju maksab öö?", IT.QUESTION),
    ("et", "millal te lahti olete", IT.QUESTION),
    ("et", "mis on teie hinnad", IT.QUESTION),
    ("et", "kas mul on broneering", IT.CHECK_BOOKING),
    ("et", "soovin broneeringut tühistada", IT.CANCEL_BOOKING),
    ("et", "tahan broneeringut muuta", IT.CHANGE_BOOKING),
    ("et", "palun muuda kuupäevi", IT.CHANGE_BOOKING),
    ("et", "tahan inimesega rääkida", IT.HUMAN),
    ("et", "ühendage mind töötajaga", IT.HUMAN),
    ("et", "tere", IT.GREETING),
    ("et", "aitäh", IT.THANKS),
    ("et", "nägemist", IT.GOODBYE),
    ("ru", "хочу забронировать номер для собаки", IT.BOOK),
    ("ru", "можно оставить кошку на выходные", IT.BOOK),
    ("ru", "сколько стоит ночь?", IT.QUESTION),
    ("ru", "когда вы работаете", IT.QUESTION),
    ("ru", "какие прививки нужны", IT.QUESTION),
    ("ru", "проверьте мою бронь", IT.CHECK_BOOKING),
    ("ru", "хочу отменить бронь", IT.CANCEL_BOOKING),
    ("ru", "нужно изменить бронирование", IT.CHANGE_BOOKING),
    ("ru", "можно перенести бронь", IT.CHANGE_BOOKING),
    ("ru", "соедините с оператором", IT.HUMAN),
    ("ru", "хочу поговорить с человеком", IT.HUMAN),
    ("ru", "позовите администратора", IT.HUMAN),
    ("ru", "здравствуйте", IT.GREETING),
    ("ru", "привет", IT.GREETING),
    ("ru", "спасибо", IT.THANKS),
    ("ru", "до свидания", IT.GOODBYE),
]


@pytest.mark.parametrize(("lang", "text", "intent"), INTENTS)
def test_top_intent(lang: str, text: str, intent: Intent) -> None:
    e = extract(text, lang, today=TODAY)
    assert e.intents and e.intents[0] == intent, e.intents


def test_intents_ordered_by_evidence() -> None:
    e = extract("Hi! I'd like to book a room, how much is it?", "en", today=TODAY)
    assert e.intents[0] == IT.BOOK
    assert {IT.GREETING, IT.QUESTION} <= set(e.intents)
    assert extract("Max", "en", today=TODAY).intents == ()


YES_NO = [
    ("en", "yes", None, True),
    ("en", "Yeah", None, True),
    ("en", "yep", None, True),
    ("en", "sure", None, True),
    ("en", "correct", None, True),
    ("en", "that's right", None, True),
    ("en", "please do", None, True),
    ("en", "confirm", None, True),
    ("en", "yes please, book it", None, True),
    ("en", "ok", "confirmation", True),
    ("en", "no", None, False),
    ("en", "nope", None, False),
    ("en", "don't", None, False),
    ("en", "cancel that", None, False),
    ("en", "no thanks", None, False),
    ("et", "jah", None, True),
    ("et", "jaa", None, True),
    ("et", "jep", None, True),
    ("et", "õige", None, True),
    ("et", "sobib", None, True),
    ("et", "kinnita", None, True),
    ("et", "ei", None, False),
    ("et", "ei ole", None, False),
    ("et", "ei soovi", None, False),
    ("ru", "да", None, True),
    ("ru", "ага", None, True),
    ("ru", "верно", None, True),
    ("ru", "подтверждаю", None, True),
    ("ru", "конечно", None, True),
    ("ru", "нет", None, False),
    ("ru", "не надо", None, False),
    ("ru", "не нужно", None, False),
    ("en", "I don't know yet", None, None),
    ("en", "what time do you open", None, None),
    ("en", "the right room please", None, None),
    ("ru", "давайте да", "confirmation", True),
    ("et", "jah, kinnitan", "confirmation", True),
]


@pytest.mark.parametrize(("lang", "text", "awaiting", "yes"), YES_NO)
def test_yes_no(lang: str, text: str, awaiting: str | None, yes: bool | None) -> None:
    e = extract(text, lang, today=TODAY, awaiting=awaiting)
    assert e.yes is yes, e
    assert not e.correction


CORRECTIONS = [
    ("en", "actually a week, not a weekend", {"nights": 7}),
    ("en", "no, it's a cat", {"pet_type": "cat"}),
    ("en", "no, a cat", {"pet_type": "cat"}),
    ("en", "sorry, I meant Sunday", {"single_date": dt.date(2026, 11, 22)}),
    ("en", "not a dog, a cat", {"pet_type": "cat"}),
    ("en", "no, his name is Rex", {"pet_name": "Rex"}),
    ("en", "actually 3 nights", {"nights": 3}),
    ("et", "tegelikult kass", {"pet_type": "cat"}),
    ("et", "ei, see on kass", {"pet_type": "cat"}),
    ("et", "mitte koer, vaid kass", {"pet_type": "cat"}),
    ("et", "tegelikult nädalaks", {"nights": 7}),
    ("ru", "нет, это кошка", {"pet_type": "cat"}),
    ("ru", "не на выходные, а на неделю", {"nights": 7}),
    ("ru", "не собака, а кошка", {"pet_type": "cat"}),
    ("ru", "вообще-то на три дня", {"nights": 3}),
    ("ru", "нет, в субботу", {"single_date": dt.date(2026, 11, 21)}),
]


@pytest.mark.parametrize(("lang", "text", "want"), CORRECTIONS)
def test_corrections(lang: str, text: str, want: dict[str, object]) -> None:
    e = extract(text, lang, today=TODAY, awaiting="confirmation")
    assert e.correction, e
    assert e.yes is None, e
    for k, v in want.items():
        assert getattr(e, k) == v, e


def test_no_correction_on_plain_answers() -> None:
    for text, lang in [("a week", "en"), ("kass", "et"), ("кошка", "ru"), ("yes, a cat", "en")]:
        assert not extract(text, lang, today=TODAY).correction


def test_contract() -> None:
    e = extract("", "en", today=TODAY)
    assert e == Extraction(intents=())
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.pet_name = "x"  # type: ignore[misc]
    # unknown session language (a tenant's extra language): the built-in rules still run
    assert extract("my dog Max, tomorrow", "fi", today=TODAY).pet_name == "Max"
    # huge and hostile input does not break anything
    long = "tomorrow " * 300 + "!!! ((( 123 --- \x00 "
    assert extract(long, "en", today=TODAY).single_date == TODAY + dt.timedelta(days=1)


def test_full_turns() -> None:
    e = extract(
        "Hello, I'm Mari Tamm, I'd like to book a room for my dog Max from 10 to 15 December, my number is 5123 4567",
        "en",
        today=TODAY,
    )
    assert e.intents[0] == IT.BOOK
    assert (e.owner_name, e.pet_name, e.pet_type, e.phone) == ("Mari Tamm", "Max", "dog", "+37251234567")
    assert (e.start, e.end) == (dt.date(2026, 12, 10), dt.date(2026, 12, 15))
    e = extract("Tere! Sooviksin broneerida kassile Miisu toa 10.-15. detsembrini", "et", today=TODAY)
    assert (e.pet_type, e.pet_name, e.start, e.end) == ("cat", "Miisu", dt.date(2026, 12, 10), dt.date(2026, 12, 15))
    assert e.intents[0] == IT.BOOK
    e = extract("Здравствуйте, меня зовут Иван, хочу оставить собаку Рекс с 10 по 15 декабря", "ru", today=TODAY)
    assert (e.owner_name, e.pet_type, e.pet_name) == ("Иван", "dog", "Рекс")
    assert (e.start, e.end) == (dt.date(2026, 12, 10), dt.date(2026, 12, 15))
