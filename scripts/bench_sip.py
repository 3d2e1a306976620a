#!/usr/bin/env python3
"""SIP load benchmark: sipp places N concurrent calls against the appliance's SIP channel (real
brain, espeak-ng TTS, Silero VAD; scripted STT, or the real one with ``--services``). Each caller
says a booking phrase (espeak-ng, from the test model's corpus) every ``--turn-s`` seconds for the
whole call. Prints JSON: answered/failed calls, the timing of the appliance's outgoing audio frames
per call (p99 interval and longest gap; smooth means every call's p99 under 30 ms), end of speech to
first reply audio per turn (p50/p95/max, read from the turn timelines in the data dir's SQLite
after the run), turns transcribed vs turns that got the apology (STT failed or timed out), CPU and
RSS of every process (and RSS over time), and the shared services' load reports.

    python scripts/bench_sip.py --calls 20 --seconds 20
    python scripts/bench_sip.py --sweep 1,2,4,5,8,20 --seconds 20   # one process per N
    python scripts/bench_sip.py --sweep 4,8,12,16,20 --workers 0 --seconds 20  # ceil(N/4) SIP workers
    python scripts/bench_sip.py --calls 12 --workers 3 --services --stt-model models/stt-test  # shared models
    python scripts/bench_sip.py --sweep 1,4,8,12,16,20 --workers 0 --services --seconds 180  # ~25 min

Calls start one every ``turn_s / N`` seconds (``--rate 0``), so the callers' phrases end at spread
moments like independent callers'; the runs before 2026-12-06 used ``--rate 10`` (all within ~2 s).

``--services``: the shared model services as the daemon runs them (appliance/ops/model_services.py):
real STT (``--stt-model``) in one batching process, TTS in another; CPU and memory include them, and
their load reports (queueing delay, batch sizes, requests shed) are in the JSON as ``stt_service`` and
``tts_service``. ``--sweep`` runs each N in a fresh process (a fresh cluster and services) and prints
each point's JSON line as it finishes, then a summary line.

With pjsua2-python 2.15.1.post1 one process holds at most 4 calls (PJSUA_MAX_CALLS is compiled in):
above that, with --workers 1, sipp sees 486; --workers N (0: ceil(N/4)) runs the SIP proxy and N worker
processes (sip.workers), as the daemon does (see docs/SIP.md). CPU and memory include the workers.

Needs sipp (Debian ``sip-tester``, built with RTP streaming) and espeak-ng.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PJSUA_MAX_CALLS = 4  # appliance.channels.sip.endpoint.PJSUA_MAX_CALLS (not imported here: keeps --help fast)


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _proc_cpu_rss(pid: int) -> tuple[float, int]:
    """(user+system CPU seconds, resident bytes) of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / tick
        rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        return cpu, rss
    except (OSError, IndexError, ValueError):
        return 0.0, 0


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))], 1)


def _dist(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": _pct(values, 50), "p95": _pct(values, 95), "max": _pct(values, 100)}


def caller_wav(path: Path, seconds: float, turn_s: float) -> list[float]:
    """The caller's side of every call: a booking phrase (one the test STT model was trained on,
    spoken by espeak-ng as the voice tests speak it) every ``turn_s`` seconds, silence between,
    for ``seconds`` (u-law 8 kHz, what sipp's rtp_stream plays). Returns the phrases in order."""
    import numpy as np
    import soundfile as sf
    import soxr

    from tests.support.speech import RATE, speech
    from tests.support.stt_corpus import BOOKING_DIALOGUES

    phrases = BOOKING_DIALOGUES["en"][0][:3]  # pet, its name, dates: the brain keeps asking (no booking ends it)
    per_turn = int(turn_s * 8000)
    pieces: list[Any] = []
    said: list[float] = []
    while sum(len(x) for x in pieces) < seconds * 8000:
        text = phrases[len(said) % len(phrases)]
        audio = np.frombuffer(speech(text, "en"), dtype="<i2").astype(np.float32) / 32768.0
        narrow = soxr.resample(audio, RATE, 8000)[: per_turn - 8000]
        pieces.append(np.concatenate([narrow, np.zeros(per_turn - len(narrow), dtype=np.float32)]))
        said.append(len(narrow) / 8000)
    sf.write(str(path), np.concatenate(pieces), 8000, subtype="ULAW")
    return said


class _Procs:
    """CPU and RSS of the appliance's processes (and sipp's), from /proc, sampled over the run."""

    def __init__(self, named: dict[str, int]) -> None:
        self.named = dict(named)
        self.cpu0 = {k: _proc_cpu_rss(p)[0] for k, p in self.named.items()}
        self.rss_idle = {k: _proc_cpu_rss(p)[1] for k, p in self.named.items()}
        self.peak = dict(self.rss_idle)
        self.series: list[dict[str, float]] = []  # {"t_s", "rss_mb"} (the appliance's total, without sipp)
        self.t0 = time.monotonic()

    def add(self, name: str, pid: int) -> None:
        self.named[name] = pid
        self.cpu0[name], self.rss_idle[name] = 0.0, 0
        self.peak[name] = 0

    def sample(self) -> None:
        total = 0
        for name, pid in self.named.items():
            rss = _proc_cpu_rss(pid)[1]
            self.peak[name] = max(self.peak.get(name, 0), rss)
            total += rss if name != "sipp" else 0
        self.series.append({"t_s": round(time.monotonic() - self.t0, 1), "rss_mb": round(total / 2**20, 1)})

    async def run(self, every_s: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(every_s)

    def report(self, wall: float, end: dict[str, tuple[float, int]]) -> dict[str, dict[str, float]]:
        return {
            name: {
                "cpu_pct": round(100 * (end[name][0] - self.cpu0[name]) / wall, 1),
                "rss_idle_mb": round(self.rss_idle[name] / 2**20, 1),
                "rss_peak_mb": round(max(self.peak[name], end[name][1]) / 2**20, 1),
                "rss_end_mb": round(end[name][1] / 2**20, 1),
            }
            for name in self.named
        }


def _service_load(path: Path, name: str) -> dict[str, Any] | None:
    from dataclasses import asdict

    from appliance.engines.service.client import ServiceConnection

    try:
        load = asdict(ServiceConnection(path, name=name).status())
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what it could not read
        return {"error": str(exc)}
    keys = ("requests", "failures", "shed", "batches", "batch_sizes", "queue_ms_p50", "queue_ms_p95", "queue_ms_max",
            "work_ms_p50", "work_ms_p95")  # fmt: skip
    return {k: load[k] for k in keys}


def _true_ends(turns: list[dict[str, Any]], spoken_s: list[float], turn_s: float) -> list[float | None]:
    """Where each turn's phrase really ended on the call's audio axis. The caller WAV puts phrase k at
    ``offset + k * turn_s`` (``offset``: when sipp started the stream, unknown); the VAD's speech start
    (the onset of the first speech window) gives it: the median of the starts modulo ``turn_s``."""
    starts = [t["speech_start"] for t in turns]
    if not starts:
        return []
    first = starts[0] % turn_s
    residues = sorted(first + ((x % turn_s - first + turn_s / 2) % turn_s) - turn_s / 2 for x in starts)
    offset = residues[len(residues) // 2]
    ends: list[float | None] = []
    for x in starts:
        k = round((x - offset) / turn_s)
        ends.append(offset + k * turn_s + spoken_s[k] if 0 <= k < len(spoken_s) else None)
    return ends


def turn_latencies(db: Path, spoken_s: list[float], turn_s: float) -> dict[str, Any]:
    """Per answered caller turn, from the timelines the workers stored with the brain's replies:
    ``eos_to_first_audio_ms``: the END_OF_SPEECH mark (the silence rule fired) to the first reply audio,
    wall clock (the work under load: STT with its queue, brain, TTS); ``speech_end_to_first_audio_ms``:
    the phrase's true end in the caller WAV to the first reply audio, on the audio axis (what the caller
    waits, the silence decision included); and the stages between."""
    import sqlean

    if not db.exists():
        return {"error": f"no database at {db}"}
    conn = sqlean.connect(f"file:{db}?mode=ro", uri=True)
    try:
        q = "SELECT session_id, timeline FROM turns WHERE role = 'assistant' ORDER BY session_id, seq"
        rows = [(sid, json.loads(t or "{}")) for sid, t in conn.execute(q)]
    finally:
        conn.close()
    caller = [t for _, t in rows if "speech_end" in t and "speech_start" in t]
    true_waits: list[float] = []
    for sid in dict.fromkeys(sid for sid, _ in rows):
        turns = [t for s, t in rows if s == sid and "speech_end" in t and "speech_start" in t]
        for t, end in zip(turns, _true_ends(turns, spoken_s, turn_s), strict=True):
            if end is not None and "first_audio" in t:
                true_waits.append(round((t["first_audio"] - end) * 1000, 1))
    stages = {
        s: [t[f"{s}_wall_ms"] for t in caller if f"{s}_wall_ms" in t] for s in ("stt", "brain", "tts_first_audio")
    }
    return {
        "turns_stored": len(caller),
        "turns_interrupted": sum(1 for t in caller if "interrupted" in t),
        "eos_to_first_audio_ms": _dist([t["response_wall_ms"] for t in caller if "response_wall_ms" in t]),
        "speech_end_to_first_audio_ms": _dist(true_waits),
        **{f"{s}_ms": _dist(v) for s, v in stages.items()},
    }


def _calls_report(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per call: outgoing frame timing, turns transcribed, turns that got the apology instead."""
    per_call, errors = [], {}
    for r in records:
        a = r.get("audio") or {}
        errs = [str(e) for e in r.get("errors") or []]
        for e in errs:
            kind = e.split(":", 1)[0]
            errors[kind] = errors.get(kind, 0) + 1
        per_call.append({
            "tx_p99_ms": a.get("tx_interval_p99_ms"),
            "tx_max_gap_ms": a.get("tx_interval_max_ms"),
            "transcribed": sum(1 for t in r.get("transcript") or [] if (t.get("user") or "").strip()),
            "stt_apologies": sum(1 for e in errs if e.startswith("stt")),
            "outcome": r.get("outcome"),
        })  # fmt: skip
    p99 = [c["tx_p99_ms"] for c in per_call if c["tx_p99_ms"] is not None]
    gaps = [c["tx_max_gap_ms"] for c in per_call if c["tx_max_gap_ms"] is not None]
    return {
        "per_call": per_call,
        "tx_p99_ms_per_call": _dist(p99),
        "tx_max_gap_ms_per_call": _dist(gaps),
        "turns_transcribed": sum(c["transcribed"] for c in per_call),
        "turns_stt_apology": sum(c["stt_apologies"] for c in per_call),
        "errors_by_kind": errors,
    }


async def bench(
    calls: int,
    seconds: float,
    rate: int,
    switch_ms: float = 0.0,
    workers: int = 1,
    stt_model: str = "",
    turn_s: float = 9.0,
    keep: bool = False,
) -> dict:
    from appliance.brain.factory import build_brain
    from appliance.channels.sip.service import SipEngines, SipService
    from appliance.core.config import load_config
    from appliance.engines.stt import ScriptedSTT
    from appliance.engines.tts import EspeakTTS
    from tests.support.sip_harness import SCENARIOS, free_port

    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    work = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    spoken_s = caller_wav(work / "caller.wav", seconds + 10, turn_s)
    port = free_port()
    cfg = load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(work)},
            "llm": {"mode": "off"},
            "sip": {
                "udp_port": port,
                "tcp_port": port,
                "max_calls": calls,
                "over_capacity": "busy",
                "answer_delay_s": 0.0,
                "record": False,
            },
        },
    )
    brain: Any = None
    models: Any = None
    if stt_model:  # the shared model services, real STT
        from appliance.ops.model_services import ModelServices

        cfg = cfg.model_copy(update={"voice": cfg.voice.model_copy(update={"stt_model": stt_model}),
                                     "services": cfg.services.model_copy(update={"mode": "on"})})  # fmt: skip
        models = ModelServices(cfg)
        cfg = await models.start()
    if workers > 1:  # the proxy + worker processes (docs/SIP.md, "More than 4 calls")
        from appliance.channels.sip.cluster import SipCluster

        cfg = cfg.model_copy(update={"sip": cfg.sip.model_copy(update={"workers": workers})})
        script = work / "script.json"
        script.write_text(json.dumps(["hello"] * 10000))
        service: Any = SipCluster(cfg, worker_args=[] if models else ["--scripted-stt", str(script)])
    else:
        from appliance.engines.service.client import service_engines

        brain = await build_brain(cfg, llm=None)
        engines = (
            SipEngines(*service_engines(cfg)) if models else SipEngines(ScriptedSTT(["hello"] * 10000), EspeakTTS())
        )
        service = SipService(cfg, brain, engines, callbacks=brain.callbacks,
                             log_level=int(os.environ.get("PJ_LOG", "1")))  # fmt: skip
    await service.start()
    pids = [p.pid for p in getattr(service, "_procs", []) if p is not None]
    pids += [c.pid for c in (models.children.values() if models else []) if c.pid is not None]
    named = {"main (SIP proxy)" if workers > 1 else "main (SIP + brain)": os.getpid()}
    named |= {f"sip-worker-{i}": p.pid for i, p in enumerate(getattr(service, "_procs", [])) if p is not None}
    named |= {name: c.pid for name, c in (models.children.items() if models else []) if c.pid is not None}
    procs = _Procs(named)
    cpu_w0 = sum(_proc_cpu_rss(p)[0] for p in pids)
    rss0 = sum(_proc_cpu_rss(p)[1] for p in [os.getpid(), *pids])
    if switch_ms:
        sys.setswitchinterval(switch_ms / 1000)  # how long the media thread may wait for the GIL
    cpu0, t0 = _cpu_s(), time.monotonic()
    children0 = _children_cpu_s()
    proc = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(SCENARIOS / "uac_rtp.xml"), "-m", str(calls), "-l", str(calls), *_pace(rate, calls, turn_s),
        "-d", str(int(seconds * 1000)), "-s", "appliance", "-i", "127.0.0.1", "-p", "0", "-mp", "30000",
        "-nostdin", "-timeout", str(int(seconds + 60)), "-trace_stat", "-fd", "1", f"127.0.0.1:{port}",
        cwd=work, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    procs.add("sipp", proc.pid)
    sampler = asyncio.get_running_loop().create_task(procs.run(max(1.0, seconds / 36)))
    out, _ = await proc.communicate()
    wall = time.monotonic() - t0
    deadline = time.monotonic() + 10
    while len(service.records) < calls and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    sampler.cancel()
    end = {name: _proc_cpu_rss(pid) for name, pid in procs.named.items() if name != "sipp"}
    end["sipp"] = (_children_cpu_s() - children0, procs.peak["sipp"])  # reaped: its rusage
    cpu = _cpu_s() - cpu0 + sum(_proc_cpu_rss(p)[0] for p in pids) - cpu_w0
    rss = sum(_proc_cpu_rss(p)[1] for p in [os.getpid(), *pids])
    stt_load: dict[str, Any] | None = None
    tts_load: dict[str, Any] | None = None
    if models is not None:
        stt_load = _service_load(cfg.services_path / "stt.sock", "stt")
        tts_load = _service_load(cfg.services_path / "tts.sock", "tts")
    await service.stop()
    if models is not None:
        await models.stop()
    if brain is not None:
        await brain.aclose()
    latencies = turn_latencies(cfg.db_path, spoken_s, turn_s)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    text = out.decode(errors="replace")
    ok = _last_int(text, r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)")
    failed = _last_int(text, r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)")
    p50s = [r["audio"].get("tx_interval_p50_ms", 0.0) for r in service.records if r.get("audio")]
    p99s = [r["audio"].get("tx_interval_p99_ms", 0.0) for r in service.records if r.get("audio")]
    maxes = [r["audio"].get("tx_interval_max_ms", 0.0) for r in service.records if r.get("audio")]
    answered = sum(1 for r in service.records if r.get("audio", {}).get("rx_frames", 0) > 0)
    worst_p99 = max(p99s) if p99s else None
    return {
        "calls": calls,
        "workers": workers,
        "seconds": seconds,
        "sipp_rc": proc.returncode,
        "sipp_successful": ok,
        "sipp_failed": failed,
        "answered": answered,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cpu_per_call_pct": round(100 * cpu / wall / max(1, calls), 2),
        "tx_interval_p50_ms_worst_call": max(p50s) if p50s else None,
        "tx_interval_p99_ms_worst_call": worst_p99,
        "tx_interval_max_ms": max(maxes) if maxes else None,
        "smooth": worst_p99 is not None and worst_p99 < 30.0,
        "rss_mb": round(rss / 2**20, 1),  # the appliance's processes, at the end of the calls
        "rss_per_call_mb": round((rss - rss0) / 2**20 / max(1, calls), 1),
        "rss_idle_mb": round(rss0 / 2**20, 1),
        "stt_service": stt_load,
        "tts_service": tts_load,
        "turn_s": turn_s,
        "phrases_per_call": sum(1 for k, d in enumerate(spoken_s) if k * turn_s + d <= seconds),  # whole ones
        **latencies,
        **_calls_report(service.records),
        "processes": procs.report(wall, end),
        "rss_over_time": procs.series,
        "gil_switch_ms": switch_ms or sys.getswitchinterval() * 1000,
        "pjsua_max_calls": PJSUA_MAX_CALLS,  # compiled into the pjsua2 wheel: calls above it get 486
        "cpus": os.cpu_count(),
    }


def _pace(rate: int, calls: int, turn_s: float) -> list[str]:
    """sipp's call rate. 0: one call every turn_s / calls seconds, so the callers' phrases end at
    evenly spread moments (independent callers) rather than all at once."""
    if rate > 0:
        return ["-r", str(rate)]
    return ["-r", "1", "-rp", str(max(1, int(turn_s * 1000 / max(1, calls))))]


def _last_int(text: str, pattern: str) -> int | None:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else None


def summary_row(r: dict[str, Any]) -> dict[str, Any]:
    """One line of the sweep's table (docs/BENCHMARKS.md)."""
    if "error" in r:
        return {"calls": r.get("calls"), "error": r["error"][-200:]}
    eos = r.get("eos_to_first_audio_ms") or {}
    true = r.get("speech_end_to_first_audio_ms") or {}
    cpu = {k: v["cpu_pct"] for k, v in (r.get("processes") or {}).items()}
    stt = r.get("stt_service") or {}
    return {
        "calls": r["calls"], "workers": r["workers"], "answered": r["answered"],
        "tx_p99_ms_worst_call": r["tx_interval_p99_ms_worst_call"], "tx_max_gap_ms": r["tx_interval_max_ms"],
        "eos_to_audio_p50_ms": eos.get("p50"), "eos_to_audio_p95_ms": eos.get("p95"),
        "eos_to_audio_max_ms": eos.get("max"), "turns_answered": eos.get("n"),
        "true_end_to_audio_p50_ms": true.get("p50"), "true_end_to_audio_p95_ms": true.get("p95"),
        "turns_transcribed": r["turns_transcribed"], "turns_stt_apology": r["turns_stt_apology"],
        "stt_queue_ms_p95": stt.get("queue_ms_p95"), "stt_work_ms_p95": stt.get("work_ms_p95"),
        "stt_shed": stt.get("shed"), "cpu_pct": round(100 * r["cpu_s"] / max(1e-9, r["wall_s"]), 1),
        "cpu_pct_stt": cpu.get("stt"), "cpu_pct_sip_workers": round(sum(v for k, v in cpu.items() if "worker" in k), 1),
        "rss_mb": r["rss_mb"],
    }  # fmt: skip


def sweep(args: argparse.Namespace) -> int:
    """Each N in a fresh process (a fresh cluster, fresh services); each point's JSON line as it ends."""
    results = []
    for n in [int(x) for x in args.sweep.split(",") if x]:
        cmd = [sys.executable, __file__, "--calls", str(n), "--seconds", str(args.seconds), "--rate", str(args.rate),
               "--workers", str(args.workers or max(1, math.ceil(n / PJSUA_MAX_CALLS))), "--turn-s", str(args.turn_s),
               *(["--services", "--stt-model", args.stt_model] if args.services else [])]  # fmt: skip
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 300)
            lines = [x for x in r.stdout.splitlines() if x.startswith('{"calls"')]
            result = json.loads(lines[-1]) if lines else {"calls": n, "rc": r.returncode,
                                                           "error": (r.stdout + r.stderr)[-600:]}  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            result = {"calls": n, "error": f"timed out after {exc.timeout} s"}
        results.append(result)
        print(json.dumps(result), flush=True)
    smooth = [r["calls"] for r in results if r.get("smooth") and r.get("answered") == r.get("calls")]
    table = [summary_row(r) for r in results]
    print(json.dumps({"results": results, "table": table, "max_smooth_calls": max(smooth) if smooth else 0}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=int, default=0, help="new calls per second; 0: spread over one --turn-s")
    ap.add_argument("--switch-ms", type=float, default=0.0, help="sys.setswitchinterval in ms (0: Python default)")
    ap.add_argument("--sweep", default="", help="comma-separated N values, each in its own process")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="SIP worker processes behind the proxy; 0: ceil(N/4) per N (sip.over_capacity = busy)",
    )
    ap.add_argument("--services", action="store_true", help="shared STT/TTS services (real STT: --stt-model)")
    ap.add_argument("--stt-model", default=str(ROOT / "models" / "stt-test"))
    ap.add_argument("--turn-s", type=float, default=9.0, help="the caller says a phrase every this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the data dir (the database, the services' logs)")
    args = ap.parse_args()
    if args.sweep:
        return sweep(args)
    import logging

    logging.basicConfig(level=logging.WARNING)
    workers = args.workers or max(1, math.ceil(args.calls / PJSUA_MAX_CALLS))
    stt_model = args.stt_model if args.services else ""
    result = asyncio.run(bench(args.calls, args.seconds, args.rate, args.switch_ms, workers, stt_model, args.turn_s,
                               args.keep))  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
