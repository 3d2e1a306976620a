"""pjsua2 subclasses. Imported lazily (it imports pjsua2); every method here runs on the
endpoint thread, except the media port callbacks, which run on pjmedia's clock thread and
only copy bytes.

Media ports are never destroyed while calls run (:class:`MediaPortPool`). A call's port is
detached when the call ends (its callbacks turn into no-ops, its buffers are dropped) and kept
for the next call. Destroying it instead raced with pjmedia's clock thread: when the last
reference went, Python cleared the object's ``__dict__`` before SWIG deleted the C++ port, the
clock thread (conference mutex held, GIL released by the wrapper) called ``onFrameReceived`` on
the half-dead object (``AttributeError: 'MediaPort' object has no attribute 'buffers'``) and the
worker died with SIGSEGV. pjmedia 2.14+ also removes conference ports asynchronously, so a
deleted port could still be called one tick later."""

from __future__ import annotations

import ctypes
import logging
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from appliance.channels.sip.call import FRAME_BYTES, RATE, SILENCE, AudioBuffers, CallEvent, CallEventType, CallHandle

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
    8 kHz PCMU/PCMA calls to it). Attached to one call's buffers at a time.

    ``buffers`` is also a class attribute (None): a callback that runs while the port is
    detached, or on an object being torn down, finds None and does nothing."""

    buffers: AudioBuffers | None = None

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
        self.createPort(name, fmt)

    def attach(self, buffers: AudioBuffers) -> None:
        self.buffers = buffers

    def detach(self) -> None:
        """The call ended: from now on the clock thread's callbacks are no-ops."""
        self.buffers = None

    def onFrameRequested(self, frame: Any) -> None:  # noqa: N802 - pjsua2 API
        buffers = self.buffers  # one read: detach() may run on the endpoint thread meanwhile
        data = buffers.take_tx() if buffers is not None else SILENCE
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(data)
        frame.size = FRAME_BYTES

    def onFrameReceived(self, frame: Any) -> None:  # noqa: N802 - pjsua2 API
        buffers = self.buffers
        if buffers is not None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            buffers.on_rx(_vector_bytes(frame.buf))


class MediaPortPool:
    """Media ports for the endpoint's calls, reused and never destroyed while the library runs
    (see the module docstring). Endpoint thread only. At most one port per concurrent call."""

    def __init__(self) -> None:
        self._idle: list[MediaPort] = []
        self.created = 0

    def take(self, buffers: AudioBuffers) -> MediaPort:
        if self._idle:
            port = self._idle.pop()
        else:
            self.created += 1
            port = MediaPort(f"call-port{self.created}")
        port.attach(buffers)
        return port

    def give_back(self, port: MediaPort) -> None:
        port.detach()
        if port not in self._idle:
            self._idle.append(port)

    def close(self) -> None:
        """At shutdown, before libDestroy, with the calls hung up: delete the C++ ports while
        their Python objects are whole (callbacks already no-ops)."""
        for port in self._idle:
            port.detach()
            try:
                pj.AudioMediaPort.__swig_destroy__(port)
            except Exception:  # noqa: BLE001
                log.debug("media port destroy failed", exc_info=True)
        self._idle.clear()


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
        port = self.endpoint.media_ports.take(self.handle.audio)
        self.port = port
        media.startTransmit(port)
        port.startTransmit(media)
        self.connected = True
        self.handle.post(CallEvent(CallEventType.MEDIA_READY))

    def _disconnect_media(self) -> None:
        """pjsua removes the call's own conference slot (and with it every connection to our
        port); the port is detached first, so no callback touches this call's buffers again,
        and goes back to the pool."""
        self.connected = False
        port, self.port = self.port, None
        if port is not None:
            port.detach()
            self.endpoint.media_ports.give_back(port)

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
