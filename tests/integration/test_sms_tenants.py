"""Texts on a box that serves two businesses, through real Kannel on loopback (bearerbox +
smsbox, fakesmsc as the phones): each business's number gets that business's answers.

The pet hotel (the default tenant, English, ``sms.sender`` 1345) and the clinic (a
``[[tenants]]`` entry, Estonian by default, ``sms_numbers`` 1346): a text to each number is
answered by that business (its name, its default language) from that number; a booking by text
to the clinic is the clinic's (``tenant_id``) and its confirmation goes out from the clinic's
number in the clinic's name; STOP to the hotel leaves the clinic free to answer the same phone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.brain.factory import build_tenant_brains
from appliance.brain.text import render
from appliance.channels.sms import SmsChannel
from appliance.core.bus import EventBus
from appliance.core.clock import fixed_clock
from appliance.core.config import Config, load_config
from tests.integration.test_tenancy import clinic_site
from tests.support import kannel as kn
from tests.support import toml_text
from tests.support.sip_harness import ROOT, env

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # Tuesday
MARI, JAAN = "+37251234567", "+37251234568"
HOTEL_NO, CLINIC_NO = "1345", "1346"
HOTEL_NAME, CLINIC_NAME = "Paws & Whiskers Pet Hotel", "Kesklinna Loomakliinik"


def two_businesses(tmp_path: Path, k: kn.Kannel) -> tuple[Config, Path]:
    """The config file an operator would write (``[sms]``, ``[[tenants]]`` with ``sms_numbers``)."""
    overrides: dict[str, Any] = {
        "store": {"data_dir": str(tmp_path / "data")},
        "llm": {"mode": "off"},
        "tenant": {"name": HOTEL_NAME},
        "tenants": [clinic_site(tmp_path, sms_numbers=[CLINIC_NO])],
        "sms": {
            "enabled": True, "listen_port": k.inbound_port, "kannel_sendsms_url": k.sendsms_url,
            "kannel_username": kn.USER, "kannel_password": kn.PASSWORD, "sender": HOTEL_NO,
            "inbound_per_minute": 30,
        },
    }  # fmt: skip
    toml = tmp_path / "appliance.toml"
    toml.write_text(toml_text.dumps(overrides), encoding="utf-8")
    return load_config(toml, environ={}, use_system=False), toml


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[kn.Kannel]:
    with kn.running_kannel(tmp_path / "kannel", kn.free_port()) as k:
        yield k


async def text(k: kn.Kannel, phone: str, to: str, body: str, replies: int = 1) -> list[kn.Mt]:
    """``phone`` texts ``body`` to the number ``to``; the ``replies`` texts that come back."""
    before = len(k.received())
    k.send_mo(phone, to, body)
    got = await asyncio.to_thread(k.wait_for, before + replies, 30)
    return got[before:]


def test_each_business_answers_its_own_number(tmp_path: Path, kannel: kn.Kannel) -> None:
    cfg, toml = two_businesses(tmp_path, kannel)
    out: dict[str, Any] = {}

    async def run() -> None:
        bus = EventBus()
        brains = await build_tenant_brains(cfg, clock=fixed_clock(NOW), on_event=bus.publish)
        sms = SmsChannel(cfg, brains.default, tenants=brains, clock=fixed_clock(NOW))
        await sms.start(bus)
        try:
            # the same words to each number: each business answers in its own name, from its number
            out["hotel_hi"] = await text(kannel, MARI, HOTEL_NO, "Hi")
            out["clinic_hi"] = await text(kannel, MARI, CLINIC_NO, "Hi")
            # words in no language: each business's default language
            out["hotel_123"] = await text(kannel, JAAN, HOTEL_NO, "123")
            out["clinic_123"] = await text(kannel, JAAN, CLINIC_NO, "123")
            # a booking by text to the clinic
            script = ["Tere, sooviks broneerida", "Järgmisel nädalavahetusel", "Kass", "Miisu", "Mari Tamm", "Jah"]
            out["booking"] = [(await text(kannel, JAAN, CLINIC_NO, line))[0] for line in script]
            out["booked"] = await text(kannel, JAAN, CLINIC_NO, "Jah", replies=2)  # the reply and the confirmation
            await sms.texts.drain()
            # STOP to the hotel: the hotel's list only
            out["stop"] = await text(kannel, MARI, HOTEL_NO, "STOP")
            out["clinic_after"] = await text(kannel, MARI, CLINIC_NO, "Hi")
            before = len(kannel.received())
            kannel.send_mo(MARI, HOTEL_NO, "Hi")
            hotel = sms.service.tenants[cfg.tenant.id]
            for _ in range(300):  # until the hotel has stored (and not answered) it
                rows = await hotel.inbound.list(sender=MARI)
                if len(rows) == 3 and str(rows[-1].status) != "received":
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)  # room for a reply that should not come
            out["ignored"] = kannel.received()[before:]
        finally:
            await sms.stop()
            await brains.aclose()

    try:
        asyncio.run(run())
    except Exception:
        print(kannel.logs())
        raise

    [hotel_hi], [clinic_hi] = out["hotel_hi"], out["clinic_hi"]
    assert (hotel_hi.sender, hotel_hi.receiver) == (HOTEL_NO, MARI)
    assert hotel_hi.text == f"Hello, this is {HOTEL_NAME}. How can I help you?"
    assert (clinic_hi.sender, clinic_hi.receiver) == (CLINIC_NO, MARI)
    assert clinic_hi.text == f"Hello, this is {CLINIC_NAME}. How can I help you?"
    [hotel_123], [clinic_123] = out["hotel_123"], out["clinic_123"]
    assert hotel_123.sender == HOTEL_NO and hotel_123.text.startswith("Sorry, I didn't understand that.")
    assert clinic_123.sender == CLINIC_NO and clinic_123.text.startswith("Vabandust, ma ei saanud aru.")

    assert {m.sender for m in out["booking"] + out["booked"]} == {CLINIC_NO}
    assert "Kas kinnitan broneeringu?" in out["booking"][-1].text, [m.text for m in out["booking"]]
    con = sqlite3.connect(cfg.db_path)
    [(booking_id, tenant, pet, phone, channel)] = con.execute(
        "SELECT id, tenant_id, pet_name, owner_phone, channel FROM bookings"
    ).fetchall()
    assert (tenant, pet, phone, channel) == ("clinic", "Miisu", JAAN, "sms")
    reply, confirmation = sorted((m.text for m in out["booked"]), key=lambda t: "STOP" in t)
    assert booking_id in reply
    assert confirmation.startswith(f"{CLINIC_NAME}: broneering {booking_id} lemmikloomale Miisu"), confirmation
    conf = con.execute("SELECT tenant_id, status, recipient FROM outbox WHERE kind = 'confirmation'").fetchall()
    assert conf == [("clinic", "sent", JAAN)]
    reminder = con.execute("SELECT tenant_id, status FROM outbox WHERE kind = 'reminder'").fetchall()
    assert reminder == [("clinic", "pending")]

    [receipt] = out["stop"]
    opted_out = render.template("en", "sms_opted_out").replace("{business}", HOTEL_NAME)  # the hotel's name
    assert (receipt.sender, receipt.text) == (HOTEL_NO, opted_out)
    [clinic_after] = out["clinic_after"]
    # answered, in Mari's conversation with the clinic (resumed: no introduction again)
    assert (clinic_after.sender, clinic_after.text) == (CLINIC_NO, "Hello! How can I help you?")
    assert out["ignored"] == []
    assert con.execute("SELECT phone, tenant_id FROM sms_optouts").fetchall() == [(MARI, "demo")]
    inbound = con.execute(
        "SELECT tenant_id, sender, status, count(*) FROM sms_inbound GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    assert inbound == [
        ("clinic", MARI, "answered", 2),
        ("clinic", JAAN, "answered", 8),
        ("demo", MARI, "answered", 1),
        ("demo", MARI, "ignored", 1),
        ("demo", MARI, "opt_out", 1),
        ("demo", JAAN, "answered", 1),
    ]
    # each business's conversations with a number are its own
    sessions = con.execute("SELECT tenant_id, id FROM conversation_sessions ORDER BY 1, 2").fetchall()
    assert {t for t, _ in sessions} == {"clinic", "demo"}
    assert all(sid.startswith("sms-") and ("-clinic-" in sid) == (t == "clinic") for t, sid in sessions), sessions
    con.close()

    # staff see each business's texts: `appliance outbox list --tenant` (on the store; no daemon runs)
    def outbox(tenant: str) -> list[dict[str, Any]]:
        proc = subprocess.run(
            [sys.executable, "-m", "appliance", "outbox", "list", "--tenant", tenant, "--config", str(toml), "--json"],
            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return list(json.loads(proc.stdout))

    clinic_rows, every = outbox("clinic"), outbox("all")  # the hotel's: two replies and the STOP receipt
    assert {m["tenant_id"] for m in clinic_rows} == {"clinic"} and len(
        clinic_rows
    ) == 12  # 10 replies, confirmation, reminder
    assert len(every) == 12 + 3 and [m["id"] for m in every] == sorted((m["id"] for m in every), reverse=True)
