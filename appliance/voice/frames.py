"""The voice path's own pipecat frames."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, SystemFrame

from appliance.voice.interruption import BargeInAction


@dataclass
class UtteranceAudioFrame(DataFrame):
    """The caller's audio for one turn. ``speculative``: sent at SPECULATIVE_END (the turn may
    still continue); otherwise sent at TURN_END (commit)."""

    turn: int
    audio: bytes
    sample_rate: int
    speculative: bool = False
    speculation: int = 0  # the SPECULATIVE_END number (TurnEvent.speculation)


@dataclass
class SpeculativeTranscriptFrame(SystemFrame):
    """Pushed upstream by the STT processor for every speculative UtteranceAudioFrame: the
    transcript so far and whether it looks like a finished turn (``complete``; None when no
    speculative STT ran). The voice input processor feeds it to ``TurnSegmenter.transcript_ready``
    and releases the clock hold it took at SPECULATIVE_END."""

    turn: int
    speculation: int
    complete: bool | None = None
    text: str = ""
    statement: bool = False  # complete only by its full stop (TurnVerdict.STATEMENT): wait a little longer


@dataclass
class TurnResumedFrame(SystemFrame):
    """The caller spoke again after SPECULATIVE_END: discard speculative work for ``turn``."""

    turn: int


@dataclass
class SpeakFrame(DataFrame):
    """One sentence for the TTS processor. ``first``/``last`` delimit one reply."""

    text: str
    language: str
    turn: int | None = None
    protected: bool = False
    first: bool = True
    last: bool = True
    notice: bool = False  # a "one moment" filler, not part of the reply
    apology: bool = False  # degraded mode: play the apology recorded at start (no TTS needed)


@dataclass
class KeypadFrame(DataFrame):
    """A DTMF digit the caller pressed; the brain processor hands it to the brain as an
    ``Utterance`` with ``dtmf`` set (menus and transfers are the brain's decisions)."""

    digit: str


@dataclass
class ProtectedSpeechFrame(SystemFrame):
    """Pushed upstream by the TTS processor when a protected reply (read-back) starts."""

    turn: int | None = None


class PlaybackControlFrame(SystemFrame):
    """PAUSE / RESUME / INTERRUPT, pushed downstream by the voice input processor to the output
    transport. (INTERRUPT is also signalled with pipecat's own ``InterruptionFrame``.)"""

    def __init__(self, action: BargeInAction, at_s: float = 0.0) -> None:
        super().__init__()
        self.action = action
        self.at_s = at_s

    def __str__(self) -> str:
        return f"{self.name}({self.action})"
