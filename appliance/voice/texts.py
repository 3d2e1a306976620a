"""The voice path's own sentences (the slow-tool notice, re-prompts, the keypad menu, service
prompts) come from the brain's templates (``appliance/brain/text/templates/*.toml``): one text
system for web, SMS and voice."""

from __future__ import annotations

from appliance.brain.text.render import error_text, template


def voice_text(key: str, language: str | None) -> str:
    """The template ``key`` in ``language`` (English when the language has no such template)."""
    return template(language or "en", key)


def voice_texts(keys: tuple[str, ...] | list[str], language: str | None) -> str:
    return " ".join(voice_text(k, language) for k in keys)


__all__ = ["error_text", "voice_text", "voice_texts"]
