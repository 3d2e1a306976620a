"""Engine plumbing that needs no model files: fallbacks, seams, error mapping."""

from __future__ import annotations

import asyncio
import math
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.errors import EngineError, EngineUnavailable, ModelError
from appliance.engines import base
from appliance.engines.embed import HashingEmbedder, l2_normalize
from appliance.engines.llm import LlamaCppEngine, parse_json_object
from appliance.engines.stt import FasterWhisperSTT, ScriptedSTT, Transcript
from appliance.engines.tts import AudioChunk, EspeakTTS, MultiVoiceTTS, PiperTTS, TTSCapabilities, TTSEngine, parse_wav


def test_importing_engines_stays_light() -> None:
    code = (
        "import sys, appliance.engines\n"
        "heavy = {'llama_cpp', 'faster_whisper', 'ctranslate2', 'piper', 'onnxruntime', 'torch', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_require_names_the_install_hint() -> None:
    with pytest.raises(EngineUnavailable) as err:
        base.require("surely_not_a_module_xyz", what="a test", install_hint="pip install xyz")
    assert err.value.install_hint == "pip install xyz" and "a test" in str(err.value)
    with pytest.raises(EngineUnavailable):
        base.require_path("/nonexistent/model.gguf", what="LLM")


def test_pcm_helpers_round_trip() -> None:
    pcm = struct.pack("<4h", 0, 16384, -16384, 32767)
    audio = base.pcm16_to_float32(pcm)
    assert audio.tolist()[:3] == [0.0, 0.5, -0.5]
    assert len(base.float32_to_pcm16(audio)) == len(pcm)
    assert base.rms_dbfs(b"\x00\x00" * 100) == float("-inf")
    assert len(base.resample(base.pcm16_to_float32(b"\x01\x00" * 8000), 8000, 16000)) == 16000


# --- embeddings --------------------------------------------------------------------


def test_hashing_embedder_is_deterministic_multilingual_and_normalised() -> None:
    emb = HashingEmbedder(dim=128)
    texts = ["How much is a dog room?", "Kui palju maksab koeratuba?", "Сколько стоит комната для собаки?"]
    a, b = emb.embed(texts), HashingEmbedder(dim=128).embed(texts)
    assert a == b and emb.dim == 128
    assert all(len(v) == 128 and math.isclose(math.fsum(x * x for x in v), 1.0) for v in a)
    assert len({tuple(v) for v in a}) == 3  # different scripts, different vectors

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    query = emb.embed(["koeratuba hind"])[0]
    assert cos(query, a[1]) > cos(query, a[2])  # shared Estonian n-grams beat Cyrillic text
    assert emb.embed([""])[0] == [0.0] * 128
    assert asyncio.run(emb.aembed(texts)) == a
    assert l2_normalize([3.0, 4.0]) == [0.6, 0.8]


# --- LLM -----------------------------------------------------------------------------


def test_parse_json_object() -> None:
    assert parse_json_object('{"a": 1}') == {"a": 1}
    for bad in ('{"a": ', "[1, 2]", "nope"):
        with pytest.raises(ModelError):
            parse_json_object(bad)


def test_llm_rejects_bad_isolation_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LlamaCppEngine(tmp_path / "x.gguf", isolation="fork")  # type: ignore[arg-type]

    async def go() -> None:
        engine = LlamaCppEngine(tmp_path / "x.gguf", isolation="thread")
        with pytest.raises(EngineUnavailable):
            await engine.chat([{"role": "user", "content": "hi"}], timeout=1)
        await engine.aclose()

    asyncio.run(go())


# --- STT -------------------------------------------------------------------------------


def test_scripted_stt_returns_the_nth_utterance_then_fails() -> None:
    stt = ScriptedSTT(["hello", Transcript("tere", "et", 0.9, 1.0), ModelError("boom"), "again"])
    first = asyncio.run(stt.transcribe(b"\x00\x00" * 16000, 16000, None))
    assert first == Transcript("hello", "en", 1.0, 1.0)
    assert stt.transcribe_sync(b"", 16000, "et").language == "et"
    with pytest.raises(ModelError):
        stt.transcribe_sync(b"", 16000, None)
    assert stt.transcribe_sync(b"", 8000, "ru") == Transcript("again", "ru", 1.0, 0.0)
    with pytest.raises(EngineError):  # past the end of the script
        stt.transcribe_sync(b"", 16000, None)
    stt2 = ScriptedSTT(["never"])
    stt2.fail_with()
    with pytest.raises(EngineError):
        asyncio.run(stt2.transcribe(b"", 16000, None))
    assert len(stt.calls) == 5 and stt.calls[0] == (32000, 16000, None)


def test_faster_whisper_missing_folder_is_unavailable(tmp_path: Path) -> None:
    stt = FasterWhisperSTT(tmp_path / "missing")
    assert stt.capabilities.sample_rate == 16000 and not stt.capabilities.streaming
    with pytest.raises(EngineUnavailable):
        stt.transcribe_sync(b"\x00\x00" * 160, 16000, "en")


# --- TTS -------------------------------------------------------------------------------


class _FakeTTS(TTSEngine):
    """A narrow seam: records calls, answers with a fixed tone."""

    def __init__(self, languages: tuple[str, ...], error: Exception | None = None) -> None:
        self.capabilities = TTSCapabilities(languages=languages, sample_rate=16000)
        self.calls: list[tuple[str, str]] = []
        self.error = error

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        self.calls.append((text, language))
        if self.error:
            raise self.error
        return AudioChunk(b"\x10\x00" * 160, 16000)


def test_multivoice_picks_per_language_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    primary, fallback = _FakeTTS(("en", "ru")), _FakeTTS(("en", "et", "ru"))
    tts = MultiVoiceTTS(primary, fallback)
    assert tts.capabilities.languages == ("en", "ru", "et")
    tts.synthesize_sync("hi", "en")
    with caplog.at_level("WARNING"):
        asyncio.run(tts.synthesize("tere", "et"))
        tts.synthesize_sync("tere", "et")
    assert primary.calls == [("hi", "en")] and fallback.calls == [("tere", "et"), ("tere", "et")]
    assert sum("'et'" in r.getMessage() for r in caplog.records) == 1  # logged once

    broken = MultiVoiceTTS(_FakeTTS(("en",), EngineUnavailable("voice file gone")), fallback)
    assert broken.synthesize_sync("hi", "en").sample_rate == 16000
    assert fallback.calls[-1] == ("hi", "en")


def test_piper_missing_voice_is_unavailable(tmp_path: Path) -> None:
    tts = PiperTTS({"en": tmp_path / "nope.onnx"})
    assert tts.capabilities.languages == ("en",)
    with pytest.raises(EngineUnavailable):
        tts.synthesize_sync("hello", "en")


def test_espeak_missing_binary_is_unavailable() -> None:
    tts = EspeakTTS(binary="espeak-ng-not-installed-xyz")
    with pytest.raises(EngineUnavailable) as err:
        tts.synthesize_sync("hello", "en")
    assert "apt-get install espeak-ng" in (err.value.install_hint or "")


def test_parse_wav_tolerates_placeholder_sizes() -> None:
    pcm = struct.pack("<4h", 1, -1, 1000, -1000)
    fmt = struct.pack("<HHIIHH", 1, 1, 22050, 44100, 2, 16)
    wav = b"RIFF" + b"\xff\xff\xff\xff" + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    wav += b"data" + b"\xff\xff\xff\x7f" + pcm
    assert parse_wav(wav) == AudioChunk(pcm, 22050)
    with pytest.raises(ModelError):
        parse_wav(b"not a wav file at all")
