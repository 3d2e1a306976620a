"""More than 4 concurrent calls: the SIP proxy plus worker processes (``sip.workers > 1``), against
real peers on loopback (sipp, pjsua2 callers in their own processes, raw UDP).

The cluster runs in its own process (``tests/support/sip_cluster.py``): a SipProxy on a random port
and N ``appliance sip-worker`` processes (real brain on one SQLite file, espeak-ng, Silero VAD,
scripted STT), each holding at most 4 calls (the pjsua2 wheel's compiled-in limit).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.sip_cluster_client import Cluster
from tests.support.sip_harness import SCENARIOS, SIPP, caller, ulaw_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
def test_nine_sipp_calls_over_three_workers_and_the_tenth_is_busy(tmp_path: Path) -> None:
    ulaw_wav(tmp_path / "caller.wav", 3.0)
    app = Cluster(tmp_path / "data", "--workers", "3", "--max-calls", "9", "--over-capacity", "busy")
    try:
        sipp = subprocess.Popen(
            [SIPP, "-sf", str(SCENARIOS / "uac_rtp.xml"), "-m", "9", "-l", "9", "-r", "10", "-d", "9000",
             "-s", "appliance", "-i", "127.0.0.1", "-p", "0", "-mp", "26000", "-nostdin", "-trace_err",
             "-timeout", "60", "-timeout_error", f"127.0.0.1:{app.port}"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        peak = app.wait_stats(lambda s: s["active_lines"] == 9, 30)
        assert peak["per_worker"] == [3, 3, 3], peak  # spread evenly
        tenth = caller(app.uri, "--from-user", "+3720000010", "--max-s", "8")
        assert tenth.wait_event("state", 10, state="DISCONNECTED")["code"] == 486
        out, _ = sipp.communicate(timeout=90)
        assert sipp.returncode == 0, out[-3000:]
        records = [app.wait_event("call_ended", 30, caller_id=f"+3725550{n}") for n in range(1, 10)]
        # every BYE (sipp's) went through the proxy and freed the line
        after = app.wait_stats(lambda s: s["active_lines"] == 0, 20)
    finally:
        app.stop()
    for r in records:
        assert r["audio"]["rx_frames"] > 100, r  # the caller's RTP reached the worker directly
        assert r["audio"]["tx_audio_frames"] > 50, r  # and the greeting came back
        assert r["source"].startswith("127.0.0.1:") and r["source"] != f"127.0.0.1:{app.port}"  # the real caller
    assert {r["index"] for r in records} == {0, 1, 2}
    assert after["busy"] == 1 and after["calls"] == 9, after


def test_over_capacity_callback_goes_to_a_worker_overflow_slot(tmp_path: Path) -> None:
    app = Cluster(tmp_path / "data", "--workers", "2", "--max-calls", "2", "--over-capacity", "callback")
    try:
        first = [caller(app.uri, "--from-user", f"+372111111{i}", "--hangup-after-s", "10", "--max-s", "20",
                        "--record", str(tmp_path / f"first{i}.wav")) for i in range(2)]  # fmt: skip
        for c in first:
            c.wait_event("state", 15, state="CONFIRMED")
        st = app.wait_stats(lambda s: s["active_lines"] == 2)
        assert st["per_worker"] == [1, 1], st
        third = caller(app.uri, "--from-user", "+3722222222", "--max-s", "15")
        third.wait_event("state", 10, state="CONFIRMED")
        third.wait_event("done", 20)
        busy = app.wait_event("call_ended", 30, caller_id="+3722222222")
        for c in first:
            assert c.wait_event("done", 30)["voiced_s"] > 1  # unaffected: greeted until they hung up
    finally:
        summary = app.stop()
    assert busy["outcome"] == "busy_callback", busy
    assert [t[1:3] for t in summary["tickets"]] == [["+3722222222", "all_lines_busy"]]


def test_dtmf_zero_refer_and_bye_from_the_worker_pass_the_proxy(tmp_path: Path) -> None:
    app = Cluster(tmp_path / "data", "--workers", "2", "--max-calls", "6")
    try:
        call = caller(app.uri, "--dtmf", "0@2", "--max-s", "20")
        refer = call.wait_event("refer", 20)
        assert refer["to"].startswith("sip:100@127.0.0.1")  # staff at the caller's real address
        call.wait_event("incoming", 10)  # the REFER was followed: the "staff" leg rang
        call.wait_event("done", 30)
        record = app.wait_event("call_ended", 30)
        after = app.wait_stats(lambda s: s["active_lines"] == 0, 20)  # the worker's BYE freed the line
    finally:
        app.stop()
    assert record["transfer"]["ok"] is True and record["outcome"] == "transferred", record
    assert [e["state"] for e in call.all("state")].count("DISCONNECTED") == 1
    assert after["calls"] == 1


def test_proxy_rejects_non_allowed_sources_and_survives_garbage(tmp_path: Path) -> None:
    app = Cluster(tmp_path / "data", "--workers", "2", "--max-calls", "6", "--allowed", "10.0.0.0/8")
    try:
        call = caller(app.uri, "--max-s", "5")
        assert call.wait_event("state", 10, state="DISCONNECTED")["code"] == 403
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            for junk in (
                b"\x00\xffgarbage\r\n\r\n",
                b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n"
                b"From: <sip:broken\r\nCSeq: banana INVITE\r\nContent-Length: 99999\r\n\r\nv=0",
                b"SIP/2.0 200 OK\r\nVia: nonsense\r\nCall-ID: x\r\nCSeq: 1 BYE\r\nFrom: a\r\nTo: b\r\n\r\n",
                bytes(range(256)) * 8,
            ):
                s.sendto(junk, ("127.0.0.1", app.port))
        call2 = caller(app.uri, "--max-s", "5")
        assert call2.wait_event("state", 10, state="DISCONNECTED")["code"] == 403  # still answering
        st = app.stats()
    finally:
        summary = app.stop()
    assert st["rejected_source"] == 2 and st["calls"] == 0, st
    assert st["parse_errors"] >= 2, st
    assert summary["restarts"] == [0, 0]
    assert app.proc.returncode == 0


def test_a_crashed_worker_is_restarted(tmp_path: Path) -> None:
    app = Cluster(tmp_path / "data", "--workers", "2", "--max-calls", "6")
    try:
        app.send("kill 1")
        app.wait_stats(lambda s: s["restarts"] == [0, 1] and s["up"] == [True, True], 60)
        calls = [caller(app.uri, "--from-user", f"+37233333{i}", "--hangup-after-s", "3", "--max-s", "12")
                 for i in range(2)]  # fmt: skip
        for c in calls:
            c.wait_event("state", 60, state="CONFIRMED")
            c.wait_event("done", 30)
        records = [app.wait_event("call_ended", 60, caller_id=f"+37233333{i}") for i in range(2)]
    finally:
        app.stop()
    assert {r["index"] for r in records} == {0, 1}  # the restarted worker takes calls again
