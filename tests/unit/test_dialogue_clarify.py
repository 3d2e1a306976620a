"""A tool's client error is said from the templates, in the caller's language, by its field and
parameters: no English text from an error reaches an Estonian or Russian reply."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from appliance.brain.dialogue.policy import Dialogue
from appliance.brain.state import Awaiting, DialogueState, Task
from appliance.brain.text.render import Renderer
from appliance.brain.understanding.extract import Extraction
from appliance.core.config import load_config
from appliance.core.messages import OutcomeStatus
from appliance.tools.executor import ToolResult

CONFIG = load_config(environ={}, use_system=False)
TODAY = dt.date(2030, 1, 7)
ENGLISH = ("Sorry", "booking", "not valid", "look right", "required")


def clarify(lang: str, field: str, details: dict[str, Any]) -> tuple[str, DialogueState]:
    async def tools(name: str, args: dict[str, Any], **_: Any) -> ToolResult:
        return ToolResult(
            OutcomeStatus.NEEDS_CLARIFICATION, name, args, error_code="validation_error", error_field=field,
            details=details, attempts=1,
        )  # fmt: skip

    async def answers(*_: Any) -> list:
        return []

    state = DialogueState(session_id="s", channel="web", language=lang, task=Task.BOOK)
    s = state.slots
    s.pet_type, s.pet_name, s.owner_name, s.owner_phone = "dog", "Rex", "Mari Maasikas", "+37251234567"
    s.start_date, s.end_date = TODAY + dt.timedelta(days=10), TODAY + dt.timedelta(days=12)
    state.awaiting = Awaiting.CONFIRMATION
    state.new_confirmation()
    out = asyncio.run(Dialogue(CONFIG, tools, answers).step(state, Extraction(intents=(), yes=True), "yes", TODAY))
    text, _, _ = Renderer("Pawtel").render(out.parts, lang)
    return text, state


@pytest.mark.parametrize("lang", ["et", "ru"])
@pytest.mark.parametrize(
    ("field", "details", "awaiting"),
    [
        ("start_date", {"earliest": "2030-01-09"}, Awaiting.START_DATE),
        ("start_date", {"latest": "2031-01-01"}, Awaiting.START_DATE),
        ("end_date", {"max_stay_nights": 30}, Awaiting.END_DATE),
        ("pet_name", {"problem": "too_long"}, Awaiting.PET_NAME),
        ("pet_type", {"offered": ["dog"]}, Awaiting.PET_TYPE),
        ("notes", {}, None),
    ],
)
def test_a_client_error_is_said_in_the_callers_language(
    lang: str, field: str, details: dict[str, Any], awaiting: Awaiting | None
) -> None:
    text, state = clarify(lang, field, details)
    assert text and not any(w in text for w in ENGLISH), text
    assert state.awaiting is awaiting


def test_the_earliest_date_is_named_and_the_question_asked_again() -> None:
    text, state = clarify("en", "start_date", {"earliest": "2030-01-09"})
    assert "9 January" in text and state.slots.start_date is None
    text, _ = clarify("en", "pet_name", {})
    assert text == "Sorry, that does not look right. What is your pet's name?"
