"""Turn segmentation: a pure state machine fed with VAD probabilities.

In the style of Home Assistant's ``VoiceCommandSegmenter.process(chunk_seconds, is_speech)``:
no audio, no I/O, no clock. The caller feeds one VAD window at a time (its length in seconds
and the speech probability) and gets back the events it caused. Tests drive it with numbers.

Timeline of one turn (defaults)::

    speech ............ silence 0.2 s -> SPECULATIVE_END (start STT early)
                        silence 0.5 s -> TURN_END (commit: the caller is done)
    speech again after SPECULATIVE_END -> SPEECH_RESUMED (throw the speculative work away)

Adaptive end of turn (``short_silence_s`` set): the speculative transcript is fed back with
``transcript_ready(complete, speculation)``; when it looked complete
(:func:`appliance.voice.endpointing.turn_complete`) TURN_END fires after ``short_silence_s``
of silence (or at once, if the transcript arrives later than that), otherwise after
``end_silence_s`` as before. No transcript by then (slow STT): keep waiting, at most
``end_silence_s``. Speech resuming forgets the transcript::

    speech ... silence 0.06 s -> SPECULATIVE_END (n)   -> STT on the audio so far
               transcript_ready(complete=True, n) + silence >= 0.12 s -> TURN_END (reason "complete")
               transcript_ready(complete=True, n, statement=True) + silence >= 0.16 s -> TURN_END
               transcript_ready(complete=False, n)  -> TURN_END at 0.5 s (reason "silence")

``statement_silence_s`` (default: ``short_silence_s``) is for transcripts that only end with a
full stop (``TurnVerdict.STATEMENT``): Whisper writes one after a fragment too, and gaps between
words inside a sentence reach 4 VAD windows (0.128 s), so 5 windows (0.16 s) are waited there.

A statement's early end counts *clear* silence only: windows below ``clear_threshold`` (0.1,
what pipecat's Silero wrapper calls clearly non-speech). Between "Next" and "weekend" (a stop's
closure, then a soft onset) Silero on telephone audio stays under ``stop_threshold`` for up to
7 windows (0.224 s), depending on where the 32 ms windows fall, i.e. on the call's timing; most
of those windows score 0.1-0.35. After the last word it falls under 0.1 within a window or two.
Measured over the slot answers of the test dialogues through 8 kHz mu-law, at 48 placements
each (16 window phases x 3 pauses before the answer; ``tests/integration/test_turn_gaps.py``
checks 8 per answer): the longest run inside an answer is 7 windows under 0.35, 5 under 0.15
and 2 under 0.1. A COMPLETE verdict (a question, yes/no, a
number: words that rarely stop half-way) keeps counting every quiet window, so its short wait
stays short; ``end_silence_s`` always counts every quiet window.

Model verdict (``turn_strategy = "smart_turn"``): instead of a transcript, an end-of-turn model
(pipecat's smart-turn, :mod:`appliance.voice.smart_turn`) judges the turn's audio at
SPECULATIVE_END and answers with ``model_verdict(complete, speculation)``: "complete" ends the
turn like a COMPLETE transcript (after ``short_silence_s``, or at once if later), "incomplete"
waits for ``end_silence_s``. The segmenter does not care where a verdict comes from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

_EPS = 1e-9


class TurnEventType(enum.StrEnum):
    SPEECH_START = "speech_start"
    SPECULATIVE_END = "speculative_end"
    SPEECH_RESUMED = "speech_resumed"
    TURN_END = "turn_end"


@dataclass(frozen=True, slots=True)
class TurnEvent:
    type: TurnEventType
    at_s: float  # stream time (seconds of audio fed so far) when the event fired
    speech_start_s: float  # stream time where the turn's speech began (onset of the first speech window)
    speech_s: float = 0.0  # seconds of speech in the turn so far
    speculation: int = 0  # SPECULATIVE_END: its number (transcript_ready answers with it)
    reason: str = ""  # TURN_END: "silence" | "complete" (adaptive, short silence) | "max_turn"


@dataclass(frozen=True, slots=True)
class TurnSegmenterParams:
    end_silence_s: float = 0.5
    min_speech_s: float = 0.15
    speculative_after_s: float = 0.2
    start_threshold: float = 0.5  # probability that starts speech
    stop_threshold: float = 0.35  # probability below which speech stops (hysteresis)
    max_turn_s: float = 30.0  # a turn this long is ended even without silence
    short_silence_s: float | None = None  # adaptive: end after this much silence when complete
    statement_silence_s: float | None = None  # adaptive, a statement (full stop only); None: short_silence_s
    clear_threshold: float = 0.1  # a statement's early end counts only windows below this

    def __post_init__(self) -> None:
        if not 0 <= self.stop_threshold <= self.start_threshold <= 1:
            raise ValueError("need 0 <= stop_threshold <= start_threshold <= 1")
        if not 0 < self.clear_threshold <= self.stop_threshold:
            raise ValueError("need 0 < clear_threshold <= stop_threshold")
        if self.end_silence_s <= 0 or self.min_speech_s < 0 or self.max_turn_s <= 0:
            raise ValueError("durations must be positive")
        if not 0 < self.speculative_after_s <= self.end_silence_s:
            raise ValueError("need 0 < speculative_after_s <= end_silence_s")
        if self.short_silence_s is not None and not (
            self.speculative_after_s <= self.short_silence_s <= self.end_silence_s
        ):
            raise ValueError("need speculative_after_s <= short_silence_s <= end_silence_s")
        if self.statement_silence_s is not None and not (
            self.short_silence_s is not None and self.short_silence_s <= self.statement_silence_s <= self.end_silence_s
        ):
            raise ValueError("need short_silence_s <= statement_silence_s <= end_silence_s")


class TurnSegmenter:
    """Detects the caller's turns from a stream of (chunk seconds, speech probability).

    * Speech starts after ``min_speech_s`` of continuous speech (shorter clicks are noise).
    * Inside a turn, pauses shorter than ``end_silence_s`` do not end it.
    * ``start_threshold``/``stop_threshold`` give hysteresis: a window counts as speech when
      its probability reaches ``start_threshold``, and, once speaking, keeps counting until the
      probability falls below ``stop_threshold``.
    * Adaptive (``short_silence_s``): see the module docstring and :meth:`transcript_ready`.
    """

    def __init__(
        self,
        end_silence_s: float = 0.5,
        min_speech_s: float = 0.15,
        speculative_after_s: float = 0.2,
        *,
        start_threshold: float = 0.5,
        stop_threshold: float = 0.35,
        max_turn_s: float = 30.0,
        short_silence_s: float | None = None,
        statement_silence_s: float | None = None,
        clear_threshold: float = 0.1,
    ) -> None:
        self.params = TurnSegmenterParams(
            end_silence_s=end_silence_s,
            min_speech_s=min_speech_s,
            speculative_after_s=speculative_after_s,
            start_threshold=start_threshold,
            stop_threshold=stop_threshold,
            max_turn_s=max_turn_s,
            short_silence_s=short_silence_s,
            statement_silence_s=statement_silence_s,
            clear_threshold=clear_threshold,
        )
        self._speculation = 0
        self.reset()

    def reset(self) -> None:
        self.time_s = 0.0
        self.in_turn = False
        self._voiced = False  # hysteresis state of the last window
        self._onset_s = 0.0  # continuous speech before the turn started
        self._onset_at = 0.0
        self._speech_s = 0.0
        self._silence_s = 0.0
        self._clear_s = 0.0  # the trailing run of clear-silence windows (the early end's measure)
        self._speculative = False
        self._complete: bool | None = None  # verdict on the current speculation's transcript
        self._wait_s: float | None = None  # silence after which that verdict ends the turn
        self._wait_clear = False  # that silence is clear silence (a statement's verdict)

    @property
    def speculative(self) -> bool:
        """True between SPECULATIVE_END and TURN_END/SPEECH_RESUMED."""
        return self._speculative

    @property
    def adaptive(self) -> bool:
        return self.params.short_silence_s is not None

    def transcript_ready(
        self, complete: bool, speculation: int | None = None, *, statement: bool = False
    ) -> list[TurnEvent]:
        """The speculative transcript of SPECULATIVE_END number ``speculation`` is there, and
        looks ``complete`` (or not); ``statement``: complete only by its full stop, so the turn
        ends after ``statement_silence_s`` rather than ``short_silence_s``. Stale answers (speech
        resumed since, another speculation, turn over) are ignored. Returns [TURN_END] when the
        turn ends now."""
        if not self.in_turn or not self._speculative:
            return []
        if speculation is not None and speculation != self._speculation:
            return []
        p = self.params
        self._complete = complete
        self._wait_s = p.statement_silence_s if statement and p.statement_silence_s is not None else p.short_silence_s
        self._wait_clear = statement
        if self._early_end_due():
            return [self._end("complete")]
        return []

    def model_verdict(self, complete: bool, speculation: int | None = None) -> list[TurnEvent]:
        """An end-of-turn model (smart-turn) judged the audio of SPECULATIVE_END number
        ``speculation``: ``complete`` ends the turn after ``short_silence_s`` of silence (at once
        when the verdict comes later than that), otherwise the turn waits ``end_silence_s``.
        Stale verdicts are ignored, as in :meth:`transcript_ready`. Returns [TURN_END] when the
        turn ends now."""
        return self.transcript_ready(complete, speculation)

    def _early_end_due(self) -> bool:
        if not self._complete or self._wait_s is None:
            return False
        return (self._clear_s if self._wait_clear else self._silence_s) + _EPS >= self._wait_s

    def _is_speech(self, prob: float) -> bool:
        p = self.params
        self._voiced = prob >= (p.stop_threshold if self._voiced else p.start_threshold)
        return self._voiced

    def process(self, chunk_s: float, speech_prob: float) -> list[TurnEvent]:
        """Feed one window; return the events it caused (usually none)."""
        if chunk_s <= 0:
            raise ValueError("chunk_s must be positive")
        p = self.params
        start = self.time_s
        self.time_s += chunk_s
        speech = self._is_speech(speech_prob)
        events: list[TurnEvent] = []

        if not self.in_turn:
            if speech:
                if self._onset_s == 0.0:
                    self._onset_at = start
                self._onset_s += chunk_s
                if self._onset_s + _EPS >= p.min_speech_s:
                    self.in_turn = True
                    self._speech_s = self._onset_s
                    self._silence_s = self._clear_s = 0.0
                    self._speculative = False
                    events.append(self._event(TurnEventType.SPEECH_START))
            else:
                self._onset_s = 0.0
            return events

        if speech:
            self._speech_s += chunk_s
            self._silence_s = 0.0
            self._clear_s = 0.0
            if self._speculative:
                self._speculative = False
                self._complete = None
                events.append(self._event(TurnEventType.SPEECH_RESUMED))
        else:
            self._silence_s += chunk_s
            self._clear_s = self._clear_s + chunk_s if speech_prob < p.clear_threshold else 0.0
            if not self._speculative and self._silence_s + _EPS >= p.speculative_after_s:
                self._speculative = True
                self._complete = None
                self._speculation += 1
                events.append(self._event(TurnEventType.SPECULATIVE_END))
            if self._early_end_due():
                events.append(self._end("complete"))
                return events
            if self._silence_s + _EPS >= p.end_silence_s:
                events.append(self._end("silence"))
                return events
        if self.time_s - self._onset_at + _EPS >= p.max_turn_s:
            events.append(self._end("max_turn"))
        return events

    def _event(self, kind: TurnEventType, reason: str = "") -> TurnEvent:
        return TurnEvent(
            kind,
            round(self.time_s, 6),
            round(self._onset_at, 6),
            round(self._speech_s, 6),
            speculation=self._speculation if kind is TurnEventType.SPECULATIVE_END else 0,
            reason=reason,
        )

    def _end(self, reason: str) -> TurnEvent:
        event = self._event(TurnEventType.TURN_END, reason)
        self.in_turn = False
        self._speculative = False
        self._complete = None
        self._onset_s = 0.0
        self._speech_s = 0.0
        self._silence_s = 0.0
        self._clear_s = 0.0
        return event
