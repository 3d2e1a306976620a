"""SentenceChunker: splitting streamed text into speakable sentences (en, et, ru)."""

from __future__ import annotations

import pytest

from appliance.voice.sentences import SentenceChunker

SPLITS = [
    ("Hello. How can I help?", ["Hello.", "How can I help?"]),
    ("Great! Which dates? From Monday.", ["Great!", "Which dates?", "From Monday."]),
    ("Wait… Let me check.", ["Wait…", "Let me check."]),
    ("Hmm... Let me check.", ["Hmm...", "Let me check."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ('He said "yes." Then left.', ['He said "yes."', "Then left."]),
    ("Dr. Smith will see your dog. Anything else?", ["Dr. Smith will see your dog.", "Anything else?"]),
    ("Ask Mr. Brown, e.g. tomorrow. Bye.", ["Ask Mr. Brown, e.g. tomorrow.", "Bye."]),
    ("J. Smith booked. Thanks.", ["J. Smith booked.", "Thanks."]),
    ("The price is 35.50 euros. Okay?", ["The price is 35.50 euros.", "Okay?"]),
    ("It costs 70. Anything else?", ["It costs 70.", "Anything else?"]),
    # Estonian: dates and ordinals, abbreviations
    ("Broneering 10.12. kuni 14.12. on kinnitatud. Aitäh!", ["Broneering 10.12. kuni 14.12. on kinnitatud.", "Aitäh!"]),
    ("Saabumine 5. mail. Kas sobib?", ["Saabumine 5. mail.", "Kas sobib?"]),
    ("Broneeringu nr. 123 on tühistatud. Head päeva!", ["Broneeringu nr. 123 on tühistatud.", "Head päeva!"]),
    ("Koerad, kassid jne. Mida soovite?", ["Koerad, kassid jne.", "Mida soovite?"]),
    # Russian
    ("Здравствуйте! Чем могу помочь?", ["Здравствуйте!", "Чем могу помочь?"]),
    ("Заезд 10.12. в полдень. Хорошо?", ["Заезд 10.12. в полдень.", "Хорошо?"]),
    ("Ул. Ленина, д. 5. Ждём вас.", ["Ул. Ленина, д. 5.", "Ждём вас."]),
    ("Собаки, кошки и т.д. Что ещё?", ["Собаки, кошки и т.д.", "Что ещё?"]),
    ("Это стоит 70 руб. в сутки. Да?", ["Это стоит 70 руб. в сутки.", "Да?"]),
    # no terminator at all
    ("thank you", ["thank you"]),
    ("", []),
    ("Two\n\nparagraphs", ["Two", "paragraphs"]),
]


@pytest.mark.parametrize("text,expected", SPLITS, ids=[t[:30] or "empty" for t, _ in SPLITS])
def test_split(text, expected):
    assert SentenceChunker().split(text) == expected


@pytest.mark.parametrize("text,expected", SPLITS, ids=[t[:30] or "empty" for t, _ in SPLITS])
def test_streaming_in_any_pieces_gives_the_same(text, expected):
    for size in (1, 2, 3, 7):
        chunker = SentenceChunker()
        out = []
        for i in range(0, len(text), size):
            out += chunker.feed(text[i : i + size])
        out += chunker.flush()
        assert out == expected, size


def test_first_sentence_is_released_before_the_rest_arrives():
    chunker = SentenceChunker()
    assert chunker.feed("Your booking is confirmed.") == []  # could still be "confirmed.5"...
    assert chunker.feed(" The") == ["Your booking is confirmed."]
    assert chunker.feed(" number is") == []
    assert chunker.flush() == ["The number is"]


def test_long_text_without_punctuation_is_cut_at_a_clause():
    text = "word, " * 60
    out = SentenceChunker(max_chars=100).split(text)
    assert len(out) > 1
    assert all(len(s) <= 100 for s in out)
    assert " ".join(out).split() == text.split()
