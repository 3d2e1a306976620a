"""Per-turn timestamps of the voice path, and one structured log line per turn.

Every mark is kept twice: on the call's *audio* timeline (seconds of caller audio since the
call started, the same axis as the input and output WAVs) and on the wall clock (seconds
since the call started, ``time.monotonic``). With a file transport running faster than real
time the audio clock stands still while the appliance thinks, so audio-time latencies show
what the caller would hear on the audio axis, and wall-time latencies show the real compute.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass, field
from typing import Any

# fields of to_dict() that hold what was said or heard: at DEBUG only (docs/PRIVACY.md)
_WORDS = ("text", "reply", "heard", "speculations", "pieces")
log = logging.getLogger("appliance.voice.timeline")


class Mark(enum.StrEnum):
    SPEECH_START = "speech_start"
    END_OF_SPEECH = "end_of_speech"  # turn end detected (the silence rule fired)
    STT_DONE = "stt_done"
    FIRST_BRAIN_OUTPUT = "first_brain_output"
    FIRST_AUDIO_OUT = "first_audio_out"  # first reply audio written to the transport
    PLAYBACK_END = "playback_end"
    INTERRUPTED = "interrupted"


# Mark -> the stage column of the ``turns`` table (appliance.store.models.TURN_STAGES).
STAGE_COLUMNS: dict[Mark, str] = {
    Mark.SPEECH_START: "speech_start",
    Mark.END_OF_SPEECH: "speech_end",
    Mark.STT_DONE: "stt_done",
    Mark.FIRST_BRAIN_OUTPUT: "first_output",
    Mark.FIRST_AUDIO_OUT: "first_audio",
    Mark.PLAYBACK_END: "playback_end",
    Mark.INTERRUPTED: "interrupted",
}

REQUIRED_MARKS: tuple[Mark, ...] = (
    Mark.SPEECH_START,
    Mark.END_OF_SPEECH,
    Mark.STT_DONE,
    Mark.FIRST_BRAIN_OUTPUT,
    Mark.FIRST_AUDIO_OUT,
    Mark.PLAYBACK_END,
)


@dataclass
class TurnTimeline:
    turn: int
    session_id: str = ""
    audio: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    text: str = ""
    language: str | None = None
    language_probability: float | None = None
    # spoken language ID (appliance.engines.langid.LanguageChoice.to_dict): session, detected,
    # p_detected, p_session, action, reason, duration_s, detect_ms, text check
    language_id: dict[str, Any] | None = None
    reply: str = ""
    speculative_hit: bool | None = None  # STT result taken from the speculative run
    end_reason: str = ""  # "silence" | "complete" (adaptive: short silence) | "max_turn"
    kind: str = "caller"  # "caller": a caller's turn; "greeting": the appliance speaks first
    reply_turn_id: int | None = None  # the brain's stored reply (turns.id), for record_timeline
    # adaptive end of turn: one entry per speculative STT run of this turn (diagnostics):
    # {"n", "sent_s" (audio time of SPECULATIVE_END), "answered_s", "text", "complete"}
    speculations: list[dict[str, Any]] = field(default_factory=list)
    # the reply as synthesised: (text, seconds of audio) per piece, in playback order
    pieces: list[tuple[str, float]] = field(default_factory=list)

    def mark(self, mark: Mark | str, *, audio_s: float, wall_s: float, overwrite: bool = False) -> None:
        key = str(mark)
        if overwrite or key not in self.audio:
            self.audio[key] = round(audio_s, 4)
            self.wall[key] = round(wall_s, 4)

    def has(self, mark: Mark | str) -> bool:
        return str(mark) in self.audio

    @property
    def complete(self) -> bool:
        """All marks of an answered turn are present (an interruption may replace playback end)."""
        needed = [m for m in REQUIRED_MARKS if not (m is Mark.PLAYBACK_END and self.has(Mark.INTERRUPTED))]
        if self.kind == "greeting":  # no caller speech before it
            needed = [m for m in needed if m in (Mark.FIRST_BRAIN_OUTPUT, Mark.FIRST_AUDIO_OUT, Mark.PLAYBACK_END)]
        return all(self.has(m) for m in needed)

    def heard(self) -> str | None:
        """What the caller heard of the reply before barging in: the pieces whose audio had
        started by the interruption (playback is contiguous from the first audio); None when the
        reply was not interrupted."""
        if not (self.has(Mark.INTERRUPTED) and self.has(Mark.FIRST_AUDIO_OUT)):
            return None
        played = self.audio[str(Mark.INTERRUPTED)] - self.audio[str(Mark.FIRST_AUDIO_OUT)]
        heard, at = [], 0.0
        for text, seconds in self.pieces:
            if at >= played:
                break
            heard.append(text)
            at += seconds
        return " ".join(heard)

    def latencies(self) -> dict[str, float]:
        """Derived latencies in ms, on both clocks, where both ends are known."""
        pairs = {
            "end_detect": (Mark.SPEECH_START, Mark.END_OF_SPEECH),
            "stt": (Mark.END_OF_SPEECH, Mark.STT_DONE),
            "brain": (Mark.STT_DONE, Mark.FIRST_BRAIN_OUTPUT),
            "tts_first_audio": (Mark.FIRST_BRAIN_OUTPUT, Mark.FIRST_AUDIO_OUT),
            "response": (Mark.END_OF_SPEECH, Mark.FIRST_AUDIO_OUT),
        }
        out: dict[str, float] = {}
        for name, (a, b) in pairs.items():
            if self.has(a) and self.has(b):
                out[f"{name}_wall_ms"] = round((self.wall[b] - self.wall[a]) * 1000, 1)
                out[f"{name}_audio_ms"] = round((self.audio[b] - self.audio[a]) * 1000, 1)
        return out

    def stages(self) -> dict[str, float]:
        """What ``Brain.record_timeline`` stores with the turn: each stage on the call's audio
        timeline (seconds since the call started; the stage columns of ``turns``), the same on
        the wall clock as ``wall_<stage>``, and the derived latencies in ms."""
        out: dict[str, float] = {}
        for mark, column in STAGE_COLUMNS.items():
            if self.has(mark):
                out[column] = self.audio[str(mark)]
                out[f"wall_{column}"] = self.wall[str(mark)]
        out.update(self.latencies())
        heard = self.heard()
        if heard is not None:  # the stored reply is whole; this marks how much of it was heard
            out["heard_chars"] = float(len(heard))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "kind": self.kind,
            "reply_turn_id": self.reply_turn_id,
            "session_id": self.session_id,
            "text": self.text,
            "language": self.language,
            "language_probability": self.language_probability,
            "language_id": self.language_id,
            "reply": self.reply,
            "heard": self.heard(),
            "speculative_hit": self.speculative_hit,
            "end_reason": self.end_reason,
            "speculations": list(self.speculations),
            "audio_s": dict(self.audio),
            "wall_s": dict(self.wall),
            "latency": self.latencies(),
            "complete": self.complete,
        }

    def log(self) -> None:
        """One structured line per turn; what was said only at DEBUG (docs/PRIVACY.md: no utterances in logs)."""
        data = self.to_dict()
        words = {k: data[k] for k in _WORDS if k in data}
        log.debug("voice_turn_text %s", json.dumps({"turn": data["turn"], **words}, ensure_ascii=False, default=str))
        data = {k: v for k, v in data.items() if k not in _WORDS}
        log.info("voice_turn %s", json.dumps(data, ensure_ascii=False, sort_keys=True))
