#!/usr/bin/env python3
"""Streamed replies and spoken language ID: prints one JSON document.

    python scripts/bench_streaming.py [--runs 5] [--tokens-per-s 20] [--ms-per-char 3]
                                      [--stt-model DIR] [--utterances 30]

``streaming``: a knowledge-base question through the real pipeline (file transport, Silero VAD,
the real brain on SQLite) with an LLM that phrases a multi-sentence answer at a fixed token rate
and a TTS with a fixed cost per character (tests/support/paced.py). ``first_audio_ms`` is the
wall time from the transcript to the first reply audio, p50 over ``--runs``, once with the
streaming brain (``Brain.handle_stream``) and once waiting for the whole reply (the same engine
behind a plain ``handle``). ``speedup`` = whole / streamed.

``language_id``: per espeak-ng utterance (en/et/ru, 1-4 s) through faster-whisper with
``--stt-model`` (default: the trained test model models/stt-test when present, else the random
tiny models/test/whisper): ``detect_ms`` (the detection pass, restricted to the tenant's
languages), and ``added_ms`` = ``transcribe_choosing`` (detect, then transcribe in the chosen
language) minus ``transcribe_sync`` forced to the right language, p50/p95, as wall time and as
process CPU time (less sensitive to other load on the machine); how often the right
session language is kept, and how often an et/ru caller's first words switch an English session.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUESTION = "Which vaccinations does my dog need?"
ANSWER = (
    "Dogs must be vaccinated against rabies, distemper, parvovirus and kennel cough. "
    "Cats must be vaccinated against rabies and cat flu. "
    "Please bring the pet's vaccination passport on arrival. "
    "The last vaccination must be at least 14 days before check-in. "
    "We feed our own premium food, or you may bring your pet's usual food. "
    "We give prescribed medication at no extra charge."
)
UTTERANCES = {
    "en": [
        "Hello, I would like to book a room for my dog.",
        "Can I bring my cat next weekend?",
        "My name is Mari Tamm and my phone number is five one two three four five six seven.",
        "What are your opening hours on Saturday?",
        "Yes, that is correct, thank you.",
    ],
    "et": [
        "Tere, ma soovin broneerida toa oma koerale.",
        "Kas ma saan kassi järgmisel nädalavahetusel tuua?",
        "Minu nimi on Mari Tamm ja telefoninumber on viis üks kaks kolm neli viis kuus seitse.",
        "Mis kell te laupäeviti avatud olete?",
        "Jah, see on õige, aitäh.",
    ],
    "ru": [
        "Здравствуйте, я хочу забронировать номер для собаки.",
        "Можно привезти кошку в следующие выходные?",
        "Меня зовут Мари Тамм, мой номер пять один два три четыре пять шесть семь.",
        "Во сколько вы работаете в субботу?",
        "Да, всё верно, спасибо.",
    ],
}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))], 2)


# --- streaming ------------------------------------------------------------------------------


class _WholeReply:
    """The same engine behind the plain BrainPort: the voice path waits for the whole reply."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def handle(self, utterance: Any, *, on_slow: Any = None) -> Any:
        return await self.engine.handle(utterance, on_slow=on_slow)

    def handle_stream(self, utterance: Any, chunker: Any, *, on_slow: Any = None) -> Any:
        from appliance.voice.speaking import whole_reply_chunks

        return whole_reply_chunks(self.handle(utterance, on_slow=on_slow))


async def _one_call(tmp: Path, streamed: bool, tokens_per_s: float, ms_per_char: float, n: int) -> dict[str, float]:
    from appliance.brain.factory import build_brain
    from appliance.channels.file_transport import run_call, write_wav
    from appliance.core.clock import fixed_clock
    from appliance.core.config import load_config
    from appliance.engines.stt import ScriptedSTT, Transcript
    from tests.support.paced import PacedLLM, PacedTTS
    from tests.support.speech import silence, speech

    data = tmp / f"{'s' if streamed else 'w'}{n}"
    data.mkdir()
    cfg = load_config(
        environ={}, use_system=False, overrides={"store": {"data_dir": str(data)}, "llm": {"mode": "thread"}}
    )
    write_wav(data / "in.wav", silence(0.5) + speech(QUESTION, "en") + silence(12.0))
    llm = PacedLLM(ANSWER, tokens_per_s=tokens_per_s)
    tts = PacedTTS(seconds_per_char=ms_per_char / 1000)
    now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    brain = await build_brain(cfg, clock=fixed_clock(now), llm=llm)
    try:
        port = brain if streamed else _WholeReply(brain)
        stt = ScriptedSTT([Transcript(QUESTION, "en", 0.97, 0.0)], language=None)
        result = await run_call(
            data / "in.wav", data / "out.wav", brain=port, stt=stt, tts=tts, session_id=f"b{n}", config=cfg
        )
    finally:
        await brain.aclose()
    (turn,) = result.caller_turns
    wall = turn.wall
    return {
        "first_audio_ms": (wall["first_audio_out"] - wall["stt_done"]) * 1000,
        "whole_reply_ms": (llm.done_at - llm.token_times[0][0]) * 1000 + 1000 / tokens_per_s,
    }


def bench_streaming(runs: int, tokens_per_s: float, ms_per_char: float) -> dict[str, Any]:
    import logging

    from loguru import logger

    logger.remove()  # pipecat's per-frame debug lines
    logging.disable(logging.WARNING)
    out: dict[str, Any] = {"tokens_per_s": tokens_per_s, "tts_ms_per_char": ms_per_char, "runs": runs}
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(_one_call(Path(d), True, tokens_per_s, ms_per_char, -1))  # warm-up (lingua, Silero)
        for streamed in (True, False):
            rows = [asyncio.run(_one_call(Path(d), streamed, tokens_per_s, ms_per_char, i)) for i in range(runs)]
            key = "streamed" if streamed else "whole_reply"
            firsts = [r["first_audio_ms"] for r in rows]
            out[key] = {"first_audio_ms_p50": pct(firsts, 0.5), "first_audio_ms": [round(x, 1) for x in firsts]}
            out["llm_phrasing_ms"] = round(statistics.median(r["whole_reply_ms"] for r in rows), 1)
    out["speedup"] = round(out["whole_reply"]["first_audio_ms_p50"] / out["streamed"]["first_audio_ms_p50"], 2)
    return out


# --- language ID ----------------------------------------------------------------------------


def bench_language_id(model_dir: Path, utterances: int) -> dict[str, Any]:
    from appliance.engines.stt import FasterWhisperSTT
    from appliance.voice.langid import params_for, text_language
    from tests.support.speech import speech

    langs = ("en", "et", "ru")
    stt = FasterWhisperSTT(model_dir, languages=langs, threads=2)
    stt.load()
    check = text_language(langs)
    items = [(lang, speech(text, lang)) for lang in langs for text in UTTERANCES[lang]]
    items = (items * (1 + utterances // len(items)))[:utterances]
    for _lang, pcm in items[:3]:  # warm-up
        stt.transcribe_choosing(pcm, 16000, "en", params=params_for(True), text_language=check)
    detect, added, added_cpu, kept, switched, others = [], [], [], 0, 0, 0
    checked, unchecked_cpu = 0, []
    step = []  # what the ID pass adds once mel and encoder output are shared: the language-token step
    model = stt.model
    for lang, pcm in items:
        from faster_whisper.audio import pad_or_trim

        from appliance.engines.base import pcm16_to_float32

        mel = model.feature_extractor(pcm16_to_float32(pcm))
        encoded = model.encode(pad_or_trim(mel[:, : min(model.feature_extractor.nb_max_frames, mel.shape[-1] - 1)]))
        t0 = time.perf_counter()
        model.model.detect_language(encoded)
        step.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        stt.detect_languages_sync(pcm, 16000)
        detect.append((time.perf_counter() - t0) * 1000)
        t0, c0 = time.perf_counter(), time.process_time()
        stt.transcribe_sync(pcm, 16000, lang)  # the old path: the (right) session language forced
        t_forced, c_forced = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        t0, c0 = time.perf_counter(), time.process_time()
        chosen = stt.transcribe_choosing(pcm, 16000, lang, params=params_for(True), text_language=check)
        t_chosen, c_chosen = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        added.append(t_chosen - t_forced)
        added_cpu.append(c_chosen - c_forced)
        checked += chosen.language_id is not None and chosen.language_id.text_language is not None
        if chosen.language_id is not None and chosen.language_id.text_language is None:
            unchecked_cpu.append(c_chosen - c_forced)
        kept += chosen.language == lang
        if lang != "en":  # an Estonian or Russian caller on an English-default line, first words
            first = stt.transcribe_choosing(pcm, 16000, "en", params=params_for(False), text_language=check)
            switched += first.language == lang
            others += 1
    return {
        "model": str(model_dir.relative_to(REPO) if model_dir.is_relative_to(REPO) else model_dir),
        "utterances": len(items),
        "detect_ms": {"p50": pct(detect, 0.5), "p95": pct(detect, 0.95)},
        "added_ms": {"p50": pct(added, 0.5), "p95": pct(added, 0.95)},
        "added_cpu_ms": {"p50": pct(added_cpu, 0.5), "p95": pct(added_cpu, 0.95)},
        "language_step_ms": {"p50": pct(step, 0.5), "p95": pct(step, 0.95)},
        "checked_by_transcript": checked,  # unsure detector: a second decode in the other language
        "added_cpu_ms_unchecked": {"p50": pct(unchecked_cpu, 0.5), "p95": pct(unchecked_cpu, 0.95)},
        "load_average": round(__import__("os").getloadavg()[0], 1),
        "session_language_kept_when_right": round(kept / len(items), 3),
        "first_words_switch_from_en": round(switched / max(1, others), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens-per-s", type=float, default=20.0)
    ap.add_argument("--ms-per-char", type=float, default=3.0)
    ap.add_argument("--stt-model", type=Path, default=None)
    ap.add_argument("--utterances", type=int, default=30)
    ap.add_argument("--only", choices=("streaming", "language_id"), default=None)
    args = ap.parse_args()
    model = args.stt_model
    if model is None:
        trained = REPO / "models" / "stt-test"
        model = trained if (trained / "model.bin").is_file() else REPO / "models" / "test" / "whisper"
    out: dict[str, Any] = {}
    if args.only in (None, "streaming"):
        out["streaming"] = bench_streaming(args.runs, args.tokens_per_s, args.ms_per_char)
    if args.only in (None, "language_id"):
        out["language_id"] = bench_language_id(model, args.utterances)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
