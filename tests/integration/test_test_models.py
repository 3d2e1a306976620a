"""Tiny random-weight models load through the real engine classes and run once.

Plumbing only: types, shapes, lengths, error mapping. Never content (the weights are random).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.errors import EngineError, EngineUnavailable
from appliance.engines.base import rms_dbfs
from appliance.engines.embed import LlamaCppEmbedder
from appliance.engines.llm import LlamaCppEngine
from appliance.engines.stt import FasterWhisperSTT, Transcript
from appliance.engines.tts import AudioChunk, EspeakTTS, MultiVoiceTTS, PiperTTS

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR = REPO_ROOT / "scripts" / "make_test_models.py"

SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": ["book", "question", "cancel"]},
        "nights": {"type": "integer"},
    },
    "required": ["intent", "nights"],
    "additionalProperties": False,
}
MESSAGES = [
    {"role": "system", "content": "You classify requests."},
    {"role": "user", "content": "Tere! Хочу забронировать комнату для собаки."},
]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get)")


def run_generator(out: Path, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the generator -------------------------------------------------------------------


def test_generator_is_idempotent_and_deterministic(tmp_path: Path, test_models: dict[str, Path]) -> None:
    first = run_generator(tmp_path, "--only", "chat_llm", "embed", "piper")
    assert sorted(first["made"]) == ["chat_llm", "embed", "piper"]
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    for entry in manifest["models"].values():
        for rel, digest in entry["files"].items():
            assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == digest

    second = run_generator(tmp_path, "--only", "chat_llm", "embed", "piper")
    assert second["made"] == [] and sorted(second["skipped"]) == ["chat_llm", "embed", "piper"]

    # Same seeds, same bytes as the shared copy.
    shared = json.loads((test_models["chat_llm"].parents[1] / "MANIFEST.json").read_text())
    assert manifest["models"]["chat_llm"]["files"] == shared["models"]["chat_llm"]["files"]

    # A damaged file is noticed and regenerated; --force regenerates everything asked for.
    (tmp_path / "llm" / "tiny-chat.gguf").write_bytes(b"damaged")
    third = run_generator(tmp_path, "--only", "chat_llm", "piper")
    assert third["made"] == ["chat_llm"] and third["skipped"] == ["piper"]
    assert run_generator(tmp_path, "--only", "piper", "--force")["made"] == ["piper"]


def test_shared_models_are_small_and_complete(test_models: dict[str, Path]) -> None:
    assert set(test_models) == {"chat_llm", "embed", "whisper", "piper"}
    whisper = test_models["whisper"]
    for name in ("model.bin", "config.json", "vocabulary.json", "tokenizer.json", "preprocessor_config.json"):
        assert (whisper / name).is_file(), name
    for lang in ("en", "ru"):
        assert (test_models["piper"] / f"tiny-{lang}.onnx.json").is_file()
    total = sum(p.stat().st_size for p in test_models["chat_llm"].parents[1].rglob("*") if p.is_file())
    assert total < 64 * 1024 * 1024


def test_whisper_tokenizer_matches_whisper_ids(test_models: dict[str, Path]) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(test_models["whisper"] / "tokenizer.json"))
    assert tok.get_vocab_size() == 51865
    expected = {"<|endoftext|>": 50257, "<|startoftranscript|>": 50258, "<|en|>": 50259, "<|ru|>": 50263}
    expected |= {"<|et|>": 50307, "<|transcribe|>": 50359, "<|notimestamps|>": 50363, "<|0.00|>": 50364}
    assert {t: tok.token_to_id(t) for t in expected} == expected
    assert tok.decode(tok.encode("Tere, päev! Привет.").ids) == "Tere, päev! Привет."


# --- LLM -----------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_llm_json_and_chat(test_models: dict[str, Path], isolation: str) -> None:
    async def go() -> None:
        engine = LlamaCppEngine(test_models["chat_llm"], n_ctx=512, threads=1, isolation=isolation)
        try:
            await engine.load()
            result = await engine.complete_json(MESSAGES, SCHEMA, timeout=30, max_tokens=96)
            assert set(result) == {"intent", "nights"}
            assert result["intent"] in {"book", "question", "cancel"} and isinstance(result["nights"], int)
            text = await engine.chat(MESSAGES, max_tokens=16, timeout=30)
            assert isinstance(text, str)
        finally:
            await engine.aclose()

    asyncio.run(go())


def test_llm_worker_survives_crash_and_timeout(test_models: dict[str, Path]) -> None:
    async def go() -> None:
        engine = LlamaCppEngine(test_models["chat_llm"], n_ctx=512, threads=1, isolation="process")
        try:
            await engine.load()
            first_pid = engine.worker_pid
            assert first_pid is not None and first_pid != os.getpid()

            os.kill(first_pid, signal.SIGKILL)  # the model "crashes" between requests
            for _ in range(500):  # bounded: until the kernel has really ended it
                if engine.worker_pid is None:
                    break
                await asyncio.sleep(0.01)
            result = await engine.complete_json(MESSAGES, SCHEMA, timeout=30, max_tokens=96)
            assert isinstance(result, dict)
            assert engine.worker_pid not in (None, first_pid) and engine.spawned == 2

            with pytest.raises(EngineError) as err:  # a timeout kills the worker: computation really stops
                await engine.chat(MESSAGES, max_tokens=400, timeout=1e-6)
            assert err.value.code == "engine_timeout" and err.value.retryable
            assert engine.worker_pid is None

            assert isinstance(await engine.chat(MESSAGES, max_tokens=8, timeout=30), str)
            assert engine.spawned == 3
        finally:
            await engine.aclose()
        assert engine.worker_pid is None

    asyncio.run(go())


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_llm_bad_model_is_unavailable(tmp_path: Path, isolation: str) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)

    async def go() -> None:
        missing = LlamaCppEngine(tmp_path / "missing.gguf", isolation=isolation)
        with pytest.raises(EngineUnavailable):
            await missing.complete_json(MESSAGES, SCHEMA, timeout=5)
        await missing.aclose()
        broken = LlamaCppEngine(bad, isolation=isolation, load_timeout=60)
        with pytest.raises(EngineUnavailable):
            await broken.load()
        with pytest.raises(EngineUnavailable):  # remembered: no reload storm
            await broken.chat(MESSAGES, timeout=5)
        await broken.aclose()

    asyncio.run(go())


# --- embeddings ----------------------------------------------------------------------


def test_llama_embedder(test_models: dict[str, Path]) -> None:
    embedder = LlamaCppEmbedder(test_models["embed"])
    texts = ["Dog room for two nights", "Koeratuba kaheks ööks", "Комната для собаки на две ночи", ""]
    vectors = embedder.embed(texts)
    assert len(vectors) == len(texts)
    assert all(len(v) == embedder.dim == 64 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors[:3])
    assert asyncio.run(embedder.aembed(texts[:1])) == vectors[:1]


# --- speech to text ------------------------------------------------------------------


def _tone_pcm16(seconds: float, rate: int) -> bytes:
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()


def test_faster_whisper_transcribes(test_models: dict[str, Path]) -> None:
    stt = FasterWhisperSTT(test_models["whisper"], compute_type="int8", threads=1, languages=("en", "et", "ru"))
    result = asyncio.run(stt.transcribe(_tone_pcm16(2.0, 8000), 8000, None))  # telephone rate, resampled
    assert isinstance(result, Transcript) and isinstance(result.text, str)
    assert result.language in {"en", "et", "ru"}
    assert math.isclose(result.duration, 2.0, abs_tol=0.01)

    hinted = stt.transcribe_sync(_tone_pcm16(1.0, 16000), 16000, "et")
    assert hinted.language == "et"
    other = FasterWhisperSTT(test_models["whisper"], compute_type="int8")
    assert other.model is stt.model  # one loaded model shared
    assert stt.transcribe_sync(b"", 16000, "en").text == ""


def test_faster_whisper_float32_and_missing(test_models: dict[str, Path], tmp_path: Path) -> None:
    stt = FasterWhisperSTT(test_models["whisper"], compute_type="float32", threads=1)
    assert isinstance(stt.transcribe_sync(_tone_pcm16(1.0, 16000), 16000, "ru").text, str)
    with pytest.raises(EngineUnavailable):
        FasterWhisperSTT(tmp_path / "nowhere").load()
    (tmp_path / "no-tokenizer").mkdir()
    with pytest.raises(EngineUnavailable):  # never falls through to a hub download
        FasterWhisperSTT(tmp_path / "no-tokenizer").load()


# --- text to speech ------------------------------------------------------------------


def test_piper_tiny_voices(test_models: dict[str, Path]) -> None:
    voices = {lang: test_models["piper"] / f"tiny-{lang}.onnx" for lang in ("en", "ru")}
    tts = PiperTTS(voices)
    assert tts.capabilities.languages == ("en", "ru") and tts.capabilities.sample_rate == 22050
    short = tts.synthesize_sync("Hello.", "en")
    longer = asyncio.run(tts.synthesize("Hello there, how are you today?", "en"))
    russian = tts.synthesize_sync("Привет, как дела?", "ru")
    for chunk in (short, longer, russian):
        assert isinstance(chunk, AudioChunk) and chunk.sample_rate == 22050
        assert len(chunk.pcm16) % 2 == 0 and rms_dbfs(chunk.pcm16) > -40
    assert longer.duration > short.duration
    with pytest.raises(EngineUnavailable):
        tts.synthesize_sync("Tere", "et")


@needs_espeak
def test_multivoice_falls_back_to_espeak_for_estonian(test_models: dict[str, Path]) -> None:
    piper = PiperTTS({"en": test_models["piper"] / "tiny-en.onnx"})
    tts = MultiVoiceTTS(piper, EspeakTTS())
    assert tts.engine_for("en") is piper and isinstance(tts.engine_for("et"), EspeakTTS)
    et = asyncio.run(tts.synthesize("Tere tulemast!", "et"))
    assert et.sample_rate == 22050 and rms_dbfs(et.pcm16) > -40
    assert tts.synthesize_sync("Hello", "en").sample_rate == 22050
