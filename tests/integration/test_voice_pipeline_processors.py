"""The voice processors one at a time, with pipecat's own test harness (``run_test``)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

pytest.importorskip("pipecat")

from pipecat.frames.frames import TranscriptionFrame, TTSAudioRawFrame, TTSStartedFrame, TTSStoppedFrame  # noqa: E402
from pipecat.tests.utils import SleepFrame, run_test  # noqa: E402

from appliance.core.errors import BackendUnavailable  # noqa: E402
from appliance.core.messages import Channel, Reply, Utterance  # noqa: E402
from appliance.engines.stt import STTEngine, Transcript  # noqa: E402
from appliance.engines.tts import AudioChunk, TTSEngine  # noqa: E402
from appliance.voice.frames import SpeakFrame, TurnResumedFrame, UtteranceAudioFrame  # noqa: E402
from appliance.voice.recorder import CallRecorder  # noqa: E402
from appliance.voice.respond import BrainProcessor  # noqa: E402
from appliance.voice.speak import EngineTTSProcessor  # noqa: E402
from appliance.voice.texts import error_text, voice_text  # noqa: E402
from appliance.voice.timeline import Mark  # noqa: E402
from appliance.voice.transcribe import EngineSTTProcessor  # noqa: E402
from tests.support.brains import FakeBrainBase  # noqa: E402


def arun(fn):
    """Run an async test on a fresh event loop (no pytest async plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


class Brain(FakeBrainBase):
    def __init__(self, reply: Reply | Exception, delay_s: float = 0.0) -> None:
        super().__init__()
        self.reply = reply
        self.delay_s = delay_s
        self.seen: list[Utterance] = []

    async def handle(self, utterance: Utterance, *, on_slow: Any = None) -> Reply:
        self.seen.append(utterance)
        await asyncio.sleep(self.delay_s)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def transcription(text: str, turn: int, language: str = "et", prob: float = 0.93) -> TranscriptionFrame:
    f = TranscriptionFrame(text=text, user_id="caller", timestamp="", finalized=True)
    f.metadata.update({"turn": turn, "language": language, "language_probability": prob})
    return f


def recorder_with_turn() -> tuple[CallRecorder, int]:
    rec = CallRecorder(session_id="s1")
    turn = rec.new_turn()
    rec.hold_turn(turn)
    return rec, turn


@arun
async def test_brain_processor_speaks_each_sentence():
    rec, turn = recorder_with_turn()
    brain = Brain(Reply("s1", "x", "et", speakable="Jah, vaba tuba on olemas. Mis kuupäevadeks? Aitäh."))
    down, _ = await run_test(
        BrainProcessor(brain=brain, recorder=rec),
        frames_to_send=[transcription("kas teil on vaba tuba", turn)],
        expected_down_frames=[SpeakFrame, SpeakFrame, SpeakFrame, SpeakFrame],
    )
    # sentences as they come; the reply's end is its own empty frame (a streamed reply's last
    # sentence is only known when the brain is done)
    assert [f.text for f in down] == ["Jah, vaba tuba on olemas.", "Mis kuupäevadeks?", "Aitäh.", ""]
    assert [(f.first, f.last) for f in down] == [(True, False), (False, False), (False, False), (False, True)]
    assert {f.language for f in down} == {"et"}
    (u,) = brain.seen
    assert u.channel is Channel.VOICE and u.session_id == "s1"
    assert u.language_hint == "et" and u.language_probability == pytest.approx(0.93)
    assert rec.language == "et"
    assert rec.timelines[turn].has(Mark.FIRST_BRAIN_OUTPUT)


@arun
async def test_brain_processor_slow_notice_in_session_language():
    rec, turn = recorder_with_turn()
    rec.language = "ru"
    brain = Brain(Reply("s1", "x", "ru", speakable="Свободно."), delay_s=0.4)
    down, _ = await run_test(
        BrainProcessor(brain=brain, recorder=rec, slow_notice_s=0.1),
        frames_to_send=[transcription("есть места", turn, "ru")],
        expected_down_frames=[SpeakFrame, SpeakFrame, SpeakFrame],
    )
    assert (down[0].text, down[0].notice, down[0].turn) == (voice_text("slow_notice", "ru"), True, None)
    assert down[1].text == "Свободно."


@arun
async def test_brain_processor_no_notice_when_fast():
    rec, turn = recorder_with_turn()
    down, _ = await run_test(
        BrainProcessor(brain=Brain(Reply("s1", "x", "en", speakable="Yes.")), recorder=rec, slow_notice_s=0.5),
        frames_to_send=[transcription("hi", turn, "en")],
        expected_down_frames=[SpeakFrame, SpeakFrame],
    )
    assert not any(f.notice for f in down)


@arun
async def test_brain_processor_speaks_the_error_message():
    rec, turn = recorder_with_turn()
    down, _ = await run_test(
        BrainProcessor(brain=Brain(BackendUnavailable()), recorder=rec),
        frames_to_send=[transcription("book", turn, "en")],
        expected_down_frames=[SpeakFrame, SpeakFrame],
    )
    # said by its code from the templates, in the caller's language; then the reply's end frame
    assert down[0].text == error_text("en", "backend_unavailable") and (down[1].text, down[1].last) == ("", True)
    assert rec.errors == ["brain: backend_unavailable"]


@arun
async def test_brain_processor_skips_empty_transcripts():
    rec, turn = recorder_with_turn()
    brain = Brain(Reply("s1", "x", "en", speakable="Yes."))
    await run_test(
        BrainProcessor(brain=brain, recorder=rec),
        frames_to_send=[transcription("  ", turn)],
        expected_down_frames=[],
    )
    assert brain.seen == [] and rec.clock.idle


class CountingSTT(STTEngine):
    """Transcribes by content (the audio's length), so speculative calls can be counted."""

    def __init__(self) -> None:
        self.calls = 0

    def transcribe_sync(self, pcm16: bytes, sample_rate: int, language_hint: str | None) -> Transcript:
        self.calls += 1
        return Transcript(f"{len(pcm16)} bytes", "et", 0.9, len(pcm16) / 2 / sample_rate)


@arun
async def test_stt_reuses_the_speculative_result():
    rec, turn = recorder_with_turn()
    stt = CountingSTT()
    audio = bytes(3200)
    down, _ = await run_test(
        EngineSTTProcessor(stt=stt, recorder=rec),
        frames_to_send=[
            UtteranceAudioFrame(turn, audio, 16000, speculative=True),
            SleepFrame(0.1),
            UtteranceAudioFrame(turn, audio + bytes(320), 16000),
        ],
        expected_down_frames=[TranscriptionFrame],
    )
    assert stt.calls == 1
    assert down[0].text == "3200 bytes" and down[0].metadata["turn"] == turn
    assert str(down[0].language) == "et" and down[0].metadata["language_probability"] == 0.9
    assert rec.timelines[turn].speculative_hit is True


@arun
async def test_stt_discards_speculation_when_speech_resumes():
    rec, turn = recorder_with_turn()
    stt = CountingSTT()
    down, _ = await run_test(
        EngineSTTProcessor(stt=stt, recorder=rec),
        frames_to_send=[
            UtteranceAudioFrame(turn, bytes(3200), 16000, speculative=True),
            SleepFrame(0.1),  # the speculative run finishes, then speech resumes
            TurnResumedFrame(turn),
            SleepFrame(0.1),
            UtteranceAudioFrame(turn, bytes(6400), 16000),
        ],
        expected_down_frames=[TranscriptionFrame],
    )
    assert stt.calls == 2
    assert down[0].text == "6400 bytes"
    assert rec.timelines[turn].speculative_hit is False


class ToneTTS(TTSEngine):
    """A fixed-length tone at 22.05 kHz (a narrow seam: only the sample rate matters here)."""

    def __init__(self) -> None:
        self.languages: list[str] = []

    def synthesize_sync(self, text: str, language: str) -> AudioChunk:
        import numpy as np

        self.languages.append(language)
        t = np.arange(int(22050 * 0.5)) / 22050
        return AudioChunk((np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes(), 22050)


@arun
async def test_tts_resamples_and_frames_one_reply():
    rec, turn = recorder_with_turn()
    rec.reply_issued(turn)
    tts = ToneTTS()
    down, _ = await run_test(
        EngineTTSProcessor(tts=tts, recorder=rec),
        frames_to_send=[
            SpeakFrame("Tere.", "et", turn=turn, first=True, last=False),
            SpeakFrame("Здравствуйте.", "ru", turn=turn, first=False, last=True),
        ],
    )
    kinds = [type(f) for f in down]
    assert kinds[0] is TTSStartedFrame and kinds[-1] is TTSStoppedFrame
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert {f.sample_rate for f in audio} == {24000}  # pipecat's default output rate
    total_s = sum(len(f.audio) for f in audio) / 2 / 24000
    assert total_s == pytest.approx(1.0, abs=0.02)
    assert tts.languages == ["et", "ru"]
    assert rec.clock.idle and rec.speaking_turn == turn


@arun
async def test_tts_marks_protected_audio_uninterruptible():
    rec, turn = recorder_with_turn()
    down, up = await run_test(
        EngineTTSProcessor(tts=ToneTTS(), recorder=rec),
        frames_to_send=[SpeakFrame("Number 123.", "en", turn=turn, protected=True)],
    )
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert audio and not any(f.interruptible for f in audio)
    assert [type(f).__name__ for f in up] == ["ProtectedSpeechFrame"]


class StreamingBrain(FakeBrainBase):
    """Streams three sentences 0.2 s apart (an LLM phrasing a knowledge-base answer)."""

    SENTENCES = ("First we check in.", "Then we walk the dog.", "Then we say goodbye.")

    def __init__(self, on_first_sent: Any = None) -> None:
        super().__init__()
        self.on_first_sent = on_first_sent

    async def handle(self, utterance: Utterance, *, on_slow: Any = None) -> Reply:
        text = " ".join(self.SENTENCES)
        return Reply(utterance.session_id, text, "en", speakable=text, turn_id=41)

    async def handle_stream(self, utterance: Utterance, chunker: Any, *, on_slow: Any = None):  # type: ignore[override]
        from appliance.core.messages import ChunkType, ReplyChunk

        for i, sentence in enumerate(self.SENTENCES):
            yield ReplyChunk(ChunkType.SENTENCE, sentence, "en")
            await asyncio.sleep(0.2)
            if i == 0 and self.on_first_sent is not None:
                self.on_first_sent()
        yield ReplyChunk(ChunkType.REPLY, reply=await self.handle(utterance))


@arun
async def test_barge_in_stops_the_rest_of_a_streamed_reply_and_its_timeline_is_still_stored():
    from pipecat.frames.frames import InterruptionFrame

    rec, turn = recorder_with_turn()
    rec.timeline_sink = None
    # the input processor marks the playing turn interrupted while the LLM is still phrasing
    brain = StreamingBrain(on_first_sent=lambda: rec.interrupted(0.5))
    rec.speaking_turn = turn
    down, _ = await run_test(
        BrainProcessor(brain=brain, recorder=rec),
        frames_to_send=[transcription("how does it work", turn, "en"), SleepFrame(0.1), InterruptionFrame(),
                        SleepFrame(0.7)],
        expected_down_frames=[SpeakFrame, InterruptionFrame],
    )  # fmt: skip
    assert down[0].text == StreamingBrain.SENTENCES[0]  # nothing after the barge-in reached the TTS
    await asyncio.sleep(0)
    tl = rec.timelines[turn]
    assert tl.reply_turn_id == 41 and tl.reply == " ".join(StreamingBrain.SENTENCES)  # the whole reply is kept
    await rec.finish()
    assert [t for t, _ in brain.timelines] == [41]  # stored once, with its reply's id
