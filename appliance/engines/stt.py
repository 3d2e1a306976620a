"""Speech to text: faster-whisper (CTranslate2), and a scripted seam for tests.

``transcribe`` is async and runs the model in a thread; ``transcribe_sync`` is the blocking
form (benchmarks, tools). Audio in is mono signed 16-bit little-endian PCM.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.errors import EngineError, EngineUnavailable, ModelError
from appliance.engines.base import pcm16_to_float32, require, require_path, resample

WHISPER_RATE = 16000


@dataclass(frozen=True, slots=True)
class STTCapabilities:
    streaming: bool
    languages: tuple[str, ...]  # empty: any language the model knows
    sample_rate: int  # the rate the model works at; other rates are resampled


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str | None
    probability: float | None  # language probability, when the engine reports one
    duration: float  # seconds of audio


class STTEngine(ABC):
    capabilities: STTCapabilities

    @abstractmethod
    def transcribe_sync(
        self, pcm16: bytes, sample_rate: int = WHISPER_RATE, language_hint: str | None = None
    ) -> Transcript:
        """Blocking transcription of one utterance."""

    async def transcribe(
        self, pcm16: bytes, sample_rate: int = WHISPER_RATE, language_hint: str | None = None
    ) -> Transcript:
        return await asyncio.to_thread(self.transcribe_sync, pcm16, sample_rate, language_hint)

    def load(self) -> None:  # noqa: B027 - optional warm-up
        """Load the model now rather than on the first call."""


# One loaded WhisperModel per (folder, compute type, device), shared by every FasterWhisperSTT.
_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


class FasterWhisperSTT(STTEngine):
    """A CTranslate2 Whisper model folder through faster-whisper. Never downloads: the folder
    must hold model.bin, config.json, vocabulary.json and tokenizer.json."""

    def __init__(
        self,
        model_dir: str | Path,
        compute_type: str = "int8",
        *,
        device: str = "cpu",
        threads: int = 0,
        languages: Sequence[str] = (),
        beam_size: int = 1,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.compute_type = compute_type
        self.device = device
        self.threads = threads
        self.beam_size = beam_size
        self.capabilities = STTCapabilities(streaming=False, languages=tuple(languages), sample_rate=WHISPER_RATE)

    @property
    def model(self) -> Any:
        key = (str(self.model_dir.resolve()), self.compute_type, self.device)
        with _MODELS_LOCK:
            if key not in _MODELS:
                require_path(self.model_dir, what="speech-to-text", directory=True)
                if not (self.model_dir / "tokenizer.json").is_file():
                    # Without it faster-whisper fetches a tokenizer from the hub.
                    raise EngineUnavailable(f"speech-to-text: {self.model_dir}/tokenizer.json is missing")
                fw = require("faster_whisper", what="speech-to-text")
                try:
                    _MODELS[key] = fw.WhisperModel(
                        str(self.model_dir),
                        device=self.device,
                        compute_type=self.compute_type,
                        cpu_threads=self.threads,
                        local_files_only=True,
                    )
                except Exception as exc:
                    raise EngineUnavailable(f"could not load Whisper model {self.model_dir}: {exc}") from exc
            return _MODELS[key]

    def load(self) -> None:
        _ = self.model

    def _pick_language(self, model: Any, audio: Any, hint: str | None) -> tuple[str | None, float | None]:
        allowed = self.capabilities.languages
        if hint and (not allowed or hint in allowed):
            return hint, None
        if not allowed:
            return None, None  # let Whisper detect among all its languages
        _, _, probs = model.detect_language(audio)
        best = max((p for p in probs if p[0] in allowed), key=lambda p: p[1], default=None)
        return (best[0], float(best[1])) if best else (None, None)

    def transcribe_sync(
        self, pcm16: bytes, sample_rate: int = WHISPER_RATE, language_hint: str | None = None
    ) -> Transcript:
        model = self.model
        audio = resample(pcm16_to_float32(pcm16), sample_rate, WHISPER_RATE)
        duration = len(audio) / WHISPER_RATE
        if len(audio) == 0:
            return Transcript("", language_hint, None, 0.0)
        try:
            language, probability = self._pick_language(model, audio, language_hint)
            segments, info = model.transcribe(
                audio,
                language=language,
                beam_size=self.beam_size,
                temperature=0.0,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
            )
            text = "".join(segment.text for segment in segments).strip()
        except Exception as exc:
            raise ModelError(f"transcription failed: {exc}") from exc
        if probability is None:
            probability = float(info.language_probability)
        return Transcript(text, info.language, probability, duration)


class ScriptedSTT(STTEngine):
    """Test seam: the n-th call returns the n-th scripted item.

    An item is a string (a transcript in ``language``), a :class:`Transcript`, or an exception
    instance to raise. ``fail_with`` makes every later call raise (e.g. a crashed model).
    Running past the end of the script raises :class:`EngineError`.
    """

    def __init__(
        self,
        texts: Iterable[str | Transcript | BaseException],
        *,
        language: str | None = "en",
        languages: Sequence[str] = ("en", "et", "ru"),
    ) -> None:
        self._script = list(texts)
        self._language = language
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self.calls: list[tuple[int, int, str | None]] = []  # (bytes, sample_rate, hint) per call
        self.capabilities = STTCapabilities(streaming=False, languages=tuple(languages), sample_rate=WHISPER_RATE)

    def fail_with(self, error: BaseException | None = None) -> None:
        self._failure = error or EngineError("scripted STT failure")

    def transcribe_sync(
        self, pcm16: bytes, sample_rate: int = WHISPER_RATE, language_hint: str | None = None
    ) -> Transcript:
        with self._lock:
            n = len(self.calls)
            self.calls.append((len(pcm16), sample_rate, language_hint))
            if self._failure is not None:
                raise self._failure
            if n >= len(self._script):
                raise EngineError(f"ScriptedSTT has no utterance {n + 1} (script has {len(self._script)})")
            item = self._script[n]
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Transcript):
            return item
        duration = len(pcm16) / 2 / sample_rate if sample_rate else 0.0
        return Transcript(item, language_hint or self._language, 1.0, duration)


__all__ = ["FasterWhisperSTT", "STTCapabilities", "STTEngine", "ScriptedSTT", "Transcript", "WHISPER_RATE"]
