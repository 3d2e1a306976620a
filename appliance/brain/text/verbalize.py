"""Facts as words in English, Estonian and Russian: numbers, dates, money, digits, nights.

``format_*`` functions give text for chat/SMS templates; ``speak_*`` functions give
speakable words for the voice channel; :func:`speakable` rewrites a whole sentence
(digits, dates, prices, times) into words. Estonian numbers are our own; Russian
numbers come from ``num2words`` (cases and genders); English is our own (British
"one hundred and five"). Unknown languages fall back to English words.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

# --- English ----------------------------------------------------------------------

_EN_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_ORD_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _en_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f"{_EN_UNITS[hundreds]} hundred")
    if rest:
        if rest < 20:
            words = _EN_UNITS[rest]
        else:
            tens, unit = divmod(rest, 10)
            words = _EN_TENS[tens] + (f"-{_EN_UNITS[unit]}" if unit else "")
        parts.append(("and " if hundreds else "") + words)
    return " ".join(parts)


def _en_cardinal(n: int) -> str:
    if n == 0:
        return "zero"
    out = []
    for value, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        big, n = divmod(n, value)
        if big:
            out.append(f"{_en_below_1000(big)} {name}")
    if n:
        below = _en_below_1000(n)
        out.append(("and " + below) if out and n < 100 else below)
    return " ".join(out)


def _en_ordinal(n: int) -> str:
    words = _en_cardinal(n)
    head, sep, last = words.rpartition(" ")
    pre, hyphen, last_word = last.rpartition("-")
    if last_word in _EN_ORD_IRREGULAR:
        ordinal = _EN_ORD_IRREGULAR[last_word]
    elif last_word.endswith("y"):
        ordinal = last_word[:-1] + "ieth"
    else:
        ordinal = last_word + "th"
    return head + sep + pre + hyphen + ordinal


# --- Estonian -----------------------------------------------------------------------

_ET_UNITS = "null üks kaks kolm neli viis kuus seitse kaheksa üheksa".split()
_ET_UNITS_GEN = "nulli ühe kahe kolme nelja viie kuue seitsme kaheksa üheksa".split()
_ET_UNITS_ORD = "nullis esimene teine kolmas neljas viies kuues seitsmes kaheksas üheksas".split()


def _et_parts(n: int) -> list[tuple[str, str, str]]:
    """The components of ``n`` (< 10**6) as (nominative, genitive, ordinal) triples."""
    parts: list[tuple[str, str, str]] = []
    thousands, n = divmod(n, 1000)
    if thousands:
        if thousands > 1:
            parts.extend(_et_parts(thousands))
        parts.append(("tuhat", "tuhande", "tuhandes"))
    hundreds, n = divmod(n, 100)
    if hundreds:
        nom = "sada" if hundreds == 1 else _ET_UNITS[hundreds] + "sada"
        gen = "saja" if hundreds == 1 else _ET_UNITS_GEN[hundreds] + "saja"
        parts.append((nom, gen, gen + "s"))
    if n >= 20:
        tens, n = divmod(n, 10)
        g = _ET_UNITS_GEN[tens]
        parts.append((_ET_UNITS[tens] + "kümmend", g + "kümne", g + "kümnes"))
    if n == 10:
        parts.append(("kümme", "kümne", "kümnes"))
    elif n > 10:
        g = _ET_UNITS_GEN[n - 10]
        parts.append((_ET_UNITS[n - 10] + "teist", g + "teistkümne", g + "teistkümnes"))
    elif n:
        parts.append((_ET_UNITS[n], _ET_UNITS_GEN[n], _ET_UNITS_ORD[n]))
    return parts


def _et_cardinal(n: int, case: str | None = None) -> str:
    if n == 0:
        return "nulli" if case in ("genitive", "g") else "null"
    out = []
    millions, n = divmod(n, 10**6)
    if millions:
        out.append("miljon" if millions == 1 else f"{_et_cardinal(millions)} miljonit")
    if n:
        out.append(" ".join(p[1] if case in ("genitive", "g") else p[0] for p in _et_parts(n)))
    return " ".join(out)


_ET_CASE_ENDINGS = {"adessive": "l", "elative": "st", "allative": "le", "inessive": "s", "translative": "ks"}


def _et_ordinal(n: int, case: str | None = None) -> str:
    """Nominative ordinal ("kahekümne esimene"), or a case form built on its genitive ("kuuendal")."""
    parts = _et_parts(n) if n else [("null", "nulli", "nullis")]
    head = " ".join(p[1] for p in parts[:-1])
    last = parts[-1][2]
    if case:
        if last == "esimene":
            gen = "esimese"
        elif last == "teine":
            gen = "teise"
        else:
            gen = last[:-1] + "nda"  # kolmas -> kolmanda, kuues -> kuuenda
        last = gen + _ET_CASE_ENDINGS.get(case, "")
    return f"{head} {last}".strip()


# --- Russian --------------------------------------------------------------------------

_RU_CASES = {
    None: "n",
    "nominative": "n",
    "n": "n",
    "genitive": "g",
    "g": "g",
    "dative": "d",
    "d": "d",
    "accusative": "a",
    "a": "a",
    "instrumental": "i",
    "i": "i",
    "prepositional": "p",
    "p": "p",
}


def _ru_gender(gender: str | None) -> str:
    return {"f": "f", "feminine": "f", "n": "n", "neuter": "n"}.get(gender or "m", "m")


@lru_cache(maxsize=4096)
def _ru_cardinal(n: int, case: str | None = None, gender: str | None = None) -> str:
    from num2words import num2words

    words = num2words(n, lang="ru", case=_RU_CASES.get(case, "n"), gender=_ru_gender(gender), animate=False)
    return words.removeprefix("одна ") if words.startswith("одна тысяча") else words  # "тысяча двести"


@lru_cache(maxsize=1024)
def _ru_ordinal(n: int, case: str | None = None, gender: str | None = None) -> str:
    from num2words import num2words

    return num2words(n, lang="ru", to="ordinal", case=_RU_CASES.get(case, "n"), gender=_ru_gender(gender))


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """Russian plural form after ``n``: 1 ночь, 2-4 ночи, 5+ (and 11-14) ночей."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


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


def _en_year(y: int) -> str:
    if 2000 <= y < 2010 or y % 100 == 0:
        return _en_cardinal(y)
    hi, lo = divmod(y, 100)
    return f"{_en_cardinal(hi)} {_en_cardinal(lo) if lo >= 10 else 'oh ' + _en_cardinal(lo)}"


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


# --- public: whole sentences for voice ---------------------------------------------------------------

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
