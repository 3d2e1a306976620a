"""SMS through real Kannel on loopback: bearerbox + smsbox, and Kannel's fakesmsc as the phones.

An Estonian booking conversation by text ends with a committed booking and its confirmation
text (UCS-2 on the air: Estonian õ is not in GSM-7) captured at the fake SMSC; binary and
oversized texts and a flood from one number are handled without losing anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.brain.factory import build_brain
from appliance.brain.text import render
from appliance.channels.sms import SmsChannel
from appliance.channels.sms.encoding import plan
from appliance.core.bus import EventBus
from appliance.core.clock import fixed_clock
from appliance.core.config import Config, load_config
from tests.support import kannel as kn

# Kannel missing is a failure with a message (scripts/setup.sh installs it), never a skip.

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # Tuesday
PHONE = "+37251234567"
SHORT = "1345"


def sms_config(tmp_path: Path, k: kn.Kannel, **sms: Any) -> Config:
    overrides: dict[str, Any] = {
        "store": {"data_dir": str(tmp_path / "data")},
        "llm": {"mode": "off"},
        "sms": {
            "enabled": True, "listen_port": k.inbound_port, "kannel_sendsms_url": k.sendsms_url,
            "kannel_username": kn.USER, "kannel_password": kn.PASSWORD, "sender": SHORT, **sms,
        },
    }  # fmt: skip
    return load_config(environ={}, use_system=False, overrides=overrides)


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[kn.Kannel]:
    with kn.running_kannel(tmp_path / "kannel", kn.free_port()) as k:
        yield k


class Appliance:
    """The brain and the SMS channel in this process, on the test's event loop."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.bus = EventBus()

    async def __aenter__(self) -> Appliance:
        self.brain = await build_brain(self.cfg, clock=fixed_clock(NOW), on_event=self.bus.publish)
        self.sms = SmsChannel(self.cfg, self.brain, clock=fixed_clock(NOW))
        await self.sms.start(self.bus)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sms.stop()
        await self.brain.aclose()


async def converse(k: kn.Kannel, script: list[str]) -> list[str]:
    """Text each line and wait for the reply to it (one MT per MO)."""
    replies: list[str] = []
    for text in script:
        before = len(k.received())
        k.send_mo(PHONE, SHORT, text)
        got = await asyncio.to_thread(k.wait_for, before + 1, 30)
        replies.append(got[before].text)
    return replies


def test_estonian_booking_by_sms_ends_with_a_confirmation_at_the_fake_smsc(tmp_path: Path, kannel: kn.Kannel) -> None:
    cfg = sms_config(tmp_path, kannel, inbound_per_minute=20)

    async def run() -> tuple[list[str], list[kn.Mt]]:
        async with Appliance(cfg) as app:
            script = ["Tere, sooviks broneerida", "Järgmisel nädalavahetusel", "Kass", "Miisu", "Mari Tamm", "Jah"]
            replies = await converse(kannel, script)
            assert "Kas kinnitan broneeringu?" in replies[-1], replies
            before = len(kannel.received())
            kannel.send_mo(PHONE, SHORT, "Jah")
            got = await asyncio.to_thread(kannel.wait_for, before + 2, 30)  # the reply and the confirmation
            await app.sms.texts.drain()
            return replies + [m.text for m in got[before:]], got[before:]

    try:
        texts, last = asyncio.run(run())
    except Exception:
        print(kannel.logs())
        raise
    assert texts[0] == "Kas see on koer või kass?"
    con = sqlite3.connect(cfg.db_path)
    rows = con.execute("SELECT id, pet_name, start_date, owner_phone, status, channel FROM bookings").fetchall()
    assert len(rows) == 1
    booking_id, pet, start, phone, status, channel = rows[0]
    assert (pet, start, phone, status, channel) == ("Miisu", "2026-12-05", PHONE, "confirmed", "sms")
    reply, confirmation = sorted(texts[-2:], key=lambda t: "STOP" in t)
    assert booking_id in reply and reply.startswith("Korras!")
    assert confirmation.startswith(f"{cfg.tenant.name}: broneering {booking_id} lemmikloomale Miisu")
    assert "Sõnumite lõpetamiseks vastake STOP." in confirmation
    out = con.execute("SELECT kind, status, encoding, segments, recipient FROM outbox ORDER BY id").fetchall()
    kinds = [(kind, st) for kind, st, *_ in out]
    assert kinds.count(("reply", "sent")) == 7 and kinds.count(("confirmation", "sent")) == 1
    assert ("reminder", "pending") in kinds  # due the day before check-in
    conf = next(r for r in out if r[0] == "confirmation")
    parts = next(m.parts for m in last if m.text == confirmation)
    assert conf[2:] == ("ucs2", plan(confirmation).segments, PHONE) and parts == conf[3]  # õ: UCS-2

    inbound = con.execute("SELECT status, count(*) FROM sms_inbound GROUP BY status").fetchall()
    assert inbound == [("answered", 7)]
    con.close()


def test_bad_input_and_a_flood_nothing_lost_and_the_limit_holds(tmp_path: Path, kannel: kn.Kannel) -> None:
    cfg = sms_config(tmp_path, kannel, inbound_per_minute=3)

    async def run() -> list[kn.Mt]:
        async with Appliance(cfg) as app:
            assert app.sms.service.transports["kannel"]
            # binary garbage: 8-bit data on the air
            kannel.send_line(f"{PHONE} {SHORT} data %FF%FE%00%01garbage%80\n")
            await asyncio.to_thread(kannel.wait_for, 1, 30)
            # a 5,000-character text: fakesmsc lines stop at 255 bytes, so it is posted the way smsbox
            # posts a joined concatenated text (its post-url contract), and a text in an unknown charset
            url = f"http://127.0.0.1:{kannel.inbound_port}/sms/kannel?from=%2B37251234567&to={SHORT}"
            async with aiohttp.ClientSession() as http:
                long = ("Tere, soovin broneerida toa. " * 200)[:5000]
                async with http.post(
                    url + "&id=long-1", data=long.encode(), headers={"Content-Type": 'text/plain; charset="UTF-8"'}
                ) as resp:
                    assert resp.status == 200
                async with http.post(
                    url + "&id=odd-1",
                    data=b"\x81\x82 hello",
                    headers={"Content-Type": "text/plain; charset=x-no-such-charset"},
                ) as resp:
                    assert resp.status == 200
            await asyncio.to_thread(kannel.wait_for, 3, 30)
            # a flood from one number: 8 texts as fast as the network sends them; 3 a minute answered
            await asyncio.to_thread(kannel.flood, PHONE, SHORT, "Tere", 8)
            for _ in range(300):  # until all 11 texts are stored (handled or refused)
                if len(await app.sms.service.inbound.list()) >= 11:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # room for a reply that should not come
            return kannel.received()

    texts = asyncio.run(run())
    assert texts[0].text == texts[2].text == render.template("en", "sms_unreadable")
    con = sqlite3.connect(cfg.db_path)
    rows = con.execute("SELECT status, text, raw_hex FROM sms_inbound ORDER BY id").fetchall()
    assert len(rows) == 11  # every text stored, answered or not
    assert rows[0][0] == "unreadable" and rows[0][2] and "fffe" in rows[0][2]
    assert rows[1][0] == "answered" and len(rows[1][1]) == 5000  # kept whole
    assert rows[2][0] == "unreadable" and rows[2][2] == b"\x81\x82 hello".hex()
    statuses = [r[0] for r in rows[3:]]
    assert statuses == ["rate_limited"] * 8, statuses  # 3 a minute: the three texts above used them up
    assert len(texts) == 3  # two "could not read" notices and the reply to the long text: the limit holds
    # a new conversation whose first text is too long to read is answered in the default language
    assert texts[1].text == render.template("en", "input_too_long"), texts[1].text
    con.close()
