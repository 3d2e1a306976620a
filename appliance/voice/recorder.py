"""Call-level bookkeeping shared by the voice processors and the transports: turn timelines,
clock holds, who is speaking, and how the call ended."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.core import metrics
from appliance.voice.clock import AudioClock
from appliance.voice.timeline import Mark, TurnTimeline

log = logging.getLogger("appliance.voice")


@dataclass(frozen=True, slots=True)
class CallResult:
    session_id: str
    turns: tuple[TurnTimeline, ...]
    backchannels: int
    interruptions: int
    duration_s: float  # audio seconds of the call (input plus tail)
    ended_by: str  # "input_end" | "end_of_conversation" | "transfer" | "timeout"
    transfer_to: str | None = None
    errors: tuple[str, ...] = ()
    barge_ins: tuple[dict[str, Any], ...] = ()
    notices: tuple[dict[str, Any], ...] = ()  # "one moment" fillers: {"source": "tool"|"timer", ...}
    degraded: tuple[str, ...] = ()  # engines that failed mid-call (the caller got the apology + menu)

    @property
    def caller_turns(self) -> tuple[TurnTimeline, ...]:
        """The caller's turns (without the greeting)."""
        return tuple(t for t in self.turns if t.kind == "caller")

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "turns": [t.to_dict() for t in self.turns],
            "backchannels": self.backchannels,
            "interruptions": self.interruptions,
            "duration_s": self.duration_s,
            "ended_by": self.ended_by,
            "transfer_to": self.transfer_to,
            "errors": list(self.errors),
            "barge_ins": list(self.barge_ins),
            "notices": list(self.notices),
            "degraded": list(self.degraded),
        }


TimelineSink = Callable[..., Awaitable[None]]  # (reply_turn_id, stages, *, total_ms) -> None


@dataclass
class CallRecorder:
    session_id: str
    clock: AudioClock = field(default_factory=AudioClock)
    timelines: dict[int, TurnTimeline] = field(default_factory=dict)
    backchannels: int = 0
    interruptions: int = 0
    speaking_turn: int | None = None  # the turn whose reply is playing (or about to)
    bot_speaking: bool = False
    user_in_turn: bool = False
    language: str | None = None  # the session's current reply language
    awaiting: str | None = None  # the slot the last reply asked for (Reply.awaiting): end-of-turn hint
    end_of_conversation: bool = False
    transfer_to: str | None = None
    errors: list[str] = field(default_factory=list)
    barge_ins: list[dict[str, Any]] = field(default_factory=list)  # policy decisions (audio time)
    notices: list[dict[str, Any]] = field(default_factory=list)
    # engines that failed during the call ("stt", "tts", "brain"), in order: degraded mode
    degraded: list[str] = field(default_factory=list)
    # ``BrainPort.record_timeline``, set by the BrainProcessor. Each turn is reported once,
    # when its playback ended or was interrupted (or at the end of the call).
    timeline_sink: TimelineSink | None = None
    caller_turns: int = 0  # caller turns started (the call runner counts them as input)
    _next_turn: int = 1
    _reported: set[int] = field(default_factory=set)
    _writes: set[asyncio.Task[None]] = field(default_factory=set)
    # replies in playback order (None: a "one moment" notice), as the TTS processor queues them;
    # the head is the one the transport is playing (speaking_turn already points at the newest)
    _playing: deque[int | None] = field(default_factory=deque)
    _finished: set[int] = field(default_factory=set)
    _replied: set[int] = field(default_factory=set)
    # turns whose brain call is still producing the reply: reported when it is stored, not when a
    # barge-in cut the playback (the stored reply id is known only then)
    _answering: set[int] = field(default_factory=set)
    _report_later: set[int] = field(default_factory=set)

    def new_turn(self, kind: str = "caller") -> int:
        n = self._next_turn
        self._next_turn += 1
        if kind == "caller":
            self.caller_turns += 1
        self.timelines[n] = TurnTimeline(turn=n, session_id=self.session_id, kind=kind)
        return n

    def mark(self, turn: int | None, mark: Mark, *, audio_s: float | None = None, overwrite: bool = False) -> None:
        if turn is None or turn not in self.timelines:
            return
        at = self.clock.now() if audio_s is None else audio_s
        self.timelines[turn].mark(mark, audio_s=at, wall_s=self.clock.wall(), overwrite=overwrite)

    def hold_turn(self, turn: int) -> None:
        self.clock.hold(f"turn-{turn}")

    def reply_issued(self, turn: int) -> None:
        self._replied.add(turn)

    def finish_turn(self, turn: int) -> None:
        """The turn's work (STT, brain, TTS) is over: let the clock run again."""
        self.clock.release(f"turn-{turn}")
        self._replied.discard(turn)
        self._finished.add(turn)

    def finish_replied_turns(self) -> None:
        """An interruption dropped whatever replies were still being synthesized."""
        for turn in list(self._replied):
            self.finish_turn(turn)

    def drop_turn(self, turn: int, *, backchannel: bool = True) -> None:
        """A turn that never reaches the brain (backchannel, empty transcript)."""
        if backchannel:
            self.backchannels += 1
        self.timelines.pop(turn, None)
        self.finish_turn(turn)

    def spoken(self, turn: int | None, text: str, seconds: float) -> None:
        """The TTS produced ``seconds`` of audio for this piece of the turn's reply (what the
        caller heard before a barge-in is worked out from these, TurnTimeline.heard)."""
        tl = self.timelines.get(turn) if turn is not None else None
        if tl is not None and text:
            tl.pieces.append((text, round(seconds, 4)))

    # -- playback (called by output transports through PlaybackTracker) -----------

    def reply_queued(self, turn: int | None) -> None:
        """The TTS processor starts a reply (``None``: a notice); playback follows in this order."""
        self._playing.append(turn)

    def reply_unplayed(self, turn: int | None) -> None:
        """A queued reply produced no audio (TTS failed): no playback marks will come for it."""
        for i in range(len(self._playing) - 1, -1, -1):
            if self._playing[i] == turn:
                del self._playing[i]
                break

    @property
    def playing_turn(self) -> int | None:
        """The turn whose reply the transport is playing (None: a notice, or nothing)."""
        return self._playing[0] if self._playing else None

    def playback_started(self, audio_s: float) -> None:
        self.bot_speaking = True
        self.mark(self.playing_turn, Mark.FIRST_AUDIO_OUT, audio_s=audio_s)

    def playback_stopped(self, audio_s: float) -> None:
        self.bot_speaking = False
        if not self._playing:
            return
        turn = self._playing[0]
        if turn is None:
            self._playing.popleft()
            return
        tl = self.timelines.get(turn)
        if tl is not None and tl.has(Mark.FIRST_AUDIO_OUT) and not tl.has(Mark.INTERRUPTED):
            self.mark(turn, Mark.PLAYBACK_END, audio_s=audio_s, overwrite=True)
        if turn in self._finished or tl is None:  # else: a gap inside a reply whose TTS is still running
            self._playing.popleft()
            self.turn_done(turn)

    def barge_in(self, action: str, at_s: float, speech_s: float) -> None:
        """Log a PAUSE/RESUME/INTERRUPT; ``vad_start_s`` is where that burst of speech began."""
        self.barge_ins.append(
            {
                "action": action,
                "at_s": round(at_s, 4),
                "vad_start_s": round(at_s - speech_s, 4),
                "turn": self.playing_turn if self._playing else self.speaking_turn,
            }
        )

    def interrupted(self, audio_s: float) -> None:
        """A barge-in: the playing reply stops here and every queued one is dropped."""
        self.interruptions += 1
        metrics.BARGE_INS.inc()
        turn = self.playing_turn if self._playing else self.speaking_turn
        self.mark(turn, Mark.INTERRUPTED, audio_s=audio_s)
        dropped = [t for t in self._playing if t is not None]
        self._playing.clear()
        for t in [turn, *dropped]:
            if t is not None:
                self.turn_done(t)

    # -- per-turn report: one log line, and the timeline stored with the turn ----------

    def answering(self, turn: int) -> None:
        """The brain is producing this turn's reply (it may be streamed and cut by a barge-in)."""
        self._answering.add(turn)

    def answered(self, turn: int) -> None:
        """The whole reply is known and stored (``reply_turn_id`` set): report a turn whose
        playback ended, or was interrupted, while the reply was still being produced."""
        self._answering.discard(turn)
        if turn in self._report_later:
            self._report_later.discard(turn)
            self.turn_done(turn)

    def turn_done(self, turn: int, *, final: bool = False) -> None:
        """The turn's playback ended or was interrupted: log it and store its timeline (once).
        While its reply is still being produced, the report waits for :meth:`answered`."""
        tl = self.timelines.get(turn)
        if tl is None or turn in self._reported:
            return
        if turn in self._answering and not final:
            self._report_later.add(turn)
            return
        self._reported.add(turn)
        tl.log()
        metrics.observe_voice_turn(tl.latencies())
        if self.timeline_sink is None or tl.reply_turn_id is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._store(tl))
        except RuntimeError:  # no loop (a synchronous caller): nothing to store with
            return
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _store(self, tl: TurnTimeline) -> None:
        assert self.timeline_sink is not None and tl.reply_turn_id is not None
        try:
            await self.timeline_sink(tl.reply_turn_id, tl.stages())
        except Exception as exc:  # noqa: BLE001 - a lost timeline must not break the call
            log.warning("could not store the timeline of turn %s: %s", tl.turn, exc)
            self.errors.append(f"timeline: {exc}")

    async def finish(self) -> None:
        """End of call: report the turns not reported yet and wait for the timeline writes."""
        for turn in sorted(self.timelines):
            self.turn_done(turn, final=True)
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def result(self, *, ended_by: str, duration_s: float) -> CallResult:
        return CallResult(
            session_id=self.session_id,
            turns=tuple(self.timelines[k] for k in sorted(self.timelines)),
            backchannels=self.backchannels,
            interruptions=self.interruptions,
            duration_s=round(duration_s, 3),
            ended_by=ended_by,
            transfer_to=self.transfer_to,
            errors=tuple(self.errors),
            barge_ins=tuple(self.barge_ins),
            notices=tuple(self.notices),
            degraded=tuple(self.degraded),
        )
