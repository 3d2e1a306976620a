"""Short slot answers over a telephone line are one turn each, wherever the VAD's windows fall.

The CI failures of sessions 4 and 5: "Next weekend", the answer to "which dates?", came out as two
turns ("Next weekend", "Next weekend") on a SIP call. espeak-ng speech through 8 kHz mu-law, real
Silero: between "Next" and "weekend" (a stop's closure, then a soft onset) Silero's probability
stays under ``stop_threshold`` for up to 7 windows (0.224 s), depending on where the 32 ms
windows fall on the audio, i.e. on the call's timing. With a slot awaited, one to three words are a
STATEMENT and the turn ended after 0.16 s of that. The segmenter now counts only clear silence
(under ``clear_threshold``, 0.1) for the early end (appliance/voice/turns.py). These tests run the worst case: the STT says
"finished statement" at every speculation, so only the audio decides.
"""

from __future__ import annotations

import audioop
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.channels.file_transport import read_wav_16k
from appliance.voice.pipeline import VoiceSettings
from appliance.voice.shared_vad import call_vad
from appliance.voice.turns import TurnEventType, TurnSegmenter
from tests.support.sip_harness import speech_wav

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

RATE = 16000
WINDOW = 512  # Silero at 16 kHz
PHASES = 8  # window offsets 0, 4, ... 28 ms
# the answers to an awaited slot in the booking dialogues (no digits: phone numbers have a rule
# of their own, voice.endpointing rule 4b), each after the line before it in its dialogue
SLOT_ANSWERS = {
    "en": ["His name is Max", "Next weekend", "Mari Tamm"],
    "et": ["Järgmisel nädalavahetusel", "Kass", "Miisu", "Mari Tamm"],
    "ru": ["Кошку зовут Мурка", "На следующие выходные", "Меня зовут Анна Смирнова"],
}
CONTEXT = {
    "en": "Hi, I need a room for my dog",
    "et": "Tere, sooviks broneerida",
    "ru": "Здравствуйте, хочу забронировать место для кошки",
}


def _telephone(pcm: bytes) -> bytes:
    """16 kHz -> 8 kHz mu-law -> 16 kHz: what the daemon gets from a G.711 call."""
    low, _ = audioop.ratecv(pcm, 2, 1, RATE, 8000, None)
    back = audioop.ulaw2lin(audioop.lin2ulaw(low, 2), 2)
    return audioop.ratecv(back, 2, 1, 8000, RATE, None)[0]


def _pcm(text: str, language: str, tmp: Path) -> bytes:
    return read_wav_16k(speech_wav(text, tmp / f"{language}-{len(list(tmp.iterdir()))}.wav", language))


def _turn_ends(audio: bytes, segmenter: TurnSegmenter) -> list[float]:
    """Feed Silero's probabilities; answer every speculation "a finished statement". Returns
    the times the turns ended."""
    vad = call_vad()
    vad.set_sample_rate(RATE)
    ends: list[float] = []
    for i in range(0, len(audio) - 2 * WINDOW + 1, 2 * WINDOW):
        prob = float(np.asarray(vad.voice_confidence(audio[i : i + 2 * WINDOW])).reshape(-1)[0])
        for ev in segmenter.process(WINDOW / RATE, prob):
            if ev.type is TurnEventType.SPECULATIVE_END:
                events = segmenter.transcript_ready(True, ev.speculation, statement=True)
                ends += [e.at_s for e in events if e.type is TurnEventType.TURN_END]
            elif ev.type is TurnEventType.TURN_END:
                ends.append(ev.at_s)
    return ends


def _silence(seconds: float) -> bytes:
    return b"\0\0" * int(seconds * RATE)


def _splits(
    language: str,
    text: str,
    tmp: Path,
    segmenter: Callable[[], TurnSegmenter],
    phases: int = PHASES,
    gaps: tuple[float, ...] = (2.0,),
) -> list[tuple[float, int]]:
    """The (gap, window phase) placements at which ``text``, ``gap`` seconds after its dialogue's
    first line, ends as more than one turn. Phases are 32 ms / ``phases`` apart."""
    context, answer = _pcm(CONTEXT[language], language, tmp), _pcm(text, language, tmp)
    bad = []
    for gap in gaps:
        for phase in range(phases):
            lead = _silence(0.5 + phase * 0.032 / phases) + context + _silence(gap)
            ends = _turn_ends(_telephone(lead + answer + _silence(1.0)), segmenter())
            if len([t for t in ends if t > len(lead) / 2 / RATE]) != 1:  # the answer's turns
                bad.append((gap, phase))
    return bad


@pytest.mark.parametrize("language,text", [(lang, t) for lang, lines in SLOT_ANSWERS.items() for t in lines])
def test_a_slot_answer_is_one_turn_at_every_window_phase(language: str, text: str, tmp_path: Path) -> None:
    assert _splits(language, text, tmp_path, lambda: VoiceSettings().segmenter()) == []


def test_counting_every_quiet_window_would_cut_next_weekend(tmp_path: Path) -> None:
    """The test above can fail: the old rule (the early end counts every window under
    stop_threshold) splits "Next weekend" at some placements (3 of 48 here, searched widely so
    that small numeric differences between CPUs do not hide them)."""

    def old() -> TurnSegmenter:
        p = VoiceSettings().segmenter().params
        return TurnSegmenter(p.end_silence_s, p.min_speech_s, p.speculative_after_s,
                             short_silence_s=p.short_silence_s, statement_silence_s=p.statement_silence_s,
                             clear_threshold=p.stop_threshold)  # fmt: skip

    assert _splits("en", "Next weekend", tmp_path, old, phases=16, gaps=(1.4, 2.0, 3.1)) != []
