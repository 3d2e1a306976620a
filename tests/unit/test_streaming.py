"""Streamed replies, the pure parts: what is left to say, clause-sized pieces, what was heard."""

from __future__ import annotations

import asyncio

import pytest

from appliance.brain.dialogue.streaming import ChunkType, remainder, stream_handle
from appliance.core.messages import Channel, Reply, Utterance
from appliance.voice.sentences import SentenceChunker
from appliance.voice.speaking import CLAUSE_CHARS, chunks_of, pieces
from appliance.voice.timeline import Mark, TurnTimeline


@pytest.mark.parametrize(
    ("speakable", "spoken", "rest"),
    [
        ("One. Two. Three.", [], "One. Two. Three."),
        ("One. Two. Three.", ["One.", "Two."], "Three."),
        ("One.  Two.\nThree.", ["One.", "Two."], "Three."),  # whitespace differs
        ("Sure. One. Two. Anything else?", ["One.", "Two."], "Sure. Anything else?"),  # answer inside
        ("A different answer.", ["One."], "A different answer."),  # replaced: say the reply
        ("One. Two.", ["One.", "Two."], ""),
    ],
)
def test_remainder(speakable: str, spoken: list[str], rest: str) -> None:
    assert remainder(speakable, spoken) == rest


def test_a_short_sentence_is_one_piece() -> None:
    assert pieces("Hello, how can I help?") == ["Hello, how can I help?"]


def test_a_long_sentence_is_cut_at_clause_marks() -> None:
    sentence = (
        "Dogs must be vaccinated against rabies, distemper and parvovirus, cats against rabies and cat flu; "
        "the last vaccination must be at least fourteen days before check-in, and please bring the passport."
    )
    out = pieces(sentence)
    assert len(out) >= 3 and " ".join(out) == sentence
    assert all(len(p) <= CLAUSE_CHARS + 40 for p in out)
    assert all(p.endswith((",", ";", ".")) for p in out)


def test_no_tiny_trailing_piece() -> None:
    sentence = "x" * 90 + ", ok."
    assert pieces(sentence) == [sentence]


def test_multilingual_greeting_is_spoken_in_each_language() -> None:
    reply = Reply(
        "s",
        "Hello! Tere! Здравствуйте! This is X.",
        "en",
        spoken_parts=(
            ("Hello!", "en"),
            ("Tere!", "et"),
            ("Здравствуйте!", "ru"),
            ("This is Paws. How can I help?", "en"),
        ),
    )
    chunks = chunks_of(reply)
    assert [(c.text, c.language) for c in chunks[:-1]] == [
        ("Hello!", "en"),
        ("Tere!", "et"),
        ("Здравствуйте!", "ru"),
        ("This is Paws.", "en"),
        ("How can I help?", "en"),
    ]
    assert chunks[-1].type is ChunkType.REPLY and chunks[-1].reply is reply


def test_stream_handle_yields_template_sentences_then_the_reply() -> None:
    reply = Reply("s", "Yes. When?", "et", speakable="Jah. Millal?", protected=True)

    async def handle(utt: Utterance) -> Reply:
        return reply

    async def run() -> list:
        utt = Utterance("s", Channel.VOICE, "x")
        return [c async for c in stream_handle(handle, utt, SentenceChunker)]

    chunks = asyncio.run(run())
    assert [(c.type, c.text, c.protected) for c in chunks[:-1]] == [
        (ChunkType.SENTENCE, "Jah.", True),
        (ChunkType.SENTENCE, "Millal?", True),
    ]
    assert chunks[-1].reply is reply


# audio offsets: first audio at 10.0 s, pieces of 1.5, 2.0, 1.0 s
@pytest.mark.parametrize(
    ("interrupted_at", "heard"),
    [(10.2, "One."), (11.6, "One. Two."), (13.4, "One. Two."), (13.6, "One. Two. Three.")],
)
def test_what_the_caller_heard_before_barging_in(interrupted_at: float, heard: str) -> None:
    tl = TurnTimeline(turn=1, pieces=[("One.", 1.5), ("Two.", 2.0), ("Three.", 1.0)])
    tl.mark(Mark.FIRST_AUDIO_OUT, audio_s=10.0, wall_s=1.0)
    assert tl.heard() is None  # not interrupted: no mark
    tl.mark(Mark.INTERRUPTED, audio_s=interrupted_at, wall_s=2.0)
    assert tl.heard() == heard
    assert tl.stages()["heard_chars"] == len(heard)
