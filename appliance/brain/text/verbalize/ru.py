"""Russian number words (``num2words``: cases and genders) and plural forms."""

from __future__ import annotations

from functools import lru_cache

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
