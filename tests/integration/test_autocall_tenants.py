"""Automatic callbacks with several businesses on one box: a round per tenant whose
``callbacks.auto`` is on (the top-level ``[callbacks]`` with the tenant's changes), each calling
only its own tenant's tickets, within its own calling hours, through its own view of the SIP
service (its brain answers the call). Real brains on one SQLite file, the real local booking
backend behind the health probes; the dialling is the seam (``kind=``), as in
test_autocall_rounds.py."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from appliance.brain.factory import build_tenant_brains
from appliance.channels.sip.autocall import AutoCallbacks, TenantAutoCallbacks
from appliance.core.callback_policy import AttemptOutcome
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.core.errors import ConfigError
from appliance.core.tickets import CallbackTicket
from tests.integration.test_tenancy import CLINIC, clinic_site

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # a Tuesday
FALLBACK = {"source": "tool_fallback", "tool": "check_availability", "arguments": {"pet_type": "dog"}}
DIAL = {"auto": True, "dial_uri": "sip:{number}@127.0.0.1:5099", "first_delay_s": 0}


class Recorded(AutoCallbacks):
    """Dials nothing: records which tenant's view would have placed the call."""

    async def call(self, ticket: CallbackTicket, number: str) -> AttemptOutcome:
        calls.append((self.config.tenant.id, self.service.config.tenant.id, self.service.brain, ticket.id, number))
        sid = f"cb-{len(calls)}"
        await self.attempts.begin(ticket.id, sid)
        await self.attempts.finish(ticket.id, sid, AttemptOutcome.NO_ANSWER)
        return AttemptOutcome.NO_ANSWER


calls: list[tuple[Any, ...]] = []


class Service:
    """What a tenant's view of the SIP service needs here (tenant_view_of copies it)."""

    def __init__(self, brains: Any) -> None:
        self.config = brains.default.config
        self.brain = brains.default
        self.callbacks = brains.default.callbacks
        self.tenants = brains
        self.views: dict[str, Any] = {}
        self.speech_ok = True
        self.closing = False


def _config(tmp_path: Path, **clinic_callbacks: Any) -> Any:
    third = clinic_site(tmp_path, id="hotel2", name="Second Hotel", sip_dids=["+372 555 0300"],
                        web_hosts=["hotel2.example"], resources=[
                            {"id": "h2-room", "name": {"en": "room"}, "pet_types": ["dog", "cat"], "capacity": 1}],
                        callbacks={"auto": False})  # fmt: skip
    return load_config(
        environ={},
        use_system=False,
        overrides={
            "store": {"data_dir": str(tmp_path / "data")},
            "llm": {"mode": "off"},
            "callbacks": DIAL,
            "tenants": [clinic_site(tmp_path, callbacks=clinic_callbacks), third],
        },
    )


def _rounds(tmp_path: Path, **clinic_callbacks: Any) -> dict[str, Any]:
    calls.clear()
    cfg = _config(tmp_path, **clinic_callbacks)

    async def main() -> dict[str, Any]:
        brains = await build_tenant_brains(cfg, clock=fixed_clock(NOW), llm=None)
        try:
            tickets = {}
            for tenant in (cfg.tenant.id, CLINIC, "hotel2"):
                t = await brains.get(tenant).callbacks.create(
                    phone="+37251234567", name=None, reason="booking system unavailable", language="en",
                    session_id=f"s-{tenant}", channel="voice", details=FALLBACK,
                )  # fmt: skip
                tickets[tenant] = t.id
            service = Service(brains)
            auto = TenantAutoCallbacks.build(service, brains, kind=Recorded)  # type: ignore[arg-type]
            done = {r.config.tenant.id: await r.run_once() for r in auto.rounds}
            return {"tickets": tickets, "done": done, "brains": {b.config.tenant.id: b for b in brains},
                    "calls": list(calls), "service": service}  # fmt: skip
        finally:
            await brains.aclose()

    return asyncio.run(main())


def test_each_tenant_with_auto_callbacks_calls_its_own_tickets_through_its_own_view(tmp_path: Path) -> None:
    r = _rounds(tmp_path)
    default = r["service"].config.tenant.id
    # hotel2 switched them off; the default tenant and the clinic (inheriting [callbacks]) each have a round
    assert sorted(r["done"]) == sorted([default, CLINIC]), r["done"]
    assert r["done"][default] == [(r["tickets"][default], "no_answer")]
    assert r["done"][CLINIC] == [(r["tickets"][CLINIC], "no_answer")]
    by_tenant = {c[0]: c for c in r["calls"]}
    assert set(by_tenant) == {default, CLINIC}
    # each call goes through its tenant's view of the service: that tenant's brain answers it
    assert by_tenant[CLINIC][1] == CLINIC and by_tenant[CLINIC][2] is r["brains"][CLINIC]
    assert by_tenant[default][1] == default and by_tenant[default][2] is r["brains"][default]
    assert r["service"].views[CLINIC].brain is r["brains"][CLINIC]


def test_a_tenant_outside_its_own_calling_hours_is_not_called(tmp_path: Path) -> None:
    r = _rounds(tmp_path, calling_hours={"tue": "12:00-19:00"})  # 10:00 in Tallinn: later today
    default = r["service"].config.tenant.id
    assert r["done"][CLINIC] == [] and [c[0] for c in r["calls"]] == [default], r


def test_a_wrong_tenant_callbacks_setting_names_the_tenant_and_the_field(tmp_path: Path) -> None:
    with pytest.raises((ConfigError, ValueError), match=r"tenants\[0\]\.callbacks\.max_attempts"):
        _config(tmp_path, max_attempts=99)
    with pytest.raises((ConfigError, ValueError), match=r"tenants\[0\]\.callbacks\.nonsense"):
        _config(tmp_path, nonsense=1)
