"""The SIP channel against real peers on loopback: a pjsua2 caller process, sipp, raw UDP.

The appliance runs in its own process (``tests/support/sip_appliance.py``: real brain, real
SQLite, espeak-ng TTS, Silero VAD, the scripted STT seam), because pjsua2 allows one Endpoint
per process. Ports are random free high ports on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.support.sip_harness import SCENARIOS, SIPP, Appliance, caller, free_port, speech_wav, ulaw_wav

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BOOKING = [
    "I need a room for my dog Rex from the 10th to the 15th",
    "Mari Tamm",
    "yes",
    "yes",
    "thank you, goodbye",
]


def test_booking_call_from_a_pjsua2_caller(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(BOOKING))
    turns = [speech_wav(t, tmp_path / f"turn{i}.wav") for i, t in enumerate(BOOKING)]
    app = Appliance(tmp_path, "--script", str(script))
    try:
        call = caller(
            app.uri, "--from-user", "+37251234567", "--turns", ",".join(map(str, turns)),
            "--record", str(tmp_path / "heard.wav"), "--max-s", "120",
        )  # fmt: skip
        done = call.wait_event("done", 150)
        # the greeting and replies arrived as non-silent RTP
        assert done["voiced_s"] > 5, done
        assert len(call.all("turn")) == len(BOOKING)
        states = [e["state"] for e in call.all("state")]
        assert "EARLY" in states and "CONFIRMED" in states  # 180 then 200
        record = app.wait_event("call_ended", 30)
    finally:
        summary = app.stop()
    assert record["outcome"] == "completed", record  # the appliance ended the call after goodbye
    assert [t["user"] for t in record["transcript"]] == BOOKING  # every utterance became a turn
    assert record["caller_id"] == "+37251234567"
    bookings = summary["bookings"]
    assert len(bookings) == 1 and bookings[0][1:] == ["Rex", "Mari Tamm", "+37251234567", "confirmed"]
    base = Path(record["recording"])
    for leg in ("caller", "appliance"):
        with wave.open(str(base.with_suffix(f".{leg}.wav"))) as w:
            assert w.getframerate() == 16000 and w.getnframes() > 16000 * 10
    meta = json.loads(base.with_suffix(".json").read_text())
    assert meta["caller_id"] == "+37251234567" and meta["outcome"] == "completed"


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
def test_sipp_uac_with_rtp_stream_gets_200_and_audio(tmp_path: Path) -> None:
    ulaw_wav(tmp_path / "caller.wav", 3.0)  # sipp plays ./caller.wav
    app = Appliance(tmp_path, "--script", str(_script(tmp_path, ["hello"])), "--record", "0")
    try:
        r = subprocess.run(
            [SIPP, "-sf", str(SCENARIOS / "uac_rtp.xml"), "-m", "1", "-l", "1", "-d", "6000", "-s", "appliance",
             "-i", "127.0.0.1", "-p", "0", "-mp", "26000", "-nostdin", "-trace_err",
             "-timeout", "30", "-timeout_error", f"127.0.0.1:{app.port}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        record = app.wait_event("call_ended", 30)
    finally:
        app.stop()
    assert record["audio"]["rx_frames"] > 100  # the caller's RTP reached the appliance
    assert record["audio"]["tx_audio_frames"] > 50  # and the greeting went back out
    assert record["caller_id"].startswith("+3725550")


def test_rejects_non_allowed_source_and_survives_malformed_invite(tmp_path: Path) -> None:
    app = Appliance(tmp_path, "--allowed", "10.0.0.0/8", "--record", "0")
    try:
        call = caller(app.uri, "--max-s", "5")
        ev = call.wait_event("state", 10, state="DISCONNECTED")
        assert ev["code"] == 403
        # garbage and a broken INVITE do not take the endpoint down
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x00\xffgarbage\r\n\r\n", ("127.0.0.1", app.port))
            s.sendto(
                b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n"
                b"From: <sip:broken\r\nCSeq: banana INVITE\r\nContent-Length: 99999\r\n\r\nv=0",
                ("127.0.0.1", app.port),
            )
        with socket.create_connection(("127.0.0.1", app.port), timeout=5) as t:
            t.sendall(b"INVITE \r\n\r\n\x00\x01\x02 not sip at all\r\n\r\n")
        call2 = caller(app.uri, "--max-s", "5")
        ev2 = call2.wait_event("state", 10, state="DISCONNECTED")
        assert ev2["code"] == 403  # still answering, still rejecting
        app.send("stats")
        stats = app.wait_event("stats", 10)
        assert stats["rejected_source"] == 2 and stats["accepted"] == 0
    finally:
        app.stop()
    assert app.proc.returncode == 0


def test_dtmf_zero_transfers_to_staff_with_refer(tmp_path: Path) -> None:
    app = Appliance(tmp_path, "--script", str(_script(tmp_path, [])), "--record", "0")
    try:
        call = caller(app.uri, "--dtmf", "0@2", "--max-s", "20")
        refer = call.wait_event("refer", 20)
        assert refer["to"].startswith("sip:100@127.0.0.1")  # tenant.transfer_extension at the calling PBX
        call.wait_event("incoming", 10)  # the REFER was followed: the "staff" leg rang
        call.wait_event("done", 30)
        record = app.wait_event("call_ended", 30)
    finally:
        app.stop()
    assert record["transfer"]["ok"] is True and record["outcome"] == "transferred", record
    assert record["dtmf"] == ["0"]


def test_failed_transfer_takes_a_callback(tmp_path: Path) -> None:
    app = Appliance(tmp_path, "--script", str(_script(tmp_path, [])), "--record", "0")
    try:
        call = caller(app.uri, "--dtmf", "0@2", "--dtmf-method", "info", "--refer", "decline", "--max-s", "25")
        call.wait_event("refer", 20)
        call.wait_event("done", 40)
        record = app.wait_event("call_ended", 30)
    finally:
        summary = app.stop()
    assert record["transfer"]["ok"] is False and record["outcome"] == "transfer_failed_callback", record
    assert [t[1:3] for t in summary["tickets"]] == [["+3725551234", "transfer_failed"]]


def test_stt_unavailable_gives_dtmf_menu_and_callback_ticket(tmp_path: Path) -> None:
    app = Appliance(tmp_path, "--stt-broken", "--record", "1")
    assert app.ready["speech_ok"] is False
    try:
        call = caller(app.uri, "--from-user", "+37255512345", "--dtmf", "1@4", "--record",
                      str(tmp_path / "heard.wav"), "--max-s", "30")  # fmt: skip
        done = call.wait_event("done", 40)
        record = app.wait_event("call_ended", 30)
    finally:
        summary = app.stop()
    assert done["voiced_s"] > 2  # the menu prompt and the thanks were heard
    assert record["mode"] == "menu" and record["outcome"] == "menu_callback", record
    assert record["dtmf"] == ["1"]
    assert [t[1:4] for t in summary["tickets"]] == [
        ["+37255512345", "callback_requested_keypad", "voice"]
    ]  # the brain took it


def test_ai_paused_by_staff_gives_new_calls_the_keypad_menu(tmp_path: Path) -> None:
    """The console's pause key: speech works, yet a new call goes to the keypad menu (1: callback)."""
    app = Appliance(tmp_path, "--script", str(_script(tmp_path, ["I need a room"])), "--ai-paused", "--record", "0")
    assert app.ready["speech_ok"] is True
    try:
        call = caller(app.uri, "--from-user", "+37255512346", "--dtmf", "1@4", "--record",
                      str(tmp_path / "heard.wav"), "--max-s", "30")  # fmt: skip
        done = call.wait_event("done", 40)
        record = app.wait_event("call_ended", 30)
    finally:
        summary = app.stop()
    assert done["voiced_s"] > 2  # the menu prompt and the thanks were heard
    assert record["mode"] == "menu" and record["outcome"] == "menu_callback", record
    assert [t[1:3] for t in summary["tickets"]] == [["+37255512346", "callback_requested_keypad"]]


@pytest.mark.parametrize("mode", ["busy", "callback"])
def test_call_above_max_calls_takes_the_busy_path(tmp_path: Path, mode: str) -> None:
    app = Appliance(tmp_path, "--script", str(_script(tmp_path, [])), "--max-calls", "1", "--over-capacity", mode,
                    "--record", "0")  # fmt: skip
    try:
        # the first call holds its line long enough for the second caller to start and call, on a slow box
        first = caller(app.uri, "--from-user", "+3721111111", "--hangup-after-s", "20", "--max-s", "30",
                       "--record", str(tmp_path / "first.wav"))  # fmt: skip
        first.wait_event("state", 10, state="CONFIRMED")
        second = caller(app.uri, "--from-user", "+3722222222", "--max-s", "15")
        if mode == "busy":
            ev = second.wait_event("state", 10, state="DISCONNECTED")
            assert ev["code"] == 486
        else:
            second.wait_event("state", 10, state="CONFIRMED")
            second.wait_event("done", 20)
        done = first.wait_event("done", 40)
        records = [app.wait_event("call_ended", 20)]
        if mode == "callback":
            records.append(app.wait_event("call_ended", 20, caller_id="+3721111111"))
    finally:
        summary = app.stop()
    # the first call was unaffected: greeted, up until it hung up itself
    assert done["voiced_s"] > 2
    assert [e["state"] for e in first.all("state")].count("DISCONNECTED") == 1
    assert any(e["event"] == "hangup" for e in first.events)
    if mode == "callback":
        assert [t[1:3] for t in summary["tickets"]] == [["+3722222222", "all_lines_busy"]]
        assert any(r["outcome"] == "busy_callback" for r in records)
    else:
        assert summary["tickets"] == []


def _script(tmp_path: Path, texts: list[str]) -> Path:
    p = tmp_path / "script.json"
    p.write_text(json.dumps(texts))
    return p


def test_inbound_digest_auth_rejects_bad_credentials(tmp_path: Path) -> None:
    """With sip.inbound_auth set, an INVITE needs digest credentials: none -> 401 with a challenge (the
    caller has nothing to answer it with), a wrong password -> 403, the right one -> answered."""
    app = Appliance(tmp_path, "--script", str(_script(tmp_path, [])), "--record", "0", "--inbound-auth", "pbx:s3cret")
    try:
        none = caller(app.uri, "--max-s", "8")
        assert none.wait_event("state", 10, state="DISCONNECTED")["code"] == 401
        wrong = caller(app.uri, "--auth", "pbx:wrong", "--max-s", "8")
        assert wrong.wait_event("state", 10, state="DISCONNECTED")["code"] == 403
        right = caller(app.uri, "--auth", "pbx:s3cret", "--from-user", "+3723333333", "--hangup-after-s", "3",
                       "--record", str(tmp_path / "heard.wav"), "--max-s", "15")  # fmt: skip
        right.wait_event("state", 10, state="CONFIRMED")
        done = right.wait_event("done", 20)
        record = app.wait_event("call_ended", 20)
        app.send("stats")
        stats = app.wait_event("stats", 10)
    finally:
        app.stop()
    assert done["voiced_s"] > 0.5  # the greeting played on the authenticated call
    assert record["caller_id"] == "+3723333333"
    assert stats["accepted"] == 1 and stats["rejected_auth"] == 1 and stats["challenged"] >= 2, stats


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
def test_registers_with_digest_auth_and_retries_while_the_registrar_is_away(tmp_path: Path) -> None:
    """An account registers to a registrar (sipp uas) that challenges with 401 and checks the digest;
    while nothing listens there the appliance retries with backoff (5 s, then 10 s, ...)."""
    reg_port = free_port()
    registrar = f"sip:127.0.0.1:{reg_port};transport=tcp"
    app = Appliance(tmp_path, "--record", "0", "--account", f"pbx,{registrar},205,secret")
    try:
        state = _registration(app, lambda s: s.get("next_retry_s"))  # the registrar is away: a retry is planned
        assert state["registered"] is False and state["next_retry_s"] >= 5, state
        r = subprocess.run(
            [SIPP, "-sf", str(SCENARIOS / "uas_registrar_auth.xml"), "-t", "t1", "-i", "127.0.0.1", "-p",
             str(reg_port), "-m", "1", "-nostdin", "-timeout", "40", "-trace_err"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        state = _registration(app, lambda s: s.get("registered"))
    finally:
        app.stop()
    assert state["code"] == 200, state  # 403 would mean the digest did not verify


def _registration(app: Appliance, done: Any, timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        app.send("stats")
        stats = app.wait_event("stats", 10)
        app.events.remove(stats)
        state = stats["registrations"].get("pbx", {})
        if done(state):
            return state
        time.sleep(0.5)
    raise AssertionError(f"registration state never matched: {state}")
