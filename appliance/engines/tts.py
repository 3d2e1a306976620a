"""Text to speech: Piper voices, espeak-ng as the always-there fallback, and a per-language mux.

``synthesize`` is async (Piper runs in a thread, espeak-ng is an asyncio subprocess);
``synthesize_sync`` is the blocking form. Audio out is mono PCM16 at the voice's own rate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import struct
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.errors import EngineError, EngineUnavailable, ModelError
from appliance.engines.base import LogOnce, require, require_path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TTSCapabilities:
    languages: tuple[str, ...]
    sample_rate: int
    streaming: bool = False


@dataclass(frozen=True, slots=True)
class AudioChunk:
    pcm16: bytes  # mono, signed 16-bit little-endian
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.pcm16) / 2 / self.sample_rate if self.sample_rate else 0.0


class TTSEngine(ABC):
    capabilities: TTSCapabilities

    @abstractmethod
    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        """Blocking synthesis of one utterance."""

    async def synthesize(self, text: str, language: str) -> AudioChunk:
        return await asyncio.to_thread(self.synthesize_sync, text, language)

    def supports(self, language: str) -> bool:
        return language in self.capabilities.languages

    def load(self) -> None:  # noqa: B027 - optional warm-up
        """Load voices now rather than on the first call."""


# --- Piper ---------------------------------------------------------------------------


class PiperTTS(TTSEngine):
    """Piper ONNX voices, one per language: ``{"en": "voices/en_US-lessac-medium.onnx", ...}``.

    Each ``X.onnx`` needs its ``X.onnx.json`` next to it. Voices load on first use and stay loaded.
    """

    def __init__(self, voices: Mapping[str, str | Path]) -> None:
        self.voices = {lang: Path(p) for lang, p in voices.items()}
        self._loaded: dict[str, Any] = {}
        self._locks = {lang: threading.Lock() for lang in self.voices}
        rates = {self._config_rate(p) for p in self.voices.values()}
        self.capabilities = TTSCapabilities(
            languages=tuple(self.voices), sample_rate=min(rates) if rates else 22050, streaming=False
        )

    @staticmethod
    def _config_rate(onnx_path: Path) -> int:
        try:
            return int(json.loads(Path(f"{onnx_path}.json").read_text())["audio"]["sample_rate"])
        except (OSError, ValueError, KeyError, TypeError):
            return 22050

    def _voice(self, language: str) -> Any:
        if language not in self.voices:
            raise EngineUnavailable(f"no Piper voice for language {language!r}")
        with self._locks[language]:
            if language not in self._loaded:
                path = require_path(self.voices[language], what=f"Piper voice ({language})")
                require_path(f"{path}.json", what=f"Piper voice config ({language})")
                piper = require("piper", what="Piper text-to-speech")
                try:
                    self._loaded[language] = piper.PiperVoice.load(str(path))
                except Exception as exc:
                    raise EngineUnavailable(f"could not load Piper voice {path}: {exc}") from exc
            return self._loaded[language]

    def load(self) -> None:
        for language in self.voices:
            self._voice(language)

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        voice = self._voice(language)
        with self._locks[language]:  # one synthesis per voice at a time
            try:
                chunks = list(voice.synthesize(text))
            except Exception as exc:
                raise ModelError(f"Piper synthesis failed: {exc}") from exc
        rate = chunks[0].sample_rate if chunks else voice.config.sample_rate
        return AudioChunk(b"".join(c.audio_int16_bytes for c in chunks), rate)


# --- espeak-ng -----------------------------------------------------------------------

ESPEAK_VOICES = {"en": "en-us", "et": "et", "ru": "ru"}


def parse_wav(data: bytes) -> AudioChunk:
    """Parse the RIFF/WAVE espeak-ng writes to a pipe (its size fields can be placeholders)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ModelError("espeak-ng did not write WAV audio")
    pos, rate, bits, channels = 12, 0, 16, 1
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            _fmt, channels, rate, _br, _align, bits = struct.unpack("<HHIIHH", data[body : body + 16])
        elif cid == b"data":
            pcm = data[body : body + size] if body + size <= len(data) else data[body:]
            if bits != 16 or channels != 1:
                raise ModelError(f"unexpected espeak-ng audio format: {bits} bits, {channels} channels")
            return AudioChunk(pcm[: len(pcm) // 2 * 2], rate)
        pos = body + size + (size & 1)
    raise ModelError("espeak-ng WAV has no data chunk")


class EspeakTTS(TTSEngine):
    """espeak-ng as a subprocess: robotic but there for every language, no model files."""

    def __init__(
        self,
        *,
        binary: str = "espeak-ng",
        voices: Mapping[str, str] | None = None,
        words_per_minute: int = 160,
        timeout: float = 20.0,
    ) -> None:
        self.binary = binary
        self.voices = dict(voices or ESPEAK_VOICES)
        self.words_per_minute = words_per_minute
        self.timeout = timeout
        self.capabilities = TTSCapabilities(languages=tuple(self.voices), sample_rate=22050, streaming=False)

    def supports(self, language: str) -> bool:
        return True  # espeak-ng has a voice for most ISO 639-1 codes; unknown ones fall back to English

    def _argv(self, language: str) -> list[str]:
        exe = shutil.which(self.binary)
        if exe is None:
            raise EngineUnavailable(f"{self.binary} is not installed", install_hint="apt-get install espeak-ng")
        voice = self.voices.get(language, language)
        return [exe, "-v", voice, "-s", str(self.words_per_minute), "--stdout", "--stdin"]

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        try:
            proc = subprocess.run(self._argv(language), input=text.encode(), capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"espeak-ng took longer than {self.timeout}s", code="engine_timeout") from exc
        if proc.returncode != 0:
            raise ModelError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
        return parse_wav(proc.stdout)

    async def synthesize(self, text: str, language: str) -> AudioChunk:
        proc = await asyncio.create_subprocess_exec(
            *self._argv(language),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode()), self.timeout)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise EngineError(f"espeak-ng took longer than {self.timeout}s", code="engine_timeout") from exc
        if proc.returncode != 0:
            raise ModelError(f"espeak-ng failed ({proc.returncode}): {err.decode(errors='replace')[:200]}")
        return parse_wav(out)


# --- per-language choice -------------------------------------------------------------


class MultiVoiceTTS(TTSEngine):
    """Piper where there is a voice for the language, espeak-ng (logged once per language) otherwise,
    and espeak-ng too when a Piper voice fails to load."""

    def __init__(self, primary: TTSEngine | None, fallback: TTSEngine | None = None) -> None:
        self.primary = primary
        self.fallback = fallback if fallback is not None else EspeakTTS()
        self._once = LogOnce(log)  # per engine: each configured appliance logs its fallbacks once
        langs = dict.fromkeys(
            (*(primary.capabilities.languages if primary else ()), *self.fallback.capabilities.languages)
        )
        rate = primary.capabilities.sample_rate if primary else self.fallback.capabilities.sample_rate
        self.capabilities = TTSCapabilities(languages=tuple(langs), sample_rate=rate, streaming=False)

    def engine_for(self, language: str) -> TTSEngine:
        if self.primary is not None and self.primary.supports(language):
            return self.primary
        self._once.warning(f"fallback:{language}", "no voice for %r: using %s", language, type(self.fallback).__name__)
        return self.fallback

    def supports(self, language: str) -> bool:
        return (self.primary is not None and self.primary.supports(language)) or self.fallback.supports(language)

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        engine = self.engine_for(language)
        try:
            return engine.synthesize_sync(text, language)
        except EngineUnavailable as exc:
            if engine is self.fallback:
                raise
            self._once.warning(f"broken:{language}", "voice for %r unavailable (%s): using the fallback", language, exc)
            return self.fallback.synthesize_sync(text, language)

    async def synthesize(self, text: str, language: str) -> AudioChunk:
        engine = self.engine_for(language)
        try:
            return await engine.synthesize(text, language)
        except EngineUnavailable as exc:
            if engine is self.fallback:
                raise
            self._once.warning(f"broken:{language}", "voice for %r unavailable (%s): using the fallback", language, exc)
            return await self.fallback.synthesize(text, language)


__all__ = ["AudioChunk", "EspeakTTS", "MultiVoiceTTS", "PiperTTS", "TTSCapabilities", "TTSEngine", "parse_wav"]
