"""Batched Whisper decoding for the STT service: several callers' utterances in one model call.

faster-whisper's own batched pipeline batches the chunks of *one* recording under one language;
here each item is a different caller's utterance with its own language decision. CTranslate2's
Whisper takes a batch of 30 s feature windows, so one batch is: one stacked ``encode``, one
``detect_language`` over the batch (restricted to the allowed languages and decided per utterance
with :func:`~appliance.engines.langid.decide`, as ``STTEngine.transcribe_choosing`` does), and one
``generate`` with a prompt per utterance (its own language token). Decoding options are those of
:meth:`FasterWhisperSTT.transcribe_sync` (greedy, temperature 0, no timestamps, the same
no-speech rule), so a batch of one gives the in-process engine's transcript. An utterance longer
than one window is transcribed on its own by the in-process engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from appliance.core.errors import ModelError
from appliance.engines.base import pcm16_to_float32, resample, voiced_seconds
from appliance.engines.langid import LangIdParams, LanguageChoice, decide, restrict
from appliance.engines.stt import WHISPER_RATE, FasterWhisperSTT, Transcript, suppressed_tokens

NO_SPEECH_THRESHOLD = 0.6  # faster-whisper's defaults, as the in-process engine uses them
LOG_PROB_THRESHOLD = -1.0


@dataclass(frozen=True, slots=True)
class Utterance:
    """One item of a batch (the service's view of a TranscribeRequest)."""

    pcm16: bytes
    sample_rate: int
    session_language: str | None = None  # set: choose the language (spoken language ID)
    language: str | None = None  # set: transcribe in this language
    params: LangIdParams = LangIdParams()


class BatchedWhisper:
    """A loaded :class:`FasterWhisperSTT` model decoding lists of utterances in one call each."""

    def __init__(self, engine: FasterWhisperSTT) -> None:
        self.engine = engine
        self.languages = engine.capabilities.languages
        self.calls = 0  # model calls (batches) so far: the tests' view of batching
        self._tokenizers: dict[str | None, Any] = {}
        self._suppress: list[int] | None = None

    def load(self) -> None:
        self.engine.load()

    def _tokenizer(self, model: Any, language: str | None) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        multilingual = bool(model.model.is_multilingual)
        key = language if multilingual else None
        if key not in self._tokenizers:
            self._tokenizers[key] = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=key)
        return self._tokenizers[key]

    def transcribe_batch(self, items: list[Utterance]) -> list[Transcript | Exception]:
        """One transcript (or the error for that item) per utterance, in order."""
        import numpy as np
        from faster_whisper.audio import pad_or_trim

        model = self.engine.model
        self.calls += 1
        out: list[Transcript | Exception | None] = [None] * len(items)
        windows: list[Any] = []
        batched: list[int] = []
        durations: list[float] = []
        extractor = model.feature_extractor
        for i, item in enumerate(items):
            try:
                audio = resample(pcm16_to_float32(item.pcm16), item.sample_rate, WHISPER_RATE)
                if len(audio) == 0:
                    out[i] = Transcript("", item.language or item.session_language, None, 0.0)
                    continue
                if len(audio) > extractor.n_samples:  # longer than one window: the engine's own loop
                    out[i] = self._alone(item)
                    continue
                features = extractor(audio)
                windows.append(pad_or_trim(features[:, : min(extractor.nb_max_frames, features.shape[-1] - 1)]))
                batched.append(i)
                durations.append(len(audio) / WHISPER_RATE)
            except Exception as exc:  # noqa: BLE001 - this item fails, the others go on
                out[i] = ModelError(f"transcription failed: {exc}")
        if batched:
            results: list[Transcript | Exception]
            try:
                results = list(self._decode(model, [items[i] for i in batched], np.stack(windows), durations))
            except Exception as exc:  # noqa: BLE001 - the whole batch failed
                results = [ModelError(f"transcription failed: {exc}") for _ in batched]
            for i, result in zip(batched, results, strict=True):
                out[i] = result
        return [r if r is not None else ModelError("no result") for r in out]

    def _alone(self, item: Utterance) -> Transcript:
        if item.session_language is not None:
            return self.engine.transcribe_choosing(item.pcm16, item.sample_rate, item.session_language,
                                                   params=item.params)  # fmt: skip
        return self.engine.transcribe_sync(item.pcm16, item.sample_rate, item.language)

    def _decode(self, model: Any, items: list[Utterance], windows: Any, durations: list[float]) -> list[Transcript]:
        started = time.perf_counter()
        encoded = model.encode(windows)
        detected: list[dict[str, float]] = [{} for _ in items]
        if any(self._wants_detection(item) for item in items):
            for k, langs in enumerate(model.model.detect_language(encoded)):
                detected[k] = {token[2:-2]: float(p) for token, p in langs}
        detect_ms = round((time.perf_counter() - started) * 1000, 2)  # the batch's encoder + detection pass
        chosen: list[tuple[str | None, float | None, LanguageChoice | None]] = []
        for item, probs in zip(items, detected, strict=True):
            chosen.append(self._choose(item, probs))
        prompts = []
        for language, _, _ in chosen:
            tokenizer = self._tokenizer(model, language)
            prompts.append(model.get_prompt(tokenizer, [], without_timestamps=True))
        if self._suppress is None:
            self._suppress = suppressed_tokens(model)
        results = model.model.generate(
            encoded, prompts, beam_size=self.engine.beam_size, patience=1, length_penalty=1, repetition_penalty=1,
            no_repeat_ngram_size=0, max_length=model.max_length, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=self._suppress, max_initial_timestamp_index=50,
        )  # fmt: skip
        out: list[Transcript] = []
        for (language, probability, choice), result, duration in zip(chosen, results, durations, strict=True):
            tokens = result.sequences_ids[0]
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            skip = result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob <= LOG_PROB_THRESHOLD
            text = "" if skip else self._tokenizer(model, language).decode(tokens).strip()
            transcript = Transcript(text, language, probability, duration)
            if choice is not None:
                transcript = replace(transcript, language=choice.language, language_id=replace(choice, detect_ms=detect_ms),
                                     probability=choice.probability if choice.detected else probability)  # fmt: skip
            out.append(transcript)
        return out

    def _wants_detection(self, item: Utterance) -> bool:
        forced = item.language and (not self.languages or item.language in self.languages)
        return not forced and len(self.languages) != 1

    def _choose(
        self, item: Utterance, detected: dict[str, float]
    ) -> tuple[str | None, float | None, LanguageChoice | None]:
        """(language to decode in, its probability, the language-ID decision when one was asked for)."""
        languages = self.languages
        if not self._wants_detection(item):
            language = item.language if item.language else (languages[0] if languages else None)
            choice = None
            if item.session_language is not None:
                choice = decide(item.session_language, {}, self._voiced(item), item.params, languages=languages)
            return language, 1.0, choice
        if item.session_language is None:  # plain transcription: the detector's best (allowed) language
            probs = restrict(detected, languages) if languages else detected
            best = max(probs.items(), key=lambda p: p[1], default=None)
            return (best[0], best[1], None) if best else (None, None, None)
        probs = restrict(detected, languages)
        choice = decide(item.session_language, probs, self._voiced(item), item.params, languages=languages or None)
        return choice.language, choice.probability, choice

    @staticmethod
    def _voiced(item: Utterance) -> float:
        return voiced_seconds(item.pcm16, item.sample_rate) if item.sample_rate else 0.0
