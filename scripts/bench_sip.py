#!/usr/bin/env python3
"""SIP load benchmark: sipp places N concurrent calls that each play a u-law WAV for a set
duration against the appliance's SIP channel (real brain, espeak-ng TTS, Silero VAD, scripted
STT); prints JSON: answered/failed calls, CPU per call, and the timing of the appliance's
outgoing audio frames (p99 interval; smooth means under 30 ms).

    python scripts/bench_sip.py --calls 20 --seconds 20
    python scripts/bench_sip.py --sweep 1,2,4,5,8,20 --seconds 20   # one process per N

With pjsua2-python 2.15.1.post1 one process holds at most 4 calls (PJSUA_MAX_CALLS is compiled in):
above that sipp sees 486 and the run is not counted as smooth (see docs/SIP.md).

Needs sipp (Debian ``sip-tester``, built with RTP streaming) and espeak-ng.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def bench(calls: int, seconds: float, rate: int, switch_ms: float = 0.0) -> dict:
    from appliance.brain.factory import build_brain
    from appliance.channels.sip.endpoint import PJSUA_MAX_CALLS
    from appliance.channels.sip.service import SipEngines, SipService
    from appliance.core.config import load_config
    from appliance.engines.stt import ScriptedSTT
    from appliance.engines.tts import EspeakTTS
    from tests.support.sip_harness import SCENARIOS, free_port, ulaw_wav

    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    work = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    ulaw_wav(work / "caller.wav", 4.0)
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
    brain = await build_brain(cfg, llm=None)
    service = SipService(cfg, brain, SipEngines(stt=ScriptedSTT(["hello"] * 10000), tts=EspeakTTS()), log_level=int(os.environ.get("PJ_LOG", "1")))
    await service.start()
    if switch_ms:
        sys.setswitchinterval(switch_ms / 1000)  # how long the media thread may wait for the GIL
    cpu0, t0 = _cpu_s(), time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(SCENARIOS / "uac_rtp.xml"), "-m", str(calls), "-l", str(calls), "-r", str(rate),
        "-d", str(int(seconds * 1000)), "-s", "appliance", "-i", "127.0.0.1", "-p", "0", "-mp", "30000",
        "-nostdin", "-timeout", str(int(seconds + 60)), "-trace_stat", "-fd", "1", f"127.0.0.1:{port}",
        cwd=work, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    wall = time.monotonic() - t0
    deadline = time.monotonic() + 10
    while len(service.records) < calls and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    cpu = _cpu_s() - cpu0
    await service.stop()
    await brain.aclose()
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
        "gil_switch_ms": switch_ms or sys.getswitchinterval() * 1000,
        "pjsua_max_calls": PJSUA_MAX_CALLS,  # compiled into the pjsua2 wheel: calls above it get 486
        "cpus": os.cpu_count(),
    }


def _last_int(text: str, pattern: str) -> int | None:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=int, default=10, help="new calls per second")
    ap.add_argument("--switch-ms", type=float, default=0.0, help="sys.setswitchinterval in ms (0: Python default)")
    ap.add_argument("--sweep", default="", help="comma-separated N values, each in its own process")
    args = ap.parse_args()
    if args.sweep:
        results = []
        for n in [int(x) for x in args.sweep.split(",") if x]:
            cmd = [
                sys.executable,
                __file__,
                "--calls",
                str(n),
                "--seconds",
                str(args.seconds),
                "--rate",
                str(args.rate),
            ]
            r = subprocess.run(cmd, capture_output=True, text=True)
            lines = [x for x in r.stdout.splitlines() if x.startswith('{"calls"')]
            results.append(json.loads(lines[-1]) if lines else {"calls": n, "rc": r.returncode,
                                                               "error": (r.stdout + r.stderr)[-600:]})  # fmt: skip
        smooth = [r["calls"] for r in results if r.get("smooth") and r.get("answered") == r.get("calls")]
        print(json.dumps({"results": results, "max_smooth_calls": max(smooth) if smooth else 0}))
        return 0
    import logging

    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(bench(args.calls, args.seconds, args.rate, args.switch_ms))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
