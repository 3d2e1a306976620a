"""The automatic callbacks' rounds over real tickets in SQLite (no SIP: the dialling is the seam,
``AutoCallbacks.call``, recorded here): the staff switch, claimed tickets, numbers that cannot
be dialled, old tickets, calling hours, and the health probe's backoff on a virtual clock."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any, cast

from appliance.channels.sip.autocall import AutoCallbacks
from appliance.core.callback_policy import AttemptOutcome, Cause
from appliance.core.tickets import CallbackTicket
from appliance.store.callback_attempts import CallbackAttempts
from appliance.store.db import Database
from appliance.store.repos import CallbackRepository
from appliance.store.tickets import TicketDesk
from tests.support.control_harness import make_config

TUESDAY_10 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
FALLBACK = {"source": "tool_fallback", "tool": "check_availability", "arguments": {"pet_type": "dog"}}


class Clocks:
    def __init__(self) -> None:
        self.now = TUESDAY_10
        self.mono = 1000.0

    def advance(self, s: float) -> None:
        self.now += dt.timedelta(seconds=s)
        self.mono += s


class Recorded(AutoCallbacks):
    """Dials nothing: records the call and says how it went."""

    answer = AttemptOutcome.NO_ANSWER

    async def call(self, ticket: CallbackTicket, number: str) -> AttemptOutcome:
        self.calls.append((ticket.id, number))
        sid = f"cb-{len(self.calls)}"
        await self.attempts.begin(ticket.id, sid)
        await self.attempts.finish(ticket.id, sid, self.answer)
        return self.answer


class Speech:
    speech_ok = True
    closing = False


def _setup(tmp_path: Path, healthy: list[bool], **callbacks: Any) -> tuple[Recorded, CallbackRepository, Clocks, Any]:
    cfg = make_config(tmp_path, callbacks={"auto": True, "dial_uri": "sip:{number}@127.0.0.1:5099", **callbacks})
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    db = Database.from_config(cfg)
    clocks = Clocks()
    probes: list[float] = []

    async def probe(ticket: CallbackTicket) -> bool:
        probes.append(clocks.mono)
        return healthy[0]

    attempts = CallbackAttempts(db, tenant_id=cfg.tenant.id, clock=lambda: clocks.now)
    auto = Recorded(cfg, cast(Any, Speech()), cast(Any, None), attempts, {Cause.BACKEND: probe},
                    clock=lambda: clocks.now, monotonic=lambda: clocks.mono)  # fmt: skip
    auto.calls = []  # type: ignore[attr-defined]
    repo = CallbackRepository(db, tenant_id=cfg.tenant.id, clock=lambda: clocks.now)
    return auto, repo, clocks, (db, probes)


async def _ticket(repo: CallbackRepository, phone: str | None = "+37251234567", **kw: Any) -> CallbackTicket:
    args = {"reason": "booking system unavailable during check_availability", "details": FALLBACK, **kw}
    return await repo.create(phone=phone, name=None, language="en", session_id="s-1", channel="voice", **args)


def test_a_round_calls_when_healthy_and_due_and_backs_off_probes_while_not(tmp_path: Path) -> None:
    healthy = [False]
    auto, repo, clocks, (db, probes) = _setup(tmp_path, healthy)

    async def main() -> list[Any]:
        t = await _ticket(repo)
        seen = [await auto.run_once()]  # made just now: first_delay_s (60 s) not passed, no probe
        clocks.advance(61)
        for _ in range(6):  # one round a second; the probe only at 0, 15, 45 s... (15 s, 30 s backoff)
            seen.append(await auto.run_once())
            clocks.advance(1)
        clocks.advance(45)
        healthy[0] = True
        seen.append(await auto.run_once())
        return [t.id, seen]

    tid, seen = asyncio.run(main())
    db.close()
    assert seen[:-1] == [[]] * 7, seen
    assert [round(p - probes[0]) for p in probes] == [0, 51], probes  # 15 s after the first, none; at 51 s the next
    assert seen[-1] == [(tid, "no_answer")] and auto.calls == [(tid, "+37251234567")]  # type: ignore[attr-defined]


def test_switched_off_claimed_undialable_and_old_tickets_are_not_called(tmp_path: Path) -> None:
    auto, repo, clocks, (db, probes) = _setup(tmp_path, [True])

    async def main() -> dict[str, Any]:
        claimed = await _ticket(repo)
        await TicketDesk(db, tenant_id="demo").claim(claimed.id, actor="staff:mari")
        bad = await _ticket(repo, phone="sip:x@evil")
        old = await _ticket(repo)
        clocks.advance(49 * 3600)  # Thursday 11:00: the old ticket is past max_age_h (48 h)
        fresh = await _ticket(repo, reason="customer asked for a callback", details={})  # a person's job
        out = {"round": await auto.run_once(), "ids": (claimed.id, bad.id, old.id, fresh.id)}
        off = auto.config.callbacks.model_copy(update={"auto": False})  # the staff switch
        auto.config = auto.config.model_copy(update={"callbacks": off})
        late = await _ticket(repo)
        clocks.advance(120)
        out["off"] = await auto.run_once()
        out["late"] = late.id
        return out

    out = asyncio.run(main())
    db.close()
    claimed, bad, old, fresh = out["ids"]
    assert out["round"] == [(bad, "stop:no_number"), (old, "stop:expired")], out
    assert out["off"] == [] and auto.calls == [] and probes == []  # type: ignore[attr-defined]


def test_outside_calling_hours_nobody_is_called(tmp_path: Path) -> None:
    auto, repo, clocks, (db, probes) = _setup(tmp_path, [True])

    async def main() -> list[Any]:
        clocks.advance(9 * 3600 + 30 * 60)  # Tuesday 19:30: closed until Wednesday 09:00
        await _ticket(repo)
        clocks.advance(120)
        first = await auto.run_once()
        clocks.advance(13 * 3600)  # Wednesday 08:32
        second = await auto.run_once()
        clocks.advance(30 * 60)  # 09:02
        return [first, second, await auto.run_once()]

    seen = asyncio.run(main())
    db.close()
    assert seen[0] == [] and seen[1] == [] and seen[2] == [(1, "no_answer")], seen
    assert len(probes) == 1
