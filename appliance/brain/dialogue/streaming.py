"""The streaming form of ``Brain.handle`` for voice: the reply as sentence-sized chunks, as
soon as each is known, then the whole :class:`~appliance.core.messages.Reply`.

Most replies are rendered from templates in one go; they arrive as their sentences right after
the brain step. Knowledge-base answers are phrased by the LLM token by token: while
:func:`stream_handle` runs, :func:`current` returns the turn's :class:`SpeechStream`, and
``answers`` feeds the LLM's tokens through the sentence chunker into it, so the first sentence
is spoken while the rest is still being generated. Each streamed sentence passes the same
grounding checks as a whole answer (numbers from the passages, the session language) before
it is spoken; the first one that fails ends the answer there.

The final ``REPLY`` chunk carries the whole reply (stored and shown to staff as usual); the
sentences of its ``speakable`` that were not streamed yet are yielded before it.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import AsyncGenerator, Awaitable, Callable

from appliance.core.messages import ChunkType, Reply, ReplyChunk, Utterance
from appliance.core.ports import Chunker


class SpeechStream:
    """The sentences of one reply that are known before the reply is complete."""

    def __init__(self, chunker: Chunker) -> None:
        self.chunker = chunker
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.spoken: list[str] = []

    def feed(self, text: str) -> list[str]:
        """LLM tokens in, completed sentences out (the caller vets them, then :meth:`say`)."""
        return self.chunker.feed(text)

    def flush(self) -> list[str]:
        return self.chunker.flush()

    def say(self, sentence: str, language: str) -> None:
        sentence = sentence.strip()
        if sentence:
            self.spoken.append(sentence)
            self.queue.put_nowait((sentence, language))


_CURRENT: contextvars.ContextVar[SpeechStream | None] = contextvars.ContextVar("speech_stream", default=None)


def current() -> SpeechStream | None:
    """The stream of the turn being handled (None outside :func:`stream_handle`: chat, web)."""
    return _CURRENT.get()


_SPACES = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def remainder(speakable: str, spoken: list[str]) -> str:
    """What is left of ``speakable`` once the streamed sentences were said (normally a prefix)."""
    if not spoken:
        return speakable
    whole, said = _norm(speakable), _norm(" ".join(spoken))
    if whole.startswith(said):
        return whole[len(said) :].strip()
    at = whole.find(said)
    if at >= 0:  # the streamed answer sits inside the reply: say the rest around it
        return _norm(whole[:at] + " " + whole[at + len(said) :])
    return whole  # the answer was replaced (e.g. by the extractive fallback): say the reply


async def stream_handle(
    handle: Callable[[Utterance], Awaitable[Reply]], utt: Utterance, chunker: Callable[[], Chunker]
) -> AsyncGenerator[ReplyChunk, None]:
    """Run ``handle(utt)`` and yield its reply as it is produced (see the module docstring).
    ``chunker`` makes the sentence splitter (the voice layer's ``SentenceChunker``)."""
    stream = SpeechStream(chunker())
    token = _CURRENT.set(stream)
    try:
        task = asyncio.ensure_future(handle(utt))  # copies the context: the handler sees the stream
    finally:
        _CURRENT.reset(token)
    try:
        while True:
            getter = asyncio.ensure_future(stream.queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                sentence, language = getter.result()
                yield ReplyChunk(ChunkType.SENTENCE, sentence, language)
                continue
            getter.cancel()
            break
        while not stream.queue.empty():
            sentence, language = stream.queue.get_nowait()
            yield ReplyChunk(ChunkType.SENTENCE, sentence, language)
        reply = task.result()
    finally:
        if not task.done():
            task.cancel()
    if reply.spoken_parts:
        parts = [(text, lang) for text, lang in reply.spoken_parts]
    else:
        parts = [(remainder(reply.speakable or reply.text, stream.spoken), reply.language)]
    for text, language in parts:
        for sentence in stream.chunker.split(text):
            yield ReplyChunk(ChunkType.SENTENCE, sentence, language, protected=reply.protected)
    yield ReplyChunk(ChunkType.REPLY, reply=reply)
