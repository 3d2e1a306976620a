"""Hostile and malformed input: cleaned, bounded, and recognised.

The dialogue's rules already make prompt injection harmless (tools are only
called from the state machine, bookings only after an explicit yes, bookings
are only revealed to whoever identifies them). Recognising injection attempts
lets the receptionist answer politely instead of trying to understand them.
"""

from __future__ import annotations

import re
import unicodedata

LOG_LIMIT = 4000

_INJECTION = [
    # English
    r"\bignore\b.{0,40}\b(instructions?|rules|prompt|above|previous)\b",
    r"\b(disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompt|guidelines)\b",
    r"\byou are now\b",
    r"\b(act|pretend|behave) as (an? )?(admin|administrator|developer|system|root|dan)\b",
    r"\b(system|developer) (prompt|message|mode)\b",
    r"\b(i am|i'm) (the |an? )?(admin|administrator|developer|owner of this system)\b",
    r"\b(cancel|delete|remove|drop|wipe) (all|every|each)( the| of the)? (bookings|reservations|records|customers)\b",
    r"\b(show|list|give|tell|read|reveal)\b.{0,30}\b(all|every|other (customers?|people)'?s?)\b.{0,20}\b(bookings|reservations|customers|phone numbers)\b",
    r"\bdrop table\b|;\s*--|<\s*script\b",
    # Estonian
    r"\b(ignoreeri|unusta|eira)\b.{0,40}\b(juhis\w*|reegl\w*|käsk\w*)\b",
    r"\bsa oled nüüd\b",
    r"\b(tühista|kustuta)\b.{0,20}\bkõik\b.{0,20}\bbroneering\w*\b",
    r"\bnäita\b.{0,30}\b(kõiki|teiste)\b.{0,30}\bbroneering\w*\b",
    r"\bma olen (admin|administraator|arendaja)\w*\b",
    # Russian
    r"(игнорируй|проигнорируй|забудь|игнорировать)\w*.{0,40}(инструкци|правил|указани)",
    r"\bты теперь\b|\bтеперь ты\b",
    r"(отмени|удали)\w*.{0,20}\bвсе\b.{0,20}(брони|бронирования|заказы)",
    r"(покажи|выведи|назови)\w*.{0,30}\b(все|чужие|других)\b.{0,30}(брони|бронирования|клиент)",
    r"\bя (админ|администратор|разработчик)\b",
    r"системн\w* (промпт|подсказк|сообщени)",
]
_INJECTION_RE = re.compile("|".join(f"(?:{p})" for p in _INJECTION), re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\r\f\v]+")


def clean(text: str, max_chars: int) -> tuple[str, str | None]:
    """Normalise one utterance. Returns (text, problem) with problem in
    {None, "empty", "too_long"}. Control characters are dropped, Unicode is
    NFC-normalised, white space folded."""
    if text is None:
        return "", "empty"
    if len(text) > max_chars * 4:  # do not even normalise megabytes
        return text[:max_chars], "too_long"
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in text)
    text = _SPACES.sub(" ", text).strip()
    if not text:
        return "", "empty"
    if len(text) > max_chars:
        return text[:max_chars], "too_long"
    return text, None


def is_injection(text: str) -> bool:
    return bool(_INJECTION_RE.search(text))


def truncated_for_log(text: str) -> str:
    """What is stored for an oversized message: its beginning and its size, never megabytes."""
    text = text or ""
    if len(text) <= LOG_LIMIT:
        return text
    return f"{text[:LOG_LIMIT]}… [truncated, {len(text)} characters]"
