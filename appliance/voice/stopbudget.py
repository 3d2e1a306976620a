"""One time budget for a clean stop with calls in progress (SIGTERM from systemd).

A stop with calls must, for every call: let the turns in flight be stored, stop the pipeline,
play the goodbye, hang up; then the channels and the store close. Each step used to have its
own timeout (flush 8 s, pipeline 5 + 5 s, goodbye 9 s, hang-up 3 s, the SIP stop 12 s, each
channel 15 s), and together they could outlast systemd's ``TimeoutStopSec``: systemd then
SIGKILLs the daemon in the middle of a goodbye. Here every step takes its share of one deadline
(``sip.stop_timeout_s`` from the moment the stop began), latest step first: the hang-up's share
and the goodbye's are kept back, so turns in flight that do not finish in time are given up
(their turns are stored by the brain once they complete, or lost with the process) and the
caller is still told goodbye. Pure: times are numbers on one monotonic axis.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StopBudget:
    total_s: float  # from the stop to the last call hung up
    goodbye_s: float = 6.0  # kept for the goodbye (synthesis and ~4 s of speech)
    hangup_s: float = 1.5  # kept for BYE and its answer
    pipeline_s: float = 1.0  # kept for stopping the call's pipeline (two waits, half each)
    started_at: float | None = None

    def begin(self, now: float) -> None:
        if self.started_at is None:
            self.started_at = now

    @property
    def stopping(self) -> bool:
        return self.started_at is not None

    @property
    def deadline(self) -> float | None:
        return None if self.started_at is None else self.started_at + self.total_s

    def left(self, now: float) -> float:
        d = self.deadline
        return float("inf") if d is None else max(0.0, d - now)

    def flush_s(self, now: float, usual_s: float) -> float:
        """How long the turns in flight may take: the usual limit, less on a stop (what is left
        after the pipeline's, the goodbye's and the hang-up's shares)."""
        return min(usual_s, max(0.0, self.left(now) - self.goodbye_s - self.hangup_s - self.pipeline_s))

    def pipeline_wait_s(self, now: float, usual_s: float) -> float:
        """One of the two waits for the pipeline to stop (cancel, then its task): half of what
        is left before the goodbye's and the hang-up's shares."""
        return min(usual_s, max(0.05, (self.left(now) - self.goodbye_s - self.hangup_s) / 2))

    def say_s(self, now: float, usual_s: float) -> float:
        """The goodbye: what is left less the hang-up's share."""
        return min(usual_s, max(0.0, self.left(now) - self.hangup_s))

    def hangup_wait_s(self, now: float, usual_s: float) -> float:
        """Waiting for the BYE's answer: what is left (at least a moment, to send it)."""
        return min(usual_s, max(0.2, self.left(now)))
