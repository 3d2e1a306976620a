"""The LLM only proposes; code disposes. Hostile replies from a fake LLM (values the caller never
said, wrong types, huge strings, tools that do not exist, garbage, timeouts) never become slots,
never crash a turn, and the rules path carries on, in every language."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from appliance.brain.state import DialogueState
from appliance.brain.understanding.proposal import Understanding
from appliance.core.config import load_config
from appliance.core.messages import Intent
from tests.support.fakes import FakeLLM, hostile_proposals

CONFIG = load_config(environ={}, use_system=False)
TODAY = dt.date(2030, 1, 7)
# Words the rules find nothing in, so the LLM is asked.
VAGUE = {"en": "well, you know, the thing", "et": "noh, tead küll, see asi", "ru": "ну, знаете, эта штука"}


def understand(reply: Any, lang: str, text: str | None = None) -> tuple[Any, FakeLLM, Understanding]:
    llm = FakeLLM([reply])
    und = Understanding(CONFIG, llm)
    state = DialogueState(session_id="s", channel="web", language=lang)
    ex = asyncio.run(und.understand(text or VAGUE[lang], state, TODAY))
    return ex, llm, und


@pytest.mark.parametrize("lang", ["en", "et", "ru"])
@pytest.mark.parametrize("kind", sorted(hostile_proposals()))
def test_hostile_replies_never_become_slots(kind: str, lang: str) -> None:
    ex, llm, _ = understand(hostile_proposals()[kind], lang)
    assert len(llm.calls) == 1  # the LLM was asked
    assert (ex.pet_name, ex.owner_name, ex.phone) == (None, None, None)
    assert (ex.start, ex.end, ex.single_date, ex.nights) == (None, None, None, None)
    assert all(isinstance(i, Intent) for i in ex.intents)


@pytest.mark.parametrize("kind", ["timeout", "crash", "not_json", "json_array"])
def test_a_failing_model_degrades_and_is_left_alone_for_a_while(kind: str) -> None:
    ex, llm, und = understand(hostile_proposals()[kind], "en")
    assert ex.intents == () and und.llm_status in ("failing", "off")
    state = DialogueState(session_id="s", channel="web", language="en")
    asyncio.run(und.understand(VAGUE["en"], state, TODAY))
    assert len(llm.calls) == 1  # not asked again right away (an empty queue would have failed)


def test_an_unknown_tool_name_is_ignored_and_the_intent_kept_from_the_closed_list() -> None:
    ex, _, _ = understand(hostile_proposals()["unknown_tool"], "en")
    assert ex.intents == (Intent.BOOK,)


@pytest.mark.parametrize(
    ("lang", "text", "proposal", "expected"),
    [
        ("en", "it is for my dog, her name is bella i guess", {"pet_name": "Bella"}, "Bella"),
        ("et", "see on mu koer, nimi on vist bella", {"pet_name": "Bella"}, "Bella"),
        ("ru", "это моя собака, зовут вроде белла", {"pet_name": "Белла"}, "Белла"),
    ],
)
def test_a_value_in_the_callers_words_is_taken(lang: str, text: str, proposal: dict, expected: str) -> None:
    llm = FakeLLM([{"intent": "book", **proposal}])
    und = Understanding(CONFIG, llm)
    state = DialogueState(session_id="s", channel="web", language=lang)
    rules = und.rules(text, state, TODAY)
    ex = und.validate(llm.replies[0], text, state, TODAY, rules)  # type: ignore[arg-type]
    assert ex.pet_name == expected


def test_a_failed_model_is_asked_again_after_the_retry_window() -> None:
    from appliance.brain.understanding.proposal import RETRY_AFTER_FAILURE_S
    from tests.support.fakes import VirtualClock

    clock = VirtualClock()
    llm = FakeLLM([hostile_proposals()["timeout"], {"intent": "thanks"}])
    und = Understanding(CONFIG, llm, monotonic=clock.monotonic)
    state = DialogueState(session_id="s", channel="web", language="en")
    asyncio.run(und.understand(VAGUE["en"], state, TODAY))
    assert und.llm_status in ("failing", "off")
    clock.advance(RETRY_AFTER_FAILURE_S - 1)
    asyncio.run(und.understand(VAGUE["en"], state, TODAY))
    assert len(llm.calls) == 1  # still resting
    clock.advance(2)
    ex = asyncio.run(und.understand(VAGUE["en"], state, TODAY))
    assert len(llm.calls) == 2 and ex.intents == (Intent.THANKS,)
