#!/usr/bin/env python3
"""Memory of SIP calls over time: does RSS return to its idle level after calls end, and where
does it go while they run? sipp places ``--calls`` concurrent calls that loop real speech RTP
(espeak-ng) for ``--seconds``, all hung up at the same instant, for ``--rounds`` rounds, against
the appliance's SIP channel (real brain, espeak-ng TTS, Silero VAD, scripted STT). Prints one
JSON line per sample (``--every`` s: the RSS of every appliance process) and a summary line:
idle RSS before the first call, after each round (calls ended, garbage collected), and the
growth per call in round 1 (first-call loading included) and in the later rounds.

    python scripts/bench_sip_memory.py --calls 4 --seconds 60 --rounds 3
    python scripts/bench_sip_memory.py --calls 12 --workers 3 --seconds 150 --rounds 2
    python scripts/bench_sip_memory.py --calls 4 --seconds 30 --rounds 3 --tracemalloc 15  # 1 process
    python scripts/bench_sip_memory.py --calls 12 --workers 3 --seconds 90 --rounds 2 \
        --stt-model models/test/whisper --tts-voice models/test/piper/tiny-en.onnx   # models in the loop

``--tracemalloc N`` (one process only) prints the N allocation sites whose Python memory grew
most between the idle point after round 1 and after the last round.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_sip import _proc_cpu_rss  # noqa: E402


def _rss_mb(pids: list[int]) -> dict[str, float]:
    return {str(p): round(_proc_cpu_rss(p)[1] / 2**20, 1) for p in pids}


def _emit(**data: Any) -> None:
    print(json.dumps(data), flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from appliance.brain.factory import build_brain
    from appliance.channels.sip.service import SipEngines, SipService
    from appliance.core.config import load_config
    from appliance.engines.stt import ScriptedSTT
    from appliance.engines.tts import EspeakTTS
    from tests.e2e.test_sip_soak import _speech_loop
    from tests.support.sip_harness import SCENARIOS, free_port

    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    work = Path(tempfile.mkdtemp(prefix="bench-sip-mem-"))
    _speech_loop(work / "caller.wav")
    port = free_port()
    sip = {"udp_port": port, "tcp_port": port, "max_calls": args.calls, "answer_delay_s": 0.0, "record": False,
           "workers": args.workers}  # fmt: skip
    voice = {"stt_model": str(Path(args.stt_model).resolve())} if args.stt_model else {}
    if args.tts_voice:
        voice["tts_voices"] = {"en": str(Path(args.tts_voice).resolve())}
    cfg = load_config(environ={}, use_system=False,
                      overrides={"store": {"data_dir": str(work)}, "llm": {"mode": "off"}, "sip": sip,
                                 "voice": voice})  # fmt: skip
    brain: Any = None
    script = work / "script.json"
    script.write_text(json.dumps(["hello"] * 100000))
    if args.workers > 1:
        from appliance.channels.sip.cluster import SipCluster

        service: Any = SipCluster(cfg, worker_args=[] if args.stt_model else ["--scripted-stt", str(script)])
    else:
        brain = await build_brain(cfg, llm=None)
        if args.stt_model:  # the real engines, as the daemon loads them
            from appliance.engines.factory import load_speech_engines

            stt, tts = await load_speech_engines(cfg)
            engines = SipEngines(stt=stt, tts=tts)
        else:
            engines = SipEngines(stt=ScriptedSTT(["hello"] * 100000), tts=EspeakTTS())
        service = SipService(cfg, brain, engines, callbacks=brain.callbacks)
    await service.start()
    pids = [os.getpid(), *(p.pid for p in getattr(service, "_procs", []) if p is not None)]
    t0 = time.monotonic()

    async def settle() -> float:
        await asyncio.sleep(args.settle)
        gc.collect()
        total = sum(_rss_mb(pids).values())
        trimmed = None
        if args.trim:  # glibc keeps freed memory in its arenas: what comes back when asked
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            trimmed = round(sum(_rss_mb(pids).values()), 1)
        _emit(t_s=round(time.monotonic() - t0, 1), idle=True, rss_mb=_rss_mb(pids), total_mb=round(total, 1),
              after_malloc_trim_mb=trimmed)  # fmt: skip
        return total

    idle = [await settle()]
    if args.tracemalloc:
        tracemalloc.start(12)
    snaps: list[Any] = []
    for round_ in range(args.rounds):
        proc = await asyncio.create_subprocess_exec(
            sipp, "-sf", str(SCENARIOS / "uac_rtp_loop.xml"), "-m", str(args.calls), "-l", str(args.calls),
            "-r", "100", "-d", str(int(args.seconds * 1000)), "-s", "appliance", "-i", "127.0.0.1", "-p", "0",
            "-mp", str(30000 + 200 * round_), "-nostdin", "-timeout", str(int(args.seconds + 60)),
            f"127.0.0.1:{port}", cwd=work, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        wait = asyncio.ensure_future(proc.wait())
        while not wait.done():
            await asyncio.wait({wait}, timeout=args.every)
            rss = _rss_mb(pids)
            _emit(t_s=round(time.monotonic() - t0, 1), round=round_ + 1, rss_mb=rss,
                  total_mb=round(sum(rss.values()), 1))  # fmt: skip
        want = args.calls * (round_ + 1)
        deadline = time.monotonic() + 30
        while len(service.records) < want and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        idle.append(await settle())
        if args.tracemalloc:
            snaps.append(tracemalloc.take_snapshot())
    top: list[str] = []
    if args.tracemalloc and len(snaps) >= 2:
        stats = snaps[-1].compare_to(snaps[0], "traceback")
        for st in stats[: args.tracemalloc]:
            top.append(f"{st.size_diff / 1024:.0f} KiB in {st.count_diff} blocks: " + " <- ".join(
                f"{Path(f.filename).name}:{f.lineno}" for f in list(st.traceback)[-4:]))  # fmt: skip
    records = list(service.records)
    await service.stop()
    if brain is not None:
        await brain.aclose()
    n = args.calls
    return {
        "calls": n,
        "workers": args.workers,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "records": len(records),
        "idle_total_mb": [round(x, 1) for x in idle],
        "first_round_mb_per_call": round((idle[1] - idle[0]) / n, 1),
        "later_rounds_mb_per_call": round((idle[-1] - idle[1]) / n / max(1, args.rounds - 1), 1)
        if args.rounds > 1
        else None,
        "tracemalloc_growth": top,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after the calls end before the idle sample")
    ap.add_argument("--stt-model", default="", help="a Whisper model dir: real STT in the loop (else scripted)")
    ap.add_argument("--tts-voice", default="", help="a Piper .onnx for English (else espeak-ng)")
    ap.add_argument("--trim", action="store_true", help="also measure after malloc_trim(0) (this process only)")
    ap.add_argument("--tracemalloc", type=int, default=0, help="print the N sites that grew most (one process)")
    ap.add_argument("--default-arenas", action="store_true", help="leave glibc's malloc arenas as they are")
    args = ap.parse_args()
    if not args.default_arenas:  # as the daemon does at start (appliance run: ops/runtime.py)
        from appliance.core.memory import limit_malloc_arenas

        limit_malloc_arenas()
    import logging

    logging.basicConfig(level=logging.WARNING)
    _emit(summary=asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
