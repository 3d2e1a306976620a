"""align(): which transcript turn each speaker turn belongs to, and who spoke each turn (pure, by numbers)."""

from __future__ import annotations

from pathlib import Path

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


def test_the_box_wide_lock_is_one_holder_at_a_time_and_a_cancelled_waiter_leaves_nothing(tmp_path: Path) -> None:
    import asyncio
    import os

    from appliance.engines.diarize import _flock

    async def go() -> None:
        lock = tmp_path / "run" / "diarize.lock"
        first = await _flock(lock)
        waiter = asyncio.ensure_future(_flock(lock))
        await asyncio.sleep(0.2)
        assert not waiter.done()  # held elsewhere: waits
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        os.close(first)
        second = await asyncio.wait_for(_flock(lock), 5)  # free again: the cancelled waiter holds nothing
        os.close(second)

    asyncio.run(go())
