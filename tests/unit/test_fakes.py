"""The fakes fail a test that uses them wrongly: an unexpected call, an exhausted script."""

from __future__ import annotations

import asyncio

import pytest

from appliance.core.errors import ModelError
from appliance.core.messages import Channel, Reply, Utterance
from appliance.engines.stt import STTEngine
from appliance.engines.tts import TTSEngine
from tests.support.fakes import FakeBrain, FakeLLM, FakeSTT, FakeTTS, VirtualClock


def test_fake_llm_answers_in_order_and_refuses_an_unexpected_call() -> None:
    llm = FakeLLM([{"intent": "book"}, "not json"])

    async def go() -> None:
        assert await llm.complete_json([], {}, timeout=1) == {"intent": "book"}
        with pytest.raises(ModelError):
            await llm.complete_json([], {}, timeout=1)
        with pytest.raises(AssertionError, match="no scripted reply"):
            await llm.complete_json([], {}, timeout=1)

    asyncio.run(go())
    assert len(llm.calls) == 3


def test_fake_stt_and_tts_are_engines() -> None:
    stt, tts = FakeSTT(["hello", RuntimeError("mic")]), FakeTTS()
    assert isinstance(stt, STTEngine) and isinstance(tts, TTSEngine)
    assert stt.transcribe_sync(b"\x00" * 3200, language_hint="en").text == "hello"
    with pytest.raises(RuntimeError):
        stt.transcribe_sync(b"")
    with pytest.raises(AssertionError):
        stt.transcribe_sync(b"")
    chunk = asyncio.run(tts.synthesize("Tere", "et"))
    assert chunk.duration == pytest.approx(0.08) and tts.said == [("Tere", "et")]


def test_fake_brain_replies_from_its_queue_then_echoes() -> None:
    brain = FakeBrain([Reply("x", "Yes.", "en"), ValueError("boom")])

    async def go() -> None:
        first = await brain.handle(Utterance("s1", Channel.VOICE, "hi"))
        assert (first.session_id, first.text) == ("s1", "Yes.")
        with pytest.raises(ValueError):
            await brain.handle(Utterance("s1", Channel.VOICE, "again"))
        assert (await brain.handle(Utterance("s1", Channel.VOICE, "echo"))).text == "echo"

    asyncio.run(go())
    assert [u.text for u in brain.seen] == ["hi", "again", "echo"]


def test_virtual_clock_times_out_a_virtual_sleep_at_once() -> None:
    clock = VirtualClock()

    async def go() -> None:
        with pytest.raises(TimeoutError):
            await clock.wait_for(clock.sleep(3600), 5)
        assert clock.monotonic() == 5
        await clock.sleep(10)
        assert clock.monotonic() == 15

    asyncio.run(go())
