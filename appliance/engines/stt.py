"""Speech to text: faster-whisper (CTranslate2), and a scripted seam for tests.

``transcribe`` is async and runs the model in a thread; ``transcribe_sync`` is the blocking
form (benchmarks, tools). Audio in is mono signed 16-bit little-endian PCM.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from appliance.core.errors import EngineError, EngineUnavailable, ModelError
from appliance.engines.base import pcm16_to_float32, require, require_path, resample, voiced_seconds
from appliance.engines.langid import DECIDED, LangIdAction, LangIdParams, LanguageChoice, confirm, decide, restrict

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
    language_id: LanguageChoice | None = None  # how the language was chosen (transcribe_choosing)


# (transcript text) -> (its language or None, confidence, content words): the text side of the
# language check (the brain's lexicons + lingua, wired in by the voice layer).
TextLanguage = Callable[[str], tuple[str | None, float, int]]


def confirm_choice(
    transcript: Transcript,
    choice: LanguageChoice,
    params: LangIdParams,
    text_language: TextLanguage | None,
    transcribe: Callable[[str | None], Transcript],
) -> tuple[Transcript, LanguageChoice]:
    """A CHECK decision confirmed by the transcript's text language; when it is not confirmed,
    the utterance is transcribed again in the session language (the in-process engine and the
    STT service's client share this step)."""
    found: tuple[str | None, float, int] = (None, 0.0, 0)
    if text_language is not None:
        found = text_language(transcript.text)
    choice = confirm(choice, *found, params)
    if choice.language != choice.detected:  # not confirmed: the session language after all
        transcript = transcribe(choice.language)
    return transcript, choice


class STTEngine(ABC):
    # engines set their own; the default: batch, any language the model knows, 16 kHz
    capabilities: STTCapabilities = STTCapabilities(streaming=False, languages=(), sample_rate=WHISPER_RATE)

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

    def detect_languages_sync(self, pcm16: bytes, sample_rate: int = WHISPER_RATE) -> dict[str, float]:
        """Spoken-language probabilities over ``capabilities.languages`` (renormalised), from one
        detection pass; empty when the engine cannot tell."""
        return {}

    def transcribe_choosing(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        *,
        params: LangIdParams = DECIDED,
        text_language: TextLanguage | None = None,
    ) -> Transcript:
        """Detect the spoken language (session language as the prior, :mod:`appliance.engines.langid`),
        then transcribe in the chosen language. The choice travels in ``Transcript.language_id``."""
        return self._choose(
            pcm16,
            sample_rate,
            session_language,
            params,
            text_language,
            lambda language: self.transcribe_sync(pcm16, sample_rate, language),
        )

    async def transcribe_choosing_async(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        *,
        params: LangIdParams = DECIDED,
        text_language: TextLanguage | None = None,
    ) -> Transcript:
        """:meth:`transcribe_choosing` off the event loop (:meth:`_off_loop`)."""
        work = functools.partial(
            self.transcribe_choosing, pcm16, sample_rate, session_language, params=params, text_language=text_language
        )
        return await self._off_loop(work)

    async def _off_loop(self, work: Callable[[], Transcript]) -> Transcript:
        """Where blocking model work runs: a worker thread (a supervised engine: under its timeout)."""
        return await asyncio.to_thread(work)

    def _choose(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        params: LangIdParams,
        text_language: TextLanguage | None,
        transcribe: Callable[[str | None], Transcript],
    ) -> Transcript:
        languages = self.capabilities.languages
        duration = voiced_seconds(pcm16, sample_rate) if sample_rate else 0.0  # speech, not the padding
        started = time.perf_counter()
        probs = self.detect_languages_sync(pcm16, sample_rate) if len(languages) > 1 else {}
        detect_ms = round((time.perf_counter() - started) * 1000, 2)
        choice = replace(
            decide(session_language, probs, duration, params, languages=languages or None), detect_ms=detect_ms
        )
        if not probs:  # no spoken-language detection here: never force a language, keep the engine's own
            transcript = transcribe(languages[0] if len(languages) == 1 else None)
            return replace(transcript, language=transcript.language or choice.language, language_id=choice)
        transcript = transcribe(choice.language)
        if choice.action is LangIdAction.CHECK:
            transcript, choice = confirm_choice(transcript, choice, params, text_language, transcribe)
        probability = choice.probability if probs else transcript.probability
        return replace(transcript, language=choice.language, probability=probability, language_id=choice)


# faster-whisper suppresses "non-speech" symbols by default (``suppress_tokens=[-1]``), the plus
# sign among them, so a caller's "+372 5123 4567" could never be written with its country code:
# the model, which hears it, falls back to another first token ("37372 5123 4567", "5372 ...").
# The brain reads "+372 ..." as a phone; every other symbol of the default set stays suppressed.
_WRITABLE_SYMBOLS = ("+", " +")


def suppressed_tokens(model: Any) -> list[int]:
    """faster-whisper's default suppressed tokens for this loaded model, less the plus sign (a new
    list each time: faster-whisper extends the list it is given)."""
    return list(_suppressed_tokens(model))


@functools.cache
def _suppressed_tokens(model: Any) -> tuple[int, ...]:
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    multilingual = bool(model.model.is_multilingual)
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language="en" if multilingual else None)
    plus = {ids[0] for ids in (tokenizer.encode(s) for s in _WRITABLE_SYMBOLS) if len(ids) == 1}
    return tuple(t for t in get_suppressed_tokens(tokenizer, [-1]) if t not in plus)


# One loaded WhisperModel per (folder, compute type, device), shared by every FasterWhisperSTT.
_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()
# The language-detection pass's encoder output, per worker thread: (model, mel window, output).
# The transcription of the same utterance right after reuses it (one encoder pass per utterance).
_ENCODED = threading.local()


@contextlib.contextmanager
def _one_encoder_pass() -> Iterator[None]:
    """While one utterance is identified and transcribed, keep the detection pass's encoder output
    for its transcription; dropped afterwards."""
    _ENCODED.keep = True
    try:
        yield
    finally:
        _ENCODED.keep, _ENCODED.entry, _ENCODED.features = False, None, None


def _kept(name: str, owner: Any, array: Any) -> Any:
    """This thread's kept result for ``array`` (the same input to the same owner), else None."""
    import numpy as np

    kept = getattr(_ENCODED, name, None)
    if kept is not None and kept[0] is owner and kept[1].shape == array.shape and np.array_equal(kept[1], array):
        return kept[2]
    return None


def _whisper_class(fw: Any) -> Any:
    """faster-whisper's WhisperModel whose ``encode`` (and feature extractor) return this thread's
    kept results when asked for the very window (audio) the language detection just did."""
    from faster_whisper.feature_extractor import FeatureExtractor

    class SharedFeatures(FeatureExtractor):  # type: ignore[misc]
        def __call__(self, waveform: Any, padding: int = 160, chunk_length: int | None = None) -> Any:
            kept = _kept("features", self, waveform) if padding == 160 and chunk_length is None else None
            if kept is not None:
                return kept
            return super().__call__(waveform, padding=padding, chunk_length=chunk_length)

    class SharedEncoderWhisper(fw.WhisperModel):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if type(self.feature_extractor) is FeatureExtractor:
                self.feature_extractor.__class__ = SharedFeatures

        def encode(self, features: Any) -> Any:
            kept = _kept("entry", self, features)
            return kept if kept is not None else super().encode(features)

    return SharedEncoderWhisper


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
                    _MODELS[key] = _whisper_class(fw)(
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

    def _pick_language(self, model: Any, audio: Any, language: str | None) -> tuple[str | None, float | None]:
        allowed = self.capabilities.languages
        if language and (not allowed or language in allowed):
            return language, None
        if not allowed:
            return None, None  # let Whisper detect among all its languages
        probs = self._detect(model, audio)
        best = max(probs.items(), key=lambda p: p[1], default=None)
        return (best[0], float(best[1])) if best else (None, None)

    def _detect(self, model: Any, audio: Any) -> dict[str, float]:
        """One encoder pass over the first window (built exactly as faster-whisper's transcription
        builds it, so that transcription reuses the output), then Whisper's language tokens,
        restricted to the allowed languages."""
        from faster_whisper.audio import pad_or_trim

        extractor = model.feature_extractor
        features = extractor(audio)
        window = pad_or_trim(features[:, : min(extractor.nb_max_frames, features.shape[-1] - 1)])
        encoded = model.encode(window)
        if getattr(_ENCODED, "keep", False):  # inside transcribe_choosing: its transcription follows
            _ENCODED.entry = (model, window, encoded)
            _ENCODED.features = (extractor, audio, features)
        results = model.model.detect_language(encoded)[0]
        return restrict([(token[2:-2], float(p)) for token, p in results], self.capabilities.languages)

    def transcribe_choosing(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        *,
        params: LangIdParams = DECIDED,
        text_language: TextLanguage | None = None,
    ) -> Transcript:
        with _one_encoder_pass():
            return super().transcribe_choosing(
                pcm16, sample_rate, session_language, params=params, text_language=text_language
            )

    def detect_languages_sync(self, pcm16: bytes, sample_rate: int = WHISPER_RATE) -> dict[str, float]:
        if len(self.capabilities.languages) < 2:
            return {}
        model = self.model
        audio = resample(pcm16_to_float32(pcm16), sample_rate, WHISPER_RATE)
        if len(audio) == 0:
            return {}
        try:
            return self._detect(model, audio)
        except Exception as exc:
            raise ModelError(f"language detection failed: {exc}") from exc

    def transcribe_sync(
        self, pcm16: bytes, sample_rate: int = WHISPER_RATE, language_hint: str | None = None
    ) -> Transcript:
        """``language_hint``: transcribe in this language (it must be one of ``languages`` when those
        are set); None: detect among ``languages``. The voice path calls
        :meth:`transcribe_choosing`, which never forces the session language."""
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
                suppress_tokens=suppressed_tokens(model),
            )
            text = "".join(segment.text for segment in segments).strip()
        except Exception as exc:
            raise ModelError(f"transcription failed: {exc}") from exc
        if probability is None:
            probability = float(info.language_probability)
        return Transcript(text, info.language, probability, duration)


class RoutedSTT(STTEngine):
    """Per-language STT routing: the general model detects the language and serves most turns;
    a language's own model (``voice.stt_models``, e.g. TalTech's Estonian Whisper for ``et``)
    transcribes the turns chosen in that language."""

    def __init__(self, general: STTEngine, by_language: Mapping[str, STTEngine]) -> None:
        self.general = general
        self.by_language = dict(by_language)
        self.capabilities = general.capabilities

    def load(self) -> None:
        self.general.load()
        for engine in self.by_language.values():
            engine.load()

    def detect_languages_sync(self, pcm16: bytes, sample_rate: int = WHISPER_RATE) -> dict[str, float]:
        return self.general.detect_languages_sync(pcm16, sample_rate)

    def transcribe_choosing(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        *,
        params: LangIdParams = DECIDED,
        text_language: TextLanguage | None = None,
    ) -> Transcript:
        with _one_encoder_pass():  # the general model's own turns reuse its detection pass
            return super().transcribe_choosing(
                pcm16, sample_rate, session_language, params=params, text_language=text_language
            )

    def engine_for(self, language: str | None) -> STTEngine:
        return self.by_language.get(language or "", self.general)

    def transcribe_sync(
        self, pcm16: bytes, sample_rate: int = WHISPER_RATE, language_hint: str | None = None
    ) -> Transcript:
        if language_hint is None:  # no language chosen: detect with the general model first
            probs = self.detect_languages_sync(pcm16, sample_rate)
            language_hint = max(probs, key=lambda k: probs[k]) if probs else None
        return self.engine_for(language_hint).transcribe_sync(pcm16, sample_rate, language_hint)


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

    def _peek(self) -> str | Transcript | BaseException | None:
        with self._lock:
            n = len(self.calls)
            return self._script[n] if n < len(self._script) and self._failure is None else None

    def detect_languages_sync(self, pcm16: bytes, sample_rate: int = WHISPER_RATE) -> dict[str, float]:
        """A scripted :class:`Transcript` with a language and probability is what the detector
        "heard": that probability for its language, the rest shared by the others."""
        item = self._peek()
        languages = self.capabilities.languages
        if not isinstance(item, Transcript) or item.language not in languages or item.probability is None:
            return {}
        rest = (1.0 - item.probability) / max(1, len(languages) - 1)
        return {lang: item.probability if lang == item.language else rest for lang in languages}

    def transcribe_choosing(
        self,
        pcm16: bytes,
        sample_rate: int,
        session_language: str,
        *,
        params: LangIdParams = DECIDED,
        text_language: TextLanguage | None = None,
    ) -> Transcript:
        """As the base class, but one scripted item per utterance even when the language is checked
        (a second transcription returns the same item)."""
        taken: list[Transcript] = []

        def transcribe(language: str | None) -> Transcript:
            if not taken:
                taken.append(self.transcribe_sync(pcm16, sample_rate, language))
            return taken[0]

        return self._choose(pcm16, sample_rate, session_language, params, text_language, transcribe)


__all__ = [
    "FasterWhisperSTT",
    "RoutedSTT",
    "STTCapabilities",
    "STTEngine",
    "ScriptedSTT",
    "TextLanguage",
    "Transcript",
    "WHISPER_RATE",
]
