"""Real speech engines that need no generated models: espeak-ng and Silero VAD (real weights)."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from appliance.engines.base import float32_to_pcm16, pcm16_to_float32, resample, rms_dbfs
from appliance.engines.tts import EspeakTTS
from appliance.engines.vad import FRAME_BYTES, SileroVAD

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get)")

PHRASES = {
    "en": "Hello, you have reached the pet hotel. How can I help you?",
    "et": "Tere, olete helistanud loomahotelli. Kuidas saan aidata?",
    "ru": "Здравствуйте, вы позвонили в гостиницу для животных. Чем могу помочь?",
}


@pytest.mark.parametrize("language", ["en", "et", "ru"])
def test_espeak_speaks_every_language(language: str) -> None:
    tts = EspeakTTS()
    chunk = asyncio.run(tts.synthesize(PHRASES[language], language))
    assert chunk.sample_rate == 22050
    assert 1.0 < chunk.duration < 20.0
    assert rms_dbfs(chunk.pcm16) > -35  # not silence
    assert tts.synthesize_sync("Tere", language).duration > 0.1


def _speech_16k(language: str) -> bytes:
    chunk = EspeakTTS().synthesize_sync(PHRASES[language], language)
    return float32_to_pcm16(resample(pcm16_to_float32(chunk.pcm16), chunk.sample_rate, 16000))


def _frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_silero_scores_speech_above_silence(language: str) -> None:
    vad = SileroVAD()
    silence = [vad.is_speech(f) for f in _frames(b"\x00\x00" * 16000)]
    vad.reset()
    speech = [vad.is_speech(f) for f in _frames(_speech_16k(language))]
    assert max(silence) < 0.2
    speech_share = sum(p > 0.5 for p in speech) / len(speech)
    assert speech_share > 0.3, speech_share
    assert sum(speech) / len(speech) > 3 * (sum(silence) / len(silence))


def test_silero_accepts_odd_frame_sizes() -> None:
    vad = SileroVAD()
    assert vad.is_speech(b"") == 0.0
    p = vad.is_speech(_speech_16k("en")[: 700 * 2])  # 700 samples: two windows, the last padded
    assert 0.0 <= p <= 1.0
