"""The front desk of a box with two businesses: the real daemon (in process) with the web chat
and the control API; staff see one tenant or all (``?tenant=``, ``--tenant``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.console.client import ApiClient
from appliance.core.config import Config, load_config
from appliance.core.control import ApiError, ErrorCode
from appliance.daemon import Daemon
from tests.integration.test_tenancy import CLINIC, HOTEL, clinic_site
from tests.integration.test_web_server import hello, say
from tests.support.sip_harness import ROOT, env

START = dt.date.today() + dt.timedelta(days=30)


def _booking(name: str) -> dict[str, Any]:
    return {
        "pet_name": name, "pet_type": "dog", "start_date": START.isoformat(),
        "end_date": (START + dt.timedelta(days=2)).isoformat(), "owner_name": "Mari Tamm",
        "owner_phone": "+372 5123 4567",
    }  # fmt: skip


def _config(tmp_path: Path) -> tuple[Config, Path]:
    site = clinic_site(tmp_path)
    toml = tmp_path / "appliance.toml"
    # the file form of [[tenants]] as an operator writes it (config reference: docs/PRIVACY.md)
    toml.write_text(
        f"""
[store]
data_dir = "{tmp_path / "data"}"
[llm]
mode = "off"
[web]
port = 0
[sip]
enabled = false
[metrics]
enabled = false

[[tenants]]
id = "{CLINIC}"
name = "{site["name"]}"
languages = ["et", "en"]
default_language = "et"
transfer_extension = "200"
knowledge_dir = "{site["knowledge_dir"]}"
sip_dids = ["+372 555 0200"]

[[tenants.resources]]
id = "clinic-ward"
name = {{ en = "ward", et = "palat" }}
pet_types = ["dog", "cat"]
capacity = 1

[[tenants.pricing.rules]]
pet_type = "dog"
per_night = "50.00"

[[tenants.pricing.rules]]
pet_type = "cat"
per_night = "40.00"
""",
        encoding="utf-8",
    )
    return load_config(toml, environ={}, use_system=False), toml


def test_staff_see_one_tenant_or_all(tmp_path: Path) -> None:
    cfg, toml = _config(tmp_path)
    assert cfg.tenant_ids == [HOTEL, CLINIC]

    async def go() -> None:
        daemon = Daemon(cfg)
        await daemon.start()
        try:
            await asyncio.wait_for(scenario(daemon), 120)
        finally:
            await daemon.stop()

    async def scenario(daemon: Daemon) -> None:
        sock = cfg.api_socket
        async with (
            ApiClient(sock) as hotel,
            ApiClient(sock, tenant=CLINIC) as clinic,
            ApiClient(sock, tenant="all") as every,
        ):
            h = await hotel.post("/bookings", _booking("Rex"))
            c = await clinic.post("/bookings", _booking("Muri"))
            assert (h["tenant_id"], c["tenant_id"]) == (HOTEL, CLINIC)
            assert c["total_minor"] == 10000  # the clinic's price list
            assert [b["id"] for b in (await hotel.get("/bookings"))["bookings"]] == [h["id"]]
            assert [b["id"] for b in (await clinic.get("/bookings"))["bookings"]] == [c["id"]]
            assert {(b["id"], b["tenant_id"]) for b in (await every.get("/bookings"))["bookings"]} == {
                (h["id"], HOTEL), (c["id"], CLINIC),
            }  # fmt: skip
            with pytest.raises(ApiError) as err:  # a booking is looked up in its own tenant only
                await clinic.post(f"/bookings/{h['id']}/cancel")
            assert err.value.code is ErrorCode.NOT_FOUND
            with pytest.raises(ApiError) as err:
                await ApiClient(sock, tenant="nobody").get("/bookings")
            assert err.value.code is ErrorCode.NOT_FOUND
            # a chat on the clinic's page asks for a person: the ticket is the clinic's
            web = f"http://127.0.0.1:{daemon.web.port}"
            async with aiohttp.ClientSession() as http, http.ws_connect(f"{web}/t/{CLINIC}/ws") as ws:
                greeting = (await hello(ws, "desk-clinic-chat-1"))[-1]
                assert "Kesklinna Loomakliinik" in greeting["text"]
                await say(ws, "Can I talk to a person please?")
                await say(ws, "+372 5123 4567")
            assert [t["tenant_id"] for t in (await clinic.get("/callbacks"))["callbacks"]] == [CLINIC]
            assert (await hotel.get("/callbacks"))["callbacks"] == []
            assert [t["tenant_id"] for t in (await every.get("/callbacks"))["callbacks"]] == [CLINIC]
            # the session is found in its tenant's store whichever tenant the console names
            s = await hotel.get("/sessions/desk-clinic-chat-1")
            assert s["id"] == "desk-clinic-chat-1"
            assert (await hotel.get("/bookings/" + h["id"]))["status"] == "confirmed"

    asyncio.run(go())

    # the CLI on the store (the daemon is stopped): --tenant ID or all
    def cli(*args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "appliance", *args, "--config", str(toml), "--json"],
            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    assert {b["tenant_id"] for b in cli("bookings", "list", "--tenant", "all")} == {HOTEL, CLINIC}
    assert [b["pet_name"] for b in cli("bookings", "list", "--tenant", CLINIC)] == ["Muri"]
    assert [b["pet_name"] for b in cli("bookings", "list")] == ["Rex"]
    assert [t["tenant_id"] for t in cli("callbacks", "list", "--tenant", CLINIC)] == [CLINIC]
    assert cli("callbacks", "list") == []
    # a caller's data is found per tenant: the same number has one booking with each business
    clinic_found = cli("privacy", "find", "--phone", "+372 5123 4567", "--tenant", CLINIC)
    hotel_found = cli("privacy", "find", "--phone", "+372 5123 4567")
    assert (clinic_found["bookings"], clinic_found["callback_tickets"]) == (1, 1), clinic_found
    assert (hotel_found["bookings"], hotel_found["callback_tickets"]) == (1, 0), hotel_found
    # each tenant's knowledge base is indexed into its own file
    [hotel_kb, clinic_kb] = cli("kb", "reindex", "--tenant", "all")
    assert (hotel_kb["tenant"], clinic_kb["tenant"], clinic_kb["files"]) == (HOTEL, CLINIC, 2)
    assert hotel_kb["files"] >= 3 and (tmp_path / "data" / f"knowledge-{CLINIC}.db").is_file()
    # `appliance chat --tenant` talks to that business
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "chat", "--tenant", CLINIC, "--config", str(toml), "--session", "cli-c-1"],
        input="Kus ma saan parkida?\n", capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and "4711" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
