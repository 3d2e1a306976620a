"""Soak: many calls hung up in the same instant, repeatedly; no worker dies, nothing is lost,
memory returns to its idle level.

Seen under load before (docs/RELIABILITY.md): at hang-up pjmedia's clock thread called
``MediaPort.onFrameReceived`` on a port whose Python state was already gone and the worker died
with SIGSEGV, dropping the other calls it held. Here sipp places ``CALLS`` calls at once over two
SIP workers (the proxy + worker processes, as in production with ``sip.workers > 1``), each
looping real speech RTP until it hangs up after the same ``-d``, for ``ROUNDS`` rounds. Bounded in
time for a small (2-core) machine: about a minute and a half.

Memory: the RSS of every appliance process (the harness with the SIP proxy, and the workers) is
read from /proc when no call is up: before the first round (cold), and a few seconds after each
round's calls ended. The first round pays for one-time work in each worker (the voice pipeline's
first use, thread pools, the Silero session): it may add up to ``FIRST_ROUND_MB`` per worker
(measured 14 MB; 54 MB before the shared Silero session and the malloc arena limit, which this
limit would have failed). After that, a round of calls must leave nothing behind: each later
round may add at most ``PER_CALL_MB`` per call (glibc's heap moves RSS by a little either way:
measured 0.2-0.4 MB per call), so a leak of a few MB per call fails (docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.sip_cluster_client import Cluster
from tests.support.sip_harness import SCENARIOS, SIPP

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]  # long calls on a loaded box

CALLS = int(os.environ.get("SOAK_CALLS", "6"))
ROUNDS = int(os.environ.get("SOAK_ROUNDS", "3"))
HOLD_MS = int(os.environ.get("SOAK_HOLD_MS", "12000"))
WORKERS = 2
FIRST_ROUND_MB = 50.0  # one-time work per worker in the first round (measured 14 MB: docstring)
PER_CALL_MB = 2.0  # what a later round may add per call (noise); a leak is more
SETTLE_S = 3.0  # after the calls ended, before RSS is read (the workers' calls are torn down)


def _rss_mb(pids: list[int]) -> float:
    """Resident memory of the processes, MB (VmRSS from /proc)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _speech_loop(path: Path) -> Path:
    """A u-law 8 kHz WAV: one espeak-ng sentence and 1.5 s of silence (a turn per loop)."""
    import numpy as np
    import soundfile as sf
    import soxr

    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), "I would like to book a room for my dog."], check=True)
    data, rate = sf.read(str(raw), dtype="float32")
    data = soxr.resample(data, rate, 8000)
    sf.write(str(path), np.concatenate([data, np.zeros(12000, dtype=np.float32)]), 8000, subtype="ULAW")
    return path


def _turns(db: Path, session_id: str, role: str) -> list[str]:
    c = sqlite3.connect(db)
    try:
        q = "SELECT text FROM turns WHERE session_id = ? AND role = ? ORDER BY seq"
        return [r[0] for r in c.execute(q, (session_id, role)).fetchall()]
    finally:
        c.close()


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
def test_simultaneous_hang_ups_never_take_a_worker_down(tmp_path: Path) -> None:
    _speech_loop(tmp_path / "caller.wav")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["hello"] * 1000))
    app = Cluster(tmp_path / "data", "--workers", str(WORKERS), "--max-calls", str(CALLS), "--script", str(script))
    rss: list[float] = []  # total RSS with no call up: cold, then after each round
    try:
        time.sleep(SETTLE_S)
        pids = app.stats()["pids"]
        assert len(pids) == 1 + WORKERS, pids
        rss.append(_rss_mb(pids))
        for round_ in range(ROUNDS):
            sipp = subprocess.run(
                [SIPP, "-sf", str(SCENARIOS / "uac_rtp_loop.xml"), "-m", str(CALLS), "-l", str(CALLS),
                 "-r", "100", "-d", str(HOLD_MS), "-s", "appliance", "-i", "127.0.0.1", "-p", "0",
                 "-mp", str(26000 + 100 * round_), "-nostdin", "-trace_err", "-timeout", "60",
                 "-timeout_error", f"127.0.0.1:{app.port}"],
                cwd=tmp_path, capture_output=True, text=True, timeout=90,
            )  # fmt: skip
            assert sipp.returncode == 0, sipp.stdout[-3000:] + sipp.stderr[-2000:]
            want = CALLS * (round_ + 1)
            app.wait_stats(lambda s, want=want: s["active_lines"] == 0 and s["records"] >= want, 30)
            time.sleep(SETTLE_S)
            assert app.stats()["pids"] == pids  # the same processes (no worker was restarted)
            rss.append(_rss_mb(pids))
    finally:
        summary = app.stop()
    records = app.all("call_ended")
    assert summary["restarts"] == [0, 0], summary  # no worker exited (restarts per worker)
    # no media callback ever ran on a port whose Python state was gone
    broken = [line for line in app.log if "Exception ignored" in line or "onFrame" in line or "Traceback" in line]
    assert not broken, "\n".join(app.tail(80).splitlines())
    assert len(records) == CALLS * ROUNDS
    db = tmp_path / "data" / "appliance.db"
    heard = 0
    for r in records:
        assert r["outcome"] == "caller_hung_up", r
        said = [t["user"] for t in r["transcript"] if t["user"]]
        assert _turns(db, r["session_id"], "user") == said, r  # every transcribed turn was stored
        assert len(_turns(db, r["session_id"], "assistant")) == 1 + len(said), r  # the greeting + each reply
        heard += len(said)
    assert heard >= CALLS * ROUNDS  # the callers' speech made turns
    # memory returns to its idle level: the first round's one-time work, then no growth per call
    cold, warm, last = rss[0], rss[1], rss[-1]
    print(json.dumps({"soak_rss_mb": [round(x, 1) for x in rss], "calls": CALLS, "workers": WORKERS}))
    assert warm - cold <= FIRST_ROUND_MB * WORKERS, rss
    assert last - warm <= PER_CALL_MB * CALLS * max(1, ROUNDS - 1), rss
