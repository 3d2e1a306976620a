"""The narrow seams the voice path talks through."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from appliance.core.messages import Reply, Utterance


@runtime_checkable
class BrainPort(Protocol):
    """What the voice pipeline needs from the dialogue engine (``appliance.brain.dialogue.brain``)."""

    async def handle(self, utterance: Utterance) -> Reply: ...


# Said when the brain takes longer than ``tools.slow_notice_s`` (one place for the strings).
SLOW_NOTICES: dict[str, str] = {
    "en": "One moment, I'm checking.",
    "et": "Üks hetk, ma kontrollin.",
    "ru": "Одну минуту, я проверяю.",
}


def slow_notice(language: str | None) -> str:
    return SLOW_NOTICES.get(language or "en", SLOW_NOTICES["en"])
