"""A caller whose call dropped in the middle of a booking calls back: the engine (real SQLite)
offers to continue with the same slots, in the caller's language; yes goes on where they left
off, no starts afresh; outside the window, or for another number, nothing is offered."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from appliance.brain.factory import build_brain
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.core.messages import Channel, Reply, Utterance

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
PHONE = "+37251234567"


def _run(tmp_path: Path, steps: list[tuple[str, str, str | None]], **voice: Any) -> list[Reply]:
    """steps: (session, caller_id, text); text None = the call's greeting."""
    cfg = load_config(
        environ={}, use_system=False,
        overrides={"store": {"data_dir": str(tmp_path)}, "llm": {"mode": "off"}, "voice": voice},
    )  # fmt: skip

    async def main() -> list[Reply]:
        brain = await build_brain(cfg, clock=fixed_clock(NOW), llm=None)
        out = []
        try:
            for session, caller, text in steps:
                if text is None:
                    out.append(await brain.greet(session, Channel.VOICE, caller_id=caller))
                else:
                    utt = Utterance(session, Channel.VOICE, text, caller_id=caller)
                    out.append(await brain.handle(utt))
        finally:
            await brain.aclose()
        return out

    return asyncio.run(main())


FIRST_CALL = [
    ("call-1", PHONE, None),
    ("call-1", PHONE, "I need a room for my dog Max from the 10th to the 15th of December"),
]


def test_a_caller_back_is_offered_to_continue_and_yes_goes_on(tmp_path: Path) -> None:
    replies = _run(tmp_path, [*FIRST_CALL, ("call-2", PHONE, None), ("call-2", PHONE, "yes")])
    dropped, offer, after = replies[1], replies[2], replies[3]
    assert dropped.awaiting == "owner_name", dropped
    assert offer.awaiting == "resume_offer" and "Max" in offer.text and "continue" in offer.text, offer.text
    assert "10" in offer.text and "15" in offer.text
    assert offer.slots["pet_name"] == "Max" and offer.slots["start_date"] == "2026-12-10"
    assert after.awaiting == "owner_name", after.text  # where the dropped call stopped


def test_no_starts_afresh(tmp_path: Path) -> None:
    replies = _run(tmp_path, [*FIRST_CALL, ("call-2", PHONE, None), ("call-2", PHONE, "no")])
    assert replies[3].awaiting is None and replies[3].slots["pet_name"] is None, replies[3]


def test_in_the_callers_language(tmp_path: Path) -> None:
    steps = [
        ("call-1", PHONE, None),
        ("call-1", PHONE, "Tere, soovin broneerida koerale Max toa 10. kuni 15. detsembrini"),
        ("call-2", PHONE, None),
    ]
    offer = _run(tmp_path, steps)[2]
    assert offer.language == "et" and offer.awaiting == "resume_offer" and "Max" in offer.text, offer


def test_nothing_offered_to_another_number_or_outside_the_window(tmp_path: Path) -> None:
    other = _run(tmp_path / "a", [*FIRST_CALL, ("call-2", "+37259999999", None)])[2]
    assert other.awaiting != "resume_offer", other.text
    off = _run(tmp_path / "b", [*FIRST_CALL, ("call-2", PHONE, None)], resume_window_s=0)[2]
    assert off.awaiting != "resume_offer", off.text
