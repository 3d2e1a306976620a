"""Notices ("one moment", "are you still there?") and replies on the voice path: a notice never
resets a reply's state in the TTS processor, and the playback order the recorder keeps stays the
order the caller hears, so the next reply's first-audio mark lands on that reply (the flaky
``test_booking_call_with_scripted_stt[en]``: a notice ran into a reply and the following
reply's first-audio mark was lost). And the brain processor never queues a slow tool's notice
between the sentences of a reply."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from pipecat.frames.frames import TTSAudioRawFrame, TTSStartedFrame, TTSStoppedFrame
from pipecat.tests.utils import run_test

from appliance.core.messages import ChunkType, Reply, ReplyChunk, Utterance
from appliance.engines.tts import AudioChunk
from appliance.voice.degraded import ApologyBank
from appliance.voice.frames import SpeakFrame
from appliance.voice.recorder import CallRecorder
from appliance.voice.respond import BrainProcessor
from appliance.voice.timeline import Mark
from tests.integration.test_voice_pipeline_processors import ToneTTS, transcription
from tests.support.brains import FakeBrainBase


def arun(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


class FailingTTS(ToneTTS):
    """A tone, except for sentences that say "fail"."""

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        if "fail" in text:
            raise RuntimeError("synthesis failed")
        return super().synthesize_sync(text, language)


def _notice(text: str = "One moment.") -> SpeakFrame:
    return SpeakFrame(text, "en", turn=None, notice=True)


def _two_turns() -> tuple[CallRecorder, int, int]:
    rec = CallRecorder(session_id="s1")
    return rec, rec.new_turn(), rec.new_turn()


@arun
async def test_a_notice_inside_a_reply_joins_its_audio_and_the_next_reply_gets_its_first_audio_mark() -> None:
    rec, first, second = _two_turns()
    from appliance.voice.speak import EngineTTSProcessor

    down, _ = await run_test(
        EngineTTSProcessor(tts=ToneTTS(), recorder=rec),
        frames_to_send=[
            SpeakFrame("Let me see.", "en", turn=first, first=True, last=False),
            _notice(),  # came in while the reply was being spoken
            SpeakFrame("It is free.", "en", turn=first, first=False, last=False),
            SpeakFrame("", "en", turn=first, first=False, last=True),
            SpeakFrame("Your name?", "en", turn=second, first=True, last=True),
        ],
    )
    contexts = [(type(f).__name__, f.context_id) for f in down if isinstance(f, (TTSStartedFrame, TTSStoppedFrame))]
    assert contexts == [("TTSStartedFrame", f"turn-{first}"), ("TTSStoppedFrame", f"turn-{first}"),
                        ("TTSStartedFrame", f"turn-{second}"), ("TTSStoppedFrame", f"turn-{second}")]  # fmt: skip
    assert sum(1 for f in down if isinstance(f, TTSAudioRawFrame) and f.context_id == "notice") > 0
    # the transport plays the first reply (with the notice inside), then the second
    rec.playback_started(0.0)
    rec.playback_stopped(1.5)
    rec.playback_started(2.0)
    assert rec.timelines[first].has(Mark.FIRST_AUDIO_OUT) and rec.timelines[first].has(Mark.PLAYBACK_END)
    assert rec.timelines[second].has(Mark.FIRST_AUDIO_OUT), rec.timelines[second]
    assert rec.playing_turn == second


@arun
async def test_a_notice_between_replies_is_its_own_playback_item() -> None:
    rec, first, _ = _two_turns()
    from appliance.voice.speak import EngineTTSProcessor

    down, _ = await run_test(
        EngineTTSProcessor(tts=ToneTTS(), recorder=rec),
        frames_to_send=[_notice(), SpeakFrame("It is free.", "en", turn=first, first=True, last=True)],
    )
    starts = [f.context_id for f in down if isinstance(f, TTSStartedFrame)]
    assert starts == ["notice", f"turn-{first}"]
    rec.playback_started(0.0)  # the notice: no turn's mark
    assert not rec.timelines[first].has(Mark.FIRST_AUDIO_OUT)
    rec.playback_stopped(0.8)
    rec.playback_started(0.9)  # the reply
    assert rec.timelines[first].has(Mark.FIRST_AUDIO_OUT)


@arun
async def test_a_notice_does_not_reset_the_replys_apology() -> None:
    """The TTS fails on the reply's first sentence: the apology replaces it once for the whole
    reply, also when a notice is spoken in between."""
    from appliance.voice.speak import EngineTTSProcessor

    rec, first, _ = _two_turns()
    bank = ApologyBank(24000)
    bank.audio["en"] = b"\x01\x00" * 2400  # 0.1 s recorded at start
    down, _ = await run_test(
        EngineTTSProcessor(tts=FailingTTS(), recorder=rec, apologies=bank),
        frames_to_send=[
            SpeakFrame("This will fail.", "en", turn=first, first=True, last=False),
            _notice(),
            SpeakFrame("This will fail too.", "en", turn=first, first=False, last=True),
        ],
    )
    apology_frames = [f for f in down if isinstance(f, TTSAudioRawFrame) and f.audio[:2] == b"\x01\x00"]
    assert sum(len(f.audio) for f in apology_frames) == 4800  # once
    assert rec.degraded == ["tts"]


class SlowToolBrain(FakeBrainBase):
    """A tool is slow just as the reply starts: its notice hook runs in another task while the
    first sentence is being pushed (the executor's ``on_slow`` is a scheduled task)."""

    async def handle(self, utterance: Utterance, *, on_slow: Any = None) -> Reply:
        return Reply(utterance.session_id, "It is free. Your name?", "en", speakable="It is free. Your name?")

    async def handle_stream(self, utterance: Utterance, chunker: Any, *, on_slow: Any = None):  # type: ignore[override]
        assert on_slow is not None
        hook = asyncio.ensure_future(on_slow("en"))
        yield ReplyChunk(ChunkType.SENTENCE, "It is free.", "en")
        await hook
        yield ReplyChunk(ChunkType.SENTENCE, "Your name?", "en")
        yield ReplyChunk(ChunkType.REPLY, reply=await self.handle(utterance))


@arun
async def test_a_slow_tools_notice_is_never_queued_inside_a_reply() -> None:
    rec = CallRecorder(session_id="s1")
    turn = rec.new_turn()
    down, _ = await run_test(
        BrainProcessor(brain=SlowToolBrain(), recorder=rec, slow_notice_s=0.05),
        frames_to_send=[transcription("Is there room?", turn, language="en")],
    )
    speak = [(f.text, f.notice) for f in down if isinstance(f, SpeakFrame)]
    notices = [i for i, (_, notice) in enumerate(speak) if notice]
    replies = [i for i, (text, notice) in enumerate(speak) if not notice and text]
    assert replies, speak
    assert all(i < replies[0] for i in notices), speak  # before the reply, or not at all


class SlowBrain(FakeBrainBase):
    async def handle(self, utterance: Utterance, *, on_slow: Any = None) -> Reply:
        await asyncio.sleep(0.4)
        return Reply(utterance.session_id, "It is free.", "en", speakable="It is free.")


@arun
async def test_no_timer_notice_while_the_callers_audio_waits_for_the_work() -> None:
    """A file call (faster than real time): the caller's audio stands still while the brain
    works, so no silence is heard and no "one moment" is timed by the wall clock; a real-time
    call with the same slow brain gets it."""
    said: dict[bool, list[str]] = {}
    for waits in (True, False):
        rec = CallRecorder(session_id="s1")
        rec.clock.waits_for_work = waits
        turn = rec.new_turn()
        down, _ = await run_test(
            BrainProcessor(brain=SlowBrain(), recorder=rec, slow_notice_s=0.05),
            frames_to_send=[transcription("Is there room?", turn, language="en")],
        )
        said[waits] = [f.text for f in down if isinstance(f, SpeakFrame) and f.notice]
    assert said[True] == [] and len(said[False]) == 1, said
