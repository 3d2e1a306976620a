"""An automatic callback's conversation, against the real local HTTP booking server and SQLite:
the booking backend fails at the commit (a 500, or a 500 after it committed), the executor
takes a callback ticket; the backend recovers; the appliance's callback opens with who calls
and why and the booking summary (the slots restored from the ticket), and one "yes" commits
the booking with the failed attempt's idempotency key: exactly one booking either way."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from appliance.brain.factory import build_brain
from appliance.core.callback_policy import AttemptOutcome
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.core.messages import Channel, Utterance
from appliance.store.callback_attempts import CallbackAttempts, attempts_of
from tests.support.http_backend_server import serve_in_thread

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
PHONE = "+37251234567"
TURNS = ["I need a room for my dog Rex from the 10th to the 15th of December", "Mari Tamm", "yes", "yes"]


def _scenario(tmp_path: Path, fault: str, callee_says: str) -> dict[str, Any]:
    with serve_in_thread() as srv:
        cfg = load_config(
            environ={}, use_system=False,
            overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "off"},
                       "tools": {"backend": "http", "http_url": srv.base_url, "http_token": "test-token",
                                 "timeout_s": 2.0, "max_retries": 1, "backoff_base_s": 0.01}},
        )  # fmt: skip
        knob = srv.knob("create")
        turns = TURNS
        if fault == "availability":  # the stay cannot even be checked: the ticket has the dates only
            srv.knob("availability").fail_500 = 2
            turns = TURNS[:3]
        elif fault == "500":
            knob.fail_500 = 2  # both attempts of the executor
        else:
            knob.fail_after_commit = 1  # committed, then 500: the retry replays the stored answer...
            knob.fail_500 = 1  # ...unless it fails too: the ticket's key is the only link left

        async def main() -> dict[str, Any]:
            brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
            try:
                first = [await brain.handle(Utterance("call-1", Channel.VOICE, t, caller_id=PHONE)) for t in turns]
                tickets = await brain.callbacks.list()
                attempts = CallbackAttempts(brain.sessions.db, tenant_id=cfg.tenant.id, clock=fixed_clock(NOW))
                await attempts.begin(tickets[0].id, "cb-1")
                opening = await brain.open_callback("cb-1", tickets[0])
                answer = await brain.handle(Utterance("cb-1", Channel.VOICE, callee_says, caller_id=PHONE))
                outcome = await brain.callback_outcome("cb-1")
                done = await attempts.finish(
                    tickets[0].id,
                    "cb-1",
                    AttemptOutcome.BOOKED if outcome.booking_id else AttemptOutcome.DECLINED,
                    booking_id=outcome.booking_id,
                )
            finally:
                await brain.aclose()
            return {"first": first, "tickets": tickets, "opening": opening, "answer": answer, "outcome": outcome,
                    "done": done, "bookings": srv.active_bookings(),
                    "keys": [k for ep, k in srv.seen_keys if ep == "create"], "name": cfg.tenant.name}  # fmt: skip

        return asyncio.run(main())


@pytest.mark.parametrize("fault", ["500", "after_commit", "availability"])
def test_the_callback_books_once_with_the_failed_attempts_key(tmp_path: Path, fault: str) -> None:
    r = _scenario(tmp_path, fault, "yes")
    assert r["first"][-1].awaiting is None and "ticket" in r["first"][-1].text, r["first"][-1].text
    (ticket,) = r["tickets"]
    assert ticket.details["tool"] == ("check_availability" if fault == "availability" else "create_booking")
    assert ticket.phone == PHONE
    opening = r["opening"]
    assert opening.text.startswith(f"Hello, this is {r['name']}. You called us earlier"), opening.text
    assert "Rex" in opening.text and opening.awaiting == "confirmation", opening.text
    assert r["answer"].booking_id and r["outcome"].booking_id == r["answer"].booking_id
    assert len(r["bookings"]) == 1, r["bookings"]  # exactly one, whatever the first try did
    if fault != "availability":
        assert set(r["keys"]) == {ticket.details["idempotency_key"]}, r["keys"]
    else:  # one key fixed by the ticket and the booking: every attempt of this callback sends it
        assert len(set(r["keys"])) == 1 and r["keys"][0].startswith(f"create-cb{ticket.id}-"), r["keys"]
    assert r["done"].status == "done" and [a.outcome for a in attempts_of(r["done"])] == [AttemptOutcome.BOOKED]


def test_no_in_the_callback_books_nothing_and_closes_the_ticket(tmp_path: Path) -> None:
    r = _scenario(tmp_path, "500", "no")
    assert r["outcome"].declined and r["outcome"].booking_id is None
    assert r["bookings"] == [] and r["done"].details["auto_callback"]["stopped"] == "declined"


def test_a_callback_after_a_speech_failure_continues_the_booking_in_its_language(tmp_path: Path) -> None:
    """The keypad menu's ticket (speech recognition had failed): the callback says so and goes on
    where the call stopped (the session's slots), in the caller's language."""
    cfg = load_config(
        environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "off"}}
    )  # fmt: skip

    async def main() -> Any:
        brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
        try:
            said = "Tere, soovin broneerida koerale Max toa 10. kuni 15. detsembrini"
            await brain.handle(Utterance("call-1", Channel.VOICE, said, caller_id=PHONE))
            ticket = await brain.callbacks.create(
                phone=PHONE, name=None, reason="callback_requested_degraded", language="et",
                session_id="call-1", channel="voice", details={"source": "127.0.0.1"},
            )  # fmt: skip
            return await brain.open_callback("cb-9", ticket)
        finally:
            await brain.aclose()

    opening = asyncio.run(main())
    assert opening.language == "et" and opening.text.startswith("Tere, siin"), opening.text
    assert "telefoniabiline" in opening.text and opening.slots["pet_name"] == "Max", opening
    assert opening.awaiting == "owner_name", opening  # where the call had stopped


def test_a_second_attempt_after_a_crash_replays_the_same_booking(tmp_path: Path) -> None:
    """The callee said yes and the booking was made, but the daemon died before the attempt was
    recorded: the next attempt's yes sends the same request with the same key: still one booking."""
    with serve_in_thread() as srv:
        cfg = load_config(
            environ={}, use_system=False,
            overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "off"},
                       "tools": {"backend": "http", "http_url": srv.base_url, "http_token": "test-token",
                                 "timeout_s": 2.0, "max_retries": 1, "backoff_base_s": 0.01}},
        )  # fmt: skip
        srv.knob("availability").fail_500 = 2  # the call's availability check fails: a ticket

        async def main() -> list[Any]:
            brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
            try:
                for t in TURNS[:3]:
                    await brain.handle(Utterance("call-1", Channel.VOICE, t, caller_id=PHONE))
                (ticket,) = await brain.callbacks.list()
                answers = []
                for sid in ("cb-1", "cb-2"):  # two attempts; the first one's record was lost
                    await brain.open_callback(sid, ticket)
                    answers.append(await brain.handle(Utterance(sid, Channel.VOICE, "yes", caller_id=PHONE)))
                return answers
            finally:
                await brain.aclose()

        first, second = asyncio.run(main())
        bookings = srv.active_bookings()
        keys = [k for ep, k in srv.seen_keys if ep == "create"]
    assert first.booking_id and second.booking_id == first.booking_id, (first.text, second.text)
    assert len(bookings) == 1 and len(keys) == 2 and len(set(keys)) == 1, (bookings, keys)
