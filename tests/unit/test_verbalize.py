"""Facts as words: numbers, ordinals, dates, money, digits, nights, whole sentences (en/et/ru)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.brain.text.verbalize import (
    format_date,
    format_money,
    format_nights,
    number_words,
    ordinal_words,
    plural_ru,
    speak_date,
    speak_digits,
    speak_money,
    speakable,
)

# --- numbers 0..100, built from hand-written base words (not from the code under test) -------------

EN_0_19 = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
ET_0_19 = (
    "null üks kaks kolm neli viis kuus seitse kaheksa üheksa kümme üksteist kaksteist kolmteist neliteist viisteist "
    "kuusteist seitseteist kaheksateist üheksateist"
).split()
ET_TENS = (
    "kakskümmend kolmkümmend nelikümmend viiskümmend kuuskümmend seitsekümmend kaheksakümmend üheksakümmend".split()
)
RU_0_19 = (
    "ноль один два три четыре пять шесть семь восемь девять десять одиннадцать двенадцать тринадцать четырнадцать "
    "пятнадцать шестнадцать семнадцать восемнадцать девятнадцать"
).split()
RU_TENS = "двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто".split()


def _expected(n: int, small: list[str], tens: list[str], hundred: str, sep: str) -> str:
    if n == 100:
        return hundred
    if n < 20:
        return small[n]
    t, u = divmod(n, 10)
    return tens[t - 2] + (sep + small[u] if u else "")


@pytest.mark.parametrize("n", range(101))
def test_numbers_0_to_100(n: int) -> None:
    assert number_words(n, "en") == _expected(n, EN_0_19, EN_TENS, "one hundred", "-")
    assert number_words(n, "et") == _expected(n, ET_0_19, ET_TENS, "sada", " ")
    assert number_words(n, "ru") == _expected(n, RU_0_19, RU_TENS, "сто", " ")


@pytest.mark.parametrize(
    ("n", "en", "et", "ru"),
    [
        (101, "one hundred and one", "sada üks", "сто один"),
        (115, "one hundred and fifteen", "sada viisteist", "сто пятнадцать"),
        (200, "two hundred", "kakssada", "двести"),
        (345, "three hundred and forty-five", "kolmsada nelikümmend viis", "триста сорок пять"),
        (999, "nine hundred and ninety-nine", "üheksasada üheksakümmend üheksa", "девятьсот девяносто девять"),
        (1000, "one thousand", "tuhat", "тысяча"),
        (1001, "one thousand and one", "tuhat üks", "тысяча один"),
        (1500, "one thousand five hundred", "tuhat viissada", "тысяча пятьсот"),
        (2000, "two thousand", "kaks tuhat", "две тысячи"),
        (
            2345,
            "two thousand three hundred and forty-five",
            "kaks tuhat kolmsada nelikümmend viis",
            "две тысячи триста сорок пять",
        ),
        (5000, "five thousand", "viis tuhat", "пять тысяч"),
        (
            9999,
            "nine thousand nine hundred and ninety-nine",
            "üheksa tuhat üheksasada üheksakümmend üheksa",
            "девять тысяч девятьсот девяносто девять",
        ),
        (21000, "twenty-one thousand", "kakskümmend üks tuhat", "двадцать одна тысяча"),
    ],
)
def test_numbers_up_to_9999_and_beyond(n: int, en: str, et: str, ru: str) -> None:
    assert (number_words(n, "en"), number_words(n, "et"), number_words(n, "ru")) == (en, et, ru)


def test_number_cases_and_genders() -> None:
    assert number_words(2, "ru", gender="f") == "две"
    assert number_words(1, "ru", gender="f") == "одна"
    assert number_words(3, "ru", case="genitive") == "трёх"
    assert number_words(2, "et", case="genitive") == "kahe"
    assert number_words(21, "et", case="genitive") == "kahekümne ühe"
    assert number_words(-5, "en") == "minus five"


# --- ordinals 1..31 ----------------------------------------------------------------------

EN_ORD = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth twenty-first twenty-second twenty-third "
    "twenty-fourth twenty-fifth twenty-sixth twenty-seventh twenty-eighth twenty-ninth thirtieth thirty-first"
).split()
ET_ORD = [
    "esimene",
    "teine",
    "kolmas",
    "neljas",
    "viies",
    "kuues",
    "seitsmes",
    "kaheksas",
    "üheksas",
    "kümnes",
    "üheteistkümnes",
    "kaheteistkümnes",
    "kolmeteistkümnes",
    "neljateistkümnes",
    "viieteistkümnes",
    "kuueteistkümnes",
    "seitsmeteistkümnes",
    "kaheksateistkümnes",
    "üheksateistkümnes",
    "kahekümnes",
    "kahekümne esimene",
    "kahekümne teine",
    "kahekümne kolmas",
    "kahekümne neljas",
    "kahekümne viies",
    "kahekümne kuues",
    "kahekümne seitsmes",
    "kahekümne kaheksas",
    "kahekümne üheksas",
    "kolmekümnes",
    "kolmekümne esimene",
]
RU_ORD_N = [
    "первое",
    "второе",
    "третье",
    "четвёртое",
    "пятое",
    "шестое",
    "седьмое",
    "восьмое",
    "девятое",
    "десятое",
    "одиннадцатое",
    "двенадцатое",
    "тринадцатое",
    "четырнадцатое",
    "пятнадцатое",
    "шестнадцатое",
    "семнадцатое",
    "восемнадцатое",
    "девятнадцатое",
    "двадцатое",
    "двадцать первое",
    "двадцать второе",
    "двадцать третье",
    "двадцать четвёртое",
    "двадцать пятое",
    "двадцать шестое",
    "двадцать седьмое",
    "двадцать восьмое",
    "двадцать девятое",
    "тридцатое",
    "тридцать первое",
]


@pytest.mark.parametrize("n", range(1, 32))
def test_ordinals_1_to_31(n: int) -> None:
    assert ordinal_words(n, "en") == EN_ORD[n - 1]
    assert ordinal_words(n, "et") == ET_ORD[n - 1]
    # num2words writes "четвертое"; accept the ё-less spelling too
    assert ordinal_words(n, "ru", gender="n").replace("е", "ё") == RU_ORD_N[n - 1].replace("е", "ё")


def test_inflected_ordinals() -> None:
    assert ordinal_words(6, "et", case="adessive") == "kuuendal"
    assert ordinal_words(1, "et", case="elative") == "esimesest"
    assert ordinal_words(21, "et", case="genitive") == "kahekümne esimese"
    assert ordinal_words(6, "ru", case="genitive", gender="n") == "шестого"


# --- dates -------------------------------------------------------------------------------------

SAT = dt.date(2025, 12, 6)


@pytest.mark.parametrize(
    ("lang", "text", "spoken"),
    [
        ("en", "Saturday, 6 December", "Saturday the sixth of December"),
        ("et", "laupäev, 6. detsember", "laupäev, kuues detsember"),
        ("ru", "суббота, 6 декабря", "суббота, шестое декабря"),
    ],
)
def test_dates(lang: str, text: str, spoken: str) -> None:
    assert format_date(SAT, lang) == text
    assert speak_date(SAT, lang) == spoken
    assert speakable(format_date(SAT, lang), lang) == spoken  # templates and voice agree


def test_date_variants() -> None:
    d = dt.date(2026, 1, 1)
    assert format_date(d, "en", year=True) == "Thursday, 1 January 2026"
    assert format_date(d, "et", weekday=False, year=True) == "1. jaanuar 2026"
    assert format_date(d, "ru", weekday=False, year=True) == "1 января 2026 г."
    assert speak_date(d, "en", weekday=False, year=True) == "the first of January twenty twenty-six"
    assert speak_date(d, "ru", weekday=False, year=True) == "первое января две тысячи двадцать шестого года"
    assert speak_date(d, "et", weekday=False, case="adessive") == "esimesel jaanuaril"
    assert speak_date(dt.date(2025, 3, 31), "en", weekday=False) == "the thirty-first of March"


# --- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "cur", "en", "et", "ru"),
    [
        (7000, "EUR", "€70.00", "70,00 €", "70,00 €"),
        (123450, "EUR", "€1,234.50", "1 234,50 €", "1 234,50 €"),
        (5, "EUR", "€0.05", "0,05 €", "0,05 €"),
        (-500, "EUR", "-€5.00", "-5,00 €", "-5,00 €"),
        (1999, "USD", "$19.99", "19,99 $", "19,99 $"),
        (1000, "SEK", "10.00 SEK", "10,00 SEK", "10,00 SEK"),
    ],
)
def test_format_money(minor: int, cur: str, en: str, et: str, ru: str) -> None:
    assert (format_money(minor, cur, "en"), format_money(minor, cur, "et"), format_money(minor, cur, "ru")) == (
        en,
        et,
        ru,
    )


@pytest.mark.parametrize(
    ("minor", "cur", "lang", "spoken"),
    [
        (7000, "EUR", "en", "seventy euros"),
        (7050, "EUR", "en", "seventy euros and fifty cents"),
        (100, "EUR", "en", "one euro"),
        (101, "EUR", "en", "one euro and one cent"),
        (50, "EUR", "en", "fifty cents"),
        (0, "EUR", "en", "zero euros"),
        (7000, "EUR", "et", "seitsekümmend eurot"),
        (7050, "EUR", "et", "seitsekümmend eurot ja viiskümmend senti"),
        (100, "EUR", "et", "üks euro"),
        (10501, "EUR", "et", "sada viis eurot ja üks sent"),
        (7000, "EUR", "ru", "семьдесят евро"),
        (7050, "EUR", "ru", "семьдесят евро и пятьдесят центов"),
        (102, "EUR", "ru", "один евро и два цента"),
        (2121, "EUR", "ru", "двадцать один евро и двадцать один цент"),
        (100, "RUB", "ru", "один рубль"),
        (201, "RUB", "ru", "два рубля и одна копейка"),
        (502, "RUB", "ru", "пять рублей и две копейки"),
        (1105, "RUB", "ru", "одиннадцать рублей и пять копеек"),
        (2200, "USD", "ru", "двадцать два доллара"),
        (2200, "USD", "en", "twenty-two dollars"),
        (150, "GBP", "en", "one pound and fifty pence"),
    ],
)
def test_speak_money(minor: int, cur: str, lang: str, spoken: str) -> None:
    assert speak_money(minor, cur, lang) == spoken


# --- plurals, nights, digits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "form"),
    [
        (0, "ночей"),
        (1, "ночь"),
        (2, "ночи"),
        (4, "ночи"),
        (5, "ночей"),
        (11, "ночей"),
        (12, "ночей"),
        (14, "ночей"),
        (21, "ночь"),
        (22, "ночи"),
        (25, "ночей"),
        (101, "ночь"),
        (111, "ночей"),
        (1002, "ночи"),
    ],
)
def test_plural_ru(n: int, form: str) -> None:
    assert plural_ru(n, "ночь", "ночи", "ночей") == form


@pytest.mark.parametrize(
    ("n", "en", "et", "ru"),
    [
        (1, "1 night", "1 öö", "1 ночь"),
        (2, "2 nights", "2 ööd", "2 ночи"),
        (3, "3 nights", "3 ööd", "3 ночи"),
        (5, "5 nights", "5 ööd", "5 ночей"),
        (21, "21 nights", "21 ööd", "21 ночь"),
    ],
)
def test_format_nights(n: int, en: str, et: str, ru: str) -> None:
    assert (format_nights(n, "en"), format_nights(n, "et"), format_nights(n, "ru")) == (en, et, ru)


def test_spoken_nights() -> None:
    assert format_nights(1, "ru", spoken=True) == "одна ночь"
    assert format_nights(2, "ru", spoken=True) == "две ночи"
    assert format_nights(3, "et", spoken=True) == "kolm ööd"
    assert format_nights(1, "en", spoken=True) == "one night"


@pytest.mark.parametrize(
    ("s", "lang", "spoken"),
    [
        ("48213", "en", "four eight two, one three"),
        ("4821", "en", "four eight two one"),
        ("+372 5123 4567", "en", "plus, three seven two, five one two three, four five six seven"),
        ("+372 5123 4567", "et", "pluss, kolm seitse kaks, viis üks kaks kolm, neli viis kuus seitse"),
        ("5123-4567", "ru", "пять один два три, четыре пять шесть семь"),
        ("1234567", "et", "üks kaks kolm, neli viis kuus seitse"),
        ("PW-4821", "en", "P W, four eight two one"),
        ("0", "ru", "ноль"),
    ],
)
def test_speak_digits(s: str, lang: str, spoken: str) -> None:
    assert speak_digits(s, lang) == spoken


# --- whole sentences -------------------------------------------------------------------------------

TODAY = dt.date(2025, 11, 20)


@pytest.mark.parametrize(
    ("lang", "text", "spoken"),
    [
        (
            "en",
            "Your stay 2025-12-06 to 2025-12-09 costs €105.00 for 3 nights.",
            "Your stay Saturday the sixth of December to Tuesday the ninth of December costs one hundred and five euros "
            "for three nights.",
        ),
        (
            "en",
            "We are open 10:00-18:00, check-in at 14:30.",
            "We are open ten a.m. to six p.m., check-in at two thirty p.m.",
        ),
        (
            "en",
            "Booking 48213 is confirmed, 10% off.",
            "Booking four eight two, one three is confirmed, ten percent off.",
        ),
        (
            "en",
            "That is €1,234.50 in total.",
            "That is one thousand two hundred and thirty-four euros and fifty cents in total.",
        ),
        ("en", "On 6 December 2026 at 12:00.", "On the sixth of December twenty twenty-six at noon."),
        (
            "et",
            "Teie broneering 6.12.–9.12. maksab 105,00 €.",
            "Teie broneering kuues detsember–üheksas detsember maksab sada viis eurot.",
        ),
        (
            "et",
            "Oleme avatud 10:00-18:00, laupäeval 10:30–16:00.",
            "Oleme avatud kümme kuni kaheksateist, laupäeval kümme kolmkümmend kuni kuusteist.",
        ),
        (
            "et",
            "Ootame teid 6. detsembril, lahkumine 9. detsembrini.",
            "Ootame teid kuuendal detsembril, lahkumine üheksanda detsembrini.",
        ),
        ("et", "Hind on 70 € ööle, 3 ööd.", "Hind on seitsekümmend eurot ööle, kolm ööd."),
        (
            "ru",
            "Заезд 6 декабря, выезд 9 декабря, 1 ночь стоит 35 €.",
            "Заезд шестого декабря, выезд девятого декабря, одна ночь стоит тридцать пять евро.",
        ),
        ("ru", "Мы работаем с 10:00 до 18:00.", "Мы работаем с десяти ноль-ноль до восемнадцати ноль-ноль."),
        (
            "ru",
            "Бронь с 06.12 по 09.12, 2 собаки, 21 ночь.",
            "Бронь с шестого декабря по девятое декабря, две собаки, двадцать одна ночь.",
        ),
        (
            "ru",
            "Номер брони 48213, телефон +372 5123 4567.",
            "Номер брони четыре восемь два, один три, телефон плюс, три семь два, пять один два три, "
            "четыре пять шесть семь.",
        ),
    ],
)
def test_speakable_sentences(lang: str, text: str, spoken: str) -> None:
    assert speakable(text, lang, today=TODAY) == spoken


def test_speakable_leaves_plain_text_alone() -> None:
    for lang, text in [("en", "Hello, how can I help?"), ("et", "Tere! Kuidas saan aidata?"), ("ru", "Здравствуйте!")]:
        assert speakable(text, lang) == text


def test_speakable_output_has_no_digits() -> None:
    text = "Booking 2025-12-06, 10:00, €70.00, 3 nights, 12.5 kg, +372 5555 1234, 6.12.2025, 50%"
    for lang in ("en", "et", "ru"):
        assert not any(ch.isdigit() for ch in speakable(text, lang)), lang


@pytest.mark.parametrize(
    ("n", "en", "et", "ru"),
    [
        (1, "1 day", "1 päev", "1 день"),
        (2, "2 days", "2 päeva", "2 дня"),
        (21, "21 days", "21 päeva", "21 день"),
        (30, "30 days", "30 päeva", "30 дней"),
        (252, "252 days", "252 päeva", "252 дня"),
    ],
)
def test_days_agree_with_their_number(n: int, en: str, et: str, ru: str) -> None:
    from appliance.brain.text.verbalize import format_days

    assert (format_days(n, "en"), format_days(n, "et"), format_days(n, "ru")) == (en, et, ru)
    assert format_days(21, "ru", spoken=True) == "двадцать один день"
