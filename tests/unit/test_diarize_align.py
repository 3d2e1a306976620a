"""align(): which transcript turn each speaker turn belongs to, and who spoke each turn (pure, by numbers)."""

from __future__ import annotations

from appliance.engines.diarize import SpeakerTurn, TranscriptSpan, align, speaker_of_turns


def test_each_speaker_turn_goes_to_the_transcript_turn_it_overlaps_most() -> None:
    turns = [SpeakerTurn("A", 0.0, 2.0), SpeakerTurn("B", 2.1, 5.0), SpeakerTurn("A", 5.0, 6.0),
             SpeakerTurn("B", 9.0, 9.5)]  # fmt: skip
    spans = [TranscriptSpan(1, 0.2, 2.5), TranscriptSpan(2, 2.4, 6.2), TranscriptSpan(3, None, None)]
    assert align(turns, spans) == [1, 2, 2, None]
    assert speaker_of_turns(turns, align(turns, spans)) == {1: "A", 2: "B"}


def test_a_tie_goes_to_the_earlier_turn_and_untimed_turns_never_match() -> None:
    turns = [SpeakerTurn("A", 1.0, 3.0)]
    assert align(turns, [TranscriptSpan(1, 0.0, 2.0), TranscriptSpan(2, 2.0, 4.0)]) == [1]
    assert align(turns, [TranscriptSpan(1, None, 2.0)]) == [None]
    assert align([], [TranscriptSpan(1, 0.0, 1.0)]) == []
