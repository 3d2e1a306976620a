"""Phones, booking numbers, pet types, pet names and owner names (table-driven)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.brain.understanding.extract import extract

TODAY = dt.date(2026, 11, 18)


@pytest.mark.parametrize(
    ("lang", "text", "region", "awaiting", "phone"),
    [
        ("en", "+372 5123 4567", "EE", None, "+37251234567"),
        ("en", "5123 4567", "EE", None, "+37251234567"),
        ("en", "my number is 5123-4567", "EE", None, "+37251234567"),
        ("en", "call me on 51234567 please", "EE", None, "+37251234567"),
        ("en", "00372 5123 4567", "EE", None, "+37251234567"),
        ("en", "5 1 2 3 4 5 6 7", "EE", "owner_phone", "+37251234567"),
        ("en", "five one two three four five six seven", "EE", None, "+37251234567"),
        ("et", "viis üks kaks kolm neli viis kuus seitse", "EE", None, "+37251234567"),
        ("et", "minu number on 5123 4567", "EE", None, "+37251234567"),
        ("ru", "+7 (912) 345-67-89", "EE", None, "+79123456789"),
        ("ru", "мой номер +7 912 345 67 89", "EE", None, "+79123456789"),
        ("ru", "8 (912) 345-67-89", "RU", None, "+79123456789"),
        ("ru", "пять один два три четыре пять шесть семь", "EE", "owner_phone", "+37251234567"),
        ("en", "+44 20 7946 0958", "EE", None, "+442079460958"),
        ("en", "12345", "EE", "owner_phone", None),
        ("en", "1234567890123", "EE", None, None),
        ("en", "from 10.12.2026 to 15.12.2026", "EE", None, None),
        ("en", "2026-12-10", "EE", None, None),
    ],
)
def test_phones(lang: str, text: str, region: str, awaiting: str | None, phone: str | None) -> None:
    e = extract(text, lang, today=TODAY, region=region, awaiting=awaiting)
    assert e.phone == phone, e
    if phone:
        assert e.spans["phone"] in text


@pytest.mark.parametrize(
    ("lang", "text", "booking_id"),
    [
        ("en", "my booking number is 123456", "123456"),
        ("en", "it's 123 456", "123456"),
        ("en", "12-34-56", "123456"),
        ("en", "1 2 3 4 5 6", "123456"),
        ("en", "one two three four five six", "123456"),
        ("et", "broneeringu number on 654321", "654321"),
        ("et", "üks kaks kolm neli viis kuus", "123456"),
        ("ru", "номер брони 987654", "987654"),
        ("ru", "девять восемь семь шесть пять четыре", "987654"),
        ("en", "012345", None),
        ("en", "5123 4567", None),
        ("en", "10.12.2026", None),
        ("en", "12345", None),
        ("en", "my phone is 5123 4567 and the booking is 234567", "234567"),
    ],
)
def test_booking_numbers(lang: str, text: str, booking_id: str | None) -> None:
    e = extract(text, lang, today=TODAY, awaiting="booking_id")
    assert e.booking_id == booking_id, e


PET_TYPES = [
    ("en", "I have a dog", "dog"),
    ("en", "two dogs", "dog"),
    ("en", "a puppy", "dog"),
    ("en", "my cat", "cat"),
    ("en", "cats", "cat"),
    ("en", "a kitten", "cat"),
    ("en", "not a dog, a cat", "cat"),
    ("et", "koer", "dog"),
    ("et", "koera", "dog"),
    ("et", "koerale", "dog"),
    ("et", "koeraga", "dog"),
    ("et", "koerad", "dog"),
    ("et", "kutsikas", "dog"),
    ("et", "kass", "cat"),
    ("et", "kassi", "cat"),
    ("et", "kassile", "cat"),
    ("et", "kassiga", "cat"),
    ("et", "kassid", "cat"),
    ("et", "kiisu", "cat"),
    ("et", "mitte koer, vaid kass", "cat"),
    ("ru", "собака", "dog"),
    ("ru", "собаки", "dog"),
    ("ru", "собаку", "dog"),
    ("ru", "собакой", "dog"),
    ("ru", "с собакой", "dog"),
    ("ru", "пёс", "dog"),
    ("ru", "пес", "dog"),
    ("ru", "щенок", "dog"),
    ("ru", "щенка", "dog"),
    ("ru", "кошка", "cat"),
    ("ru", "кошки", "cat"),
    ("ru", "кошку", "cat"),
    ("ru", "кошкой", "cat"),
    ("ru", "кот", "cat"),
    ("ru", "кота", "cat"),
    ("ru", "котом", "cat"),
    ("ru", "котёнок", "cat"),
    ("ru", "не собака, а кошка", "cat"),
    ("en", "hello", None),
    ("et", "koeratuba", None),
]


@pytest.mark.parametrize(("lang", "text", "pet"), PET_TYPES)
def test_pet_types(lang: str, text: str, pet: str | None) -> None:
    e = extract(text, lang, today=TODAY)
    assert e.pet_type == pet, e


def test_tenant_pet_types() -> None:
    types = ("dog", "cat", "rabbit", "ferret")
    assert extract("I have a rabbit", "en", today=TODAY, pet_types=types).pet_type == "rabbit"
    assert extract("two ferrets", "en", today=TODAY, pet_types=types).pet_type == "ferret"
    assert extract("I have a rabbit", "en", today=TODAY).pet_type is None
    assert extract("a dog", "en", today=TODAY, pet_types=("cat",)).pet_type is None


PET_NAMES = [
    ("en", "His name is Max", None, "Max"),
    ("en", "her name is bella", None, "Bella"),
    ("en", "my dog Max", None, "Max"),
    ("en", "Max the dog", None, "Max"),
    ("en", "a room for Fluffy", None, "Fluffy"),
    ("en", "I want to book Fluffy for next weekend", None, "Fluffy"),
    ("et", "tahan tuua Muri reedel", None, "Muri"),
    ("ru", "хочу оставить Барсика", None, "Барсик"),  # stored in its base form
    ("en", "I want to book Friday", None, None),
    ("en", "my dog's name is Rex", None, "Rex"),
    ("en", "she is called Luna", None, "Luna"),
    ("en", "a cat named Tom", None, "Tom"),
    ("en", "Rex is my dog", None, "Rex"),
    ("en", "Max", "pet_name", "Max"),
    ("en", "max", "pet_name", "Max"),
    ("en", "It's Max.", "pet_name", "Max"),
    ("en", "his name is Mister Whiskers", None, "Mister Whiskers"),
    ("en", "Mister Whiskers", "pet_name", "Mister Whiskers"),
    ("et", "tema nimi on Muri", None, "Muri"),
    ("et", "koer nimega Muri", None, "Muri"),
    ("et", "kass Miisu", None, "Miisu"),
    ("et", "minu koer Pontu", None, "Pontu"),
    ("et", "see on Muri", "pet_name", "Muri"),
    ("et", "Muri", "pet_name", "Muri"),
    ("ru", "его зовут Барсик", None, "Барсик"),
    ("ru", "кличка Шарик", None, "Шарик"),
    ("ru", "собака по кличке Рекс", None, "Рекс"),
    ("ru", "кот Барсик", None, "Барсик"),
    ("ru", "это Барсик", "pet_name", "Барсик"),
    ("ru", "Мурка", "pet_name", "Мурка"),
    # never a pet type, weekday, month, yes/no or greeting
    ("en", "dog", "pet_name", None),
    ("en", "it's a cat", "pet_name", None),
    ("en", "Sunday", "pet_name", None),
    ("en", "December", "pet_name", None),
    ("en", "yes", "pet_name", None),
    ("en", "hello", "pet_name", None),
    ("et", "koer", "pet_name", None),
    ("et", "reede", "pet_name", None),
    ("et", "jah", "pet_name", None),
    ("et", "tere", "pet_name", None),
    ("ru", "собака", "pet_name", None),
    ("ru", "пятница", "pet_name", None),
    ("ru", "да", "pet_name", None),
    ("ru", "привет", "pet_name", None),
    ("en", "my dog is sick", None, None),
    ("en", "a room for my dog", None, None),
    ("en", "a room for Friday", None, None),
    ("en", "I want to book a room for two nights", "pet_name", None),
]


@pytest.mark.parametrize(("lang", "text", "awaiting", "name"), PET_NAMES)
def test_pet_names(lang: str, text: str, awaiting: str | None, name: str | None) -> None:
    e = extract(text, lang, today=TODAY, awaiting=awaiting)
    assert e.pet_name == name, e
    if name:  # the span is what was said ("Барсика"), the name its base form ("Барсик")
        assert e.spans["pet_name"].lower() in text.lower()
        assert e.spans["pet_name"].lower().startswith(name.lower()[:3])


OWNER_NAMES = [
    ("en", "my name is Mari Tamm", None, "Mari Tamm"),
    ("en", "My name is john smith", None, "John Smith"),
    ("en", "I'm John Smith", None, "John Smith"),
    ("en", "I am Anna", None, "Anna"),
    ("en", "Hi, this is John, I want to book", None, "John"),
    ("en", "Mari Tamm", "owner_name", "Mari Tamm"),
    ("en", "it's Mari Tamm", "owner_name", "Mari Tamm"),
    ("en", "I'm looking for a room", None, None),
    ("en", "I am calling about my booking", None, None),
    ("et", "minu nimi on Mari Tamm", None, "Mari Tamm"),
    ("et", "mu nimi on Jaan", None, "Jaan"),
    ("et", "olen Mari", None, "Mari"),
    ("et", "Mari Tamm", "owner_name", "Mari Tamm"),
    ("et", "olen huvitatud", None, None),
    ("ru", "меня зовут Иван Петров", None, "Иван Петров"),
    ("ru", "я Иван", None, "Иван"),
    ("ru", "Иван Петров", "owner_name", "Иван Петров"),
    ("ru", "я хочу забронировать", None, None),
    ("en", "yes", "owner_name", None),
]


@pytest.mark.parametrize(("lang", "text", "awaiting", "name"), OWNER_NAMES)
def test_owner_names(lang: str, text: str, awaiting: str | None, name: str | None) -> None:
    e = extract(text, lang, today=TODAY, awaiting=awaiting)
    assert e.owner_name == name, e


def test_owner_and_pet_in_one_turn() -> None:
    e = extract("Hi, my name is Mari Tamm, my dog Max needs a room", "en", today=TODAY)
    assert (e.owner_name, e.pet_name, e.pet_type) == ("Mari Tamm", "Max", "dog")
    e = extract("меня зовут Иван, мою собаку зовут Рекс", "ru", today=TODAY)
    assert (e.owner_name, e.pet_name, e.pet_type) == ("Иван", "Рекс", "dog")
    e = extract("minu nimi on Mari ja minu koer nimega Muri", "et", today=TODAY)
    assert (e.owner_name, e.pet_name, e.pet_type) == ("Mari", "Muri", "dog")
