"""Several businesses on one box, over SIP: a real pjsua2 caller on loopback dials the clinic's
number (DID, the To user) and is greeted as the clinic, in Estonian; a call to the appliance's
own address reaches the default tenant (the pet hotel, in English). The greeting is the stored
first turn of each call's session, which belongs to the tenant that answered."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.integration.test_tenancy import CLINIC, HOTEL, clinic_site
from tests.support.sip_harness import Appliance, caller, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _greeting(db: Path, session_id: str) -> tuple[str, str, str]:
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (tenant,) = c.execute("SELECT tenant_id FROM conversation_sessions WHERE id = ?", (session_id,)).fetchone()
        text, language = c.execute(
            "SELECT text, language FROM turns WHERE session_id = ? AND role = 'assistant' ORDER BY seq LIMIT 1",
            (session_id,),
        ).fetchone()
    finally:
        c.close()
    return tenant, text, language


def _wait_ended(app: Appliance, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while sum(ev.get("event") == "call_ended" for ev in app.events) < count:
        assert time.monotonic() < deadline, f"no call_ended #{count}: {app.log[-20:]}"
        time.sleep(0.1)


def test_a_call_to_the_clinics_number_is_greeted_as_the_clinic(tmp_path: Path) -> None:
    sites = tmp_path / "tenants.json"
    sites.write_text(json.dumps([clinic_site(tmp_path)]))
    app = Appliance(tmp_path, "--record", "0", "--tenants", str(sites))
    try:
        for n, user in enumerate(("+3725550200", "appliance"), 1):  # the clinic's DID ("+372 555 0200"), then ours
            call = caller(f"sip:{user}@127.0.0.1:{app.port}", "--from-user", "+37251234567",
                          "--hangup-after-s", "4", "--max-s", "20")  # fmt: skip
            call.wait_event("done", 40)
            _wait_ended(app, n)
    finally:
        app.stop()
    records = [ev for ev in app.events if ev.get("event") == "call_ended"]
    clinic, hotel = records
    assert clinic["language"] == "et" and hotel["language"] == "en", (clinic, hotel)
    tenant, text, language = _greeting(tmp_path / "appliance.db", clinic["session_id"])
    assert (tenant, language) == (CLINIC, "et") and "Kesklinna Loomakliinik" in text, text
    tenant, text, language = _greeting(tmp_path / "appliance.db", hotel["session_id"])
    assert (tenant, language) == (HOTEL, "en") and "Paws & Whiskers" in text, text


def test_a_call_arriving_on_the_clinics_account_is_the_clinics(tmp_path: Path) -> None:
    """No DID matches: the SIP account the call arrived on (``sip_accounts``) decides. The account's
    registrar is away (registration keeps retrying); pjsua2 still picks the account for an INVITE
    to its own address (``sip:205@127.0.0.1``)."""
    sites = tmp_path / "tenants.json"
    sites.write_text(json.dumps([clinic_site(tmp_path, sip_dids=[], sip_accounts=["pbx"])]))
    registrar = f"sip:127.0.0.1:{free_port()};transport=tcp"
    app = Appliance(tmp_path, "--record", "0", "--tenants", str(sites), "--account", f"pbx,{registrar},205,secret")
    try:
        call = caller(f"sip:205@127.0.0.1:{app.port}", "--from-user", "+37251234567",
                      "--hangup-after-s", "4", "--max-s", "20")  # fmt: skip
        call.wait_event("done", 40)
        _wait_ended(app, 1)
    finally:
        app.stop()
    [record] = [ev for ev in app.events if ev.get("event") == "call_ended"]
    tenant, text, language = _greeting(tmp_path / "appliance.db", record["session_id"])
    assert (tenant, language) == (CLINIC, "et") and "Kesklinna Loomakliinik" in text, (record, text)


def test_with_sip_workers_the_proxy_keeps_the_number_called(tmp_path: Path) -> None:
    """``sip.workers > 1``: the SIP proxy hands the INVITE to a worker process, which builds every
    tenant's brain itself; the clinic's DID still reaches the clinic."""
    from tests.support.sip_cluster_client import Cluster

    sites = tmp_path / "tenants.json"
    sites.write_text(json.dumps([clinic_site(tmp_path)]))
    cluster = Cluster(tmp_path, "--workers", "2", "--max-calls", "6", "--tenants", str(sites))
    try:
        call = caller(f"sip:+3725550200@127.0.0.1:{cluster.port}", "--from-user", "+37251234567",
                      "--hangup-after-s", "4", "--max-s", "20")  # fmt: skip
        call.wait_event("done", 60)
        record = cluster.wait_event("call_ended", 60)
    finally:
        cluster.stop()
    tenant, text, language = _greeting(tmp_path / "appliance.db", record["session_id"])
    assert (tenant, language) == (CLINIC, "et") and "Kesklinna Loomakliinik" in text, (record, text)
