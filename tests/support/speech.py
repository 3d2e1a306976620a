"""espeak-ng speech for the voice tests: 16 kHz mono int16, trimmed of espeak's own silence."""

from __future__ import annotations

import numpy as np

from appliance.channels.file_transport import RATE
from appliance.engines.tts import EspeakTTS

_ESPEAK = EspeakTTS()


def speech(text: str, language: str, words_per_minute: int | None = None) -> bytes:
    """``text`` spoken by espeak-ng (160 words per minute unless ``words_per_minute``)."""
    import soxr

    engine = _ESPEAK if words_per_minute is None else EspeakTTS(words_per_minute=words_per_minute)
    chunk = engine.synthesize_sync(text, language)
    audio = np.frombuffer(chunk.pcm16, dtype="<i2").astype(np.float32) / 32768.0
    if chunk.sample_rate != RATE:
        audio = soxr.resample(audio, chunk.sample_rate, RATE)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    voiced = np.flatnonzero(np.abs(pcm) > 300)  # trim espeak's leading/trailing silence
    return pcm[voiced[0] : voiced[-1] + 1].tobytes()


def silence(seconds: float) -> bytes:
    return bytes(int(RATE * seconds) * 2)
