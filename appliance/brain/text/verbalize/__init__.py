"""Facts as words in English, Estonian and Russian: numbers, dates, money, digits, nights.

``format_*`` functions give text for chat/SMS templates; ``speak_*`` functions give
speakable words for the voice channel; :func:`speakable` rewrites a whole sentence
(digits, dates, prices, times) into words. Estonian numbers are our own; Russian
numbers come from ``num2words`` (cases and genders); English is our own (British
"one hundred and five"). Unknown languages fall back to English words.
"""

from __future__ import annotations

from appliance.brain.text.verbalize.forms import (
    date_in_range,
    format_date,
    format_days,
    format_money,
    format_nights,
    night_word,
    number_words,
    ordinal_words,
    speak_date,
    speak_digits,
    speak_money,
)
from appliance.brain.text.verbalize.ru import plural_ru
from appliance.brain.text.verbalize.sentences import speakable, warm_up

__all__ = [
    "date_in_range",
    "format_date",
    "format_days",
    "format_money",
    "format_nights",
    "night_word",
    "number_words",
    "ordinal_words",
    "plural_ru",
    "speak_date",
    "speak_digits",
    "speak_money",
    "speakable",
    "warm_up",
]
