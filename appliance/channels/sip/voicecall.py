"""One SIP call through the voice pipeline: the SIP side of the one call runner
(:class:`~appliance.voice.callrunner.CallRunner`). This module only adapts the call's media
(:class:`SipMedia`) and maps how the call ended onto the SIP call record; greeting, DTMF (to the
brain), supervision, flushing and storing are the runner's."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from appliance.channels.sip.call import RATE, CallEventType, CallHandle
from appliance.voice.callrunner import CallRunner, CallSignal, CallSignalType, CallSpec, GreetingSource
from appliance.voice.recorder import CallRecorder, CallResult
from appliance.voice.supervision import SupervisionParams
from appliance.voice.timeline import Mark

if TYPE_CHECKING:
    from appliance.channels.sip.recording import CallRecording
    from appliance.channels.sip.service import SipService

log = logging.getLogger("appliance.sip")

# how a runner ending maps onto the call record's outcome ("" : the service decides, e.g. hung up)
OUTCOMES = {
    "end_of_conversation": "completed",
    "max_duration": "max_duration",
    "rtp_silence": "rtp_silence",
    "no_input": "no_input",
}


class SipMedia:
    """A SIP call's media and events as the call runner sees them (real time)."""

    graceful_end = False

    def __init__(self, handle: CallHandle, recorder: CallRecorder, rec: dict[str, Any], recording: Any) -> None:
        from appliance.channels.sip.transport import SipInputTransport, SipOutputTransport, sip_transport_params

        self.handle = handle
        self.signals: asyncio.Queue[CallSignal] = asyncio.Queue()
        params = sip_transport_params()
        self._input = SipInputTransport(handle.audio, params=params, recording=recording)
        self._output = SipOutputTransport(handle.audio, params=params, recorder=recorder)
        self._rec = rec
        self._pump = asyncio.ensure_future(self._events())

    async def _events(self) -> None:
        handle = self.handle
        if not handle.active:
            self.signals.put_nowait(CallSignal(CallSignalType.HANGUP))
            return
        while True:
            ev = await handle.events.get()
            if ev.type is CallEventType.DTMF:
                digit = str(ev.data["digit"])
                self._rec["dtmf"].append(digit)
                self.signals.put_nowait(CallSignal(CallSignalType.DTMF, digit=digit))
            elif ev.type is CallEventType.DISCONNECTED:
                self.signals.put_nowait(CallSignal(CallSignalType.HANGUP))
                return

    def close(self) -> None:
        self._pump.cancel()

    @property
    def input_transport(self) -> Any:
        return self._input

    @property
    def output_transport(self) -> Any:
        return self._output

    def now(self) -> float:
        return time.monotonic()

    def output_idle(self) -> bool:
        return self.handle.audio.tx_queued_s() == 0

    def last_caller_audio(self) -> float:
        return self.handle.audio.last_rx_audio

    def flush_output(self) -> None:
        self.handle.audio.flush_tx()


async def run_voice_call(
    svc: SipService,
    handle: CallHandle,
    sid: str,
    rec: dict[str, Any],
    recording: CallRecording | None,
    *,
    greeting: GreetingSource | None = None,
) -> CallResult:
    """``greeting``: the first words instead of the brain's greeting (an automatic callback's opening)."""
    from appliance.voice.pipeline import VoiceSettings
    from appliance.voice.respond import BRAIN_NOTICE_MAX_S

    cfg = svc.config
    settings = VoiceSettings.from_config(cfg)
    runner = CallRunner(
        CallSpec(
            session_id=sid,
            brain=svc.brain,
            stt=svc.engines.stt,
            tts=svc.engines.tts,
            settings=dataclasses.replace(settings, brain_notice_s=min(settings.slow_notice_s * 2, BRAIN_NOTICE_MAX_S)),
            supervision=SupervisionParams(
                max_call_s=cfg.sip.max_call_s,
                caller_silence_s=cfg.sip.rtp_silence_timeout_s,
                no_input_s=cfg.sip.no_input_reprompt_s,
                max_reprompts=cfg.sip.no_input_reprompts,
            ),
            caller_id=handle.caller_id,
            greeting=greeting,
            notices=("recording_notice",) if cfg.sip.record else (),
            vad=svc.engines.vad() if svc.engines.vad is not None else None,
            sample_rate=RATE,
            apologies=svc.apologies,
            on_event=svc.on_event,
            end_event=False,  # the service publishes CALL_ENDED for every kind of call
            stop=svc.stop_budget,
        )
    )
    media = SipMedia(handle, runner.recorder, rec, recording)
    try:
        result = await runner.run(media)
    finally:
        media.close()
        recorder = runner.recorder
        rec["language"] = recorder.language or rec["language"]
        rec["transcript"] = [
            {
                "turn": t.turn,
                "user": t.text,
                "reply": t.reply,
                "language": t.language,
                # where in the caller's recording the turn was spoken (diarization aligns by these)
                "start": t.audio.get(Mark.SPEECH_START),
                "end": t.audio.get(Mark.END_OF_SPEECH),
            }
            for t in (recorder.timelines[k] for k in sorted(recorder.timelines))
            if t.kind in ("caller", "keypad")
        ]
        rec["errors"] = list(recorder.errors)
    rec["outcome"] = rec["outcome"] or OUTCOMES.get(result.ended_by, "")
    if result.ended_by == "transfer" and handle.active:
        await svc.transfer(handle, sid, rec, rec["language"], result.transfer_to)
    return result
