"""From the brain's reply to sentences for the TTS: streamed replies, mixed-language replies and
clause-sized pieces of long sentences.

``reply_chunks`` is the one place the voice path asks the brain: a brain with the streaming
form (``Brain.handle_stream``, :mod:`appliance.brain.dialogue.streaming`) yields sentences as they are
produced; any other :class:`~appliance.voice.ports.BrainPort` is wrapped so its whole reply
arrives as its sentences. ``pieces`` cuts a long sentence at clause marks so the first audio of
a long sentence does not wait for the whole sentence to be synthesised.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Protocol, runtime_checkable

from appliance.brain.dialogue.streaming import Chunker, ChunkType, ReplyChunk
from appliance.core.messages import Reply, Utterance
from appliance.voice.ports import BrainPort
from appliance.voice.sentences import SentenceChunker

CLAUSE_CHARS = 80  # a sentence longer than this is synthesised in clause-sized pieces
MIN_CLAUSE_CHARS = 20  # never a piece shorter than this (prosody suffers)
_CLAUSE_MARK = re.compile(r"(?<=[,;:–—])\s+")


@runtime_checkable
class StreamingBrainPort(Protocol):
    """A brain that can stream its reply (``appliance.brain.dialogue.brain.Brain``)."""

    async def handle(self, utterance: Utterance) -> Reply: ...

    def handle_stream(self, utterance: Utterance, chunker: Callable[[], Chunker]) -> AsyncIterator[ReplyChunk]: ...


def chunks_of(reply: Reply) -> list[ReplyChunk]:
    """A whole reply as sentence chunks (each in its own language when it mixes languages,
    e.g. the multilingual greeting), then the reply itself."""
    parts = list(reply.spoken_parts) or [(reply.speakable or reply.text, reply.language)]
    out = [
        ReplyChunk(ChunkType.SENTENCE, sentence, language, protected=reply.protected)
        for text, language in parts
        for sentence in SentenceChunker().split(text)
    ]
    return [*out, ReplyChunk(ChunkType.REPLY, reply=reply)]


async def reply_chunks(brain: BrainPort, utterance: Utterance) -> AsyncGenerator[ReplyChunk, None]:
    """The brain's reply to ``utterance``, sentence by sentence as it is produced."""
    if isinstance(brain, StreamingBrainPort):
        async for chunk in brain.handle_stream(utterance, SentenceChunker):
            yield chunk
        return
    for chunk in chunks_of(await brain.handle(utterance)):
        yield chunk


def pieces(sentence: str, max_chars: int = CLAUSE_CHARS) -> list[str]:
    """A sentence in clause-sized pieces for synthesis: cut after ``, ; : –`` while the piece
    is longer than ``max_chars``; pieces shorter than ``MIN_CLAUSE_CHARS`` join a neighbour."""
    if len(sentence) <= max_chars:
        return [sentence]
    out: list[str] = []
    current = ""
    for clause in _CLAUSE_MARK.split(sentence):
        if current and len(current) >= MIN_CLAUSE_CHARS and len(current) + 1 + len(clause) > max_chars:
            out.append(current)
            current = clause
        else:
            current = f"{current} {clause}".strip()
    if current:
        if out and len(current) < MIN_CLAUSE_CHARS:
            out[-1] = f"{out[-1]} {current}"
        else:
            out.append(current)
    return out


__all__ = ["CLAUSE_CHARS", "StreamingBrainPort", "chunks_of", "pieces", "reply_chunks"]
