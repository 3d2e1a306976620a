"""An outbound SIP call (an automatic callback), run like an inbound one.

:func:`run_outbound` dials through the endpoint (``SipEndpoint.place_call``: pjsua2
``Call.makeCall`` on the one endpoint, through the local trunk account or a PBX account), waits
for an answer (``ring_timeout_s``; then CANCEL), and runs the answered call through the same
voice path as inbound calls (:func:`~appliance.channels.sip.voicecall.run_voice_call`, the one
call runner) with the callback's opening instead of the greeting. The call record, recording,
events (``CALL_STARTED``/``CALL_ENDED`` with ``mode = "callback"``), staff call control and the
shutdown goodbye are the service's, as for every call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from appliance.channels.sip.recording import CallRecording
from appliance.core import metrics
from appliance.core.callback_policy import AttemptOutcome
from appliance.core.messages import EventType
from appliance.voice.callrunner import GreetingSource

if TYPE_CHECKING:
    from appliance.channels.sip.call import CallHandle
    from appliance.channels.sip.service import SipService

log = logging.getLogger("appliance.sip")


@dataclasses.dataclass(frozen=True, slots=True)
class DialResult:
    """How an outbound call went on the SIP side; ``answered`` calls went through the pipeline."""

    answered: bool
    outcome: AttemptOutcome | None  # set when not answered (busy, declined, no answer, failed)
    sip_code: int | None
    record: dict[str, Any]


def unanswered_outcome(code: int | None, rang_out: bool) -> AttemptOutcome:
    """A call that never connected, by its final SIP status (RFC 3261 §21)."""
    if rang_out or code in (408, 480, 487):
        return AttemptOutcome.NO_ANSWER
    if code in (486, 600):
        return AttemptOutcome.BUSY
    if code == 603:
        return AttemptOutcome.DECLINED
    return AttemptOutcome.FAILED


async def run_outbound(
    svc: SipService,
    uri: str,
    *,
    number: str,
    session_id: str,
    greeting: GreetingSource,
    account: str = "",
    ring_timeout_s: float = 30.0,
) -> DialResult:
    """Dial ``uri``; when answered, the voice call with ``greeting`` first. Never raises for SIP
    failures (``FAILED``); cancelled at shutdown like any call."""
    rec: dict[str, Any] = {
        "session_id": session_id, "caller_id": number, "source": "outbound", "sip_call_id": "",
        "started_at": time.time(), "language": svc.config.tenant.default_language, "mode": "callback",
        "direction": "outbound", "transcript": [], "outcome": "", "transfer": None, "callback_ticket": None,
        "dtmf": [],
    }  # fmt: skip
    try:
        handle: CallHandle = await svc.endpoint.run(lambda: svc.endpoint.place_call(uri, account))
    except Exception as exc:  # noqa: BLE001 - no line, bad URI, no such account: this attempt failed
        log.warning("SIP: outbound call %s could not be placed: %s", session_id, exc)
        rec["outcome"] = "dial_failed"
        return DialResult(False, AttemptOutcome.FAILED, None, rec)
    handle.caller_id = number
    rec["sip_call_id"] = handle.sip_call_id
    svc._emit(EventType.CALL_STARTED, {"caller_id": number, "mode": "callback"}, session_id)
    metrics.CALLS.labels("callback").inc()
    metrics.ACTIVE_CALLS.inc()
    svc.live_calls[session_id] = handle
    state = {"answered": False, "rang_out": False}
    task = asyncio.current_task()
    if task is not None:  # stop() ends it with the goodbye, like every call
        svc.tasks.add(task)  # type: ignore[arg-type]
    recording: CallRecording | None = None
    try:
        recording = await _converse(svc, handle, session_id, rec, greeting, ring_timeout_s, state)
    except asyncio.CancelledError:
        rec["outcome"] = rec["outcome"] or "shutdown"
        raise
    except Exception as exc:  # noqa: BLE001 - one broken call must not stop the callbacks
        log.exception("SIP outbound call %s failed", session_id)
        rec["outcome"] = f"error: {type(exc).__name__}"
    finally:
        svc.live_calls.pop(session_id, None)
        if task is not None:
            svc.tasks.discard(task)  # type: ignore[arg-type]
        try:
            await svc._finish(handle, session_id, rec, recording)
        finally:
            metrics.ACTIVE_CALLS.dec()
    if state["answered"]:
        return DialResult(True, None, None, rec)
    code = handle.end_code  # known once the call is over (our CANCEL after ringing out: 487)
    return DialResult(False, unanswered_outcome(code, state["rang_out"]), code, rec)


async def _converse(
    svc: SipService,
    handle: CallHandle,
    session_id: str,
    rec: dict[str, Any],
    greeting: GreetingSource,
    ring_timeout_s: float,
    state: dict[str, bool],
) -> CallRecording | None:
    """Wait for the answer; then the voice call. Returns the recording (closed by ``_finish``)."""
    confirmed = asyncio.ensure_future(handle.confirmed.wait())
    gone = asyncio.ensure_future(handle.disconnected.wait())
    done, _ = await asyncio.wait({confirmed, gone}, timeout=ring_timeout_s, return_when=asyncio.FIRST_COMPLETED)
    confirmed.cancel()
    gone.cancel()
    if not (handle.confirmed.is_set() and handle.active):
        state["rang_out"] = not done
        rec["outcome"] = "no_answer" if not done else "not_answered"
        return None
    state["answered"] = True
    handle.answered_at = time.time()
    try:
        await asyncio.wait_for(handle.media_ready.wait(), 10)
    except TimeoutError:
        rec["outcome"] = "no_media"
        return None
    recording = CallRecording(svc.recordings_dir, session_id, started_at=handle.started_at) if svc.sip.record else None
    from appliance.channels.sip.voicecall import run_voice_call

    await run_voice_call(svc, handle, session_id, rec, recording, greeting=greeting)
    return recording
