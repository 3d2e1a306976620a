"""The voice pipeline end to end over the file transport: espeak-ng speech in, WAV out.

Real parts: pipecat, the bundled Silero VAD, espeak-ng (apt-get install espeak-ng), real
WAV files. Seams: ScriptedSTT (transcripts by call order) and a scripted brain.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.core.messages import Channel, Reply, Utterance

pytest.importorskip("pipecat")
if shutil.which("espeak-ng") is None:  # pragma: no cover - the test image installs it
    pytest.fail("espeak-ng is required: apt-get install -y espeak-ng", pytrace=False)

from appliance.channels.file_transport import RATE, run_call, write_wav  # noqa: E402
from appliance.engines.stt import ScriptedSTT, Transcript  # noqa: E402
from appliance.engines.tts import EspeakTTS  # noqa: E402
from appliance.voice.pipeline import VoiceSettings  # noqa: E402
from appliance.voice.texts import voice_text  # noqa: E402
from appliance.voice.timeline import Mark  # noqa: E402
from tests.support.brains import FakeBrainBase  # noqa: E402
from tests.support.speech import silence, speech  # noqa: E402


class SpyTTS(EspeakTTS):
    """espeak-ng, remembering what it was asked to say and in which language."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[tuple[str, str]] = []

    async def synthesize(self, text: str, language: str):
        self.said.append((text, language))
        return await super().synthesize(text, language)


class ScriptedBrain(FakeBrainBase):
    """Answers each utterance with the next scripted reply (or a function of the utterance)."""

    def __init__(self, replies, delay_s: float = 0.0) -> None:
        super().__init__()
        self.replies = list(replies)
        self.delay_s = delay_s
        self.seen: list[Utterance] = []

    async def handle(self, utterance: Utterance, *, on_slow: Any = None) -> Reply:
        self.seen.append(utterance)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        item = self.replies[len(self.seen) - 1]
        return item(utterance) if callable(item) else item


def seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / RATE


def read_out(path: Path) -> np.ndarray:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="int16")
    assert rate == RATE
    return data.astype(np.int32)


def loud(audio: np.ndarray, start_s: float, end_s: float, threshold: int = 500) -> bool:
    part = audio[int(start_s * RATE) : int(end_s * RATE)]
    return part.size > 0 and int(np.abs(part).max()) > threshold


def reply(text: str, language: str, **kw) -> Reply:
    return Reply(session_id="s", text=text, language=language, speakable=text, **kw)


def test_three_languages_turns_audio_and_timelines(tmp_path):
    utterances = [
        ("Hello, I would like to book a room for my dog.", "en"),
        ("Tere, kas teil on järgmisel nädalal vaba tuba?", "et"),
        ("Здравствуйте, сколько стоит одна ночь?", "ru"),
    ]
    pcm = silence(0.8)
    spans = []
    for text, lang in utterances:
        s = speech(text, lang)
        spans.append((seconds(pcm), seconds(pcm) + seconds(s)))
        pcm += s + silence(6.0)
    wav_in = tmp_path / "in.wav"
    write_wav(wav_in, pcm)
    stt = ScriptedSTT(
        [
            Transcript("I would like to book a room for my dog", "en", 0.98, 2.0),
            Transcript("kas teil on järgmisel nädalal vaba tuba", "et", 0.91, 2.0),
            Transcript("сколько стоит одна ночь", "ru", 0.97, 2.0),
        ]
    )
    brain = ScriptedBrain(
        [
            reply("Sure. Which dates would you like?", "en"),
            reply("Jah, meil on vaba tuba. Millised kuupäevad?", "et"),
            reply("Одна ночь стоит тридцать пять евро. Бронируем?", "ru"),
        ]
    )
    tts = SpyTTS()
    result = asyncio.run(
        run_call(
            wav_in,
            tmp_path / "out.wav",
            brain=brain,
            stt=stt,
            tts=tts,
            session_id="call-1",
            timeline_out=tmp_path / "timeline.json",
        )
    )

    # VAD found each utterance: one turn each, in order, nothing else
    assert len(result.turns) == 3, result.to_dict()
    assert [u.text for u in brain.seen] == [t.text for t in stt._script]  # type: ignore[attr-defined]
    assert result.errors == ()
    assert result.interruptions == 0 and result.backchannels == 0
    for u, (_, lang) in zip(brain.seen, utterances, strict=True):
        assert u.channel is Channel.VOICE and u.session_id == "call-1"
        assert u.language_hint == lang and u.language_probability is not None
    # the reply language picks the voice, sentence by sentence
    assert [lang for _, lang in tts.said] == ["en", "en", "et", "et", "ru", "ru"]

    out = read_out(tmp_path / "out.wav")
    assert len(out) / RATE == pytest.approx(result.duration_s, abs=0.05)
    assert not loud(out, 0, spans[0][1]), "the appliance spoke before the first turn ended"
    for turn, (start, end) in zip(result.turns, spans, strict=True):
        tl = turn.audio
        assert turn.complete, turn.to_dict()
        assert tl[Mark.SPEECH_START] == pytest.approx(start, abs=0.25)
        assert tl[Mark.END_OF_SPEECH] - end == pytest.approx(0.5, abs=0.15)  # the end-of-turn silence
        assert tl[Mark.FIRST_AUDIO_OUT] >= tl[Mark.END_OF_SPEECH]
        # non-silent output after each turn, where the timeline says
        assert loud(out, tl[Mark.FIRST_AUDIO_OUT], tl[Mark.PLAYBACK_END])
        assert tl[Mark.PLAYBACK_END] - tl[Mark.FIRST_AUDIO_OUT] > 1.0
    saved = json.loads((tmp_path / "timeline.json").read_text(encoding="utf-8"))
    assert [t["complete"] for t in saved["turns"]] == [True, True, True]
    assert saved["turns"][1]["language"] == "et"


def _barge_in_call(tmp_path, caller_burst: bytes, *, protected: bool = False):
    """The caller asks something; the appliance answers at length; 1.5 s into the answer
    the caller makes ``caller_burst``."""
    first = speech("What are your opening hours?", "en")
    long_answer = (
        "We are open from eight in the morning until six in the evening on weekdays. "
        "On Saturdays we are open from ten until four. On Sundays we are closed. "
        "You can also leave a message at any time."
    )
    # where the answer starts: end of speech + 0.5 s end-of-turn silence (+ a VAD window)
    probe = asyncio.run(_first_audio_at(tmp_path, first, long_answer))
    onset = probe + 1.5
    pcm = silence(0.5) + first
    pcm += silence(onset - seconds(pcm)) + caller_burst + silence(8.0)
    wav_in = tmp_path / "in.wav"
    write_wav(wav_in, pcm)
    stt = ScriptedSTT(
        [
            Transcript("what are your opening hours", "en", 0.99, 1.5),
            Transcript("sorry, how much is it", "en", 0.99, 1.0),
        ]
    )
    brain = ScriptedBrain([reply(long_answer, "en", protected=protected), reply("Thirty five euros a night.", "en")])
    result = asyncio.run(run_call(wav_in, tmp_path / "out.wav", brain=brain, stt=stt, tts=SpyTTS(), session_id="barge"))
    return result, read_out(tmp_path / "out.wav"), onset, brain


async def _first_audio_at(tmp_path: Path, first: bytes, answer: str) -> float:
    wav_in = tmp_path / "probe.wav"
    write_wav(wav_in, silence(0.5) + first + silence(1.5))
    result = await run_call(
        wav_in,
        tmp_path / "probe-out.wav",
        brain=ScriptedBrain([reply(answer, "en")]),
        stt=ScriptedSTT(["what are your opening hours"]),
        tts=EspeakTTS(),
        session_id="probe",
    )
    return result.turns[0].audio[Mark.FIRST_AUDIO_OUT]


def test_barge_in_stops_playback_within_200ms_of_vad_start(tmp_path):
    burst = speech("Sorry, how much does it cost per night?", "en")
    result, out, onset, brain = _barge_in_call(tmp_path, burst)

    assert result.interruptions == 1, result.to_dict()
    pause = next(b for b in result.barge_ins if b["action"] == "pause")
    vad_start = pause["vad_start_s"]
    assert onset - 0.05 <= vad_start <= onset + 0.15
    # the appliance was talking right up to the caller's speech...
    assert loud(out, onset - 0.5, onset)
    # ...and its audio stopped within 200 ms (audio time) of VAD start
    assert not loud(out, vad_start + 0.2, onset + seconds(burst)), "playback went on after the barge-in"
    first = result.turns[0]
    assert first.has(Mark.INTERRUPTED) and not first.has(Mark.PLAYBACK_END)
    # the barge-in is a turn of its own, answered after the caller finished
    assert len(result.turns) == 2 and len(brain.seen) == 2
    second = result.turns[1]
    assert second.complete
    assert loud(out, second.audio[Mark.FIRST_AUDIO_OUT], second.audio[Mark.PLAYBACK_END])


def test_backchannel_does_not_interrupt(tmp_path):
    # ~200 ms of voiced speech: a "mhm"
    voiced = speech("mmmmmmmmm", "en")
    mid = len(voiced) // 2 // 2 * 2
    burst = voiced[mid - int(0.1 * RATE) * 2 : mid + int(0.1 * RATE) * 2]
    result, out, onset, brain = _barge_in_call(tmp_path, burst)

    assert result.interruptions == 0, result.to_dict()
    assert len(brain.seen) == 1, "a backchannel must not reach the brain"
    first = result.turns[0]
    assert first.complete and not first.has(Mark.INTERRUPTED)
    # the answer went on after the "mhm"
    assert loud(out, onset + 1.0, first.audio[Mark.PLAYBACK_END])
    assert first.audio[Mark.PLAYBACK_END] - onset > 3.0


def test_protected_read_back_is_not_interrupted(tmp_path):
    burst = speech("Sorry, how much does it cost per night?", "en")
    result, out, onset, brain = _barge_in_call(tmp_path, burst, protected=True)

    assert result.interruptions == 0, result.to_dict()
    first = result.turns[0]
    assert not first.has(Mark.INTERRUPTED)
    assert loud(out, onset + 0.3, onset + 1.5), "the read-back stopped"
    # the caller's words were still heard and answered afterwards
    assert len(brain.seen) == 2


def test_slow_brain_says_one_moment_in_the_session_language(tmp_path):
    pcm = silence(0.5) + speech("Tere, kas teil on vaba tuba?", "et") + silence(2.0)
    write_wav(tmp_path / "in.wav", pcm)
    tts = SpyTTS()
    brain = ScriptedBrain([reply("Jah, on küll.", "et")], delay_s=1.3)
    result = asyncio.run(
        run_call(
            tmp_path / "in.wav",
            tmp_path / "out.wav",
            brain=brain,
            stt=ScriptedSTT([Transcript("kas teil on vaba tuba", "et", 0.95, 1.0)]),
            tts=tts,
            session_id="slow",
            settings=VoiceSettings(slow_notice_s=0.5),
            # the caller's audio runs in real time, as on a phone line: a faster-than-real-time
            # file call holds the audio while the brain works, so no silence is heard there
            realtime=True,
        )
    )
    assert tts.said[0] == (voice_text("slow_notice", "et"), "et")
    assert tts.said[1] == ("Jah, on küll.", "et")
    assert result.turns[0].complete


def test_end_of_conversation_ends_the_call_early(tmp_path):
    pcm = silence(0.5) + speech("Thank you, goodbye.", "en") + silence(20.0)
    write_wav(tmp_path / "in.wav", pcm)
    result = asyncio.run(
        run_call(
            tmp_path / "in.wav",
            tmp_path / "out.wav",
            brain=ScriptedBrain([reply("Goodbye!", "en", end_of_conversation=True)]),
            stt=ScriptedSTT(["thank you goodbye"]),
            tts=EspeakTTS(),
            session_id="bye",
        )
    )
    assert result.ended_by == "end_of_conversation"
    assert result.duration_s < seconds(pcm) - 10
    assert result.turns[0].complete


def test_input_wav_of_another_rate_and_stereo(tmp_path):
    import soundfile as sf
    import soxr

    mono = np.frombuffer(silence(0.5) + speech("Hello there, I have a question.", "en") + silence(2.0), "<i2")
    x = soxr.resample(mono.astype(np.float32) / 32768.0, RATE, 44100)
    sf.write(str(tmp_path / "in.wav"), np.stack([x, x], axis=1), 44100, subtype="PCM_16")
    result = asyncio.run(
        run_call(
            tmp_path / "in.wav",
            tmp_path / "out.wav",
            brain=ScriptedBrain([reply("Of course. Go ahead.", "en")]),
            stt=ScriptedSTT(["hello there I have a question"]),
            tts=EspeakTTS(),
            session_id="rate",
        )
    )
    assert len(result.turns) == 1 and result.turns[0].complete
