#!/usr/bin/env python3
"""SIP load benchmark: sipp places N concurrent calls that each play a u-law WAV for a set
duration against the appliance's SIP channel (real brain, espeak-ng TTS, Silero VAD, scripted
STT); prints JSON: answered/failed calls, CPU per call, and the timing of the appliance's
outgoing audio frames (p99 interval; smooth means under 30 ms).

    python scripts/bench_sip.py --calls 20 --seconds 20
    python scripts/bench_sip.py --sweep 1,2,4,5,8,20 --seconds 20   # one process per N
    python scripts/bench_sip.py --sweep 4,8,12,16,20 --workers 0 --seconds 20  # ceil(N/4) SIP workers
    python scripts/bench_sip.py --calls 12 --workers 3 --services --stt-model models/stt-test  # shared models

``--services``: the shared model services as the daemon runs them (appliance/ops/model_services.py):
real STT (``--stt-model``) in one batching process, TTS in another; CPU and memory include them, and
the STT service's load report (queueing delay, batch sizes) is in the JSON as ``stt_service``.

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


async def bench(
    calls: int, seconds: float, rate: int, switch_ms: float = 0.0, workers: int = 1, stt_model: str = ""
) -> dict:
    from appliance.brain.factory import build_brain
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
    cpu_w0 = sum(_proc_cpu_rss(p)[0] for p in pids)
    rss0 = sum(_proc_cpu_rss(p)[1] for p in [os.getpid(), *pids])
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
    cpu = _cpu_s() - cpu0 + sum(_proc_cpu_rss(p)[0] for p in pids) - cpu_w0
    rss = sum(_proc_cpu_rss(p)[1] for p in [os.getpid(), *pids])
    stt_load: dict[str, Any] | None = None
    if models is not None:
        from dataclasses import asdict

        from appliance.engines.service.client import ServiceConnection

        load = asdict(ServiceConnection(cfg.services_path / "stt.sock", name="stt").status())
        keys = ("requests", "failures", "batches", "batch_sizes", "queue_ms_p50", "queue_ms_p95", "queue_ms_max",
                "work_ms_p50", "work_ms_p95")  # fmt: skip
        stt_load = {k: load[k] for k in keys}
    await service.stop()
    if models is not None:
        await models.stop()
    if brain is not None:
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
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="SIP worker processes behind the proxy; 0: ceil(N/4) per N (sip.over_capacity = busy)",
    )
    ap.add_argument("--services", action="store_true", help="shared STT/TTS services (real STT: --stt-model)")
    ap.add_argument("--stt-model", default=str(ROOT / "models" / "stt-test"))
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
                "--workers",
                str(args.workers or max(1, math.ceil(n / PJSUA_MAX_CALLS))),
                *(["--services", "--stt-model", args.stt_model] if args.services else []),
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
    workers = args.workers or max(1, math.ceil(args.calls / PJSUA_MAX_CALLS))
    stt_model = args.stt_model if args.services else ""
    print(json.dumps(asyncio.run(bench(args.calls, args.seconds, args.rate, args.switch_ms, workers, stt_model))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
