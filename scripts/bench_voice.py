#!/usr/bin/env python3
"""Voice latency benchmark: prints one JSON document.

    python scripts/bench_voice.py [--settings ...] [--per-utterance] [--no-smart-turn] [--concurrent 4]

Per end-of-turn setting, N espeak-ng utterances are played in *real time* through the real
pipeline (bundled Silero VAD, the tiny Whisper from models/test, the real brain with the LLM
off, the tiny Piper voice), and measured:

* ``response_ms``: caller's true end of speech (from the synthesized WAV) -> first reply audio
  out, p50/p95, split into ``detect`` (silence decision), ``stt``, ``brain``, ``tts`` (wall);
* ``overhead_ms``: response after the silence decision minus the model compute inside it (STT,
  brain, TTS intervals measured by wrappers);
* ``sequential``: the same turns done one after the other with no streaming (full STT, then the
  full reply, then TTS of the whole reply) for the streaming ratio;
* ``cut_turns``: utterances with a 0.3/0.4 s mid-sentence pause that were cut in two, for this
  setting and for pipecat's default VAD (stop_secs = 0.2), on the same Silero probabilities.

``--stt trained`` replaces the oracle with the trained test Whisper (models/stt-test) through the
production ``FasterWhisperSTT`` and spoken language ID (``transcribe_choosing``): real transcripts,
real compute. ``--utterances greetings`` plays sentences the trained model knows (training phrases,
tests/support/stt_corpus.py) with a 0.3/0.4 s pause after a greeting ("Здравствуйте, | хочу
забронировать ...") or at a comma inside a sentence ("Меня зовут Иван Петров, | телефон ...").

Plus barge-in stop latency (caller speech over the greeting; simulated clock) and memory per
extra concurrent call (K simultaneous calls in one process, RSS growth / K).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from appliance.engines.stt import STTEngine  # noqa: E402
from appliance.engines.tts import TTSEngine  # noqa: E402

RATE = 16000
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
PHRASES = [
    "Hello, do you have a room for my dog next weekend?",
    "How much does one night cost for a cat?",
    "What are your opening hours on Saturday?",
    "I would like to book a room for my dog Max.",
    "Can I bring my cat on Monday morning?",
    "Where can I park when I bring my dog?",
    "Do you have any free rooms in December?",
    "Which vaccinations does my dog need?",
]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return round(v[lo] + (v[hi] - v[lo]) * (k - lo), 1)


def summary(values: list[float]) -> dict[str, Any]:
    return {"p50": pct(values, 0.5), "p95": pct(values, 0.95), "n": len(values)}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def speech(text: str, language: str = "en") -> np.ndarray:
    import soxr

    from appliance.engines.tts import EspeakTTS

    c = EspeakTTS().synthesize_sync(text, language)
    a = np.frombuffer(c.pcm16, "<i2").astype(np.float32) / 32768
    a = soxr.resample(a, c.sample_rate, RATE)
    v = np.flatnonzero(np.abs(a) > 0.01)
    return a[v[0] : v[-1] + 1]


def to_pcm(a: np.ndarray) -> bytes:
    return (np.clip(a, -1, 1) * 32767).astype("<i2").tobytes()


class TimedTTS(TTSEngine):
    """Wraps a TTS engine; records (start, end) wall intervals of its compute."""

    def __init__(self, engine: TTSEngine, t0: float) -> None:
        self.engine, self.t0 = engine, t0
        self.capabilities = engine.capabilities
        self.spans: list[tuple[float, float]] = []

    def synthesize_sync(self, text: str, language: str) -> Any:
        s = time.monotonic()
        try:
            return self.engine.synthesize_sync(text, language)
        finally:
            self.spans.append((s - self.t0, time.monotonic() - self.t0))


class TimedSTT(STTEngine):
    """Wraps an STT engine the way the call uses it (``transcribe_choosing``: spoken language ID,
    then transcription); records (start, end) wall intervals of each utterance's compute."""

    def __init__(self, engine: Any, t0: float) -> None:
        self.engine, self.t0 = engine, t0
        self.capabilities = engine.capabilities
        self.spans: list[tuple[float, float]] = []

    def load(self) -> None:
        self.engine.load()

    def transcribe_sync(self, pcm16: bytes, sample_rate: int = RATE, language_hint: str | None = None) -> Any:
        return self.engine.transcribe_sync(pcm16, sample_rate, language_hint)

    def detect_languages_sync(self, pcm16: bytes, sample_rate: int = RATE) -> dict[str, float]:
        return dict(self.engine.detect_languages_sync(pcm16, sample_rate))

    def transcribe_choosing(self, pcm16: bytes, sample_rate: int, session_language: str, **kw: Any) -> Any:
        s = time.monotonic()
        try:
            return self.engine.transcribe_choosing(pcm16, sample_rate, session_language, **kw)
        finally:
            self.spans.append((s - self.t0, time.monotonic() - self.t0))


class TimedBrain:
    def __init__(self, engine: Any, t0: float) -> None:
        self.engine, self.t0 = engine, t0
        self.spans: list[tuple[float, float]] = []

    async def handle(self, utt: Any, *, on_slow: Any = None) -> Any:
        s = time.monotonic()
        try:
            return await self.engine.handle(utt, on_slow=on_slow)
        finally:
            self.spans.append((s - self.t0, time.monotonic() - self.t0))

    async def handle_stream(self, utt: Any, chunker: Any, *, on_slow: Any = None) -> Any:
        s = time.monotonic()
        try:
            async for chunk in self.engine.handle_stream(utt, chunker, on_slow=on_slow):
                yield chunk
        finally:
            self.spans.append((s - self.t0, time.monotonic() - self.t0))

    async def greet(self, *a: Any, **kw: Any) -> Any:
        return await self.engine.greet(*a, **kw)

    async def snapshot(self, session_id: str) -> Any:
        return await self.engine.snapshot(session_id)

    async def record_timeline(self, *a: Any, **kw: Any) -> None:
        await self.engine.record_timeline(*a, **kw)

    async def end_session(self, session_id: str) -> None:
        await self.engine.end_session(session_id)


def overlap(spans: list[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(e, b) - max(s, a)) for s, e in spans)


# Mid-sentence pauses inside unfinished sentences (the first part ends with a continuation word),
# each with a 0.3 s and a 0.4 s pause, and complete sentences / short answers, in en/et/ru.
PAUSED = [
    ("en", "I would like to book a room for", "my dog next weekend."),
    ("en", "My dog stays from Monday until", "Friday."),
    ("et", "Sooviksin broneerida toa minu", "koerale järgmiseks nädalavahetuseks."),
    ("et", "Koer jääb esmaspäevast kuni", "reedeni."),
    ("ru", "Я хотел бы забронировать номер для", "моей собаки на следующие выходные."),
    ("ru", "Собака останется с понедельника до", "пятницы."),
]
COMPLETE = [
    ("en", "Do you have a room for my dog next weekend?"),
    ("en", "Yes."),
    ("et", "Kas teil on vaba tuba?"),
    ("et", "Jah."),
    ("ru", "Сколько стоит одна ночь?"),
    ("ru", "Да."),
]
# Sentences the trained test model knows (its training phrases), cut at a comma: after a greeting
# and inside a sentence, in en/et/ru; and whole ones (a question, a short answer).
GREETING_PAUSED = [
    ("en", "Hello,", "I would like to book a room for my dog"),
    ("en", "Hi,", "I need a room for my cat"),
    ("en", "No,", "his name is Rex"),
    ("en", "Sorry,", "I meant next Friday"),
    ("et", "Tere,", "soovin broneerida koha koerale Muri"),
    ("et", "Tere,", "sooviks broneerida"),
    ("et", "Minu nimi on Mari Tamm,", "telefon 5123 4567"),
    ("et", "Ei,", "koera nimi on Pontu"),
    ("ru", "Здравствуйте,", "хочу забронировать место для собаки"),
    ("ru", "Здравствуйте,", "хочу забронировать место для кошки"),
    ("ru", "Меня зовут Иван Петров,", "телефон 5123 4567"),
    ("ru", "Нет,", "собаку зовут Рекс"),
]
GREETING_COMPLETE = [
    ("en", "Do you have a room next weekend?"),
    ("en", "Yes"),
    ("et", "Kas teil on järgmisel nädalavahetusel vaba tuba?"),
    ("et", "Jah"),
    ("ru", "Сколько стоит место для кошки?"),
    ("ru", "Да"),
]
SETS = {"pauses": (PAUSED, COMPLETE), "greetings": (GREETING_PAUSED, GREETING_COMPLETE)}
PAUSES = (0.3, 0.4)
GAP_S = 5.0  # silence after each utterance (the reply plays in it; the caller never talks over it)


class Utt:
    """One caller utterance in the benchmark WAV: pieces of (start_s, end_s, text) and its language."""

    def __init__(self, language: str, kind: str) -> None:
        self.language, self.kind = language, kind
        self.pieces: list[tuple[float, float, str]] = []

    @property
    def start(self) -> float:
        return self.pieces[0][0]

    @property
    def end(self) -> float:
        return self.pieces[-1][1]


def build_wav(
    n_complete_rounds: int = 1, only: str | None = None, utterances: str = "pauses"
) -> tuple[bytes, list[Utt]]:
    """The benchmark call: every paused sentence of the set at every pause length, then the
    complete ones (``only``: "paused" or "complete" keeps one kind, for a quicker look)."""
    pcm, utts = to_pcm(np.zeros(RATE // 2, np.float32)), []
    paused, complete = SETS[utterances]

    def at() -> float:
        return len(pcm) / 2 / RATE

    items: list[tuple[str, list[str], float]] = [(lang, [a, b], p) for p in PAUSES for lang, a, b in paused]
    items += [(lang, [t], 0.0) for _ in range(n_complete_rounds) for lang, t in complete]
    if only:
        items = [it for it in items if (len(it[1]) > 1) == (only == "paused")]
    for lang, parts, pause in items:
        u = Utt(lang, "paused" if len(parts) > 1 else "complete")
        for i, text in enumerate(parts):
            if i:
                pcm += to_pcm(np.zeros(int(RATE * pause), np.float32))
            s = at()
            pcm += to_pcm(speech(text, lang))
            u.pieces.append((s, at(), text))
        utts.append(u)
        pcm += to_pcm(np.zeros(int(RATE * GAP_S), np.float32))
    return pcm, utts


class OracleSTT(STTEngine):
    """The tiny Whisper's compute, the true words: transcribes with the tiny random Whisper (its
    decode capped at the true transcript's token count, which is what a trained tiny model would
    emit; uncapped, a random model babbles to the 448-token limit), then returns the words spoken
    in that audio (known from the synthesized WAV). A fragment at a mid-sentence pause gets a full
    stop, as Whisper tends to write one: the worst case for the end-of-turn rule.

    ``pcm`` must be the exact samples the transport feeds (``read_wav_16k`` of the call's WAV: a
    16 kHz mono int16 WAV passes through unchanged, so these are the samples written). Audio that
    cannot be found is counted in ``misses`` and transcribed as ``expect``-ed text (the sequential
    baseline) or "".
    """

    def __init__(self, whisper: Any, pcm: bytes, utts: list[Utt]) -> None:
        from appliance.engines.stt import STTCapabilities

        self.whisper, self.pcm, self.utts = whisper, pcm, utts
        self.capabilities = STTCapabilities(streaming=False, languages=("en", "et", "ru"), sample_rate=RATE)
        self._cursor = 0
        self.misses = 0
        self._expected: tuple[str, str] | None = None

    def supports(self, language: str) -> bool:
        return True

    def expect(self, text: str, language: str) -> None:
        """The words of the next audio that is not part of the call (sequential baseline)."""
        self._expected = (text, language)

    def _locate(self, audio: bytes) -> float | None:
        a = np.frombuffer(audio, "<i2")
        voiced = np.flatnonzero(a)
        k = int(voiced[0]) * 2 if voiced.size else 0  # the whole voiced part: unique in the WAV
        i = self.pcm.find(audio[k:], self._cursor)
        if i < 0:
            i = self.pcm.find(audio[k:])
        while i >= 0 and (i - k) % 2:  # a match at an odd byte offset is not a sample boundary
            i = self.pcm.find(audio[k:], i + 1)
        if i < 0:
            self.misses += 1
            return None
        self._cursor = i - k
        return (i - k) / 2 / RATE

    def _words(self, s: float | None, e: float) -> tuple[str, str | None]:
        if s is None:
            expected, self._expected = self._expected, None
            return expected if expected else ("", None)
        for u in self.utts:
            if not (u.start < e and u.end > s):
                continue
            heard = []
            for ps, pe, t in u.pieces:
                if pe <= e + 0.05:
                    heard.append(t)
                elif ps < e:  # cut inside a piece (a gap between words): the words heard so far
                    words = t.split()
                    heard.append(" ".join(words[: max(1, round(len(words) * (e - ps) / (pe - ps)))]))
            text = " ".join(heard)
            if not u.end <= e + 0.05 and not text.endswith((".", "?", "!")):
                text += "."
            return text, u.language
        return "", None

    def transcribe_sync(self, pcm16: bytes, sample_rate: int = RATE, language_hint: str | None = None) -> Any:
        from appliance.engines.stt import Transcript, pcm16_to_float32

        s = self._locate(pcm16)
        text, lang = self._words(s, (s or 0.0) + len(pcm16) / 2 / RATE)
        lang = lang or language_hint
        model = self.whisper.model
        tokens = max(1, len(model.hf_tokenizer.encode(text).ids)) if text else 1
        segs, _ = model.transcribe(
            pcm16_to_float32(pcm16),
            language=lang or "en",
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            max_new_tokens=tokens,
        )
        "".join(x.text for x in segs)  # run the decode
        return Transcript(text, lang, 0.95, len(pcm16) / 2 / RATE)


TRAINED_STT = REPO / "models" / "stt-test"  # the trained test Whisper (scripts/train_test_stt.py)
LANGUAGES = ("en", "et", "ru")


async def streaming_run(
    cfg: Any,
    models: dict[str, Path],
    label: str,
    settings: Any,
    call: tuple[bytes, list[Utt]],
    tmp: Path,
    stt_kind: str = "oracle",
) -> dict[str, Any]:
    from appliance.brain.factory import build_brain
    from appliance.channels.file_transport import read_wav_16k, run_call, write_wav
    from appliance.core.clock import fixed_clock
    from appliance.core.messages import Channel, Utterance
    from appliance.engines.stt import FasterWhisperSTT
    from appliance.engines.tts import PiperTTS
    from appliance.voice.timeline import Mark

    pcm, utts = call
    wav = tmp / "call.wav"
    write_wav(wav, pcm)
    piper = models["piper"]
    tts_engine = PiperTTS({"en": piper / "tiny-en.onnx", "et": piper / "tiny-en.onnx", "ru": piper / "tiny-ru.onnx"})
    tts_engine.load()
    brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
    await brain.handle(Utterance("warm-up", Channel.VOICE, "hello, what are your opening hours?"))
    oracle: OracleSTT | None = None
    engine: STTEngine
    if stt_kind == "trained":  # real transcripts: the production engine, 2 threads as the daemon runs it
        engine = FasterWhisperSTT(TRAINED_STT, threads=cfg.llm.threads, languages=LANGUAGES)
        engine.load()
        engine.transcribe_choosing(to_pcm(speech("Hello", "en")), RATE, "en")  # warm-up
    else:
        whisper = FasterWhisperSTT(models["whisper"], languages=LANGUAGES)
        whisper.load()
        engine = oracle = OracleSTT(whisper, read_wav_16k(wav), utts)
        oracle.expect("warm up", "en")
        oracle.transcribe_sync(to_pcm(speech("warm up", "en")), RATE, "en")
        oracle.misses = 0
    t0 = time.monotonic()
    stt, tts = TimedSTT(engine, t0), TimedTTS(tts_engine, t0)
    tb = TimedBrain(brain, t0)
    try:
        result = await run_call(
            wav,
            tmp / "out.wav",
            brain=tb,
            stt=stt,
            tts=tts,
            session_id=f"bench-{label}",
            settings=settings,
            realtime=True,
        )
    finally:
        await brain.aclose()
    rows: dict[str, list[float]] = {k: [] for k in ("response", "detect", "stt", "brain", "tts", "overhead")}
    by_kind: dict[str, list[float]] = {"paused": [], "complete": []}
    caller = result.caller_turns
    cut = 0
    per_utt = []
    for u in utts:
        mine = [t for t in caller if u.start - 0.1 <= t.audio.get(str(Mark.SPEECH_START), -1) <= u.end + 0.1]
        if u.kind == "paused" and len(mine) > 1:
            cut += 1
        final = mine[-1] if mine else None
        ok = final is not None and final.has(Mark.FIRST_AUDIO_OUT) and final.audio[Mark.END_OF_SPEECH] > u.end
        per_utt.append(
            {
                "language": u.language,
                "kind": u.kind,
                "turns": len(mine),
                "end_reason": [t.end_reason for t in mine],
                "response_ms": round((final.audio[Mark.FIRST_AUDIO_OUT] - u.end) * 1000) if ok else None,
                "true_end_s": round(u.end, 3),
                "turn_ends_s": [t.audio.get(str(Mark.END_OF_SPEECH)) for t in mine],
                "texts": [t.text for t in mine],
                "languages": [t.language for t in mine],
                "speculations": [sp for t in mine for sp in t.speculations],
            }
        )
        if not ok or (u.kind == "paused" and len(mine) > 1):
            continue  # a cut sentence has no honest response time: it is counted in cut_turns
        a, w = final.audio, final.wall
        response = (a[Mark.FIRST_AUDIO_OUT] - u.end) * 1000
        rows["response"].append(response)
        by_kind[u.kind].append(response)
        rows["detect"].append((a[Mark.END_OF_SPEECH] - u.end) * 1000)
        rows["stt"].append((w[Mark.STT_DONE] - w[Mark.END_OF_SPEECH]) * 1000)
        rows["brain"].append((w[Mark.FIRST_BRAIN_OUTPUT] - w[Mark.STT_DONE]) * 1000)
        rows["tts"].append((w[Mark.FIRST_AUDIO_OUT] - w[Mark.FIRST_BRAIN_OUTPUT]) * 1000)
        lo, hi = w[Mark.END_OF_SPEECH], w[Mark.FIRST_AUDIO_OUT]
        compute = overlap(stt.spans, lo, hi) + overlap(tb.spans, lo, hi) + overlap(tts.spans, lo, hi)
        rows["overhead"].append(max(0.0, (hi - lo) * 1000 - compute * 1000))
    stt_compute = [(e - s) * 1000 for s, e in stt.spans]
    detect = [float(t.language_id["detect_ms"]) for t in caller if t.language_id and t.language_id.get("detect_ms")]
    return {
        "setting": label,
        "stt": stt_kind,
        "turn_strategy": settings.turn_strategy,
        "end_silence_s": settings.end_silence_s,
        "short_silence_s": settings.short_silence_s,
        "speculative_after_s": settings.speculative_after_s,
        "utterances": len(utts),
        "caller_turns": len(caller),
        "speculative_stt_hits": sum(1 for t in caller if t.speculative_hit),
        "early_ends": sum(1 for t in caller if t.end_reason == "complete"),
        "cut_turns": {"cut": cut, "of": sum(1 for u in utts if u.kind == "paused")},
        **{f"{k}_ms": summary(v) for k, v in rows.items()},
        "response_paused_sentences_ms": summary(by_kind["paused"]),
        "response_complete_sentences_ms": summary(by_kind["complete"]),
        "stt_compute_ms": summary(stt_compute),  # per utterance: language ID + transcription
        "language_detection_pass_ms": summary(detect),  # mel + encoder + language token (shared, not added)
        "errors": list(result.errors),
        # STT calls whose audio was not found in the call (must be 0); None: real transcripts
        "oracle_misses": oracle.misses if oracle is not None else None,
        "per_utterance": per_utt,
        "_engines": (engine, tts_engine),
    }


def _clock_offset(result: Any, t0: float) -> float:
    """Wall marks are seconds since the call's AudioClock was made; spans are since t0. The clock
    is made inside run_call right after t0, so the offset is a few ms at most; assume 0."""
    return 0.0


async def sequential_baseline(
    cfg: Any, stt: Any, tts: Any, phrases: list[tuple[str, str]], detect_ms: float
) -> dict[str, Any]:
    """No streaming: full STT, then the full reply, then TTS of the whole reply, then play."""
    from appliance.brain.factory import build_brain
    from appliance.core.clock import fixed_clock
    from appliance.core.messages import Channel, Utterance

    brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
    out = []
    try:
        for i, (lang, p) in enumerate(phrases):
            audio = to_pcm(speech(p, lang))
            if isinstance(stt, OracleSTT):
                stt.expect(p, lang)
            s = time.monotonic()
            tr = await asyncio.to_thread(stt.transcribe_sync, audio, RATE, lang)
            reply = await brain.handle(Utterance(f"seq-{i}", Channel.VOICE, tr.text or p, language_hint=lang))
            await asyncio.to_thread(tts.synthesize_sync, reply.speakable or reply.text, reply.language or lang)
            out.append(detect_ms + (time.monotonic() - s) * 1000)
    finally:
        await brain.aclose()
    return summary(out)


async def barge_in_runs(cfg: Any, runs: int, tmp: Path) -> dict[str, Any]:
    from appliance.brain.factory import build_brain
    from appliance.channels.file_transport import run_call, write_wav
    from appliance.core.clock import fixed_clock
    from appliance.engines.stt import ScriptedSTT
    from appliance.engines.tts import EspeakTTS

    burst = speech("Sorry, how much does it cost per night?")
    stop_vad, stop_onset = [], []
    for i in range(runs):
        onset = 1.2 + 0.137 * i  # different phases against the 32 ms VAD grid
        pcm = to_pcm(np.zeros(int(RATE * onset), np.float32)) + to_pcm(burst) + to_pcm(np.zeros(RATE * 4, np.float32))
        wav = tmp / f"barge-{i}.wav"
        write_wav(wav, pcm)
        brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
        try:
            sid = f"barge-{i}"
            result = await run_call(
                wav,
                tmp / "barge-out.wav",
                brain=brain,
                stt=ScriptedSTT(["how much is it"]),
                tts=EspeakTTS(),
                session_id=sid,
                config=cfg,
                greet=True,
            )
        finally:
            await brain.aclose()
        pause = next((b for b in result.barge_ins if b["action"] == "pause"), None)
        if pause is not None:
            stop_vad.append((pause["at_s"] - pause["vad_start_s"]) * 1000)
            stop_onset.append((pause["at_s"] - onset) * 1000)
    return {"stop_after_vad_start_ms": summary(stop_vad), "stop_after_true_onset_ms": summary(stop_onset)}


def pipecat_smart_turn(utterances: str = "pauses") -> dict[str, Any]:
    """pipecat 1.14's real default (``default_user_turn_stop_strategies``): Silero VAD with
    stop_secs 0.2, then the bundled smart-turn v3.2 model on the turn's audio; "complete" ends
    the turn, "incomplete" waits for more speech. Run offline on each PAUSED sentence (the same
    audio as the call): cut = smart-turn said "complete" at the mid-sentence pause. Also its
    decision time after speech ends (VAD stop + inference, measured)."""
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from appliance.voice.turns import TurnEventType, TurnSegmenter

    vad = SileroVADAnalyzer()
    vad.set_sample_rate(RATE)
    win = vad.num_frames_required()
    st = LocalSmartTurnAnalyzerV3()
    st.set_sample_rate(RATE)
    cut, infer_ms, decide_ms, complete_at_end = 0, [], [], 0
    paused, complete = SETS[utterances]
    cases = [(lang, [a, b], p) for p in PAUSES for lang, a, b in paused] + [(lang, [t], 0.0) for lang, t in complete]
    for lang, parts, pause in cases:
        x = np.zeros(RATE // 2, np.float32)
        for i, text in enumerate(parts):
            if i:
                x = np.concatenate([x, np.zeros(int(RATE * pause), np.float32)])
            x = np.concatenate([x, speech(text, lang)])
        true_end = len(x) / RATE
        x = np.concatenate([x, np.zeros(RATE, np.float32)])
        pcm = np.frombuffer(to_pcm(x), "<i2")
        seg = TurnSegmenter(0.2, 0.15, 0.1)
        onset = None
        cut_here = False
        for i in range(0, len(pcm) - win + 1, win):
            prob = float(np.asarray(vad.voice_confidence(pcm[i : i + win].tobytes())).reshape(-1)[0])
            for ev in seg.process(win / RATE, prob):
                if ev.type is TurnEventType.SPEECH_START and onset is None:
                    onset = ev.speech_start_s
                if ev.type is TurnEventType.TURN_END and onset is not None:
                    audio = x[int(onset * RATE) : i + win]
                    t = time.monotonic()
                    done = st._predict_endpoint(audio)["prediction"] == 1
                    ms = (time.monotonic() - t) * 1000
                    infer_ms.append(ms)
                    if ev.at_s < true_end:
                        cut_here = cut_here or done
                    else:
                        decide_ms.append((ev.at_s - true_end) * 1000 + ms)
                        complete_at_end += done
        cut += cut_here
    return {
        "cut_turns": {"cut": cut, "of": len(paused) * len(PAUSES)},
        "smart_turn_inference_ms": summary(infer_ms),
        "decision_after_speech_end_ms": summary(decide_ms),
        "complete_at_true_end": {"yes": complete_at_end, "of": len(cases)},
    }


async def memory_run(cfg: Any, k: int, tmp: Path) -> dict[str, Any]:
    from appliance.brain.factory import build_brain
    from appliance.channels.file_transport import run_call, write_wav
    from appliance.core.clock import fixed_clock
    from appliance.engines.stt import ScriptedSTT
    from appliance.engines.tts import EspeakTTS

    pcm = to_pcm(np.zeros(RATE // 2, np.float32))
    for p in PHRASES[:3]:
        pcm += to_pcm(speech(p)) + to_pcm(np.zeros(RATE * 3, np.float32))
    wav = tmp / "mem.wav"
    write_wav(wav, pcm)
    brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)

    async def one(i: int) -> None:
        await run_call(
            wav,
            tmp / f"mem-{i}.wav",
            brain=brain,
            stt=ScriptedSTT(PHRASES[:3]),
            tts=EspeakTTS(),
            session_id=f"mem-{i}-{time.monotonic_ns()}",
            config=cfg,
        )

    try:
        await one(-1)  # warm-up: models, pipecat imports, Silero
        base = rss_mb()
        peak = base
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mb())
                await asyncio.sleep(0.02)

        sampler = asyncio.ensure_future(sample())
        await asyncio.gather(*(one(i) for i in range(k)))
        done.set()
        await sampler
    finally:
        await brain.aclose()
    return {
        "concurrent_calls": k,
        "rss_base_mb": round(base, 1),
        "rss_peak_mb": round(peak, 1),
        "per_extra_call_mb": round((peak - base) / k, 1),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from appliance.core.config import load_config
    from appliance.voice.pipeline import VoiceSettings

    sys.path.insert(0, str(REPO / "tests" / "integration"))
    models_dir = REPO / "models" / "test"
    manifest = json.loads((models_dir / "MANIFEST.json").read_text())
    models = {name: models_dir / e["path"] for name, e in manifest["models"].items()}
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "settings": []}
    runs = {
        "ours_default_adaptive": VoiceSettings(),
        "ours_fixed_0.5": VoiceSettings.fixed(0.5),
        "pipecat_default_vad_stop_0.2": VoiceSettings.fixed(0.2),
        "ours_smart_turn": VoiceSettings.smart_turn(0.5),  # turn_strategy = "smart_turn"
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = load_config(
            environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp / "data")}, "llm": {"mode": "off"}}
        )
        call = build_wav(args.complete_rounds, args.only, args.utterances)
        out["utterances"] = args.utterances
        for stt_kind in args.stt:
            for label in args.settings:
                run = await streaming_run(cfg, models, label, runs[label], call, tmp, stt_kind)
                stt, tts = run.pop("_engines")
                if not args.per_utterance:
                    run.pop("per_utterance")
                detect = run["detect_ms"]["p50"] or run["end_silence_s"] * 1000
                phrases = [(lang, t) for lang, t in SETS[args.utterances][1] if len(t) > 5]
                run["sequential_ms"] = await sequential_baseline(cfg, stt, tts, phrases, detect)
                if run["response_ms"]["p50"] and run["sequential_ms"]["p50"]:
                    run["streaming_ratio_p50"] = round(run["sequential_ms"]["p50"] / run["response_ms"]["p50"], 2)
                out["settings"].append(run)
        if args.smart_turn:
            out["pipecat_default_smart_turn"] = pipecat_smart_turn(args.utterances)
        if args.barge_ins:
            out["barge_in"] = await barge_in_runs(cfg, args.barge_ins, tmp)
        if args.concurrent:
            out["memory"] = await memory_run(cfg, args.concurrent, tmp)
    out["targets"] = {"response_p50_ms": 250, "response_p95_ms": 320, "barge_in_stop_ms": 150, "per_call_mb": 50}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--complete-rounds", type=int, default=1, help="times the complete sentences are said")
    p.add_argument(
        "--settings",
        nargs="+",
        default=["ours_default_adaptive", "ours_fixed_0.5", "pipecat_default_vad_stop_0.2"],
        choices=["ours_default_adaptive", "ours_fixed_0.5", "pipecat_default_vad_stop_0.2", "ours_smart_turn"],
    )
    p.add_argument("--no-smart-turn", dest="smart_turn", action="store_false", help="skip pipecat's smart-turn run")
    p.add_argument("--per-utterance", action="store_true", help="include per-utterance rows")
    p.add_argument("--only", choices=["paused", "complete"], help="a quicker run on one kind of utterance")
    p.add_argument(
        "--stt",
        nargs="+",
        default=["oracle"],
        choices=["oracle", "trained"],
        help="oracle: the tiny random Whisper's compute, the true words; trained: models/stt-test's real "
        "transcripts through FasterWhisperSTT and spoken language ID (several: one run each, side by side)",
    )
    p.add_argument(
        "--utterances",
        choices=sorted(SETS),
        default="pauses",
        help="pauses: continuation-word pauses (the oracle's set); greetings: sentences the trained model "
        "knows, with a pause after a greeting or at a comma",
    )
    p.add_argument("--barge-ins", type=int, default=6, help="0: skip")
    p.add_argument("--concurrent", type=int, default=4, help="0: skip the memory run")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    try:
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="ERROR")
    except ImportError:
        pass
    print(json.dumps(asyncio.run(main_async(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
