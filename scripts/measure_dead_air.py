#!/usr/bin/env python3
"""Dead air under single failures: real SIP calls (a pjsua2 caller on loopback, the appliance in
its own process with the real brain, espeak-ng, Silero VAD, scripted STT) with one fault injected
per run (tests/support/faults.py); prints JSON per fault: the gaps between the end of each caller
turn and the first audible RTP the caller received (max, p95 over all turns of N runs), what the
caller heard, and what staff saw (DEGRADED events, callback tickets, REFER).

    python scripts/measure_dead_air.py --runs 3            # every fault
    python scripts/measure_dead_air.py --runs 5 --fault stt_crash

Used for the table in docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.http_backend_server import serve_in_thread  # noqa: E402
from tests.support.sip_harness import Appliance, caller, speech_wav  # noqa: E402

TURNS = ["I need a room for my dog Rex from the 10th to the 15th", "Mari Tamm", "yes"]

FAULTS: dict[str, dict[str, Any]] = {
    "none": {"args": [], "digit": ""},
    "stt_crash": {"args": ["--stt-fail-at", "1"], "digit": "1"},
    "stt_hang": {"args": ["--stt-hang-at", "1"], "digit": "1"},
    "tts_raises": {"args": ["--tts-fail-from", "3"], "digit": "1"},
    "tts_hangs": {"args": ["--tts-hang-from", "3"], "digit": "1"},
    "brain_hangs": {"args": ["--brain-hang-at", "1", "--brain-timeout", "4"], "digit": "1"},
    "backend_500": {"args": [], "digit": "", "backend": {"fail_500": 1000}},
    "backend_timeout": {"args": [], "digit": "", "backend": {"delay_s": 20.0}},
}


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)] if s else float("nan")


def one_run(work: Path, fault: str) -> dict[str, Any]:
    spec = FAULTS[fault]
    script = work / "script.json"
    script.write_text(json.dumps(TURNS))
    wavs = [speech_wav(t, work / f"turn{i}.wav") for i, t in enumerate(TURNS)]
    args = [*spec["args"]]
    backend = spec.get("backend")
    ctx = serve_in_thread() if backend else None
    srv = ctx.__enter__() if ctx else None
    try:
        if srv is not None:
            for name in ("availability", "quote"):
                for k, v in backend.items():
                    setattr(srv.knob(name), k, v)
            args += ["--backend", srv.base_url, "--tool-timeout", "1.5"]
        app = Appliance(work, "--script", str(script), "--record", "0", *args)
        try:
            extra = ["--dtmf-after-turns", spec["digit"]] if spec["digit"] else ["--hangup-after-turns"]
            call = caller(app.uri, "--from-user", "+37251234567", "--turns", ",".join(map(str, wavs)),
                          *extra, "--max-s", "90")  # fmt: skip
            call.wait_event("done", 100)
            record = app.wait_event("call_ended", 30)
            events = [e for e in app.all("app_event") if e["type"] in ("degraded", "callback_requested", "transfer")]
        finally:
            summary = app.stop()
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return {
        "gaps": [g["s"] for g in call.all("reply_gap")],
        "turns_heard": len(call.all("reply_gap")),
        "turns": len(TURNS),
        "outcome": record["outcome"],
        "degraded": [e["data"].get("component") for e in events if e["type"] == "degraded"],
        "tickets": [t[2] for t in summary["tickets"]],
        "refer": bool(call.all("refer")),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fault", action="append", choices=sorted(FAULTS))
    args = ap.parse_args()
    out: dict[str, Any] = {"runs": args.runs, "faults": {}}
    for fault in args.fault or list(FAULTS):
        runs = []
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix=f"deadair-{fault}-{i}-") as tmp:
                runs.append(one_run(Path(tmp), fault))
                print(json.dumps({"fault": fault, "run": i, **runs[-1]}), file=sys.stderr, flush=True)
        gaps = [g for r in runs for g in r["gaps"]]
        out["faults"][fault] = {
            "dead_air_max_s": round(max(gaps), 3) if gaps else None,
            "dead_air_p95_s": round(p95(gaps), 3) if gaps else None,
            "turns_answered": f"{sum(r['turns_heard'] for r in runs)}/{sum(r['turns'] for r in runs)}",
            "outcomes": sorted({r["outcome"] for r in runs}),
            "degraded_events": sorted({c for r in runs for c in r["degraded"]}),
            "tickets": sorted({t for r in runs for t in r["tickets"]}),
        }
        print(json.dumps({"fault": fault, **out["faults"][fault]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
