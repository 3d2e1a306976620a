"""Degraded mode mid-call: what the caller hears when speech recognition or synthesis fails.

The apology with the keypad menu ("Sorry, I'm having technical trouble. Press 1 to leave your
number for a callback, or 0 for staff.") is synthesised once per language with espeak-ng when
the service (or a file call) starts, and kept as PCM, so it plays even when the TTS is the
engine that died. The texts are the brain's templates (``voice_trouble`` + ``keypad_menu``); the digits go
to the brain, which decides (``Dialogue.keypad``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from appliance.voice.frames import SpeakFrame
from appliance.voice.recorder import CallRecorder
from appliance.voice.texts import voice_texts

log = logging.getLogger("appliance.voice")

APOLOGY_KEYS = ("voice_trouble", "keypad_menu")


def apology_text(language: str) -> str:
    return voice_texts(APOLOGY_KEYS, language)


class ApologyBank:
    """PCM16 apologies per language at ``rate`` (16 kHz for SIP and file calls)."""

    def __init__(self, rate: int = 16000) -> None:
        self.rate = rate
        self.audio: dict[str, bytes] = {}

    def get(self, language: str | None, fallback: str = "en") -> tuple[str, bytes] | None:
        for lang in (language, fallback, *self.audio):
            if lang and lang in self.audio:
                return lang, self.audio[lang]
        return None

    async def prepare(self, languages: Iterable[str]) -> None:
        """Synthesise what is missing with espeak-ng (no model file, its own process): the
        apology must not depend on the TTS engine whose failure it reports."""
        from appliance.engines.base import float32_to_pcm16, pcm16_to_float32, resample
        from appliance.engines.tts import EspeakTTS

        engine = EspeakTTS()
        for lang in dict.fromkeys(languages):
            if lang in self.audio:
                continue
            try:
                chunk = await engine.synthesize(apology_text(lang), lang)
            except Exception as exc:  # noqa: BLE001 - without it the caller still gets the text path
                log.error("could not record the %s apology: %s", lang, exc)
                continue
            pcm = chunk.pcm16
            if chunk.sample_rate != self.rate:
                pcm = float32_to_pcm16(resample(pcm16_to_float32(pcm), chunk.sample_rate, self.rate))
            self.audio[lang] = pcm


_SHARED: dict[int, ApologyBank] = {}


def shared_apologies(rate: int = 16000) -> ApologyBank:
    """One bank per process and rate (every call of a SIP worker, every ``appliance call``)."""
    bank = _SHARED.get(rate)
    if bank is None:
        bank = _SHARED[rate] = ApologyBank(rate)
    return bank


def apology_frame(rec: CallRecorder, component: str, default_language: str | None) -> SpeakFrame:
    """Degraded mode: the apology and the keypad menu, in the session language."""
    rec.degraded.append(component)
    language = rec.language or default_language or "en"
    return SpeakFrame(apology_text(language), language, turn=None, notice=True, apology=True)
