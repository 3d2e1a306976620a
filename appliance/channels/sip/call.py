"""The asyncio side of one SIP call: events, audio buffers, and call control.

The pjsua2 objects live on the endpoint thread (:mod:`appliance.channels.sip.pjobjects`); this
module holds what they share with asyncio:

* :class:`AudioBuffers`: 16 kHz mono PCM16 in 20 ms frames. The pjmedia clock thread only
  appends received frames to ``rx`` and takes frames from ``tx`` (a bytes copy under a lock);
  the asyncio side drains ``rx`` and fills ``tx`` (paced, see ``transport.py``).
* :class:`CallHandle`: answer/hang up/transfer (run on the endpoint thread), an event queue
  fed with ``loop.call_soon_threadsafe``, the caller ID and how the call ended.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.channels.sip.endpoint import SipEndpoint

RATE = 16000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2  # 640
SILENCE = bytes(FRAME_BYTES)


class CallEventType(enum.StrEnum):
    MEDIA_READY = "media_ready"
    CONFIRMED = "confirmed"
    DTMF = "dtmf"
    TRANSFER_STATUS = "transfer_status"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class CallEvent:
    type: CallEventType
    data: dict[str, Any] = field(default_factory=dict)


class AudioBuffers:
    """Shared between the pjmedia clock thread and asyncio. Media callbacks stay tiny."""

    def __init__(self, *, keep_intervals: int = 20000) -> None:
        self.rx: collections.deque[bytes] = collections.deque(maxlen=500)  # 10 s of caller audio
        self.sent: collections.deque[bytes] = collections.deque(maxlen=500)  # what went out (recording)
        self._tx = bytearray()
        self._lock = threading.Lock()
        self.last_rx_audio = time.monotonic()  # last non-silent frame from the caller
        self.rx_frames = 0
        self.tx_frames = 0
        self.tx_audio_frames = 0  # frames with appliance audio (not padding)
        self.tx_times: collections.deque[float] = collections.deque(maxlen=keep_intervals)

    # -- pjmedia clock thread ----------------------------------------------------------
    def on_rx(self, data: bytes) -> None:
        self.rx.append(data)
        self.rx_frames += 1
        if data.count(0) != len(data):
            self.last_rx_audio = time.monotonic()

    def take_tx(self) -> bytes:
        with self._lock:
            if self._tx:
                chunk = bytes(self._tx[:FRAME_BYTES])
                del self._tx[:FRAME_BYTES]
                self.tx_audio_frames += 1
            else:
                chunk = b""
        if len(chunk) < FRAME_BYTES:
            chunk += SILENCE[: FRAME_BYTES - len(chunk)]
        self.tx_frames += 1
        self.tx_times.append(time.monotonic())
        self.sent.append(chunk)
        return chunk

    # -- asyncio side ------------------------------------------------------------------
    def queue_tx(self, pcm16: bytes) -> None:
        with self._lock:
            self._tx.extend(pcm16)

    def tx_queued_s(self) -> float:
        with self._lock:
            return len(self._tx) / 2 / RATE

    def flush_tx(self) -> float:
        """Drop queued output (barge-in); return the seconds dropped."""
        with self._lock:
            dropped = len(self._tx) / 2 / RATE
            self._tx.clear()
            return dropped

    def drain(self, dq: collections.deque[bytes]) -> bytes:
        out = []
        while True:
            try:
                out.append(dq.popleft())
            except IndexError:
                return b"".join(out)


class CallHandle:
    """One call, as the asyncio side sees it. Control methods run on the endpoint thread."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        *,
        call_id: int,
        sip_call_id: str,
        caller_id: str | None,
        remote_uri: str,
        source: str,
        account: str,
        loop: asyncio.AbstractEventLoop,
        overflow: bool = False,
        called: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.called = called  # the number dialled (To user): which tenant the call is for
        self.call_id = call_id
        self.sip_call_id = sip_call_id
        self.caller_id = caller_id
        self.remote_uri = remote_uri
        self.source = source
        self.account = account
        self.overflow = overflow  # over capacity: busy prompt + callback only
        self.audio = AudioBuffers()
        self.events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.media_ready = asyncio.Event()
        self.confirmed = asyncio.Event()  # the INVITE dialog is confirmed (an outbound call: answered)
        # the NOTIFYs of a transfer in progress (transfer()); None while none is
        self._transfer_status: asyncio.Queue[tuple[int, bool]] | None = None
        self.end_code: int | None = None
        self.end_reason: str = ""
        self.started_at = time.time()
        self.answered_at: float | None = None
        self._pj: Any = None  # the PjCall, touched only on the endpoint thread
        self._loop = loop

    # -- from the endpoint thread ------------------------------------------------------
    def post(self, event: CallEvent) -> None:
        self._loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: CallEvent) -> None:
        if event.type is CallEventType.MEDIA_READY:
            self.media_ready.set()
        elif event.type is CallEventType.CONFIRMED:
            self.confirmed.set()
        elif event.type is CallEventType.DISCONNECTED:
            self.end_code = event.data.get("code")
            self.end_reason = event.data.get("reason", "")
            self.disconnected.set()
            self.media_ready.set()  # wake anyone still waiting for media
        elif event.type is CallEventType.TRANSFER_STATUS:
            self.transfer_status(event.data["code"], event.data["final"])
        self.events.put_nowait(event)

    # -- control (asyncio) -------------------------------------------------------------
    @property
    def active(self) -> bool:
        return not self.disconnected.is_set()

    async def answer(self, code: int = 200) -> None:
        if self.active:
            await self.endpoint.run(lambda: self._pj and self._pj.answer_with(code))
            if code == 200:
                self.answered_at = time.time()

    async def hangup(self, code: int | None = None) -> None:
        if self.active:
            await self.endpoint.run(lambda: self._pj and self._pj.hangup_with(code))

    async def send_transfer(self, target_uri: str) -> None:
        await self.endpoint.run(lambda: self._pj and self._pj.transfer_to(target_uri))

    async def transfer(self, target_uri: str, *, timeout_s: float = 10.0) -> bool:
        """Blind transfer with REFER. True when the far end reports success (a 2xx NOTIFY), or
        when the caller's side hangs up after accepting the REFER."""
        self._transfer_status = asyncio.Queue()
        try:
            await self.send_transfer(target_uri)
        except Exception:  # noqa: BLE001 - a REFER that cannot be sent is a failed transfer
            return False
        deadline = self._loop.time() + timeout_s
        accepted = False
        while True:
            left = deadline - self._loop.time()
            if left <= 0:
                return False
            waiter = asyncio.ensure_future(self._transfer_status.get())
            gone = asyncio.ensure_future(self.disconnected.wait())
            done, pending = await asyncio.wait({waiter, gone}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for p in pending:
                p.cancel()
            if waiter in done:
                code, final = waiter.result()
                if 200 <= code < 300 and (final or code >= 200) and code != 202:
                    return True
                if code == 202 or 100 <= code < 200:
                    accepted = True
                    continue
                if code >= 300:
                    return False
            elif gone in done:
                return accepted
            else:
                return False

    def transfer_status(self, code: int, final: bool) -> None:
        q = self._transfer_status
        if q is not None:
            q.put_nowait((code, final))
