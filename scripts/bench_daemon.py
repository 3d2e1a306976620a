#!/usr/bin/env python3
"""The daemon as installed (``appliance run`` with SIP, one process): its start time, its memory and
that of its model processes, and what a SIP caller waits after each phrase, per ``services.mode``.

For each mode (``--modes off,auto,on``) and each of ``--runs`` fresh data folders: start ``python -m
appliance run`` with SIP on free ports (the trained test Whisper ``--stt-model``, the tiny test LLM
``--llm-model`` unless empty) and time it to its ``READY`` line; read the RSS of the daemon and of
each child (STT/TTS services, the llama_cpp.server, the LLM's worker process) from ``/proc`` once
ready and idle; then one pjsua2 caller (tests/support/sip_caller.py) says ``--turns`` espeak-ng
phrases of a booking dialogue, each once the reply has been heard and gone quiet. Per turn:
``reply_gap_s``, the caller's end of phrase to the first audible reply frame it received (RTP, dead
air as the caller hears it), and from the turn timelines the daemon stored, ``eos_to_first_audio_ms``
(the end-of-speech mark to the first reply audio, wall clock: STT + brain + TTS) and ``stt_ms``.
Prints one JSON line per run and a summary line per mode (medians over runs).

    python scripts/bench_daemon.py --modes off,auto,on --runs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.procs import children  # noqa: E402


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _name(cmd: str) -> str:
    if "appliance.engines.service stt" in cmd:
        return "stt_service"
    if "appliance.engines.service tts" in cmd:
        return "tts_service"
    if "llama_cpp.server" in cmd:
        return "llm_server"
    if "_worker_entry" in cmd:
        return "llm_worker"
    return cmd.split()[-1][:40]


def one_run(mode: str, stt_model: str, llm_model: str, turns: int, work: Path) -> dict[str, Any]:
    from tests.support.run_daemon import Daemon
    from tests.support.sip_harness import caller, speech_wav
    from tests.support.stt_corpus import BOOKING_DIALOGUES

    wavs = [speech_wav(t, work / f"turn{i}.wav") for i, t in enumerate(BOOKING_DIALOGUES["en"][0][:turns])]
    env = {"APPLIANCE__SERVICES__MODE": mode, "APPLIANCE__VOICE__STT_MODEL": stt_model}
    if llm_model:
        env |= {"APPLIANCE__LLM__MODE": "auto", "APPLIANCE__LLM__MODEL": llm_model}
    t0 = time.monotonic()
    daemon = Daemon(work / "data", sip=True, env=env)  # returns at the READY line
    start_s = round(time.monotonic() - t0, 2)
    try:
        time.sleep(2.0)  # idle
        rss = {"daemon": _rss_mb(daemon.proc.pid)}
        for pid, cmd in children(daemon.proc.pid).items():
            rss[_name(cmd)] = _rss_mb(pid)
        call = caller(f"sip:appliance@127.0.0.1:{daemon.sip_port}", "--turns", ",".join(map(str, wavs)),
                      "--hangup-after-turns", "--max-s", "120")  # fmt: skip
        call.wait_event("done", 150)
        gaps = [g["s"] for g in call.all("reply_gap")]
    finally:
        try:
            rc = daemon.stop()
        except subprocess.TimeoutExpired:
            rc = -999  # did not stop within 40 s (then killed)
    with sqlite3.connect(f"file:{work / 'data' / 'appliance.db'}?mode=ro", uri=True) as db:
        q = "SELECT timeline FROM turns WHERE role = 'assistant' AND session_id LIKE 'sip-%' ORDER BY seq"
        lines = [json.loads(t or "{}") for (t,) in db.execute(q)]
    caller_turns = [t for t in lines if "speech_end" in t]
    return {
        "mode": mode,
        "exit": rc,
        "start_s": start_s,
        "rss_mb": rss,
        "rss_total_mb": round(sum(rss.values()), 1),
        "reply_gap_s": gaps,
        "eos_to_first_audio_ms": [t.get("response_wall_ms") for t in caller_turns],
        "stt_ms": [t.get("stt_wall_ms") for t in caller_turns],
    }


def _median(xs: list[Any]) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 3) if xs else None


def main() -> int:
    from tests.support.trained_stt import trained_stt_path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="off,auto,on")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--stt-model", default="")
    ap.add_argument("--llm-model", default=str(ROOT / "models" / "test" / "llm" / "tiny-chat.gguf"))
    args = ap.parse_args()
    stt_model = args.stt_model or str(trained_stt_path())
    for mode in args.modes.split(","):
        runs = []
        for i in range(args.runs):
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-daemon-{mode}-"))
            r = one_run(mode, stt_model, args.llm_model, args.turns, tmp)
            if r["exit"] == 0:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                r["kept"] = str(tmp)  # the daemon's log: data-daemon.log
            r["run"] = i
            print(json.dumps(r), flush=True)
            runs.append(r)
        print(json.dumps({
            "summary": mode,
            "runs": len(runs),
            "start_s_median": _median([r["start_s"] for r in runs]),
            "rss_total_mb_median": _median([r["rss_total_mb"] for r in runs]),
            "rss_mb_last": runs[-1]["rss_mb"],
            "reply_gap_s_median": _median([g for r in runs for g in r["reply_gap_s"]]),
            "reply_gap_s_max": max((g for r in runs for g in r["reply_gap_s"]), default=None),
            "eos_to_first_audio_ms_median": _median([x for r in runs for x in r["eos_to_first_audio_ms"]]),
            "stt_ms_median": _median([x for r in runs for x in r["stt_ms"]]),
        }), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
