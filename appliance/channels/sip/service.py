"""``SipService``: the daemon's SIP channel. One :class:`SipEndpoint`, one task per call.
(~490 lines: the lifecycle of a call on every path — voice, keypad menu, overflow, transfer,
shutdown goodbye — in one place; the voice path itself is ``voicecall.py``.)

Per call: answer after ``answer_delay_s``; then either the voice pipeline (the one call
runner, :mod:`appliance.channels.sip.voicecall`), the degraded DTMF menu (when speech
recognition is unavailable), or, for an overflow call above ``max_calls``, a short busy
notice and a callback ticket. Digits go to the brain, which decides: 0 transfers to staff
(REFER), 1 takes a callback; a failed transfer takes a callback. Calls end on BYE/CANCEL, the
brain's end of conversation, ``max_call_s``, ``rtp_silence_timeout_s`` and unanswered
re-prompts. Every sentence comes from the brain's templates. Models are shared; per-call
state is not.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.channels.sip.call import RATE, CallEventType, CallHandle
from appliance.channels.sip.diarize_job import DiarizationJob, DiarizationJobs, spans_of
from appliance.channels.sip.endpoint import SipEndpoint
from appliance.channels.sip.recording import CallRecording
from appliance.channels.sip.tenants import SipTenants, tenant_service
from appliance.core import metrics
from appliance.core.config import Config
from appliance.core.errors import ApplianceError, EngineUnavailable
from appliance.core.logs import pii
from appliance.core.memory import release_free_memory
from appliance.core.messages import Channel, Event, EventType, Reply, Utterance
from appliance.core.ports import BrainPort
from appliance.engines.supervised import SupervisedSTT, SupervisedTTS
from appliance.tools.context import CallbackSink
from appliance.voice.degraded import shared_apologies
from appliance.voice.stopbudget import StopBudget
from appliance.voice.texts import voice_text, voice_texts

log = logging.getLogger("appliance.sip")


# how a voice call can end with the caller gone in the middle of a conversation
DROPPED = frozenset({"caller_hung_up", "rtp_silence", "no_input", "max_duration"})


@dataclass
class SipEngines:
    """The shared speech engines. ``stt``/``tts`` None (or failing to load) means degraded."""

    stt: Any | None
    tts: Any | None
    vad: Callable[[], Any] | None = None  # makes a pipecat VADAnalyzer per call; None: Silero per call


def frame_interval_stats(times: list[float]) -> dict[str, float]:
    """Intervals (ms) between the outgoing frames the media clock took from a call."""
    gaps = sorted((b - a) * 1000 for a, b in zip(times, times[1:], strict=False))
    if not gaps:
        return {}
    return {
        "tx_interval_p50_ms": round(gaps[len(gaps) // 2], 2),
        "tx_interval_p99_ms": round(gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))], 2),
        "tx_interval_max_ms": round(gaps[-1], 2),
    }


class SipService:
    def __init__(
        self,
        config: Config,
        brain: BrainPort,
        engines: SipEngines,
        *,
        callbacks: CallbackSink,
        on_event: Any | None = None,
        recordings_dir: Path | None = None,
        log_level: int = 1,
        behind_proxy: bool = False,
        ai_paused: Callable[[], bool] | None = None,
        tenants: SipTenants | None = None,
        diarization: DiarizationJobs | None = None,
    ) -> None:
        self.config = config
        # several businesses on one box: the number called (or the account) picks the tenant's
        # brain per call (appliance/channels/sip/tenants.py); None: every call is this config's
        self.tenants = tenants
        self.several_tenants = bool(config.tenants)  # kept by the tenants' views (channels/sip/tenants.py)
        self.views: dict[str, SipService] = {}
        self.diarization = diarization  # recorded calls are diarized after they end (diarize_job.py)
        # staff paused the AI for new calls (the console's pause key): they get the keypad menu
        # (1: callback, 0: staff) instead of the voice pipeline
        self.ai_paused: Callable[[], bool] = ai_paused or (lambda: False)
        self.sip = config.sip
        self.brain = brain
        # prompts outside the pipeline (menus, notices) use the engine as it is; calls use it
        # supervised (engines/supervised.py): a timeout or a crash costs one sentence, not the call
        self._prompt_tts = engines.tts
        if engines.stt is not None and not isinstance(engines.stt, SupervisedSTT):
            engines.stt = SupervisedSTT(engines.stt, timeout_s=config.voice.stt_timeout_s)
        if engines.tts is not None and not isinstance(engines.tts, SupervisedTTS):
            engines.tts = SupervisedTTS(engines.tts, timeout_s=config.voice.tts_timeout_s)
        self.apologies = shared_apologies()
        self.callbacks = callbacks
        self.engines = engines
        self.on_event = on_event
        self.recordings_dir = recordings_dir or (config.data_path / "recordings")
        self.endpoint = SipEndpoint(self.sip, on_call=self._on_call, log_level=log_level, behind_proxy=behind_proxy)
        self.tasks: set[asyncio.Task[None]] = set()
        self.records: list[dict[str, Any]] = []  # finished calls (most recent last, bounded)
        self.speech_ok = True
        self.ports: dict[str, int] = {}
        self.closing = False  # stop() called: calls end with a goodbye
        self.stop_budget = StopBudget(self.sip.stop_timeout_s)  # one deadline for every call's end
        self.live_calls: dict[str, CallHandle] = {}  # session -> call, for staff call control

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> dict[str, int]:
        self.speech_ok = await self._check_speech()
        tenant = self.config.tenant
        others = [lang for t in self.config.tenants for lang in (t.default_language, *t.languages)]
        await self.apologies.prepare(list(dict.fromkeys([tenant.default_language, *tenant.languages, *others])))
        await asyncio.to_thread(self._warm_up)
        self.ports = await self.endpoint.start()
        if self.diarization is not None:  # jobs a stop cut short run again, after any call
            n = await self.diarization.resume(self.recordings_dir)
            if n:
                log.info("SIP: %d recordings queued again for diarization", n)
        return self.ports

    async def stop(self) -> None:
        """Stop: every call in progress hears a short goodbye (``shutdown`` prompt) and is hung up,
        within ``sip.stop_timeout_s`` in all (``voice/stopbudget.py``)."""
        loop = asyncio.get_running_loop()
        self.closing = True
        for view in self.views.values():
            view.closing = True
        self.stop_budget.begin(loop.time())
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=self.stop_budget.left(loop.time()) + 0.5)
        await self.endpoint.stop()
        if self.diarization is not None:
            await self.diarization.close()

    async def _check_speech(self) -> bool:
        stt, tts = self.engines.stt, self.engines.tts
        if stt is None or tts is None:
            log.warning("SIP: no %s engine: calls get the DTMF menu", "speech-to-text" if stt is None else "TTS")
            return False
        try:
            await asyncio.to_thread(stt.load)
        except ApplianceError as exc:
            log.error("SIP: speech-to-text unavailable, calls get the DTMF menu: %s", exc)
            self._emit(EventType.DEGRADED, {"component": "stt", "error": str(exc)})
            return False
        return True

    def _warm_up(self) -> None:
        """Pay for first-use work before any call exists. Measured (py-spy, docs/SIP.md): the lingua
        language detector build (~0.7 s) and the pipecat imports at the first turn hold the GIL, and
        pjmedia's clock thread needs the GIL for every call's media port every 20 ms, so they stalled
        every call's outgoing RTP for ~0.5 s."""
        try:
            from appliance.brain.understanding.language import warm_up

            warm_up(self.config.tenant.languages)
        except Exception as exc:  # noqa: BLE001 - a missing detector is the brain's business
            log.debug("language detector warm-up: %s", exc)
        if self.speech_ok:
            try:
                import appliance.channels.sip.transport  # noqa: F401 - pipecat and the voice pipeline
                import appliance.channels.sip.voicecall  # noqa: F401
                import appliance.voice.pipeline  # noqa: F401
            except ImportError as exc:
                log.warning("SIP: voice pipeline modules failed to import: %s", exc)

    async def _diarize_later(self, recording: CallRecording, sid: str, rec: dict[str, Any]) -> None:
        """Queue the finished recording for diarization (a background job; the call is over)."""
        if self.diarization is None or self.closing:
            return
        try:
            await self.diarization.submit(DiarizationJob(recording.base, sid, spans_of(rec.get("transcript") or [])))
        except Exception:  # noqa: BLE001 - diarization is an extra; the call record is already written
            log.exception("SIP: could not queue the diarization of %s", sid)

    def _emit(self, kind: EventType, data: dict[str, Any], session_id: str | None = None) -> None:
        if self.on_event is None:
            return
        if self.several_tenants:  # whose call it is (the staff API shows each tenant's staff their own)
            data = {**data, "tenant": self.config.tenant.id}
        try:
            result = self.on_event(Event(kind, data, session_id=session_id))
            if asyncio.iscoroutine(result):
                asyncio.ensure_future(result)
        except Exception:  # noqa: BLE001
            log.exception("event sink failed")

    # ------------------------------------------------------------------ calls

    def _on_call(self, handle: CallHandle) -> None:
        service = tenant_service(self, handle)
        task = asyncio.get_running_loop().create_task(service._run_call(handle))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_call(self, handle: CallHandle) -> None:
        sid = f"sip-{uuid.uuid4().hex[:12]}"
        language = self.config.tenant.default_language
        rec: dict[str, Any] = {
            "session_id": sid,
            "caller_id": handle.caller_id,
            "source": handle.source,
            "sip_call_id": handle.sip_call_id,
            "started_at": handle.started_at,
            "language": language,
            "mode": "overflow" if handle.overflow else ("voice" if self.speech_ok and not self.ai_paused() else "menu"),
            "transcript": [],
            "outcome": "",
            "transfer": None,
            "callback_ticket": None,
            "dtmf": [],
        }
        self._emit(EventType.CALL_STARTED, {"caller_id": handle.caller_id, "mode": rec["mode"]}, sid)
        metrics.CALLS.labels(rec["mode"]).inc()
        metrics.ACTIVE_CALLS.inc()
        self.live_calls[sid] = handle
        recording: CallRecording | None = None
        try:
            await asyncio.sleep(self.sip.answer_delay_s)
            if not handle.active:
                rec["outcome"] = "cancelled"
                return
            await handle.answer(200)
            try:
                await asyncio.wait_for(handle.media_ready.wait(), 10)
            except TimeoutError:
                rec["outcome"] = "no_media"
                return
            if not handle.active:
                rec["outcome"] = "hung_up"
                return
            if self.sip.record:
                recording = CallRecording(self.recordings_dir, sid, started_at=handle.started_at)
            if handle.overflow:
                await self._overflow_call(handle, sid, rec, recording)
            elif rec["mode"] == "menu":
                await self._menu_call(handle, sid, rec, recording)
            else:
                await self._voice_call(handle, sid, rec, recording)
        except asyncio.CancelledError:
            rec["outcome"] = rec["outcome"] or "shutdown"
            raise
        except Exception as exc:  # noqa: BLE001 - one broken call must not hurt the others
            log.exception("SIP call %s failed", sid)
            rec["outcome"] = f"error: {type(exc).__name__}"
        finally:
            self.live_calls.pop(sid, None)
            try:
                await self._finish(handle, sid, rec, recording)
            finally:
                metrics.ACTIVE_CALLS.dec()

    async def _finish(self, handle: CallHandle, sid: str, rec: dict[str, Any], recording: CallRecording | None) -> None:
        loop, budget = asyncio.get_running_loop(), self.stop_budget
        if self.closing and handle.active and handle.media_ready.is_set():
            try:
                handle.audio.flush_tx()
                goodbye = self._say(handle, voice_text("shutdown_goodbye", rec["language"]), rec["language"])
                await asyncio.wait_for(goodbye, budget.say_s(loop.time(), 9.0))
                rec["goodbye"] = True
            except Exception:  # noqa: BLE001 - the hangup below still happens
                log.debug("goodbye to %s failed", sid, exc_info=True)
        if self.closing and rec["mode"] == "voice" and not rec["callback_ticket"]:
            await self._ticket_if_unfinished(handle, sid, rec, "call_cut_by_shutdown")
        try:
            if handle.active:
                await handle.hangup()
                await asyncio.wait_for(handle.disconnected.wait(), budget.hangup_wait_s(loop.time(), 3.0))
        except Exception:  # noqa: BLE001
            log.debug("hangup of %s failed", sid, exc_info=True)
        rec["ended_at"] = time.time()
        rec["end_code"] = handle.end_code
        rec["outcome"] = rec["outcome"] or ("caller_hung_up" if handle.end_code else "ended")
        a = handle.audio
        rec["audio"] = {
            "rx_frames": a.rx_frames,
            "tx_frames": a.tx_frames,
            "tx_audio_frames": a.tx_audio_frames,
            **frame_interval_stats(list(a.tx_times)),
        }
        if recording is not None:
            # drain what the transport has not picked up yet
            recording.add(handle.audio.drain(handle.audio.rx), handle.audio.drain(handle.audio.sent))
            try:
                await recording.close(rec)
                rec["recording"] = str(recording.base)
            except OSError as exc:
                log.error("SIP: could not write the recording of %s: %s", sid, exc)
            else:
                await self._diarize_later(recording, sid, rec)
        try:  # after its tickets: a session without an end at the next start was cut (cut_calls.py)
            await self.brain.end_session(sid)
        except Exception:  # noqa: BLE001 - the next start closes it (and may ticket it) instead
            log.exception("SIP: could not record the end of %s", sid)
        self.records.append(rec)
        del self.records[:-200]
        if not self.live_calls and not self.closing:  # the last call ended: freed heap back to the OS
            asyncio.get_running_loop().run_in_executor(None, release_free_memory)
        self._emit(EventType.CALL_ENDED, {k: rec[k] for k in ("caller_id", "outcome", "mode", "end_code")}, sid)
        log.info("SIP call %s from %s ended: %s", sid, pii(handle.caller_id), rec["outcome"])

    # ------------------------------------------------------------------ audio helpers

    async def _synth(self, text: str, language: str) -> bytes:
        from appliance.engines.base import float32_to_pcm16, pcm16_to_float32, resample

        tts = self._prompt_tts
        if tts is None:
            from appliance.engines.tts import EspeakTTS

            tts = self._prompt_tts = EspeakTTS()
        chunk = await tts.synthesize(text, language)
        if chunk.sample_rate == RATE:
            return chunk.pcm16
        return await asyncio.to_thread(
            lambda: float32_to_pcm16(resample(pcm16_to_float32(chunk.pcm16), chunk.sample_rate, RATE))
        )

    async def _say(self, handle: CallHandle, text: str, language: str, *, stop_on_dtmf: bool = False) -> str | None:
        """Speak ``text`` (paced, ~80 ms queued). Returns the first DTMF digit that interrupted it."""
        try:
            pcm = await self._synth(text, language)
        except ApplianceError as exc:
            log.error("SIP: cannot speak a prompt: %s", exc)
            return None
        step = int(RATE * 0.02) * 2
        audio = handle.audio
        for i in range(0, len(pcm), step):
            while audio.tx_queued_s() > 0.08:
                await asyncio.sleep(0.01)
            if not handle.active:
                return None
            if stop_on_dtmf:
                digit = self._pending_digit(handle)
                if digit is not None:
                    audio.flush_tx()
                    return digit
            audio.queue_tx(pcm[i : i + step])
        while audio.tx_queued_s() > 0 and handle.active:
            await asyncio.sleep(0.02)
        return self._pending_digit(handle) if stop_on_dtmf else None

    @staticmethod
    def _pending_digit(handle: CallHandle) -> str | None:
        while not handle.events.empty():
            ev = handle.events.get_nowait()
            if ev.type is CallEventType.DTMF:
                return str(ev.data["digit"])
        return None

    # ------------------------------------------------------------------ staff call control (console)

    async def transfer_call(self, session_id: str, extension: str) -> bool:
        """Blind-transfer a live call (REFER) to a staff extension; False when it is not live here."""
        handle = self.live_calls.get(session_id)
        if handle is None or not handle.active:
            return False
        uri = self._staff_uri(handle, extension)
        self._emit(EventType.TRANSFER, {"to": uri, "by": "staff"}, session_id)
        return await handle.transfer(uri)

    async def end_call(self, session_id: str) -> bool:
        handle = self.live_calls.get(session_id)
        if handle is None or not handle.active:
            return False
        await handle.hangup()
        return True

    def _staff_uri(self, handle: CallHandle, extension: str | None = None) -> str:
        ext = extension or self.config.tenant.transfer_extension
        if ext.startswith(("sip:", "sips:", "tel:")):
            return ext
        if "@" in ext:
            return f"sip:{ext}"
        return f"sip:{ext}@{handle.source}"

    async def _callback(self, handle: CallHandle, sid: str, rec: dict[str, Any], reason: str, language: str) -> None:
        ticket = await self.callbacks.create(
            phone=handle.caller_id,
            name=None,
            reason=reason,
            language=language,
            session_id=sid,
            channel=str(Channel.VOICE),
            details={"source": handle.source, "sip_call_id": handle.sip_call_id},
        )
        rec["callback_ticket"] = ticket.id
        self._emit(EventType.CALLBACK_REQUESTED, {"phone": handle.caller_id, "reason": reason}, sid)

    async def transfer(
        self, handle: CallHandle, sid: str, rec: dict[str, Any], language: str, ext: str | None = None
    ) -> bool:
        """Blind transfer (REFER) after the brain said so; a failed one takes a callback."""
        uri = self._staff_uri(handle, ext)
        self._emit(EventType.TRANSFER, {"to": uri}, sid)
        ok = await handle.transfer(uri)
        rec["transfer"] = {"to": uri, "ok": ok}
        if ok:
            rec["outcome"] = "transferred"
            return True
        log.warning("SIP: transfer of %s to %s failed; taking a callback", sid, uri)
        if handle.active:
            await self._callback(handle, sid, rec, "transfer_failed", language)
            await self._say(handle, voice_text("transfer_failed", language), language)
        rec["outcome"] = "transfer_failed_callback"
        return False

    # ------------------------------------------------------------------ call kinds

    async def _overflow_call(self, handle: CallHandle, sid: str, rec: dict[str, Any], recording: Any) -> None:
        language = self.config.tenant.default_language
        await self._callback(handle, sid, rec, "all_lines_busy", language)
        await self._record_while(recording, handle, self._say(handle, voice_text("lines_busy", language), language))
        rec["outcome"] = "busy_callback"

    async def _menu_call(self, handle: CallHandle, sid: str, rec: dict[str, Any], recording: Any) -> None:
        """Degraded mode: a DTMF menu in each of the tenant's languages; the digit goes to the
        brain, which decides (0: transfer to staff, 1: callback ticket)."""
        self._emit(EventType.DEGRADED, {"mode": "dtmf_menu"}, sid)

        async def run() -> None:
            languages = list(dict.fromkeys([self.config.tenant.default_language, *self.config.tenant.languages]))
            menu = ("voice_unavailable", "keypad_menu")
            lang = languages[0]
            for _attempt in range(2):
                digit = None
                for lang in languages:
                    digit = await self._say(handle, voice_texts(menu, lang), lang, stop_on_dtmf=True)
                    if digit or not handle.active:
                        break
                if digit is None and handle.active:
                    digit = await self._wait_digit(handle, 6.0)
                    lang = languages[0]
                if not handle.active:
                    break
                if digit is None:
                    continue
                rec["dtmf"].append(digit)
                reply = await self.keypad(handle, sid, digit, lang)
                if reply.transfer_to:
                    await self._say(handle, reply.speakable or reply.text, reply.language)
                    await self.transfer(handle, sid, rec, reply.language, reply.transfer_to)
                    return
                if reply.end_of_conversation:  # the brain took a callback ticket
                    rec["outcome"] = "menu_callback"
                    self._emit(EventType.CALLBACK_REQUESTED, {"phone": handle.caller_id, "reason": "keypad"}, sid)
                    await self._say(handle, reply.speakable or reply.text, reply.language)
                    return
            if handle.caller_id:  # no (usable) digit: staff call back anyway
                await self._callback(handle, sid, rec, "callback_requested_degraded", lang)
                rec["outcome"] = "menu_callback"
                if handle.active:
                    await self._say(handle, voice_text("callback_goodbye", lang), lang)

        await self._record_while(recording, handle, run())

    async def keypad(self, handle: CallHandle, sid: str, digit: str, language: str) -> Reply:
        utterance = Utterance(sid, Channel.VOICE, "", language_hint=language, caller_id=handle.caller_id, dtmf=digit)
        return await self.brain.handle(utterance)

    async def _wait_digit(self, handle: CallHandle, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while handle.active and time.monotonic() < deadline:
            try:
                ev = await asyncio.wait_for(handle.events.get(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                return None
            if ev.type is CallEventType.DTMF:
                return str(ev.data["digit"])
        return None

    async def _record_while(self, recording: CallRecording | None, handle: CallHandle, coro: Any) -> Any:
        """Outside the pipeline, keep moving both legs into the recording while ``coro`` runs."""
        task = asyncio.ensure_future(coro)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.2)
                rx, sent = handle.audio.drain(handle.audio.rx), handle.audio.drain(handle.audio.sent)
                if recording is not None:
                    recording.add(rx, sent)
        except asyncio.CancelledError:  # the call is being ended (shutdown): so is what it was saying
            task.cancel()
            raise
        return task.result()

    async def _voice_call(self, handle: CallHandle, sid: str, rec: dict[str, Any], recording: Any) -> None:
        from appliance.channels.sip.voicecall import run_voice_call

        try:
            result = await run_voice_call(self, handle, sid, rec, recording)
        except EngineUnavailable as exc:
            log.error("SIP: speech unavailable mid-call (%s): falling back to the DTMF menu", exc)
            rec["mode"] = "menu"
            await self._menu_call(handle, sid, rec, recording)
            return
        if result.ended_by in DROPPED and not rec["callback_ticket"]:
            await self._ticket_if_unfinished(handle, sid, rec, "call_dropped_unfinished")

    async def _ticket_if_unfinished(self, handle: CallHandle, sid: str, rec: dict[str, Any], reason: str) -> None:
        """The line dropped (or went silent) in the middle of something, e.g. a booking: the
        turns and slots are stored already; staff get a callback ticket to finish it."""
        try:
            snap = await self.brain.snapshot(sid)
        except Exception:  # noqa: BLE001 - no snapshot, no ticket; the turns are stored anyway
            log.exception("SIP: no snapshot of %s", sid)
            return
        if snap.get("awaiting") and any(v for v in (snap.get("slots") or {}).values()) and handle.caller_id:
            await self._callback(handle, sid, rec, reason, str(snap.get("language") or ""))
