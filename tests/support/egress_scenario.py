"""Run inside a network namespace that has only loopback (``unshare -n``): bring ``lo`` up, start
``appliance run`` under ``strace -f`` (every network syscall of every thread, with ``-yy`` socket
endpoints), book a room over the web chat, ask a knowledge-base question, place a SIP call from
a real pjsua2 caller on loopback (DTMF menu, callback), stop the daemon with SIGTERM, and print
one JSON line with what happened. tests/integration/test_egress.py judges the trace.

    unshare -n python tests/support/egress_scenario.py OUTDIR [MODELS_JSON]

MODELS_JSON (``{"chat_llm": path, "embed": path, "whisper": path}``, the tiny test models) puts
the language model in its worker process, the embedding model in the knowledge base and speech
recognition on the SIP line, so their libraries are in the trace too.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import struct
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.run_daemon import Daemon  # noqa: E402
from tests.support.sip_harness import caller, speech_wav  # noqa: E402

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2: one ioctl."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def interfaces() -> list[str]:
    """The interfaces of this network namespace (/proc/net follows the namespace; /sys may not)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    loopback_up()
    trace = out / "strace.txt"
    wrap = ["strace", "-f", "-qq", "-yy", "-s", "64", "-e", "trace=network", "-o", str(trace)]
    result: dict[str, object] = {"interfaces": interfaces(), "trace": str(trace)}
    env = {"APPLIANCE__SIP__RECORD": "false"}
    models = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else {}
    if models:
        env.update(
            APPLIANCE__LLM__MODE="process",
            APPLIANCE__LLM__MODEL=models["chat_llm"],
            APPLIANCE__KNOWLEDGE__EMBEDDING_MODEL=models["embed"],
            APPLIANCE__VOICE__STT_MODEL=models["whisper"],
        )
    d = Daemon(out / "data", sip=True, wrap=wrap, env=env)
    try:
        pid = int(re.search(r"appliance running \(pid (\d+)\)", d.log()).group(1))  # type: ignore[union-attr]
        result["daemon_pid"] = pid
        replies = [
            d.post("egress-web-1", text)
            for text in ("I need a room for my dog Max next weekend", "Mari Tamm", "+372 5123 4567", "yes")
        ]
        result["booking_id"] = replies[-1].get("booking_id")
        kb = d.post("egress-web-2", "Do dogs need to be vaccinated?")
        result["kb_reply"] = kb.get("text")
        with urllib.request.urlopen(f"{d.web}/healthz", timeout=10) as resp:
            result["health"] = json.loads(resp.read())
        speech = speech_wav("Hello, I would like to book a room for my cat", out / "hello.wav")
        call = caller(f"sip:appliance@127.0.0.1:{d.sip_port}", "--turns", str(speech), "--dtmf", "1@2", "--max-s", "25")
        result["call_media"] = bool(call.wait_event("media", 60))
        call.wait_event("done", 90)
        result["call_states"] = [e.get("state") for e in call.all("state")]
        result["metrics_ok"] = "appliance_turns_total" in d.metrics()
        os.kill(pid, signal.SIGTERM)  # the daemon itself, not strace
        deadline = time.monotonic() + 60
        while d.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        result["rc"] = d.proc.poll()
    finally:
        d.stop(signal.SIGKILL, timeout=10)
        result["log_tail"] = d.log()[-3000:]
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
