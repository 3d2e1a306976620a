"""A whole sentence for voice: digits, dates, prices, times, phone numbers as words."""

from __future__ import annotations

import datetime as dt
import re

from appliance.brain.text.verbalize.en import _en_cardinal, _en_ordinal
from appliance.brain.text.verbalize.et import _ET_CASE_ENDINGS, _et_cardinal, _et_ordinal
from appliance.brain.text.verbalize.forms import (
    _ET_MONTHS_GEN,
    _MONTHS,
    _SYMBOLS,
    _lang,
    number_words,
    speak_date,
    speak_digits,
    speak_money,
)
from appliance.brain.text.verbalize.ru import _ru_cardinal, _ru_ordinal, plural_ru

_AMOUNT = r"\d{1,3}(?:[ \u00a0,.]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SYMBOL_TO_CODE = {v: k for k, v in _SYMBOLS.items()}
_MONEY_RE = re.compile(
    rf"(?P<s1>[€$£₽])\s?(?P<a1>{_AMOUNT})|(?P<a2>{_AMOUNT})\s?(?:(?P<s2>[€$£₽])|(?P<c2>\b(?:EUR|USD|GBP|RUB)\b))"
)
_ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DMY_RE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_DM_DOT_RE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(?!\d)")
_DM_RE = re.compile(r"\b(\d{1,2})\.(\d{2})\b(?![.,]?\d)")
_TIME = r"([01]?\d|2[0-3]):([0-5]\d)"
_TIME_RANGE_RE = re.compile(rf"(?:\b(?P<pre>[сС])\s+)?\b{_TIME}\s?(?:[-–—]|\s(?:до|to|kuni)\s)\s?{_TIME}\b")
_TIME_RE = re.compile(rf"\b{_TIME}\b")
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+\d[\d \-]{5,}\d|0\d{2,}(?:[ \-]\d{2,})*|\d{5,}|[A-Z]{1,4}-?\d{3,})(?!\w)")
_PERCENT_RE = re.compile(r"\b(\d+)\s?%")
_DECIMAL_RE = re.compile(r"\b(\d+)[.,](\d+)\b")
_EN_THOUSANDS_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_EN_ORD_RE = re.compile(r"\b(\d{1,4})(?:st|nd|rd|th)\b")
_INT_RE = re.compile(r"\d+")
_EN_WRITTEN_RE = re.compile(
    r"\b(?:(?P<wd>Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday),?\s+)?(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)?"
    r"(?:\s+of)?\s+(?P<m>" + "|".join(_MONTHS["en"]) + r")(?:\s+(?P<y>\d{4}))?\b"
)
_EN_WRITTEN_US_RE = re.compile(r"\b(?P<m>" + "|".join(_MONTHS["en"]) + r")\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b(?!:)")
_ET_WRITTEN_RE = re.compile(
    r"\b(?P<d>\d{1,2})\.\s*(?P<m>jaanuar|veebruar|märts|aprill|mai|juuni|juuli|august|septemb|oktoob|novemb|detsemb)"
    r"(?P<end>\w*)(?:\s+(?P<y>\d{4}))?",
    re.IGNORECASE,
)
_RU_WRITTEN_RE = re.compile(
    r"(?:(?P<pre>\b(?:с|со|от|до|после|около|по|на|к)\s+))?\b(?P<d>\d{1,2})\s+(?P<m>" + "|".join(_MONTHS["ru"]) + r")"
    r"(?:\s+(?P<y>\d{4})\s*(?:г\.|года)?)?",
    re.IGNORECASE,
)
_RU_FEMININE = re.compile(r"^\s+(ноч|собак|кошк|комнат|недел|минут|секунд|кроват|тысяч|пар[аы]?\b)", re.IGNORECASE)
_RU_GENITIVE_PREP = re.compile(r"\b(?:с|со|от|до|из|после|около|без|для)\s+$", re.IGNORECASE)


def _et_month_case(month_index: int, word: str) -> str | None:
    """Which case an Estonian month word is in (None = nominative)."""
    nom, gen = _MONTHS["et"][month_index], _ET_MONTHS_GEN[month_index]
    w = word.lower()
    if w == nom:
        return None
    if w == gen:
        return "genitive"
    for case, ending in (("terminative", "ni"), *_ET_CASE_ENDINGS.items()):
        if w == gen + ending:
            return case
    return None


def _speak_time(h: int, m: int, lang: str, *, case: str | None = None) -> str:
    if lang == "et":
        return number_words(h, "et") + ("" if m == 0 else " " + ("null " if m < 10 else "") + number_words(m, "et"))
    if lang == "ru":
        hour = _ru_cardinal(h, case, None)
        if m == 0:
            return f"{hour} ноль-ноль"
        return f"{hour} {'ноль ' if m < 10 else ''}{_ru_cardinal(m, case, None)}"
    if m == 0 and h in (0, 12):
        return "midnight" if h == 0 else "noon"
    h12 = h % 12 or 12
    minutes = "" if m == 0 else " " + ("oh " if m < 10 else "") + _en_cardinal(m)
    return f"{_en_cardinal(h12)}{minutes} {'a.m.' if h < 12 else 'p.m.'}"


def _safe_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _amount_minor(raw: str) -> int:
    raw = raw.replace(" ", "").replace("\u00a0", "")
    m = re.search(r"[.,](\d{1,2})$", raw)
    cents = 0
    if m:
        cents = int(m.group(1).ljust(2, "0"))
        raw = raw[: m.start()]
    return int(re.sub(r"[.,]", "", raw) or 0) * 100 + cents


def speakable(text: str, lang: str, *, today: dt.date | None = None) -> str:
    """Rewrite digits, dates (ISO, dd.mm[.yyyy], "6 December"), prices and times in ``text`` into words.

    ISO dates are spoken with their weekday; a year is spoken only when it differs from ``today``'s
    (always for dd.mm.yyyy when ``today`` is not given). ``dd.mm`` without a year or trailing dot is read
    as a date in Estonian and Russian only (in English "10.11" is more likely a number).
    """
    lang = _lang(lang)
    ref_year = today.year if today else None

    def money(m: re.Match[str]) -> str:
        code = _SYMBOL_TO_CODE.get(m.group("s1") or m.group("s2") or "", m.group("c2") or "EUR")
        return speak_money(_amount_minor(m.group("a1") or m.group("a2")), code, lang)

    text = _MONEY_RE.sub(money, text)

    def iso(m: re.Match[str]) -> str:
        d = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if d is None:
            return m.group(0)
        return speak_date(d, lang, year=ref_year is not None and d.year != ref_year)

    text = _ISO_DATE_RE.sub(iso, text)

    def dmy(m: re.Match[str], *, year: int | None) -> str:
        d = _safe_date(year or ref_year or 2000, int(m.group(2)), int(m.group(1)))
        if d is None:
            return m.group(0)
        spoken_year = year is not None and year != ref_year
        case = _ru_date_case(m.string[: m.start()]) if lang == "ru" else None
        return speak_date(d, lang, weekday=False, year=spoken_year, case=case)

    text = _DMY_RE.sub(lambda m: dmy(m, year=int(m.group(3))), text)
    text = _DM_DOT_RE.sub(lambda m: dmy(m, year=None), text)
    if lang != "en":
        text = _DM_RE.sub(lambda m: dmy(m, year=None), text)
    text = _written_dates(text, lang, ref_year)

    def time_range(m: re.Match[str]) -> str:
        h1, m1, h2, m2 = (int(g) for g in m.groups()[1:])
        if lang == "ru":
            pre = m.group("pre") or "с"
            return f"{pre} {_speak_time(h1, m1, 'ru', case='g')} до {_speak_time(h2, m2, 'ru', case='g')}"
        return f"{_speak_time(h1, m1, lang)} {'kuni' if lang == 'et' else 'to'} {_speak_time(h2, m2, lang)}"

    text = _TIME_RANGE_RE.sub(time_range, text)
    text = _TIME_RE.sub(lambda m: _speak_time(int(m.group(1)), int(m.group(2)), lang), text)
    text = re.sub(r"\b([ap]\.m\.)\.", r"\1", text)  # "six p.m.." at the end of a sentence
    text = _PHONE_RE.sub(lambda m: speak_digits(m.group(0), lang), text)

    def percent(m: re.Match[str]) -> str:
        n = int(m.group(1))
        word = {"et": "protsent" if n == 1 else "protsenti", "ru": plural_ru(n, "процент", "процента", "процентов")}
        return f"{number_words(n, lang)} {word.get(lang, 'percent')}"

    text = _PERCENT_RE.sub(percent, text)
    if lang == "en":
        text = _EN_THOUSANDS_RE.sub(lambda m: _en_cardinal(int(m.group(0).replace(",", ""))), text)
        text = _EN_ORD_RE.sub(lambda m: _en_ordinal(int(m.group(1))), text)
    text = _DECIMAL_RE.sub(lambda m: _speak_decimal(m.group(1), m.group(2), lang), text)
    return _INT_RE.sub(lambda m: _speak_int(m, lang), text)


def _speak_decimal(whole: str, frac: str, lang: str) -> str:
    if lang == "ru":
        from num2words import num2words

        return num2words(f"{whole}.{frac}", lang="ru")
    point = "koma" if lang == "et" else "point"
    return f"{number_words(int(whole), lang)} {point} {' '.join(number_words(int(c), lang) for c in frac)}"


def _speak_int(m: re.Match[str], lang: str) -> str:
    n = int(m.group(0))
    if lang != "ru":
        return number_words(n, lang)
    before, after = m.string[: m.start()], m.string[m.end() :]
    gender = "f" if _RU_FEMININE.match(after) else None
    case = "genitive" if _RU_GENITIVE_PREP.search(before) else None
    return _ru_cardinal(n, case, gender)


def _ru_date_case(before: str) -> str | None:
    """The case of a Russian date ordinal from the words before it."""
    before = before.rstrip().lower()
    word = re.search(r"(\w+),?$", before)
    last = word.group(1) if word else ""
    if last in ("по", "на"):
        return "accusative"  # "по девятое декабря"
    if last == "к":
        return "dative"
    if last in ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье"):
        return None  # "суббота, 6 декабря" names the date: "шестое декабря"
    return "genitive"  # "заезд 6 декабря", "с 6 декабря" -> "шестого декабря"


def _written_dates(text: str, lang: str, ref_year: int | None) -> str:
    """ "6 December" / "6. detsembril" / "с 6 декабря" -> ordinal words, inflected to fit."""
    year_of = ref_year or 2000

    def spoken_year(y: str | None) -> bool:
        return y is not None and int(y) != ref_year

    if lang == "en":

        def en(m: re.Match[str]) -> str:
            d = _safe_date(int(m.group("y") or year_of), _MONTHS["en"].index(m.group("m")) + 1, int(m.group("d")))
            if d is None:
                return m.group(0)
            body = speak_date(d, "en", weekday=False, year=spoken_year(m.group("y")))
            return f"{m.group('wd')} {body}" if m.group("wd") else body

        text = _EN_WRITTEN_RE.sub(en, text)
        return _EN_WRITTEN_US_RE.sub(lambda m: f"{m.group('m')} the {_en_ordinal(int(m.group('d')))}", text)
    if lang == "et":

        def et(m: re.Match[str]) -> str:
            idx = next(i for i, name in enumerate(_MONTHS["et"]) if name.startswith(m.group("m").lower()[:5]))
            word = m.group("m") + m.group("end")
            case = _et_month_case(idx, word)
            ord_case = "genitive" if case == "terminative" else case
            body = f"{_et_ordinal(int(m.group('d')), ord_case)} {word}"
            return body + (f" {_et_cardinal(int(m.group('y')))}" if m.group("y") else "")

        return _ET_WRITTEN_RE.sub(et, text)

    def ru(m: re.Match[str]) -> str:
        case = _ru_date_case(m.string[: m.start()] + (m.group("pre") or ""))
        body = f"{_ru_ordinal(int(m.group('d')), case, 'n')} {m.group('m')}"
        if m.group("y"):
            body += f" {_ru_ordinal(int(m.group('y')), 'g', 'm')} года"
        return (m.group("pre") or "") + body

    return _RU_WRITTEN_RE.sub(ru, text)


def warm_up() -> None:
    """Import num2words and fill its Russian tables (~25 ms once) before the first turn."""
    _ru_cardinal(1, None, None)
    _ru_ordinal(1, None, "n")
