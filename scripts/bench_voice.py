#!/usr/bin/env python3
"""Voice latency benchmark: prints one JSON document.

    python scripts/bench_voice.py [--n 12] [--concurrent 4] [--end-silence 0.5 0.25]

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


def speech(text: str) -> np.ndarray:
    import soxr

    from appliance.engines.tts import EspeakTTS

    c = EspeakTTS().synthesize_sync(text, "en")
    a = np.frombuffer(c.pcm16, "<i2").astype(np.float32) / 32768
    a = soxr.resample(a, c.sample_rate, RATE)
    v = np.flatnonzero(np.abs(a) > 0.01)
    return a[v[0] : v[-1] + 1]


def to_pcm(a: np.ndarray) -> bytes:
    return (np.clip(a, -1, 1) * 32767).astype("<i2").tobytes()


class Timed:
    """Wraps an STT/TTS engine; records (start, end) wall intervals of its compute."""

    def __init__(self, engine: Any, method: str, t0: float) -> None:
        self.engine, self.method, self.t0 = engine, method, t0
        self.capabilities = engine.capabilities
        self.spans: list[tuple[float, float]] = []

    def supports(self, language: str) -> bool:
        return self.engine.supports(language)

    def __getattr__(self, name: str) -> Any:
        if name != self.method:
            raise AttributeError(name)
        fn = getattr(self.engine, name)

        def run(*a: Any) -> Any:
            s = time.monotonic()
            try:
                return fn(*a)
            finally:
                self.spans.append((s - self.t0, time.monotonic() - self.t0))

        return run


class TimedBrain:
    def __init__(self, engine: Any, t0: float) -> None:
        self.engine, self.t0 = engine, t0
        self.spans: list[tuple[float, float]] = []
        self.on_slow = None

    async def handle(self, utt: Any) -> Any:
        s = time.monotonic()
        try:
            return await self.engine.handle(utt)
        finally:
            self.spans.append((s - self.t0, time.monotonic() - self.t0))

    async def record_timeline(self, *a: Any, **kw: Any) -> None:
        await self.engine.record_timeline(*a, **kw)


def overlap(spans: list[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(e, b) - max(s, a)) for s, e in spans)


async def streaming_run(cfg: Any, models: dict[str, Path], end_silence: float, n: int, tmp: Path) -> dict[str, Any]:
    from appliance.brain.factory import build_brain
    from appliance.channels.file_transport import run_call, write_wav
    from appliance.core.clock import fixed_clock
    from appliance.core.messages import Channel, Utterance
    from appliance.engines.stt import FasterWhisperSTT
    from appliance.engines.tts import PiperTTS
    from appliance.voice.pipeline import VoiceSettings
    from appliance.voice.timeline import Mark

    phrases = [PHRASES[i % len(PHRASES)] for i in range(n)]
    pcm, ends = to_pcm(np.zeros(RATE // 2, np.float32)), []
    for p in phrases:
        pcm += to_pcm(speech(p))
        ends.append(len(pcm) / 2 / RATE)
        pcm += to_pcm(np.zeros(int(RATE * 3.0), np.float32))
    wav = tmp / f"stream-{end_silence}.wav"
    write_wav(wav, pcm)
    stt_engine = FasterWhisperSTT(models["whisper"], languages=("en",))
    stt_engine.load()
    tts_engine = PiperTTS({"en": models["piper"] / "tiny-en.onnx"})
    tts_engine.load()
    brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
    await brain.engine.handle(Utterance("warm-up", Channel.VOICE, "hello, what are your opening hours?"))
    t0 = time.monotonic()
    stt, tts, tb = Timed(stt_engine, "transcribe_sync", t0), Timed(tts_engine, "synthesize_sync", t0), None
    tb = TimedBrain(brain.engine, t0)
    settings = VoiceSettings(end_silence_s=end_silence, speculative_after_s=min(0.2, end_silence / 2))
    try:
        result = await run_call(
            wav,
            tmp / "out.wav",
            brain=tb,
            stt=stt,
            tts=tts,
            session_id=f"bench-{end_silence}",
            settings=settings,
            realtime=True,
        )
    finally:
        await brain.aclose()
    wall0 = None
    rows: dict[str, list[float]] = {k: [] for k in ("response", "detect", "stt", "brain", "tts", "overhead")}
    turns = [t for t in result.turns if t.has(Mark.FIRST_AUDIO_OUT)]
    for t in turns:
        end = min(ends, key=lambda e: abs(t.audio[Mark.END_OF_SPEECH] - end_silence - e))
        a = t.audio
        w = t.wall
        if wall0 is None:
            wall0 = 0.0
        rows["response"].append((a[Mark.FIRST_AUDIO_OUT] - end) * 1000)
        rows["detect"].append((a[Mark.END_OF_SPEECH] - end) * 1000)
        rows["stt"].append((w[Mark.STT_DONE] - w[Mark.END_OF_SPEECH]) * 1000)
        rows["brain"].append((w[Mark.FIRST_BRAIN_OUTPUT] - w[Mark.STT_DONE]) * 1000)
        rows["tts"].append((w[Mark.FIRST_AUDIO_OUT] - w[Mark.FIRST_BRAIN_OUTPUT]) * 1000)
        # pipeline wall clock starts when the recorder's clock was made (just before t0 + setup)
        lo, hi = w[Mark.END_OF_SPEECH], w[Mark.FIRST_AUDIO_OUT]
        off = _clock_offset(result, t0)
        compute = overlap(stt.spans, lo + off, hi + off) + overlap(tb.spans, lo + off, hi + off)
        compute += overlap(tts.spans, lo + off, hi + off)
        rows["overhead"].append(max(0.0, (hi - lo) * 1000 - compute * 1000))
    return {
        "end_of_turn_silence_s": end_silence,
        "turns": len(result.turns),
        "utterances": n,
        "speculative_stt_hits": sum(1 for t in result.turns if t.speculative_hit),
        **{f"{k}_ms": summary(v) for k, v in rows.items()},
        "_turn_audio": [(t.audio.get(str(Mark.SPEECH_START)), t.text) for t in result.turns],
        "_engines": (stt_engine, tts_engine, phrases),
    }


def _clock_offset(result: Any, t0: float) -> float:
    """Wall marks are seconds since the call's AudioClock was made; spans are since t0. The clock
    is made inside run_call right after t0, so the offset is a few ms at most; assume 0."""
    return 0.0


async def sequential_baseline(cfg: Any, stt: Any, tts: Any, phrases: list[str], detect_ms: float) -> dict[str, Any]:
    """No streaming: full STT, then the full reply, then TTS of the whole reply, then play."""
    from appliance.brain.factory import build_brain
    from appliance.core.clock import fixed_clock
    from appliance.core.messages import Channel, Utterance

    brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
    out = []
    try:
        for i, p in enumerate(phrases):
            audio = to_pcm(speech(p))
            s = time.monotonic()
            tr = await asyncio.to_thread(stt.transcribe_sync, audio, RATE, "en")
            reply = await brain.engine.handle(Utterance(f"seq-{i}", Channel.VOICE, tr.text or p, language_hint="en"))
            await asyncio.to_thread(tts.synthesize_sync, reply.speakable or reply.text, "en")
            out.append(detect_ms + (time.monotonic() - s) * 1000)
    finally:
        await brain.aclose()
    return summary(out)


async def barge_in_runs(cfg: Any, runs: int, tmp: Path) -> dict[str, Any]:
    from appliance.brain.factory import build_brain
    from appliance.channels.file_transport import run_call, write_wav
    from appliance.core.clock import fixed_clock
    from appliance.core.messages import Channel
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
                brain=brain.engine,
                stt=ScriptedSTT(["how much is it"]),
                tts=EspeakTTS(),
                session_id=sid,
                config=cfg,
                greeting=lambda sid=sid, b=brain: b.engine.greet(sid, Channel.VOICE),
            )
        finally:
            await brain.aclose()
        pause = next((b for b in result.barge_ins if b["action"] == "pause"), None)
        if pause is not None:
            stop_vad.append((pause["at_s"] - pause["vad_start_s"]) * 1000)
            stop_onset.append((pause["at_s"] - onset) * 1000)
    return {"stop_after_vad_start_ms": summary(stop_vad), "stop_after_true_onset_ms": summary(stop_onset)}


def cut_turns(end_silence: float) -> dict[str, Any]:
    """Utterances with a mid-sentence pause, through Silero; turns counted by our segmenter at
    this setting and at pipecat's default stop_secs (0.2 s)."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from appliance.voice.turns import TurnEventType, TurnSegmenter

    vad = SileroVADAnalyzer()
    vad.set_sample_rate(RATE)
    win = vad.num_frames_required()
    cases = []
    for pause in (0.3, 0.4):
        for a, b in (("I need a room for my dog", "from Monday to Friday"), ("My name is Mari", "Tamm")):
            x = np.concatenate([np.zeros(RATE // 2), speech(a), np.zeros(int(RATE * pause)), speech(b), np.zeros(RATE)])
            pcm = np.frombuffer(to_pcm(x.astype(np.float32)), "<i2")
            probs = []
            for i in range(0, len(pcm) - win + 1, win):
                probs.append(float(np.asarray(vad.voice_confidence(pcm[i : i + win].tobytes())).reshape(-1)[0]))
            cases.append(probs)

    def count(end: float) -> int:
        cut = 0
        for probs in cases:
            seg = TurnSegmenter(end, 0.15, min(0.2, end / 2))
            ends = sum(1 for p in probs for ev in seg.process(win / RATE, p) if ev.type is TurnEventType.TURN_END)
            cut += ends > 1
        return cut

    return {"cases": len(cases), "ours": count(end_silence), "pipecat_default_stop_0.2s": count(0.2)}


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
            brain=brain.engine,
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

    sys.path.insert(0, str(REPO / "tests" / "integration"))
    models_dir = REPO / "models" / "test"
    manifest = json.loads((models_dir / "MANIFEST.json").read_text())
    models = {name: models_dir / e["path"] for name, e in manifest["models"].items()}
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "settings": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = load_config(
            environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp / "data")}, "llm": {"mode": "off"}}
        )
        for end in args.end_silence:
            run = await streaming_run(cfg, models, end, args.n, tmp)
            stt, tts, phrases = run.pop("_engines")
            run.pop("_turn_audio")
            detect = run["detect_ms"]["p50"] or end * 1000
            run["sequential_ms"] = await sequential_baseline(cfg, stt, tts, phrases, detect)
            if run["response_ms"]["p50"] and run["sequential_ms"]["p50"]:
                run["streaming_ratio_p50"] = round(run["sequential_ms"]["p50"] / run["response_ms"]["p50"], 2)
            run["cut_turns"] = cut_turns(end)
            out["settings"].append(run)
        out["barge_in"] = await barge_in_runs(cfg, args.barge_ins, tmp)
        out["memory"] = await memory_run(cfg, args.concurrent, tmp)
    out["targets"] = {"response_p50_ms": 250, "response_p95_ms": 320, "barge_in_stop_ms": 150, "per_call_mb": 50}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=12, help="utterances per setting")
    p.add_argument("--end-silence", type=float, nargs="+", default=[0.5, 0.25])
    p.add_argument("--barge-ins", type=int, default=6)
    p.add_argument("--concurrent", type=int, default=4)
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
