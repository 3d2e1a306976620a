"""pjsua2 subclasses. Imported lazily (it imports pjsua2); every method here runs on the
endpoint thread, except the media port callbacks, which run on pjmedia's clock thread and
only copy bytes."""

from __future__ import annotations

import ctypes
import logging
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from appliance.channels.sip.call import FRAME_BYTES, RATE, AudioBuffers, CallEvent, CallEventType, CallHandle

if TYPE_CHECKING:
    from appliance.channels.sip.endpoint import SipEndpoint

log = logging.getLogger("appliance.sip")

_fast_ok: bool | None = None


def _vector_bytes(vec: Any) -> bytes:
    """Copy a pj.ByteVector (std::vector<unsigned char>) to bytes.

    SWIG's element-wise iteration costs ~0.6 ms per 20 ms frame; reading the vector's
    [begin, end) pointers (libstdc++ layout) costs ~2 us. The fast path is checked against the
    slow one on first use and abandoned if they differ."""
    global _fast_ok
    if _fast_ok is not False:
        try:
            start, finish = ctypes.cast(int(vec.this), ctypes.POINTER(ctypes.c_void_p * 2)).contents
            n = (finish or 0) - (start or 0)
            fast = ctypes.string_at(start, n) if start and n > 0 else b""
            if _fast_ok is None:
                _fast_ok = fast == bytes(tuple(vec))
                if not _fast_ok:
                    log.warning("fast audio copy disabled (unexpected std::vector layout)")
                    return bytes(tuple(vec))
            return fast
        except Exception:  # noqa: BLE001
            _fast_ok = False
    return bytes(tuple(vec))


class MediaPort(pj.AudioMediaPort):
    """16 kHz mono 20 ms PCM port bridged into the call's conference slot (pjmedia resamples
    8 kHz PCMU/PCMA calls to it)."""

    def __init__(self, buffers: AudioBuffers) -> None:
        super().__init__()
        self.buffers = buffers

    def create(self, name: str) -> None:
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
        self.createPort(name, fmt)

    def onFrameRequested(self, frame: Any) -> None:  # noqa: N802 - pjsua2 API
        data = self.buffers.take_tx()
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(data)
        frame.size = FRAME_BYTES

    def onFrameReceived(self, frame: Any) -> None:  # noqa: N802 - pjsua2 API
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            self.buffers.on_rx(_vector_bytes(frame.buf))


class PjCall(pj.Call):
    def __init__(self, endpoint: SipEndpoint, account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.endpoint = endpoint
        self.handle: CallHandle | None = None
        self.port: MediaPort | None = None
        self.connected = False

    # -- control (endpoint thread) -----------------------------------------------------
    def answer_with(self, code: int, headers: dict[str, str] | None = None) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        for name, value in (headers or {}).items():
            h = pj.SipHeader()
            h.hName = name
            h.hValue = value
            prm.txOption.headers.append(h)
        self.answer(prm)

    def hangup_with(self, code: int | None) -> None:
        prm = pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        try:
            self.hangup(prm)
        except pj.Error as exc:
            log.debug("hangup: %s", exc.info())

    def transfer_to(self, uri: str) -> None:
        self.xfer(uri, pj.CallOpParam(True))

    # -- callbacks ---------------------------------------------------------------------
    def onCallState(self, prm: Any) -> None:  # noqa: N802
        try:
            info = self.getInfo()
        except pj.Error:
            return
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.handle:
            self.handle.post(CallEvent(CallEventType.CONFIRMED))
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._disconnect_media()
            if self.handle:
                self.handle.post(
                    CallEvent(CallEventType.DISCONNECTED, {"code": info.lastStatusCode, "reason": info.lastReason})
                )
            self.endpoint.forget_call(self)

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
        if self.connected or self.handle is None:
            return
        try:
            media = self.getAudioMedia(-1)
        except pj.Error:
            return
        port = MediaPort(self.handle.audio)
        port.create(f"call{self.handle.call_id}")
        media.startTransmit(port)
        port.startTransmit(media)
        self.port = port
        self.connected = True
        self.handle.post(CallEvent(CallEventType.MEDIA_READY))

    def _disconnect_media(self) -> None:
        # pjsua removes the call's conference slot itself; the port is dropped with us.
        self.connected = False

    def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
        if self.handle:
            method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
            self.handle.post(CallEvent(CallEventType.DTMF, {"digit": prm.digit, "method": method}))

    def onCallTransferStatus(self, prm: Any) -> None:  # noqa: N802
        if self.handle:
            self.handle.post(
                CallEvent(CallEventType.TRANSFER_STATUS, {"code": int(prm.statusCode), "final": bool(prm.finalNotify)})
            )


class PjAccount(pj.Account):
    def __init__(self, endpoint: SipEndpoint, name: str, *, registrar: bool) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.name = name
        self.registrar = registrar
        self.registered = False
        self.last_code = 0

    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802
        self.endpoint.incoming(self, prm)

    def onRegState(self, prm: Any) -> None:  # noqa: N802
        self.endpoint.reg_state(self, int(prm.code), int(prm.expiration))

    def onInstantMessage(self, prm: Any) -> None:  # noqa: N802 - SIP MESSAGE (RFC 3428): channels/sms/sip.py
        self.endpoint.instant_message(self, prm)
