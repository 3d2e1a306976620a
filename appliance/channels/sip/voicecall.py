"""One SIP call through the voice pipeline, supervised: greeting, DTMF 0 -> transfer, the
brain's end of conversation or transfer request, max duration, long RTP silence, hang-up."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from appliance.channels.sip.call import RATE, CallEventType, CallHandle
from appliance.channels.sip.prompts import prompt
from appliance.core.messages import Channel

if TYPE_CHECKING:
    from appliance.channels.sip.recording import CallRecording
    from appliance.channels.sip.service import SipService

log = logging.getLogger("appliance.sip")


async def run_voice_call(
    svc: SipService, handle: CallHandle, sid: str, rec: dict[str, Any], recording: CallRecording | None
) -> None:
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner

    from appliance.channels.sip.transport import SipInputTransport, SipOutputTransport, sip_transport_params
    from appliance.voice.frames import SpeakFrame
    from appliance.voice.pipeline import VoiceSettings, build_voice_pipeline
    from appliance.voice.recorder import CallRecorder

    cfg = svc.config
    settings = VoiceSettings.from_config(cfg)
    recorder = CallRecorder(session_id=sid)
    params = sip_transport_params()
    source = SipInputTransport(handle.audio, params=params, recording=recording)
    output = SipOutputTransport(handle.audio, params=params, recorder=recorder)
    pipeline = build_voice_pipeline(
        input_transport=source,
        output_transport=output,
        brain=svc.engine,
        stt=svc.engines.stt,
        tts=svc.engines.tts,
        recorder=recorder,
        settings=settings,
        vad=svc.engines.vad() if callable(svc.engines.vad) else None,
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        cancel_on_idle_timeout=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    run_task = asyncio.ensure_future(_run(runner, worker))

    greeting = await svc.engine.greet(sid, Channel.VOICE, caller_id=handle.caller_id)
    language = greeting.language or cfg.tenant.default_language
    recorder.language = language
    rec["language"] = language
    # each part in its own voice (the multilingual greeting: "Hello! Tere! Здравствуйте!")
    parts = list(greeting.spoken_parts) or [(greeting.speakable or greeting.text, language)]
    if cfg.sip.record:
        parts.insert(0, (prompt("recording", language), language))
    for i, (text, lang) in enumerate(parts):
        await worker.queue_frame(SpeakFrame(text, lang, turn=None, first=i == 0, last=i == len(parts) - 1))

    started = time.monotonic()
    quiet_since: float | None = None
    try:
        while handle.active and not run_task.done():
            try:
                ev = await asyncio.wait_for(handle.events.get(), 0.1)
            except TimeoutError:
                ev = None
            if ev is not None and ev.type is CallEventType.DTMF:
                rec["dtmf"].append(ev.data["digit"])
                if ev.data["digit"] == "0":
                    await _stop(worker, run_task, handle)
                    await svc._transfer(handle, sid, rec, recorder.language or language)
                    break
            now = time.monotonic()
            if now - started > cfg.sip.max_call_s:
                log.info("SIP call %s reached max_call_s", sid)
                rec["outcome"] = "max_duration"
                break
            if now - handle.audio.last_rx_audio > cfg.sip.rtp_silence_timeout_s:
                log.info("SIP call %s: no audio from the caller for %.0f s", sid, cfg.sip.rtp_silence_timeout_s)
                rec["outcome"] = "rtp_silence"
                break
            drained = (
                recorder.clock.idle
                and not recorder.bot_speaking
                and not recorder.user_in_turn
                and handle.audio.tx_queued_s() == 0
            )
            if recorder.end_of_conversation or recorder.transfer_to:
                quiet_since = quiet_since or (now if drained else None)
                if drained and quiet_since is not None and now - quiet_since > 0.5:
                    if recorder.transfer_to:
                        await _stop(worker, run_task, handle)
                        await svc._transfer(handle, sid, rec, recorder.language or language, recorder.transfer_to)
                    else:
                        rec["outcome"] = "completed"
                    break
                if not drained:
                    quiet_since = None
    finally:
        await _stop(worker, run_task, handle)
        rec["language"] = recorder.language or language
        rec["transcript"] = [
            {"turn": t.turn, "user": t.text, "reply": t.reply, "language": t.language}
            for t in (recorder.timelines[k] for k in sorted(recorder.timelines))
        ]
        rec["errors"] = list(recorder.errors)


async def _run(runner: Any, worker: Any) -> None:
    await runner.add_workers(worker)
    await runner.run()


async def _stop(worker: Any, run_task: asyncio.Future[None], handle: CallHandle) -> None:
    if run_task.done():
        return
    handle.audio.flush_tx()
    try:
        await asyncio.wait_for(worker.cancel(), 5)
    except (TimeoutError, Exception):  # noqa: BLE001
        log.debug("pipeline cancel", exc_info=True)
    try:
        await asyncio.wait_for(run_task, 5)
    except (TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
        run_task.cancel()
