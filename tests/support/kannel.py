"""Real Kannel on loopback for the SMS tests: bearerbox with a ``fake`` SMSC, smsbox with a
sendsms user and a catch-all sms-service posting to the appliance, and Kannel's own test SMSC
client ``fakesmsc`` (kannel-extras) as the phone network: lines written to its stdin are texts
from phones (MO), and the texts Kannel delivers to it (MT) are parsed from its log.

Debian paths: /usr/sbin/bearerbox, /usr/sbin/smsbox, /usr/lib/kannel/test/fakesmsc
(``scripts/setup.sh`` installs ``kannel`` and ``kannel-extras``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USER, PASSWORD = "appliance", "s3cret"


def available() -> bool:
    return all(os.access(p, os.X_OK) for p in (BEARERBOX, SMSBOX, FAKESMSC))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass(frozen=True)
class Mt:
    """A text Kannel delivered to the fake SMSC."""

    sender: str
    receiver: str
    text: str
    raw: bytes = b""  # a concatenated text's joined parts
    parts: int = 1


_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


def _decode(kind: str, data: str) -> str:
    if kind == "text":
        return data
    raw = urllib.parse.unquote_to_bytes(data.replace("+", " "))  # form encoding: + is a space byte
    if kind == "ucs-2":
        return raw.decode("utf-16-be")
    return raw.decode("utf-8", "replace")


def _read_parts(raw: bytes) -> str:
    if len(raw) % 2 == 0 and raw.count(0) >= len(raw) // 4:
        return raw.decode("utf-16-be")
    return raw.decode("utf-8", "replace")


class Kannel:
    """bearerbox + smsbox + fakesmsc, started and stopped by the test."""

    def __init__(self, workdir: Path, inbound_port: int) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.admin, self.box, self.smsc, self.sendsms = (free_port() for _ in range(4))
        self.inbound_port = inbound_port
        self.procs: list[subprocess.Popen[bytes]] = []
        self.fake: subprocess.Popen[bytes] | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms"

    def conf(self) -> Path:
        spool = self.dir / "spool"
        spool.mkdir(exist_ok=True)
        text = f"""
group = core
admin-port = {self.admin}
admin-password = admin
admin-interface = 127.0.0.1
smsbox-port = {self.box}
box-allow-ip = 127.0.0.1
log-level = 0
store-type = spool
store-location = "{spool}"

group = smsc
smsc = fake
smsc-id = fake
port = {self.smsc}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box}
sendsms-port = {self.sendsms}
sendsms-interface = 127.0.0.1
mo-recode = true
log-level = 0

group = sendsms-user
username = {USER}
password = {PASSWORD}
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
max-messages = 0
omit-empty = true
post-url = "http://127.0.0.1:{self.inbound_port}/sms/kannel?from=%p&to=%P&id=%I"
"""
        path = self.dir / "kannel.conf"
        path.write_text(text, encoding="utf-8")
        return path

    def _spawn(self, argv: list[str], log: str, **kw: object) -> subprocess.Popen[bytes]:
        out = (self.dir / log).open("wb")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        conf = str(self.conf())
        self._spawn([BEARERBOX, "-v", "1", conf], "bearerbox.log")
        wait_port(self.box)
        self.start_fakesmsc()
        self._spawn([SMSBOX, "-v", "1", conf], "smsbox.log")
        wait_port(self.sendsms)

    def start_fakesmsc(self, *, flood: tuple[str, int] | None = None, interval: float = 0.0) -> None:
        """Interactive (texts written to stdin, one at a time), or ``flood=(line, n)``: fakesmsc
        itself sends that line n times, ``interval`` seconds apart, then keeps receiving."""
        wait_port(self.smsc)
        argv = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc), "-i", str(interval), "-v", "0"]
        if flood is not None:
            argv += ["-m", str(flood[1]), flood[0]]
        self.fake = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, args=(self.fake,), daemon=True).start()

    def flood(self, sender: str, receiver: str, text: str, n: int, interval: float = 0.02) -> None:
        """Replace the phone network by one that sends ``text`` ``n`` times as fast as it can."""
        self.stop_fakesmsc()
        self.start_fakesmsc(flood=(f"{sender} {receiver} text {text}", n), interval=interval)

    def stop_fakesmsc(self) -> None:
        if self.fake is not None and self.fake.poll() is None:
            os.killpg(self.fake.pid, signal.SIGINT)  # fakesmsc closes its connection on SIGINT
            self.fake.wait(10)

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with (self.dir / "fakesmsc.log").open("ab") as log:
            for raw in proc.stdout:
                log.write(raw)
                log.flush()
                with self._lock:
                    self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def send_mo(self, sender: str, receiver: str, text: str) -> None:
        """A phone texts ``text``: UCS-2 on the air when it is not plain ASCII."""
        if text.isascii():
            line = f"{sender} {receiver} text {text}\n"
        else:
            line = f"{sender} {receiver} ucs2 {urllib.parse.quote(text.encode('utf-16-be'))}\n"
        assert len(line.encode()) < 256, "fakesmsc reads at most 255 bytes a line"
        self.send_line(line)

    def send_line(self, line: str) -> None:
        """One raw fakesmsc line (``sender receiver type data``). fakesmsc reads one line each time
        its stdin becomes readable, so lines go one at a time, a moment apart."""
        assert self.fake is not None and self.fake.stdin is not None
        self.fake.stdin.write(line.encode())
        self.fake.stdin.flush()
        time.sleep(0.3)

    def received(self) -> list[Mt]:
        """Every text the fake SMSC got, concatenated parts joined (their UDH dropped)."""
        out: list[Mt] = []
        with self._lock:
            lines = list(self._lines)
        joining: dict[tuple[str, int], int] = {}  # (receiver, UDH reference) -> index in out
        for line in lines:
            m = _GOT.search(line)
            if not m:
                continue
            sender, receiver, kind, rest = m.groups()
            if kind != "udh":
                out.append(Mt(sender, receiver, _decode(kind, rest)))
                continue
            # "udh UDH data BODY": fakesmsc names no coding here, so the parts' bytes are joined
            # and read as UCS-2 when they hold its NUL high bytes, else as text
            udh_q, _, body = rest.partition(" ")
            body = body.partition(" ")[2]
            udh = urllib.parse.unquote_to_bytes(udh_q)
            ref = (receiver, udh[3] if len(udh) >= 6 else -1)
            raw = urllib.parse.unquote_to_bytes(body.replace("+", " "))
            if ref in joining and (len(udh) < 6 or udh[5] > 1):
                i = joining[ref]
                prev = out[i]
                out[i] = Mt(sender, receiver, "", prev.raw + raw, prev.parts + 1)
            else:
                joining[ref] = len(out)
                out.append(Mt(sender, receiver, "", raw, 1))
        return [Mt(x.sender, x.receiver, _read_parts(x.raw), x.raw, x.parts) if x.raw else x for x in out]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Mt]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise TimeoutError(f"fake SMSC got {len(self.received())} texts, wanted {count}")

    def stop(self) -> None:
        procs = ([self.fake] if self.fake else []) + list(reversed(self.procs))
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.dir.glob("*.log"))
        )


@contextlib.contextmanager
def running_kannel(workdir: Path, inbound_port: int) -> Iterator[Kannel]:
    if not available():
        missing = [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]
        raise RuntimeError(f"Kannel not installed ({missing}); scripts/setup.sh installs kannel kannel-extras")
    assert shutil.which("true")
    k = Kannel(workdir, inbound_port)
    try:
        k.start()
        yield k
    finally:
        k.stop()
