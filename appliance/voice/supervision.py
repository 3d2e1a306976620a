"""Call supervision as a pure state machine: when does a call end, transfer or re-prompt?

Fed with numbers and events (seconds on the call's own clock, DTMF digits, the brain's
end-of-conversation and transfer decisions, whether the appliance is idle); no I/O, no
asyncio. The call runner (:mod:`appliance.voice.callrunner`) feeds it and acts on what it
returns, so every rule below is tested with numbers (``tests/unit/test_supervision.py``).

Rules, in order of precedence:

* a hang-up (or the end of a file's input) ends the call at once;
* ``max_call_s`` after the start the call ends ("max_duration");
* no audio at all from the caller for ``caller_silence_s`` ends it ("rtp_silence");
* after the brain ended the conversation or asked for a transfer, the call waits until the
  appliance has been idle (nothing playing, nothing queued, no caller turn) for ``drain_s``,
  then ends ("completed") or transfers, so the goodbye is heard in full;
* while the appliance is idle and the caller says nothing for ``no_input_s``, the caller is
  re-prompted, at most ``max_reprompts`` times; then the call ends ("no_input");
* a DTMF digit goes to the brain (an ``Utterance`` with ``dtmf`` set) and counts as input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class SupervisorActionType(enum.StrEnum):
    END = "end"
    TRANSFER = "transfer"
    REPROMPT = "reprompt"
    DTMF = "dtmf"  # hand the digit to the brain


class EndReason(enum.StrEnum):
    CALLER_HUNG_UP = "caller_hung_up"
    INPUT_END = "input_end"
    COMPLETED = "completed"
    TRANSFERRED = "transferred"
    MAX_DURATION = "max_duration"
    RTP_SILENCE = "rtp_silence"
    NO_INPUT = "no_input"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SupervisorAction:
    type: SupervisorActionType
    reason: EndReason | None = None
    digit: str | None = None
    transfer_to: str | None = None
    reprompt: int = 0  # the how-many-th re-prompt


@dataclass(frozen=True, slots=True)
class SupervisionParams:
    max_call_s: float = 900.0
    caller_silence_s: float = 60.0
    no_input_s: float = 15.0  # <= 0: never re-prompt
    max_reprompts: int = 2
    drain_s: float = 0.5


@dataclass
class CallSupervisor:
    """One call's supervision. Times are seconds on one monotonic axis (call start = ``start_s``)."""

    params: SupervisionParams = field(default_factory=SupervisionParams)
    start_s: float = 0.0
    ended: EndReason | None = None
    end_requested: bool = False
    transfer_to: str | None = None
    reprompts: int = 0
    _last_input_s: float | None = None  # last caller turn, digit or re-prompt
    _idle_since: float | None = None
    _quiet_since: float | None = None

    def _end(self, reason: EndReason) -> list[SupervisorAction]:
        self.ended = reason
        return [SupervisorAction(SupervisorActionType.END, reason)]

    # -- events ----------------------------------------------------------------------------

    def hangup(self, now: float) -> list[SupervisorAction]:
        return [] if self.ended else self._end(EndReason.CALLER_HUNG_UP)

    def input_end(self, now: float) -> list[SupervisorAction]:
        """A file call ran out of input (the file transport decides when its tail is over)."""
        if self.ended:
            return []
        return self._end(EndReason.COMPLETED if self.end_requested and not self.transfer_to else EndReason.INPUT_END)

    def caller_turn(self, now: float) -> list[SupervisorAction]:
        """The caller started speaking (a turn began): input, so no re-prompt is due."""
        self._last_input_s = now
        self._idle_since = None
        self.reprompts = 0
        return []

    def dtmf(self, digit: str, now: float) -> list[SupervisorAction]:
        if self.ended or self.end_requested:
            return []
        self.caller_turn(now)
        return [SupervisorAction(SupervisorActionType.DTMF, digit=digit)]

    def reply(self, now: float, *, end_of_conversation: bool = False, transfer_to: str | None = None) -> None:
        """The brain answered; it may have ended the conversation or asked for a transfer."""
        if transfer_to:
            self.transfer_to = transfer_to
            self.end_requested = True
        if end_of_conversation:
            self.end_requested = True

    def tick(self, now: float, *, idle: bool, last_caller_audio_s: float) -> list[SupervisorAction]:
        """Periodic check. ``idle``: nothing playing or queued, no caller turn, no turn in work.
        ``last_caller_audio_s``: when the caller last sent non-silent audio."""
        if self.ended:
            return []
        p = self.params
        if now - self.start_s >= p.max_call_s:
            return self._end(EndReason.MAX_DURATION)
        if now - max(last_caller_audio_s, self.start_s) >= p.caller_silence_s:
            return self._end(EndReason.RTP_SILENCE)
        if self.end_requested:
            if not idle:
                self._quiet_since = None
                return []
            if self._quiet_since is None:
                self._quiet_since = now
            if now - self._quiet_since < p.drain_s:
                return []
            if self.transfer_to:
                self.ended = EndReason.TRANSFERRED
                return [
                    SupervisorAction(SupervisorActionType.TRANSFER, EndReason.TRANSFERRED, transfer_to=self.transfer_to)
                ]
            return self._end(EndReason.COMPLETED)
        if p.no_input_s <= 0:
            return []
        if not idle:
            self._idle_since = None
            return []
        if self._idle_since is None:
            self._idle_since = now
        since = max(self._idle_since, self._last_input_s or self._idle_since)
        if now - since < p.no_input_s:
            return []
        if self.reprompts >= p.max_reprompts:
            return self._end(EndReason.NO_INPUT)
        self.reprompts += 1
        self._idle_since = None  # the re-prompt plays; idle time counts again after it
        self._last_input_s = now
        return [SupervisorAction(SupervisorActionType.REPROMPT, reprompt=self.reprompts)]
