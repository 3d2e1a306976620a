"""Facts as words: numbers, dates, money, digits and nights, written (``format_*``, for chat and
SMS) or spoken (``speak_*``, for voice); the number words themselves are per language
(``en.py``, ``et.py``, ``ru.py``)."""

from __future__ import annotations

import datetime as dt
import re

from appliance.brain.text.verbalize.en import _en_cardinal, _en_ordinal, _en_year
from appliance.brain.text.verbalize.et import _ET_CASE_ENDINGS, _et_cardinal, _et_ordinal
from appliance.brain.text.verbalize.ru import _ru_cardinal, _ru_ordinal, plural_ru

# --- public: numbers --------------------------------------------------------------------


def number_words(n: int, lang: str, *, case: str | None = None, gender: str | None = None) -> str:
    """``n`` as words. ``case`` (e.g. "genitive") applies to Estonian and Russian, ``gender`` to Russian."""
    if n < 0:
        minus = {"et": "miinus", "ru": "минус"}.get(lang, "minus")
        return f"{minus} {number_words(-n, lang, case=case, gender=gender)}"
    if lang == "et":
        return _et_cardinal(n, case)
    if lang == "ru":
        return _ru_cardinal(n, case, gender)
    return _en_cardinal(n)


def ordinal_words(n: int, lang: str, *, case: str | None = None, gender: str | None = None) -> str:
    """``n``-th as words: "sixth" / "kuues" / "шестой" (Russian ``gender="n"`` gives "шестое")."""
    if lang == "et":
        return _et_ordinal(n, case)
    if lang == "ru":
        return _ru_ordinal(n, case, gender)
    return _en_ordinal(n)


# --- public: dates --------------------------------------------------------------------------

_MONTHS = {
    "en": "January February March April May June July August September October November December".split(),
    "et": "jaanuar veebruar märts aprill mai juuni juuli august september oktoober november detsember".split(),
    "ru": "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split(),
}
_ET_MONTHS_GEN = (
    "jaanuari veebruari märtsi aprilli mai juuni juuli augusti septembri oktoobri novembri detsembri".split()
)
_WEEKDAYS = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "et": "esmaspäev teisipäev kolmapäev neljapäev reede laupäev pühapäev".split(),
    "ru": "понедельник вторник среда четверг пятница суббота воскресенье".split(),
}


def _lang(lang: str) -> str:
    return lang if lang in _MONTHS else "en"


def format_date(d: dt.date, lang: str, *, weekday: bool = True, year: bool = False) -> str:
    """ "Saturday, 6 December" / "laupäev, 6. detsember" / "суббота, 6 декабря"."""
    lang = _lang(lang)
    month = _MONTHS[lang][d.month - 1]
    if lang == "et":
        body = f"{d.day}. {month}" + (f" {d.year}" if year else "")
    elif lang == "ru":
        body = f"{d.day} {month}" + (f" {d.year} г." if year else "")
    else:
        body = f"{d.day} {month}" + (f" {d.year}" if year else "")
    return f"{_WEEKDAYS[lang][d.weekday()]}, {body}" if weekday else body


def speak_date(d: dt.date, lang: str, *, weekday: bool = True, year: bool = False, case: str | None = None) -> str:
    """The date for voice, day as an ordinal word.

    "Saturday the sixth of December" / "laupäev, kuues detsember" / "суббота, шестое декабря".
    ``case`` inflects the day: Russian "genitive" gives "шестого декабря"; Estonian "adessive" "kuuendal detsembril".
    """
    lang = _lang(lang)
    if lang == "et":
        month = _MONTHS["et"][d.month - 1]
        if case:
            gen = _ET_MONTHS_GEN[d.month - 1]
            month = gen + ("ni" if case == "terminative" else _ET_CASE_ENDINGS.get(case, ""))
        ord_case = None if case in (None, "nominative") else ("genitive" if case == "terminative" else case)
        body = f"{_et_ordinal(d.day, ord_case)} {month}" + (f" {_et_cardinal(d.year)}" if year else "")
        return f"{_WEEKDAYS['et'][d.weekday()]}, {body}" if weekday else body
    if lang == "ru":
        body = f"{_ru_ordinal(d.day, case, 'n')} {_MONTHS['ru'][d.month - 1]}"
        if year:
            body += f" {_ru_ordinal(d.year, 'g', 'm')} года"
        return f"{_WEEKDAYS['ru'][d.weekday()]}, {body}" if weekday else body
    body = f"the {_en_ordinal(d.day)} of {_MONTHS['en'][d.month - 1]}" + (f" {_en_year(d.year)}" if year else "")
    return f"{_WEEKDAYS['en'][d.weekday()]} {body}" if weekday else body


# --- public: money ------------------------------------------------------------------------------

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "RUB": "₽"}
# (major one, major many, minor one, minor many) for en/et; ru: (one, few, many) x2 and genders.
_CURRENCY_WORDS = {
    "en": {
        "EUR": ("euro", "euros", "cent", "cents"),
        "USD": ("dollar", "dollars", "cent", "cents"),
        "GBP": ("pound", "pounds", "penny", "pence"),
        "RUB": ("rouble", "roubles", "kopeck", "kopecks"),
    },
    "et": {
        "EUR": ("euro", "eurot", "sent", "senti"),
        "USD": ("dollar", "dollarit", "sent", "senti"),
        "GBP": ("nael", "naela", "penn", "penni"),
        "RUB": ("rubla", "rubla", "kopikas", "kopikat"),
    },
}
_RU_CURRENCY = {
    "EUR": (("евро", "евро", "евро"), "m", ("цент", "цента", "центов"), "m"),
    "USD": (("доллар", "доллара", "долларов"), "m", ("цент", "цента", "центов"), "m"),
    "GBP": (("фунт", "фунта", "фунтов"), "m", ("пенни", "пенни", "пенни"), "n"),
    "RUB": (("рубль", "рубля", "рублей"), "m", ("копейка", "копейки", "копеек"), "f"),
}


def _group(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def format_money(minor: int, currency: str, lang: str) -> str:
    """ "€70.00" (en) / "70,00 €" (et, ru); thousands "€1,234.50" / "1 234,50 €"; other codes "70.00 SEK"."""
    sign = "-" if minor < 0 else ""
    major, cents = divmod(abs(minor), 100)
    symbol = _SYMBOLS.get(currency.upper())
    if lang in ("et", "ru"):
        amount = f"{_group(major, ' ')},{cents:02d}"
        return f"{sign}{amount} {symbol or currency.upper()}"
    amount = f"{_group(major, ',')}.{cents:02d}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"


def speak_money(minor: int, currency: str, lang: str) -> str:
    """ "seventy euros and fifty cents" / "seitsekümmend eurot ja viiskümmend senti" / "семьдесят евро и пятьдесят центов"."""
    code = currency.upper()
    prefix = {"et": "miinus ", "ru": "минус "}.get(lang, "minus ") if minor < 0 else ""
    major, cents = divmod(abs(minor), 100)
    if lang == "ru":
        if code not in _RU_CURRENCY:
            return prefix + _fallback_money(major, cents, code, lang)
        big, big_g, small, small_g = _RU_CURRENCY[code]
        major_w = f"{_ru_cardinal(major, None, big_g)} {plural_ru(major, *big)}"
        minor_w = f"{_ru_cardinal(cents, None, small_g)} {plural_ru(cents, *small)}"
        joiner = " и "
    else:
        table = _CURRENCY_WORDS["et" if lang == "et" else "en"]
        if code not in table:
            return prefix + _fallback_money(major, cents, code, lang)
        one, many, c_one, c_many = table[code]
        major_w = f"{number_words(major, lang)} {one if major == 1 else many}"
        minor_w = f"{number_words(cents, lang)} {c_one if cents == 1 else c_many}"
        joiner = " ja " if lang == "et" else " and "
    if cents and not major:
        return prefix + minor_w
    return prefix + (major_w + joiner + minor_w if cents else major_w)


def _fallback_money(major: int, cents: int, code: str, lang: str) -> str:
    words = number_words(major, lang)
    if cents:
        point = {"et": "koma", "ru": "и"}.get(lang, "point")
        words += f" {point} {number_words(cents, lang)}"
    return f"{words} {' '.join(code)}"


# --- public: digits, nights ------------------------------------------------------------------------

_PLUS = {"en": "plus", "et": "pluss", "ru": "плюс"}


def _chunks(digits: str) -> list[str]:
    if len(digits) <= 4:
        return [digits]
    out = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    if len(out[-1]) == 1:  # never leave a lone digit: 3+4 rather than 3+3+1
        last = out.pop()
        out[-1] += last
    return out


def speak_digits(s: str, lang: str) -> str:
    """Read a booking or phone number symbol by symbol, in groups ("five five five, one two three four").

    Existing separators (spaces, dashes, dots, slashes) keep their groups; long runs are split in threes.
    """
    groups: list[str] = []
    for raw in re.split(r"[\s\-./]+", s.strip()):
        if not raw:
            continue
        words: list[str] = []
        for run in re.findall(r"\d+|[^\d]+", raw):
            if run.isdigit():
                for chunk in _chunks(run):
                    if words:
                        groups.append(" ".join(words))
                        words = []
                    words.extend(number_words(int(ch), lang) for ch in chunk)
            else:
                for ch in run:
                    if ch == "+":
                        words.append(_PLUS.get(lang, "plus"))
                    elif ch.isalnum():
                        words.append(ch.upper())
        if words:
            groups.append(" ".join(words))
    return ", ".join(groups)


def night_word(n: int, lang: str) -> str:
    if lang == "et":
        return "öö" if n == 1 else "ööd"
    if lang == "ru":
        return plural_ru(n, "ночь", "ночи", "ночей")
    return "night" if n == 1 else "nights"


def format_nights(n: int, lang: str, *, spoken: bool = False) -> str:
    """ "3 nights" / "3 ööd" / "3 ночи"; ``spoken=True`` gives "three nights" / "kolm ööd" / "три ночи"."""
    count = number_words(n, lang, gender="f") if spoken else str(n)
    return f"{count} {night_word(n, lang)}"


def day_word(n: int, lang: str) -> str:
    if lang == "et":
        return "päev" if n == 1 else "päeva"
    if lang == "ru":
        return plural_ru(n, "день", "дня", "дней")
    return "day" if n == 1 else "days"


def format_days(n: int, lang: str, *, spoken: bool = False) -> str:
    """ "30 days" / "30 päeva" / "30 дней", the noun agreeing with the number ("21 день")."""
    count = number_words(n, lang) if spoken else str(n)
    return f"{count} {day_word(n, lang)}"


# --- dates in a range ("from X to Y"), inflected where the language needs it ------------------


def date_in_range(d: dt.date, lang: str, role: str, *, voice: bool = False, year: bool = False) -> str:
    """A date as the start or end of a range, in the form the templates' grammar needs.

    English keeps "Saturday, 5 December". Estonian inflects: "alates 5. detsembrist kuni 6. detsembrini"
    (elative / terminative). Russian drops the weekday (which would need its own case):
    "с 5 декабря по 6 декабря", spoken "с пятого декабря по шестое декабря". ``year`` adds the year
    (a date outside the current year): "5. detsembrist 2027", "5 декабря 2027 г.".
    """
    lang = _lang(lang)
    if lang == "et":
        case = "elative" if role == "start" else "terminative"
        if voice:
            return speak_date(d, "et", weekday=False, case=case, year=year)
        gen = _ET_MONTHS_GEN[d.month - 1]
        return f"{d.day}. {gen}{'st' if case == 'elative' else 'ni'}" + (f" {d.year}" if year else "")
    if lang == "ru":
        if voice:
            return speak_date(d, "ru", weekday=False, case="genitive" if role == "start" else None, year=year)
        return format_date(d, "ru", weekday=False, year=year)
    return speak_date(d, lang, year=year) if voice else format_date(d, lang, year=year)
