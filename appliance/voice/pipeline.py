"""Assembly of the voice pipeline, independent of the transport.

    transport.input() -> VoiceInputProcessor (Silero VAD, TurnSegmenter, InterruptionPolicy)
      -> EngineSTTProcessor -> BrainProcessor -> EngineTTSProcessor -> transport.output()

A file transport (``appliance.channels.file_transport``) and the SIP transport plug in at the
two ends. The output transport must honour :class:`~appliance.voice.frames.PlaybackControlFrame`
(pause/resume, see :mod:`appliance.voice.playback`) and report playback to the recorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.core.ports import BrainPort
from appliance.voice.interruption import InterruptionPolicy
from appliance.voice.recorder import CallRecorder
from appliance.voice.turns import TurnSegmenter

STATEMENT_SILENCE_S = 0.16  # 5 Silero windows of 32 ms
SMART_TURN_AFTER_S = 0.2  # smart_turn without a short silence: pipecat's default VAD stop_secs
TURN_STRATEGIES = ("silence", "fixed", "smart_turn")


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """The voice path's tunables (from ``[voice]`` and ``[tools]`` in the config)."""

    end_silence_s: float = 0.5
    min_speech_s: float = 0.15
    # adaptive end of turn (docs/VOICE.md): STT starts after 0.06 s of silence; when its transcript
    # looks finished (voice.endpointing.turn_complete) the turn ends after short_silence_s, else
    # after end_silence_s. short_silence_s=None: fixed end_silence_s (speculation at 0.2 s then).
    speculative_after_s: float = 0.06
    min_barge_in_s: float = 0.3
    pause_after_s: float = 0.1
    slow_notice_s: float = 1.0
    default_language: str = "en"
    languages: tuple[str, ...] = ()  # the tenant's languages (spoken language ID); () = the STT's own
    sample_rate: int = 16000
    speculative_stt: bool = True  # start STT at SPECULATIVE_END; the brain is never run speculatively
    # "one moment" when the whole brain call is slow; None: twice slow_notice_s (a slow *tool*
    # triggers the notice first, at slow_notice_s, through the per-call hook BrainPort.handle gets)
    brain_notice_s: float | None = None
    short_silence_s: float | None = 0.12
    # a transcript that only ends with a full stop (endpointing.TurnVerdict.STATEMENT) waits one VAD
    # window more: Whisper punctuates fragments too, and gaps between words reach 0.128 s
    statement_silence_s: float | None = STATEMENT_SILENCE_S
    # who ends a turn early (docs/VOICE.md, "Turn strategies"): "silence" (the adaptive rule above,
    # or fixed when short_silence_s is None), "fixed" (always end_silence_s) or "smart_turn"
    # (pipecat's smart-turn model on the audio at speculative_after_s; "complete" ends the turn
    # after short_silence_s, "incomplete" waits end_silence_s)
    turn_strategy: str = "silence"
    brain_timeout_s: float = 12.0  # no reply by then: the apology + keypad menu (degraded mode)

    def __post_init__(self) -> None:
        if self.turn_strategy not in TURN_STRATEGIES:
            raise ValueError(f"turn_strategy must be one of {TURN_STRATEGIES}, not {self.turn_strategy!r}")
        if self.turn_strategy == "smart_turn" and self.short_silence_s is None:
            raise ValueError("turn_strategy 'smart_turn' needs short_silence_s (see VoiceSettings.smart_turn)")

    @classmethod
    def from_config(cls, config: Any | None) -> VoiceSettings:
        if config is None:
            return cls()
        voice, tools, tenant = config.voice, config.tools, config.tenant
        end = voice.end_of_turn_silence_s
        short = voice.end_of_turn_short_silence_s
        short = min(short, end) if short > 0 else None
        strategy = voice.turn_strategy
        common: dict[str, Any] = {
            "min_barge_in_s": voice.backchannel_max_s,
            "pause_after_s": min(0.1, voice.backchannel_max_s),
            "slow_notice_s": tools.slow_notice_s,
            "default_language": tenant.default_language,
            "languages": tuple(tenant.languages),
            "brain_timeout_s": voice.brain_timeout_s,
        }
        if strategy == "fixed" or (strategy == "silence" and short is None):
            return cls.fixed(end, **common)
        if strategy == "smart_turn":
            return cls.smart_turn(end, short, **common)
        assert short is not None
        return cls(
            statement_silence_s=min(end, max(short, STATEMENT_SILENCE_S)),
            end_silence_s=end,
            speculative_after_s=min(0.06, short),
            short_silence_s=short,
            **common,
        )

    def segmenter(self) -> TurnSegmenter:
        return TurnSegmenter(
            self.end_silence_s,
            self.min_speech_s,
            self.speculative_after_s,
            short_silence_s=self.short_silence_s,
            statement_silence_s=self.statement_silence_s if self.short_silence_s is not None else None,
        )

    @classmethod
    def fixed(cls, end_silence_s: float = 0.5, **kw: Any) -> VoiceSettings:
        """The non-adaptive segmenter: every turn ends after ``end_silence_s`` of silence."""
        return cls(
            end_silence_s=end_silence_s,
            speculative_after_s=min(0.2, end_silence_s),
            short_silence_s=None,
            statement_silence_s=None,
            turn_strategy="fixed",
            **kw,
        )

    @classmethod
    def smart_turn(cls, end_silence_s: float = 0.5, after_s: float | None = 0.12, **kw: Any) -> VoiceSettings:
        """pipecat's smart-turn decides: its model judges the turn's audio after ``after_s`` of
        silence (None: 0.2 s, pipecat's default VAD stop) and "complete" ends the turn as soon as
        the verdict is there; "incomplete" waits ``end_silence_s``."""
        at = min(after_s if after_s is not None else SMART_TURN_AFTER_S, end_silence_s)
        return cls(
            end_silence_s=end_silence_s,
            speculative_after_s=at,
            short_silence_s=at,
            statement_silence_s=None,
            turn_strategy="smart_turn",
            **kw,
        )

    def policy(self) -> InterruptionPolicy:
        return InterruptionPolicy(self.min_barge_in_s, pause_after_s=self.pause_after_s)


def build_voice_pipeline(
    *,
    input_transport: Any,
    output_transport: Any,
    brain: BrainPort,
    stt: Any,
    tts: Any,
    recorder: CallRecorder,
    settings: VoiceSettings | None = None,
    vad: Any | None = None,
    greeting: Any | None = None,
    turn_model: Any | None = None,
    with_parts: bool = False,
    apologies: Any | None = None,
) -> Any:
    """Return a pipecat ``Pipeline`` for one call.

    ``greeting``: a ``Reply``, or an async function returning one (``lambda: engine.greet(...)``),
    spoken first; None: the caller speaks first (or the transport queues its own SpeakFrame).
    ``turn_model``: the :class:`~appliance.voice.smart_turn.TurnModel` of ``turn_strategy =
    "smart_turn"``; None there: the process-wide smart-turn model (loaded at the call's start).
    ``with_parts``: return ``(pipeline, VoiceParts)`` so the call runner can flush turns in flight.
    ``apologies``: the :class:`~appliance.voice.degraded.ApologyBank` of degraded mode."""
    from pipecat.pipeline.pipeline import Pipeline

    from appliance.voice.listen import VoiceInputProcessor
    from appliance.voice.respond import BrainProcessor
    from appliance.voice.speak import EngineTTSProcessor
    from appliance.voice.transcribe import EngineSTTProcessor

    s = settings or VoiceSettings()
    # ScriptedSTT answers by call count: a discarded speculative call would shift its script.
    speculate = s.speculative_stt and not _scripted(stt)
    smart = s.turn_strategy == "smart_turn"
    if smart and turn_model is None:
        from appliance.voice.smart_turn import shared_smart_turn

        turn_model = shared_smart_turn()
    stt_proc = EngineSTTProcessor(
        stt=stt,
        recorder=recorder,
        speculate=speculate,
        verdicts=not smart,
        language_hint=s.default_language,
        languages=s.languages or _stt_languages(stt),
    )
    brain_proc = BrainProcessor(
        brain=brain,
        recorder=recorder,
        default_language=s.default_language,
        slow_notice_s=s.slow_notice_s,
        brain_notice_s=s.brain_notice_s,
        greeting=greeting,
        brain_timeout_s=s.brain_timeout_s,
    )
    pipeline = Pipeline(
        [
            input_transport,
            VoiceInputProcessor(
                recorder=recorder,
                segmenter=s.segmenter(),
                policy=s.policy(),
                vad=vad,
                turn_model=turn_model if smart else None,
            ),
            stt_proc,
            brain_proc,
            EngineTTSProcessor(tts=tts, recorder=recorder, apologies=apologies),
            output_transport,
        ]
    )
    return (pipeline, VoiceParts(stt_proc, brain_proc)) if with_parts else pipeline


@dataclass(frozen=True, slots=True)
class VoiceParts:
    """The processors whose work outlives a frame: what a call flushes before it stops."""

    stt: Any
    brain: Any

    async def flush(self) -> None:
        """Wait until every transcription in flight has reached the brain and every brain call
        has been answered (and so stored)."""
        await self.stt.drain()
        await self.brain.drain()


def _stt_languages(stt: Any) -> tuple[str, ...]:
    from appliance.engines.stt import STTEngine

    return tuple(stt.capabilities.languages) if isinstance(stt, STTEngine) else ()


def _scripted(stt: Any) -> bool:
    from appliance.engines.stt import ScriptedSTT
    from appliance.engines.supervised import SupervisedSTT

    return isinstance(stt.inner if isinstance(stt, SupervisedSTT) else stt, ScriptedSTT)
