"""From the brain's reply to sentences for the TTS: streamed replies, mixed-language replies and
clause-sized pieces of long sentences.

``reply_chunks`` is the one place the voice path asks the brain: a brain with the streaming
form (``Brain.handle_stream``, :mod:`appliance.brain.dialogue.streaming`) yields sentences as they are
produced; a brain that does not stream implements
``handle_stream`` with :func:`whole_reply_chunks` (its whole reply as its sentences). ``pieces`` cuts a long sentence at clause marks so the first audio of
a long sentence does not wait for the whole sentence to be synthesised.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Awaitable

from appliance.core.messages import ChunkType, Reply, ReplyChunk, Utterance
from appliance.core.ports import BrainPort, SlowHook
from appliance.voice.sentences import SentenceChunker

CLAUSE_CHARS = 80  # a sentence longer than this is synthesised in clause-sized pieces
MIN_CLAUSE_CHARS = 20  # never a piece shorter than this (prosody suffers)
_CLAUSE_MARK = re.compile(r"(?<=[,;:–—])\s+")


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


def reply_chunks(
    brain: BrainPort, utterance: Utterance, *, on_slow: SlowHook | None = None
) -> AsyncGenerator[ReplyChunk, None]:
    """The brain's reply to ``utterance``, sentence by sentence as it is produced."""
    return brain.handle_stream(utterance, SentenceChunker, on_slow=on_slow)


async def whole_reply_chunks(reply: Awaitable[Reply]) -> AsyncGenerator[ReplyChunk, None]:
    """``handle_stream`` for a brain that does not stream (test fakes, benchmarks): the whole
    reply as its sentences once it is known."""
    for chunk in chunks_of(await reply):
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


__all__ = ["CLAUSE_CHARS", "whole_reply_chunks", "chunks_of", "pieces", "reply_chunks"]
