"""Barge-in policy: a pure state machine deciding when the caller interrupts the appliance.

The numbers (defaults):

* ``pause_after_s = 0.1``: caller speech while the appliance talks pauses playback after
  100 ms of speech. Playback is *paused* (queued audio kept), not dropped. This is what makes
  the appliance's audio stop within ~100-150 ms of VAD start (the <= 150 ms benchmark goal;
  the acceptance bound is 200 ms).
* ``min_barge_in_s = 0.3``: only speech that lasts longer than this is a real barge-in and
  INTERRUPTs (stop playback, drop queued audio, listen). "mhm", "jah", "да" are shorter.
* ``resume_after_silence_s = 0.15``: a burst shorter than ``min_barge_in_s`` followed by this
  much silence was a backchannel: RESUME playback where it paused.

So a 200 ms "mhm" costs a gap of ~0.25 s in the appliance's speech but never cuts it off,
and a real utterance is heard (playback stops) at +0.1 s and committed at +0.3 s.
Inside a protected segment (a booking number or price read-back) caller speech is ignored:
the read-back finishes, then the appliance listens.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

_EPS = 1e-9


class BargeInAction(enum.StrEnum):
    PAUSE = "pause"  # hold playback (keep the queued audio)
    RESUME = "resume"  # the speech was a backchannel: continue playback
    INTERRUPT = "interrupt"  # stop playback, drop queued audio


@dataclass(frozen=True, slots=True)
class BargeInEvent:
    action: BargeInAction
    at_s: float  # policy time (seconds of caller audio fed so far)
    speech_s: float  # caller speech accumulated while the appliance talked


class InterruptionPolicy:
    """Decides PAUSE / RESUME / INTERRUPT from bot state and caller VAD windows."""

    def __init__(
        self,
        min_barge_in_s: float = 0.3,
        *,
        pause_after_s: float = 0.1,
        resume_after_silence_s: float = 0.15,
        start_threshold: float = 0.5,
        stop_threshold: float = 0.35,
    ) -> None:
        if not 0 <= pause_after_s <= min_barge_in_s:
            raise ValueError("need 0 <= pause_after_s <= min_barge_in_s")
        if not 0 <= stop_threshold <= start_threshold <= 1:
            raise ValueError("need 0 <= stop_threshold <= start_threshold <= 1")
        self.min_barge_in_s = min_barge_in_s
        self.pause_after_s = pause_after_s
        self.resume_after_silence_s = resume_after_silence_s
        self.start_threshold = start_threshold
        self.stop_threshold = stop_threshold
        self.time_s = 0.0
        self.bot_speaking = False
        self.protected = False
        self.paused = False
        self.interrupted = False
        self._voiced = False
        self._speech_s = 0.0
        self._silence_s = 0.0

    # -- inputs from the output side -------------------------------------------

    def bot_started(self) -> list[BargeInEvent]:
        if not self.bot_speaking:
            self.bot_speaking = True
            self.interrupted = False
            self._reset_burst()
        return []

    def bot_stopped(self) -> list[BargeInEvent]:
        """Playback finished (or was dropped). Nothing left to pause or interrupt."""
        self.bot_speaking = False
        self.paused = False
        self._reset_burst()
        return []

    def protected_start(self) -> list[BargeInEvent]:
        """A read-back that must not be interrupted starts. A pause in progress is lifted."""
        self.protected = True
        events = [self._event(BargeInAction.RESUME)] if self.paused else []
        self.paused = False
        self._reset_burst()
        return events

    def protected_end(self) -> list[BargeInEvent]:
        self.protected = False
        self._reset_burst()
        return []

    # -- caller audio -------------------------------------------------------------

    def process(self, chunk_s: float, speech_prob: float) -> list[BargeInEvent]:
        if chunk_s <= 0:
            raise ValueError("chunk_s must be positive")
        self.time_s += chunk_s
        speech = self._is_speech(speech_prob)
        if not self.bot_speaking or self.protected or self.interrupted:
            return []
        events: list[BargeInEvent] = []
        if speech:
            self._speech_s += chunk_s
            self._silence_s = 0.0
            if self._speech_s + _EPS >= self.min_barge_in_s:
                self.interrupted = True
                self.paused = False
                events.append(self._event(BargeInAction.INTERRUPT))
            elif not self.paused and self._speech_s + _EPS >= self.pause_after_s:
                self.paused = True
                events.append(self._event(BargeInAction.PAUSE))
        elif self._speech_s > 0:
            self._silence_s += chunk_s
            if self._silence_s + _EPS >= self.resume_after_silence_s:
                if self.paused:
                    self.paused = False
                    events.append(self._event(BargeInAction.RESUME))
                self._reset_burst()
        return events

    def _is_speech(self, prob: float) -> bool:
        self._voiced = prob >= (self.stop_threshold if self._voiced else self.start_threshold)
        return self._voiced

    def _reset_burst(self) -> None:
        self._speech_s = 0.0
        self._silence_s = 0.0

    def _event(self, action: BargeInAction) -> BargeInEvent:
        return BargeInEvent(action, round(self.time_s, 6), round(self._speech_s, 6))
