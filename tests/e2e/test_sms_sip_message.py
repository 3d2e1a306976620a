"""SMS over SIP MESSAGE (RFC 3428): a real pjsua2 peer on loopback texts a real ``appliance run``
(SIP channel on, SMS over SIP on) and gets SMS-style replies by SIP MESSAGE; a binary body gets
the polite "could not read" text; STOP opts the peer out and it is not answered afterwards."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appliance.brain.text import render
from tests.integration.test_tenancy import clinic_site
from tests.support import toml_text
from tests.support.run_daemon import Daemon
from tests.support.sip_harness import ROOT, free_port

pytestmark = [pytest.mark.e2e]

PEER = ROOT / "tests" / "support" / "sip_messenger.py"
USER = "+37251234567"
SIP_TEXTS = {  # the daemon's SMS channel on SIP MESSAGE only, in and out
    "APPLIANCE__SIP__RECORD": "false",
    "APPLIANCE__SMS__ENABLED": "true",
    "APPLIANCE__SMS__TRANSPORTS": '["sip"]',
    "APPLIANCE__SMS__OUTBOUND_TRANSPORT": "sip",
}


def text_by_sip(
    port: int, *texts: str, raw_hex: str = "", expect: int = 1, wait: float = 30.0, to: str = "appliance"
) -> list[dict[str, Any]]:
    argv = [sys.executable, str(PEER), "--target", f"sip:{to}@127.0.0.1:{port}", "--from-user", USER,
            "--expect", str(expect), "--wait", str(wait)]  # fmt: skip
    for t in texts:
        argv += ["--text", t]
    if raw_hex:
        argv += ["--raw-hex", raw_hex]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=wait + 30, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_sip_message_gets_sms_style_replies(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "data", sip=True, env=SIP_TEXTS)
    try:
        events = text_by_sip(d.sip_port, "Tere, sooviks broneerida", "Kass", expect=2)
        replies = [e for e in events if e["event"] == "message"]
        assert [r["text"] for r in replies] == ["Kas see on koer või kass?", "Mis on teie lemmiklooma nimi?"], events
        assert all(r["content_type"].startswith("text/plain") and len(r["text"]) <= 160 for r in replies)
        assert [e for e in events if e["event"] == "status"] and all(
            e["code"] == 200 for e in events if e["event"] == "status"
        )
        events = text_by_sip(d.sip_port, raw_hex="fffe0001802a00", expect=1)
        assert [e["text"] for e in events if e["event"] == "message"] == [render.template("et", "sms_unreadable")]
        events = text_by_sip(d.sip_port, "STOP", "Tere", expect=2, wait=6)
        got = [e["text"] for e in events if e["event"] == "message"]
        assert got == [render.template("et", "sms_opted_out")], got  # and nothing for the text after STOP
    finally:
        assert d.stop() == 0, d.log()[-3000:]
    con = sqlite3.connect(tmp_path / "data" / "appliance.db")
    rows = con.execute("SELECT transport, sender, status FROM sms_inbound ORDER BY id").fetchall()
    con.close()
    assert [r[2] for r in rows] == ["answered", "answered", "unreadable", "opt_out", "ignored"]
    assert {r[0] for r in rows} == {"sip"} and rows[0][1] == USER


def test_a_sip_message_to_the_clinics_number_is_answered_by_the_clinic(tmp_path: Path) -> None:
    """Two businesses on one box: the To user (the number texted) picks the tenant, as for calls."""
    conf = tmp_path / "appliance.toml"
    conf.write_text(toml_text.dumps({"tenants": [clinic_site(tmp_path)]}))
    d = Daemon(tmp_path / "data", sip=True, env=SIP_TEXTS, args=("--config", str(conf)))
    try:
        clinic = text_by_sip(d.sip_port, "Hi", to="+3725550200")  # the clinic's DID ("+372 555 0200")
        hotel = text_by_sip(d.sip_port, "Hi")  # the appliance's own address: the default tenant
    finally:
        assert d.stop() == 0, d.log()[-3000:]
    assert [e["text"] for e in clinic if e["event"] == "message"] == [
        "Hello, this is Kesklinna Loomakliinik. How can I help you?"
    ], clinic
    assert [e["text"] for e in hotel if e["event"] == "message"] == [
        "Hello, this is Paws & Whiskers Pet Hotel. How can I help you?"
    ], hotel
    con = sqlite3.connect(tmp_path / "data" / "appliance.db")
    rows = con.execute("SELECT tenant_id, status FROM sms_inbound ORDER BY id").fetchall()
    out = con.execute("SELECT tenant_id, status FROM outbox ORDER BY id").fetchall()
    con.close()
    assert rows == [("clinic", "answered"), ("demo", "answered")]
    assert out == [("clinic", "sent"), ("demo", "sent")]


def test_a_sip_message_on_the_clinics_account_is_answered_through_that_account(tmp_path: Path) -> None:
    """No number matches: the SIP account the MESSAGE arrived on (``sip_accounts``) decides, and
    the clinic's reply goes out through that account (its From is the account's, not the trunk's).
    The account's registrar is away (registration keeps retrying), as in test_sip_tenants.py."""
    registrar = f"sip:127.0.0.1:{free_port()};transport=tcp"
    conf = tmp_path / "appliance.toml"
    conf.write_text(
        toml_text.dumps({
            "sip": {"accounts": [{"id": "pbx", "registrar": registrar, "username": "205", "password": "secret"}]},
            "tenants": [clinic_site(tmp_path, sip_dids=[], sip_accounts=["pbx"])],
        })
    )  # fmt: skip
    d = Daemon(tmp_path / "data", sip=True, env=SIP_TEXTS, args=("--config", str(conf)))
    try:
        clinic = text_by_sip(d.sip_port, "Hi", to="205")  # the account's own address: sip:205@127.0.0.1
        hotel = text_by_sip(d.sip_port, "Hi")
    finally:
        assert d.stop() == 0, d.log()[-3000:]
    [to_clinic] = [e for e in clinic if e["event"] == "message"]
    [to_hotel] = [e for e in hotel if e["event"] == "message"]
    assert to_clinic["text"] == "Hello, this is Kesklinna Loomakliinik. How can I help you?", clinic
    assert "sip:205@" in to_clinic["from"], to_clinic
    assert to_hotel["text"] == "Hello, this is Paws & Whiskers Pet Hotel. How can I help you?", hotel
    assert "sip:appliance@" in to_hotel["from"], to_hotel
