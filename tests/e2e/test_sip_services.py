"""``sip.workers > 1`` with the shared model services (appliance/ops/model_services.py), against real
pjsua2 callers on loopback speaking espeak-ng sentences: the SIP worker processes load no STT, LLM
or TTS model (their memory maps), the trained test Whisper (models/stt-test) in the STT service
transcribes every worker's calls, one llama_cpp.server serves the LLM, and a SIGKILLed STT
service costs the calls in progress an apology for the turns in flight, not the call. The same with
the default configuration (one SIP process, the daemon itself): the speech engines are services there
too, so the SIGKILL costs an apology, not the daemon."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.sip_cluster_client import Cluster
from tests.support.sip_harness import caller, speech_wav
from tests.support.staff_view import desk_view
from tests.support.stt_corpus import BOOKING_DIALOGUES
from tests.support.trained_stt import trained_stt_path

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(600),  # a daemon start, models and a whole call on a loaded 2-core box
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng"),
]

ROOT = Path(__file__).resolve().parents[2]
TINY_LLM = ROOT / "models" / "test" / "llm" / "tiny-chat.gguf"
MODEL_LIBS = ("ctranslate2", "libllama", "libggml", "llama_cpp", "piper", ".gguf", "model.bin")
MAX_DEAD_AIR_S = 2.0


def _mapped(pid: int) -> set[str]:
    """The files a process has mapped (shared libraries, mmapped models)."""
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
        return {line.split(None, 5)[5].strip() for line in fh if len(line.split(None, 5)) == 6}


def _models_in(pid: int) -> list[str]:
    return sorted(p for p in _mapped(pid) if any(m in p for m in MODEL_LIBS))


def _turn_wavs(tmp_path: Path, n: int) -> list[Path]:
    return [speech_wav(t, tmp_path / f"en{i}.wav") for i, t in enumerate(BOOKING_DIALOGUES["en"][0][:n])]


def _until_its_last_words(wav: Path) -> None:
    """Sleep from the caller's "turn" event (it started playing ``wav``) until 0.15 s before its end.
    Killed then, the STT service is down (1 s before its restart, more to load) when the turn's
    transcription is asked for; killed earlier in the turn, it could be back in time, and nothing
    would show that it had died (which is fine for the caller, but not what these tests test)."""
    time.sleep(max(0.0, (wav.stat().st_size - 44) / 32000 - 0.15))


def _services(tmp_path: Path, workers: int, *extra: str) -> Cluster:
    return Cluster(tmp_path / "data", "--workers", str(workers), "--max-calls", str(3 * workers), "--services",
                   "--stt-model", str(trained_stt_path()), *extra)  # fmt: skip


def test_three_workers_load_no_model_and_every_workers_calls_are_transcribed_and_answered(tmp_path: Path) -> None:
    wavs = _turn_wavs(tmp_path, 2)
    # the words are under test here, not the fail-fast timer (the next test): three calls' first
    # transcriptions on 2 loaded cores can pass the default stt_timeout_s of 1.2 s (test_sip_voice.py)
    app = _services(tmp_path, 3, "--llm-model", str(TINY_LLM), "--stt-timeout", "8")
    records: list[dict[str, Any]] = []
    try:
        assert set(app.ready["services"]) == {"stt", "tts", "llm"}, app.ready
        calls = [caller(app.uri, "--from-user", f"+3725550{i}", "--turns", ",".join(map(str, wavs)),
                        "--hangup-after-turns", "--max-s", "60") for i in range(3)]  # fmt: skip
        for c in calls:
            c.wait_event("turn", 40, n=1)
        app.send("pids")
        pids = app.wait_event("pids", 10)
        for pid in pids["workers"]:  # in the middle of a call, with the pipeline and the brain loaded
            assert _models_in(pid) == [], (pid, _models_in(pid))
        stt_pid, llm_pid = pids["services"]["stt"]["pid"], pids["services"]["llm"]["pid"]
        assert any("ctranslate2" in p for p in _models_in(stt_pid))  # the check sees a loaded model
        assert llm_pid is not None and any("llama" in p for p in _models_in(llm_pid))
        worker_llm = json.loads((tmp_path / "data" / "sip-worker-config.json").read_text())["llm"]
        assert worker_llm["mode"] == "server" and worker_llm["base_url"].startswith("http://127.0.0.1:")  # shared
        for c in calls:
            c.wait_event("done", 90)
        records = [app.wait_event("call_ended", 30, caller_id=f"+3725550{i}") for i in range(3)]
        app.send("service-status stt")
        load = app.wait_event("service_status", 10)
    finally:
        summary = app.stop()
    assert {r["index"] for r in records} == {0, 1, 2}  # one call per worker
    for r in records:
        assert r["mode"] == "voice", r
        heard = [t for t in r["transcript"] if t["user"].strip()]
        assert len(heard) == 2 and all(t["reply"].strip() for t in heard), r["transcript"]  # transcribed, answered
        assert not [e for e in r["errors"] if e.startswith("stt")], r["errors"]
    assert load["requests"] >= 6 and load["failures"] == 0, load
    assert sum(load["batch_sizes"].values()) == load["batches"] > 0, load
    assert summary["restarts"] == [0, 0, 0] and summary["services"]["stt"]["restarts"] == 0, summary


def test_a_sigkilled_stt_service_mid_call_is_restarted_and_the_calls_go_on(tmp_path: Path) -> None:
    wavs = _turn_wavs(tmp_path, 3)
    app = _services(tmp_path, 2)
    records: list[dict[str, Any]] = []
    try:
        calls = [caller(app.uri, "--from-user", f"+3725560{i}", "--turns", ",".join(map(str, wavs)),
                        "--hangup-after-turns", "--max-s", "90") for i in range(2)]  # fmt: skip
        calls[0].wait_event("turn", 40, n=1)  # the caller is speaking its first turn
        _until_its_last_words(wavs[0])  # the turn's transcription is about to start: the kill hits it
        app.send("kill-service stt")
        assert app.wait_event("killed", 10)["pid"]
        for c in calls:
            c.wait_event("done", 120)
        records = [app.wait_event("call_ended", 30, caller_id=f"+3725560{i}") for i in range(2)]
        gaps = [c.all("reply_gap") for c in calls]
        degraded = [e["data"] for e in app.all("app_event") if e["type"] == "degraded"]
    finally:
        summary = app.stop()
    assert summary["services"]["stt"]["restarts"] == 1, summary
    assert summary["restarts"] == [0, 0], summary  # no SIP worker went down
    for r, g in zip(records, gaps, strict=True):
        assert len(g) == len(wavs) and max(x["s"] for x in g) <= MAX_DEAD_AIR_S, g  # never silence
        stt_errors = [e for e in r["errors"] if e.startswith("stt")]
        assert r["mode"] == "voice" and r["outcome"] != "", r
        # degraded for the turns in flight only: the last turn is heard and answered again
        last = r["transcript"][-1] if r["transcript"] else {}
        assert last.get("user", "").strip() and last.get("reply", "").strip(), r["transcript"]
        assert len(stt_errors) <= 2, r["errors"]
    felt = [e for r in records for e in r["errors"] if e.startswith("stt")]
    assert felt, records  # the kill hit a turn: that caller heard the apology (the gaps above), not silence
    assert degraded and {d["component"] for d in degraded} == {"stt"}, degraded  # staff see it


def _service_pid(daemon_pid: int, name: str) -> int | None:
    """The pid of the daemon's ``appliance.engines.service NAME`` child, or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == daemon_pid and f"appliance.engines.service {name} " in cmd:
            return int(entry.name)
    return None


def test_the_default_daemon_survives_a_sigkilled_stt_service_mid_call(tmp_path: Path) -> None:
    """The default configuration (``services.mode = "auto"``, one SIP process: the daemon itself):
    the speech engines run in the supervised services, not in the daemon. SIGKILL of the STT service
    as the caller speaks: the caller hears the apology within 2 s (from the RTP it receives), the
    call goes on, the daemon stays up, the service is restarted and a later turn is transcribed."""
    import os
    import signal
    import sqlite3
    import time

    from tests.support.run_daemon import Daemon

    wavs = _turn_wavs(tmp_path, 4)
    data = tmp_path / "data"
    daemon = Daemon(data, sip=True, env={"APPLIANCE__VOICE__STT_MODEL": str(trained_stt_path())})
    try:
        first = _service_pid(daemon.proc.pid, "stt")
        assert first is not None and _service_pid(daemon.proc.pid, "tts") is not None, daemon.log()[-3000:]
        assert _models_in(daemon.proc.pid) == [], _models_in(daemon.proc.pid)  # no model in the daemon
        call = caller(f"sip:appliance@127.0.0.1:{daemon.sip_port}", "--from-user", "+37255570000",
                      "--turns", ",".join(map(str, wavs)), "--hangup-after-turns", "--max-s", "120")  # fmt: skip
        call.wait_event("turn", 40, n=1)  # the caller is speaking its first turn
        _until_its_last_words(wavs[0])  # the turn's transcription is about to start: the kill hits it
        os.kill(first, signal.SIGKILL)
        call.wait_event("done", 150)
        gaps = call.all("reply_gap")
        assert daemon.proc.poll() is None, daemon.log()[-3000:]  # the daemon stayed up
        deadline = time.monotonic() + 30
        second = _service_pid(daemon.proc.pid, "stt")
        while second in (None, first) and time.monotonic() < deadline:
            time.sleep(0.2)
            second = _service_pid(daemon.proc.pid, "stt")
        assert second not in (None, first), daemon.log()[-3000:]  # restarted
        assert daemon.post("after-kill", "What are your opening hours?"), "the web chat answers"
        assert 'appliance_model_service_restarts_total{service="stt"} 1.0' in daemon.metrics()  # staff see it
        desk = asyncio.run(desk_view(data / "appliance.sock"))  # and so does the console
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.log()[-3000:]
    log = daemon.log()
    assert "stt service exited" in log, log[-3000:]
    told = [(e["type"], e["data"]["state"]) for e in desk["events"] if e["data"].get("component") == "stt_service"]
    assert told == [("degraded", "down"), ("degraded_off", "up")], desk["events"]  # a notice each, in order
    assert desk["health"]["services"]["stt"] == {"state": "up", "restarts": 1}, desk["health"]
    assert len(gaps) == len(wavs) and max(g["s"] for g in gaps) <= MAX_DEAD_AIR_S, gaps  # never silence
    assert "speech-to-text failed" in log, log[-3000:]  # the kill hit a turn: the apology (the gaps above)
    with sqlite3.connect(f"file:{data / 'appliance.db'}?mode=ro", uri=True) as db:
        q = "SELECT text FROM turns WHERE role = 'user' AND session_id LIKE 'sip-%' ORDER BY seq"
        heard = [text for (text,) in db.execute(q)]
    assert 0 < len(heard) < len(wavs) and heard[-1].strip(), heard  # later turns transcribed after the restart
