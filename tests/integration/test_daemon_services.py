"""``appliance run`` with SIP (the default ``services.mode = "auto"``, one process or ``sip.workers =
2``, or ``services.mode = "on"``): the daemon starts the shared model services (STT, TTS, and one
llama_cpp.server with several workers or ``on``) before its brain and the SIP channel; neither the
daemon nor a worker maps a model (with one process under ``auto`` the LLM runs in the brain's own
worker process); a SIGKILLed daemon leaves no service or worker behind (PR_SET_PDEATHSIG, stdin, EOF)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.procs import children
from tests.support.run_daemon import Daemon
from tests.support.trained_stt import trained_stt_path

ROOT = Path(__file__).resolve().parents[2]
TINY_LLM = ROOT / "models" / "test" / "llm" / "tiny-chat.gguf"
MODEL_LIBS = ("ctranslate2", "libllama", "libggml", "llama_cpp", "piper", ".gguf", "model.bin")


def _models_in(pid: int) -> list[str]:
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
        paths = {line.split(None, 5)[5].strip() for line in fh if len(line.split(None, 5)) == 6}
    return sorted(p for p in paths if any(m in p for m in MODEL_LIBS))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(("n_workers", "mode"), [(2, "auto"), (1, "on"), (1, "auto")])
def test_the_daemon_loads_each_model_once_in_its_services(tmp_path: Path, n_workers: int, mode: str) -> None:
    """Two SIP workers, the one in-process SIP channel by default, or with ``services.mode = "on"``:
    every way the models live in child processes only, never in the daemon or a SIP worker."""
    shared_llm = n_workers > 1 or mode == "on"
    env = {
        "APPLIANCE__SIP__WORKERS": str(n_workers),
        "APPLIANCE__SERVICES__MODE": mode,
        "APPLIANCE__SIP__MAX_CALLS": "6",
        "APPLIANCE__LLM__MODE": "auto",
        "APPLIANCE__LLM__MODEL": str(TINY_LLM),
        "APPLIANCE__VOICE__STT_MODEL": str(trained_stt_path()),
    }
    daemon = Daemon(tmp_path / "data", sip=True, env=env)
    try:
        kids = children(daemon.proc.pid)
        services = {p: c for p, c in kids.items() if "appliance.engines.service" in c or "llama_cpp.server" in c}
        workers = [p for p, c in kids.items() if "sip-worker" in c]
        llm_workers = [p for p, c in kids.items() if "appliance.engines.llm import _worker_entry" in c]
        assert len(services) == (3 if shared_llm else 2), kids
        assert len(workers) == (0 if n_workers == 1 else n_workers), kids
        assert len(llm_workers) == (0 if shared_llm else 1), kids  # one process: the LLM's own worker
        for pid in llm_workers:
            assert any("llama" in p for p in _models_in(pid)), _models_in(pid)
        for pid, cmd in services.items():  # the TTS service speaks with espeak-ng here: no model file
            assert "tts" in cmd or _models_in(pid), (cmd, "the STT service and the LLM server map their models")
        for pid in [daemon.proc.pid, *workers]:
            assert _models_in(pid) == [], (pid, _models_in(pid))
        answer = daemon.post("services-http-1", "Hello, what are your opening hours?")
        assert answer.get("text") or answer.get("reply") or answer, answer  # the brain answers
        daemon.post("services-http-1", "Quux the wibble, frobnicate it gently")  # nothing for the rules
        if shared_llm:
            llm_log = tmp_path / "data" / "logs" / "llm-server.log"
            deadline = time.monotonic() + 20
            while "POST /v1/chat/completions" not in llm_log.read_text(errors="replace"):
                assert time.monotonic() < deadline, "the daemon's brain never asked the shared LLM server"
                time.sleep(0.2)
            assert "model services: llm pid" in daemon.log()
        else:
            assert "model services: stt pid" in daemon.log() and "llm pid" not in daemon.log()
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(10)
        deadline = time.monotonic() + 20
        left = [p for p in [*services, *workers, *llm_workers] if _alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [p for p in left if _alive(p)]
        assert left == [], {p: kids[p] for p in left}  # nothing outlives a SIGKILLed daemon
    finally:
        daemon.stop()


@pytest.mark.parametrize(
    ("sip", "workers", "mode", "active", "shared_llm"),
    [(True, 1, "auto", True, False), (True, 2, "auto", True, True), (True, 1, "on", True, True),
     (False, 1, "auto", False, False), (False, 1, "on", True, True), (True, 3, "off", False, True)],
)  # fmt: skip
def test_services_are_on_whenever_the_daemon_runs_sip_unless_switched_off(
    sip: bool, workers: int, mode: str, active: bool, shared_llm: bool
) -> None:
    """auto: the speech engines leave the daemon whenever it runs SIP, one process or several; the
    LLM goes to the shared server only with several workers (one process: its own worker process)."""
    from appliance.core.config import load_config

    overrides = {"sip": {"enabled": sip, "workers": workers}, "services": {"mode": mode}}
    cfg = load_config(environ={}, use_system=False, overrides=overrides)
    assert cfg.services.active(cfg.sip.enabled) is active
    assert not active or cfg.services.shared_llm(cfg.sip.workers) is shared_llm
