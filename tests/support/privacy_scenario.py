"""Two callers' data made the real way: chats through the real brain on a real SQLite file, a
recorded call with real WAV files written by the SIP channel's ``CallRecording``, texts through
the real SMS channel (a recording transport is the one seam: a text in, the reply, a booking
confirmation and its pending reminder in the outbox, Mari's STOP), and the daemon's log file
(``logging.file``) with the redacting filter. Used by the privacy tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.booking.serialize import booking_to_dict
from appliance.brain.factory import build_brain
from appliance.channels.sip.recording import CallRecording
from appliance.channels.sms import SmsChannel
from appliance.channels.sms.encoding import SmsPlan
from appliance.channels.sms.transport import InboundSms, Receive, SmsOrigin, SmsTransport
from appliance.core.clock import fixed_clock
from appliance.core.config import Config, load_config
from appliance.core.logs import setup_logging
from appliance.core.messages import Channel, EventType, Reply, Utterance

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # Tuesday


@dataclass(frozen=True)
class Caller:
    name: str
    phone: str  # as typed
    e164: str
    national: str
    pet: str
    sentence: str  # something they said on a recorded call
    tag: str  # session id prefix
    texted: str = ""  # something they texted


MARI = Caller("Mari Tamm", "+372 5123 4567", "+37251234567", "51234567", "Rex",
              "my cat Whiskers is allergic to salmon", "mari", "Whiskers hates the hoover")  # fmt: skip
JAAN = Caller("Jaan Kask", "+372 5555 1234", "+37255551234", "55551234", "Muri",
              "the gate code is four four seven one", "jaan", "Muri sleeps on a red blanket")  # fmt: skip


def write_config(root: Path, extra: str = "") -> Path:
    """``root/appliance.toml`` for a data directory ``root/data`` (the CLI reads the same file)."""
    path = root / "appliance.toml"
    path.write_text(
        f'[store]\ndata_dir = "{root / "data"}"\n[llm]\nmode = "off"\n[logging]\nfile = "logs/appliance.log"\n'
        f"[sip]\nenabled = false\n[web]\nenabled = false\n"
        f'[sms]\nenabled = true\noutbound_transport = "kannel"\n{extra}',
        encoding="utf-8",
    )
    return path


def make_config(root: Path) -> Config:
    return load_config(root / "appliance.toml", environ={}, use_system=False)


def tone(seconds: float = 0.5, hz: float = 440.0) -> bytes:
    n = int(16000 * seconds)
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 16000))) for i in range(n))


class SmsRecorder(SmsTransport):
    """The SMS gateway seam: what would have been sent."""

    name = "rec"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def start(self, receive: Receive) -> None:
        pass

    async def send(self, recipient: str, plan: SmsPlan, *, origin: SmsOrigin | None = None) -> None:
        self.sent.append((recipient, plan.text))

    async def stop(self) -> None:
        pass


@dataclass
class World:
    cfg: Config
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    brain: Any = None
    bookings: dict[str, list[str]] = field(default_factory=dict)

    def start(self, now: dt.datetime = NOW) -> World:
        setup_logging(self.cfg)
        self.brain = self.loop.run_until_complete(build_brain(self.cfg, clock=fixed_clock(now)))
        return self

    def say(self, session: str, text: str, *, channel: Channel = Channel.WEB, caller_id: str | None = None) -> Reply:
        return self.loop.run_until_complete(self.brain.handle(Utterance(session, channel, text, caller_id=caller_id)))

    def book(self, c: Caller, session: str, pet: str, dates: str) -> str:
        self.say(session, f"I need a room for my dog {pet} from the {dates}")
        self.say(session, c.name)
        self.say(session, c.phone)
        r = self.say(session, "yes")
        assert r.booking_id, r.text
        self.bookings.setdefault(c.tag, []).append(r.booking_id)
        return r.booking_id

    def texts(self, c: Caller, *, stop: bool) -> None:
        """The caller texts, gets a reply and a confirmation of their first booking (its reminder
        stays pending); with ``stop`` they then opt out."""
        rec = SmsRecorder()
        sms = SmsChannel(self.cfg, self.brain, transports={"kannel": rec}, clock=fixed_clock(NOW))

        async def run() -> None:
            await sms.service.receive(InboundSms("kannel", c.e164, c.texted, message_id=f"{c.tag}-1"))
            b = await self.brain.backend.get_booking(self.bookings[c.tag][0])
            await sms.texts.booking_event(EventType.BOOKING_CREATED, booking_to_dict(b), None)
            await sms.service.flush()
            if stop:
                await sms.service.receive(InboundSms("kannel", c.e164, "STOP", message_id=f"{c.tag}-2"))
            await sms.service.flush()

        self.loop.run_until_complete(run())
        assert len(rec.sent) == 2 + stop and any(c.pet in t for _to, t in rec.sent), rec.sent

    def caller(self, c: Caller, *, recorded_at: float) -> None:
        """Two bookings, a cancelled one, a callback ticket, a chat where only the number was typed,
        and a recorded voice call."""
        self.book(c, f"web-{c.tag}-1", c.pet, "10th to the 12th")
        self.book(c, f"web-{c.tag}-2", c.pet + "y", "20th to the 22nd")
        bid = self.book(c, f"web-{c.tag}-3", c.pet + "o", "24th to the 26th")
        self.say(f"web-{c.tag}-3", f"I want to cancel my booking {bid}")
        assert "cancel" in self.say(f"web-{c.tag}-3", "yes").text.lower()
        self.say(f"web-{c.tag}-4", "Can I talk to a person please?")
        self.say(f"web-{c.tag}-4", c.phone)
        self.say(f"web-{c.tag}-5", c.national[:4] + " " + c.national[4:])  # only the number, nothing else
        sid = f"sip-{c.tag}00000000"
        self.say(sid, c.sentence, channel=Channel.VOICE, caller_id=c.e164)
        rec = CallRecording(self.cfg.data_path / "recordings", sid, started_at=recorded_at)

        async def record() -> None:
            rec.add(tone(), tone(hz=220))
            await rec.close({"session_id": sid, "caller_id": c.e164, "started_at": recorded_at,
                             "transcript": [{"role": "user", "text": c.sentence}], "outcome": "caller_hung_up"})  # fmt: skip

        self.loop.run_until_complete(record())
        logging.getLogger("appliance.test").info("SIP call %s from %s ended", sid, c.e164)
        self.texts(c, stop=c is MARI)

    def close(self) -> None:
        if self.brain is not None:
            self.loop.run_until_complete(self.brain.aclose())
        self.loop.close()
        for h in logging.getLogger().handlers:
            h.flush()
        root = logging.getLogger()
        for h in list(root.handlers):
            if isinstance(h, logging.FileHandler):
                h.close()
                root.removeHandler(h)


def build(root: Path, extra: str = "") -> World:
    """Both callers' data in ``root/data`` (config ``root/appliance.toml``); the brain is closed again."""
    write_config(root, extra)
    w = World(make_config(root)).start()
    try:
        w.caller(MARI, recorded_at=NOW.timestamp())
        w.caller(JAAN, recorded_at=NOW.timestamp() + 60)
    finally:
        w.close()
    return w


def grep_tree(root: Path, needles: list[str], *, skip: tuple[Path, ...] = ()) -> list[tuple[str, str]]:
    """Every (file, needle) where a needle's bytes (UTF-8) occur in a file under ``root``."""
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(path.is_relative_to(s) for s in skip):
            continue
        data = path.read_bytes()
        for n in needles:
            if n.encode("utf-8") in data:
                hits.append((str(path.relative_to(root)), n))
    return hits
