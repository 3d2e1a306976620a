"""The wire between a model service and its clients: small typed messages in length-prefixed frames.

One frame is ``>II`` (header length, payload length), a JSON header (a dict, the IPC boundary) and
raw payload bytes (PCM16 audio, never base64). Every request carries an ``id`` the reply repeats,
so one connection may hold several requests in flight. Both ends turn frames into the frozen
dataclasses below at once; nothing past :func:`decode` sees a dict.
"""

from __future__ import annotations

import asyncio
import enum
import json
import socket
import struct
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from appliance.engines.langid import DECIDED, LangIdAction, LangIdParams, LangIdReason, LanguageChoice
from appliance.engines.stt import Transcript
from appliance.engines.tts import AudioChunk

HEAD = struct.Struct(">II")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 64 << 20  # ~30 min of 16 kHz PCM16: far more than one utterance or reply


class Kind(enum.StrEnum):
    TRANSCRIBE = "transcribe"
    TRANSCRIPT = "transcript"
    SYNTHESIZE = "synthesize"
    AUDIO = "audio"
    STATUS = "status"
    LOAD = "load"
    ERROR = "error"


class ProtocolError(Exception):
    """A frame that is not one of ours (too big, bad JSON, unknown kind)."""


@dataclass(frozen=True, slots=True)
class TranscribeRequest:
    """One utterance. ``session_language`` set: spoken language ID against it (``params``) and a
    transcription in the chosen language; ``language`` set instead: transcribe in that language."""

    id: int
    pcm16: bytes
    sample_rate: int
    session_language: str | None = None
    language: str | None = None
    params: LangIdParams = DECIDED
    budget_ms: float = 0.0  # the client gives up after this long (0: never): later, it is not decoded


@dataclass(frozen=True, slots=True)
class TranscriptReply:
    id: int
    transcript: Transcript
    batch_size: int  # how many utterances the model decoded in the same call
    queued_ms: float  # from arrival to the start of its batch


@dataclass(frozen=True, slots=True)
class SynthesizeRequest:
    id: int
    text: str
    language: str


@dataclass(frozen=True, slots=True)
class AudioReply:
    id: int
    audio: AudioChunk
    queued_ms: float


@dataclass(frozen=True, slots=True)
class StatusRequest:
    id: int


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    """A service's report: what it serves and how loaded it is."""

    id: int
    service: str  # "stt" | "tts"
    pid: int
    ready: bool
    languages: tuple[str, ...]
    sample_rate: int
    requests: int = 0
    failures: int = 0
    shed: int = 0  # requests whose client had given up before their batch started: not decoded
    in_flight: int = 0
    queue_length: int = 0
    batches: int = 0
    batch_sizes: dict[str, int] = field(default_factory=dict)  # size -> batches of that size
    queue_ms_p50: float = 0.0
    queue_ms_p95: float = 0.0
    queue_ms_max: float = 0.0
    work_ms_p50: float = 0.0
    work_ms_p95: float = 0.0
    uptime_s: float = 0.0
    error: str = ""  # not ready: why (a missing model); the clients' load() raises it at once


@dataclass(frozen=True, slots=True)
class ErrorReply:
    id: int
    code: str  # engine_failed | engine_unavailable | bad_request
    message: str


Message = (
    TranscribeRequest | TranscriptReply | SynthesizeRequest | AudioReply | StatusRequest | ServiceLoad | ErrorReply
)

_KIND: dict[type, Kind] = {
    TranscribeRequest: Kind.TRANSCRIBE,
    TranscriptReply: Kind.TRANSCRIPT,
    SynthesizeRequest: Kind.SYNTHESIZE,
    AudioReply: Kind.AUDIO,
    StatusRequest: Kind.STATUS,
    ServiceLoad: Kind.LOAD,
    ErrorReply: Kind.ERROR,
}


def _choice_dict(choice: LanguageChoice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    out = asdict(choice)
    out["action"], out["reason"] = str(choice.action), str(choice.reason)
    return out


def _choice(data: dict[str, Any] | None) -> LanguageChoice | None:
    if data is None:
        return None
    data = dict(data, action=LangIdAction(data["action"]), reason=LangIdReason(data["reason"]))
    return LanguageChoice(**data)


def encode(msg: Message) -> bytes:
    """One frame for ``msg``."""
    payload = b""
    head: dict[str, Any] = {"kind": str(_KIND[type(msg)]), "id": msg.id}
    if isinstance(msg, TranscribeRequest):
        payload = msg.pcm16
        head.update(sample_rate=msg.sample_rate, session_language=msg.session_language, language=msg.language,
                    params=asdict(msg.params), budget_ms=msg.budget_ms)  # fmt: skip
    elif isinstance(msg, TranscriptReply):
        t = msg.transcript
        head.update(text=t.text, language=t.language, probability=t.probability, duration=t.duration,
                    language_id=_choice_dict(t.language_id), batch_size=msg.batch_size, queued_ms=msg.queued_ms)  # fmt: skip
    elif isinstance(msg, SynthesizeRequest):
        head.update(text=msg.text, language=msg.language)
    elif isinstance(msg, AudioReply):
        payload = msg.audio.pcm16
        head.update(sample_rate=msg.audio.sample_rate, queued_ms=msg.queued_ms)
    elif isinstance(msg, ServiceLoad):
        head.update({f.name: getattr(msg, f.name) for f in fields(msg)})
    elif isinstance(msg, ErrorReply):
        head.update(code=msg.code, message=msg.message)
    raw = json.dumps(head, ensure_ascii=False).encode()
    return HEAD.pack(len(raw), len(payload)) + raw + payload


def decode(header: bytes, payload: bytes) -> Message:
    """The message in one frame; :class:`ProtocolError` for anything else."""
    try:
        head = json.loads(header)
        kind = Kind(head["kind"])
        rid = int(head["id"])
        if kind is Kind.TRANSCRIBE:
            return TranscribeRequest(rid, payload, int(head["sample_rate"]), head.get("session_language"),
                                     head.get("language"), LangIdParams(**(head.get("params") or {})),
                                     float(head.get("budget_ms") or 0.0))  # fmt: skip
        if kind is Kind.TRANSCRIPT:
            t = Transcript(head["text"], head.get("language"), head.get("probability"), float(head["duration"]),
                           _choice(head.get("language_id")))  # fmt: skip
            return TranscriptReply(rid, t, int(head["batch_size"]), float(head["queued_ms"]))
        if kind is Kind.SYNTHESIZE:
            return SynthesizeRequest(rid, str(head["text"]), str(head["language"]))
        if kind is Kind.AUDIO:
            return AudioReply(rid, AudioChunk(payload, int(head["sample_rate"])), float(head["queued_ms"]))
        if kind is Kind.STATUS:
            return StatusRequest(rid)
        if kind is Kind.LOAD:
            data = {f.name: head[f.name] for f in fields(ServiceLoad) if f.name in head}
            data["languages"] = tuple(data.get("languages", ()))
            return ServiceLoad(**data)
        return ErrorReply(rid, str(head["code"]), str(head["message"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"bad frame: {exc}") from None


def _check(hlen: int, plen: int) -> None:
    if hlen > MAX_HEADER or plen > MAX_PAYLOAD:
        raise ProtocolError(f"frame too large ({hlen} + {plen} bytes)")


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None at a clean end of stream."""
    try:
        hlen, plen = HEAD.unpack(await reader.readexactly(HEAD.size))
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("stream ended inside a frame") from None
        return None
    _check(hlen, plen)
    header = await reader.readexactly(hlen)
    payload = await reader.readexactly(plen) if plen else b""
    return decode(header, payload)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("the model service closed the connection")
        buf += chunk
    return bytes(buf)


def recv_message(sock: socket.socket) -> Message:
    """Blocking read of one message (the clients' side)."""
    hlen, plen = HEAD.unpack(_recv_exactly(sock, HEAD.size))
    _check(hlen, plen)
    header = _recv_exactly(sock, hlen)
    return decode(header, _recv_exactly(sock, plen) if plen else b"")


__all__ = [
    "AudioReply",
    "ErrorReply",
    "Kind",
    "Message",
    "ProtocolError",
    "ServiceLoad",
    "StatusRequest",
    "SynthesizeRequest",
    "TranscribeRequest",
    "TranscriptReply",
    "decode",
    "encode",
    "read_message",
    "recv_message",
]
