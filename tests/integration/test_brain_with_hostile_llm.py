"""The real brain on a real SQLite file, with a fake LLM that answers every extraction with
something hostile: every reply stays in the caller's language, no tool is called on the model's
word, and a booking made afterwards on the rules path is the one the caller asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_conversations import Convo, make_config
from tests.support.fakes import FakeLLM, hostile_proposals

VAGUE = {"en": "well, you know, the thing", "et": "noh, tead küll, see asi", "ru": "ну, знаете, эта штука"}
BOOK = {
    "en": ["I need a room for my dog Rex from 10 December to 12 December", "Mari Maasikas", "+372 5123 4567", "yes"],
    "et": ["Vajan tuba koerale Rex 10. detsembrist 12. detsembrini", "Mari Maasikas", "+372 5123 4567", "jah"],
    "ru": ["Нужен номер для собаки Рекс с 10 декабря по 12 декабря", "Мария Иванова", "+372 5123 4567", "да"],
}


@pytest.mark.parametrize("lang", ["en", "et", "ru"])
def test_hostile_model_changes_nothing(tmp_path: Path, lang: str) -> None:
    replies = list(hostile_proposals().values())
    llm = FakeLLM(replies * 4)
    c = Convo(make_config(tmp_path), llm=llm, session=f"hostile-{lang}")
    try:
        c.say(VAGUE[lang], lang)  # the language is set by the caller's words, not by the model
        for _ in range(3):
            reply = c.say(VAGUE[lang], lang)
            assert reply.actions == () and reply.booking_id is None
            assert not any(reply.slots.get(k) for k in ("pet_name", "owner_name", "owner_phone", "start_date"))
        assert len(llm.calls) >= 3  # the model was asked, and every answer was disposed of
        for text in BOOK[lang]:
            reply = c.say(text, lang)
        assert reply.booking_id is not None, reply.text
        rows = c.rows("SELECT pet_name, start_date, end_date FROM bookings")
        assert [(r[1], r[2]) for r in rows] == [("2026-12-10", "2026-12-12")]
        assert rows[0][0] in ("Rex", "Рекс")
    finally:
        c.close()
