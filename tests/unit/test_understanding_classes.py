"""Understanding a receptionist would expect, on the rules path: one table per class of miss, in
English, Estonian and Russian (phrasings of our own, several per class)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.brain.understanding.extract import extract
from appliance.brain.understanding.markup import plain
from appliance.core.messages import Intent

TODAY = dt.date(2026, 12, 1)  # a Tuesday; 5 December 2026 is a Saturday
ACTIONS = {Intent.CANCEL_BOOKING, Intent.CHANGE_BOOKING, Intent.CHECK_BOOKING}

# -- names arrive inflected; the base form is stored ------------------------------------------

PET_NAMES = [
    ("ru", "Хочу забронировать номер для Барсика", "Барсик"),
    ("ru", "Нужна комната для кошки Мурки", "Мурка"),
    ("ru", "хочу оставить Рекса у вас", "Рекс"),
    ("ru", "номер для собаки Шарика на три ночи", "Шарик"),
    ("ru", "моего кота зовут Барсик", "Барсик"),
    ("ru", "место для собаки Лайка", "Лайка"),  # a husky, not the genitive of "лайк"
    ("ru", "хочу оставить Лайку на три ночи", "Лайка"),
    ("et", "Soovin broneerida toa Pätule", "Pätu"),
    ("et", "Kas teil on tuba Lotale?", "Lota"),  # a consonant stem ("Reksile") keeps its i: see morph.py
    ("et", "kassile Miisule on vaja tuba", "Miisu"),
    ("et", "Tuba koerale Murile", "Muri"),
    ("et", "Mu kassi nimi on Miisu", "Miisu"),
    ("en", "a room for my dog Rex", "Rex"),
    ("en", "I want to board my cat Luna", "Luna"),
]


@pytest.mark.parametrize(("lang", "text", "name"), PET_NAMES)
def test_pet_names_in_their_base_form(lang: str, text: str, name: str) -> None:
    assert extract(text, lang, today=TODAY).pet_name == name


OWNER_NAMES = [
    ("ru", "Бронь на имя Ивановой Марии", "Иванова Мария"),
    ("ru", "Бронь на имя Петрова Ивана", "Петров Иван"),
    ("ru", "Меня зовут Анна Смирнова", "Анна Смирнова"),
    ("et", "Minu nimi on Mari Tamm", "Mari Tamm"),
    ("en", "My name is Mari Tamm", "Mari Tamm"),
]


@pytest.mark.parametrize(("lang", "text", "name"), OWNER_NAMES)
def test_owner_names_in_their_base_form(lang: str, text: str, name: str) -> None:
    assert extract(text, lang, today=TODAY).owner_name == name


# -- how something works is a question, not the start of that action ---------------------------

HOW = [
    ("en", "How does cancelling work?"),
    ("en", "How do I change a booking?"),
    ("en", "What is your cancellation policy?"),
    ("en", "What happens if I need to cancel?"),
    ("en", "how can I check my booking"),
    ("et", "Kuidas tühistamine käib?"),
    ("et", "Kuidas ma saan broneeringut muuta?"),
    ("et", "Mis tingimustel saab broneeringu tühistada?"),
    ("et", "Mis juhtub, kui pean tühistama?"),
    ("ru", "Как работает отмена брони?"),
    ("ru", "Каким образом можно изменить бронь?"),
    ("ru", "Какие условия отмены?"),
    ("ru", "Что будет, если я отменю бронь?"),
]


@pytest.mark.parametrize(("lang", "text"), HOW)
def test_how_questions_are_questions(lang: str, text: str) -> None:
    ex = extract(text, lang, today=TODAY)
    assert Intent.QUESTION in ex.intents and not ACTIONS & set(ex.intents), ex.intents


ACTING = [
    ("en", "I want to cancel my booking"),
    ("en", "Please cancel booking 123456, how long does it take?"),
    ("et", "Soovin broneeringu tühistada"),
    ("ru", "Хочу отменить бронь"),
]


@pytest.mark.parametrize(("lang", "text"), ACTING)
def test_a_wish_to_act_is_still_the_action(lang: str, text: str) -> None:
    assert ACTIONS & set(extract(text, lang, today=TODAY).intents)


# -- a booking request phrased as a question is a request ----------------------------------------

REQUESTS = [
    ("en", "Could my cat stay with you from 5 to 8 December?"),
    ("en", "Can my dog stay with you next weekend?"),
    ("en", "Do you have a free room for my dog from 10 to 12 December?"),
    ("en", "Could our puppy board with you for a week?"),
    ("et", "Kas mu kass saaks teie juures olla 5. kuni 8. detsembrini?"),
    ("et", "Kas koer saaks teie juures ööbida nädalavahetusel?"),
    ("et", "Kas teil on vaba tuba koerale 10. detsembrist?"),
    ("ru", "Может ли моя кошка пожить у вас с 5 по 8 декабря?"),
    ("ru", "Можно собаке побыть у вас на выходных?"),
    ("ru", "Есть ли у вас свободный номер для собаки с 10 декабря?"),
]


@pytest.mark.parametrize(("lang", "text"), REQUESTS)
def test_requests_phrased_as_questions_are_bookings(lang: str, text: str) -> None:
    assert Intent.BOOK in extract(text, lang, today=TODAY).intents


# -- an explicit date and a weekday that disagree ------------------------------------------------

WEEKDAYS = [
    ("en", "Book a room from Friday 5 December", (dt.date(2026, 12, 5), 4)),
    ("en", "from Saturday 5 December", None),
    ("en", "from Friday the 4th to Sunday the 7th of December", (dt.date(2026, 12, 7), 6)),
    ("en", "from Friday 4 December to Sunday 6 December", None),
    ("et", "reedel, 5. detsembril", (dt.date(2026, 12, 5), 4)),
    ("et", "laupäeval 5. detsembril", None),
    ("et", "alates esmaspäevast 8. detsembrist", (dt.date(2026, 12, 8), 0)),
    ("ru", "в пятницу 5 декабря", (dt.date(2026, 12, 5), 4)),
    ("ru", "в субботу, 5 декабря", None),
    ("ru", "с понедельника 7 декабря", None),
]


@pytest.mark.parametrize(("lang", "text", "conflict"), WEEKDAYS)
def test_a_weekday_that_disagrees_with_the_date_is_noticed(lang: str, text: str, conflict: object) -> None:
    ex = extract(text, lang, today=TODAY)
    assert ex.weekday_conflict == conflict
    assert (ex.start or ex.single_date) is not None  # the date itself is still read


# -- markup or code pasted into a message is not the message -------------------------------------

MARKUP = [
    ("en", "<b>Book</b> a room for my dog <i>Rex</i> from 5 to 8 December", "Rex"),
    ("en", "```\nrm -rf /\n```\nI want to book a room for my cat Tom", "Tom"),
    ("en", "<script>alert('x')</script>A room for my dog Rex please", "Rex"),
    ("et", "**Broneerin** toa koerale `sudo` Rex 5. detsembrist", "Rex"),
    ("et", "<p>Tuba kassile Miisule</p>", "Miisu"),
    ("ru", "<div>Номер для кошки <b>Мурки</b></div>", "Мурка"),
    ("ru", "```sql\nDROP TABLE bookings;\n```\nНомер для собаки Рекс", "Рекс"),
]


@pytest.mark.parametrize(("lang", "text", "name"), MARKUP)
def test_markup_is_dropped_and_the_rest_understood(lang: str, text: str, name: str) -> None:
    said = plain(text)
    assert "<" not in said and "`" not in said and "DROP" not in said and "rm -rf" not in said
    assert extract(said, lang, today=TODAY).pet_name == name


def test_plain_text_is_left_alone() -> None:
    for text in ("Tere! Mul on kass Miisu.", "Rex & Luna, 5-8 December", "Цена 30 €?"):
        assert plain(text) == text
