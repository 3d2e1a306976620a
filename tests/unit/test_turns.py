"""TurnSegmenter: table-driven, numbers only (no audio)."""

from __future__ import annotations

import pytest

from appliance.voice.turns import TurnEventType as T
from appliance.voice.turns import TurnSegmenter

CHUNK = 0.02  # 20 ms windows keep the arithmetic readable
S, Q = 0.9, 0.0  # speech / quiet probabilities


def run(pattern: list[tuple[float, float]], **kw) -> list[tuple[T, float]]:
    """pattern: (seconds, probability) runs. Returns (event, at_s) pairs."""
    seg = TurnSegmenter(**kw)
    out: list[tuple[T, float]] = []
    for seconds, prob in pattern:
        for _ in range(round(seconds / CHUNK)):
            out.extend((e.type, round(e.at_s, 3)) for e in seg.process(CHUNK, prob))
    return out


def kinds(pattern, **kw) -> list[T]:
    return [k for k, _ in run(pattern, **kw)]


CASES = [
    # id, pattern, expected event kinds
    ("silence only", [(2.0, Q)], []),
    ("click shorter than min_speech", [(0.1, S), (1.0, Q)], []),
    ("two clicks do not add up", [(0.1, S), (0.04, Q), (0.1, S), (1.0, Q)], []),
    ("one turn", [(0.5, Q), (1.0, S), (1.0, Q)], [T.SPEECH_START, T.SPECULATIVE_END, T.TURN_END]),
    ("exactly min_speech", [(0.16, S), (0.6, Q)], [T.SPEECH_START, T.SPECULATIVE_END, T.TURN_END]),
    (
        "short pause within speech",
        [(0.6, S), (0.1, Q), (0.6, S), (0.6, Q)],
        [T.SPEECH_START, T.SPECULATIVE_END, T.TURN_END],
    ),
    (
        "pause past speculative, below end",
        [(0.6, S), (0.3, Q), (0.6, S), (0.6, Q)],
        [T.SPEECH_START, T.SPECULATIVE_END, T.SPEECH_RESUMED, T.SPECULATIVE_END, T.TURN_END],
    ),
    ("silence just under end", [(0.6, S), (0.48, Q)], [T.SPEECH_START, T.SPECULATIVE_END]),
    (
        "two turns",
        [(0.5, S), (0.8, Q), (0.5, S), (0.8, Q)],
        [T.SPEECH_START, T.SPECULATIVE_END, T.TURN_END] * 2,
    ),
    ("speech at end of stream, no silence", [(2.0, S)], [T.SPEECH_START]),
]


@pytest.mark.parametrize("name,pattern,expected", CASES, ids=[c[0] for c in CASES])
def test_event_sequences(name, pattern, expected):
    assert kinds(pattern) == expected


@pytest.mark.parametrize(
    "speech_s,end_silence_s,speculative_s",
    [(0.5, 0.5, 0.2), (1.0, 0.3, 0.1), (0.3, 0.8, 0.4), (2.0, 1.0, 1.0), (0.2, 0.5, 0.5)],
)
def test_event_times(speech_s, end_silence_s, speculative_s):
    events = run([(0.4, Q), (speech_s, S), (2.0, Q)], end_silence_s=end_silence_s, speculative_after_s=speculative_s)
    times = dict(events)
    assert times[T.SPEECH_START] == pytest.approx(0.4 + 0.16)  # min_speech 0.15 on a 20 ms grid
    speech_end = 0.4 + speech_s
    assert times[T.SPECULATIVE_END] == pytest.approx(speech_end + speculative_s)
    assert times[T.TURN_END] == pytest.approx(speech_end + end_silence_s)


@pytest.mark.parametrize(
    "min_speech_s,burst_s,starts", [(0.15, 0.1, False), (0.15, 0.2, True), (0.3, 0.26, False), (0.05, 0.06, True)]
)
def test_min_speech(min_speech_s, burst_s, starts):
    assert (T.SPEECH_START in kinds([(burst_s, S), (1.0, Q)], min_speech_s=min_speech_s)) is starts


def test_speech_start_reports_onset():
    seg = TurnSegmenter()
    events = []
    for prob in [Q] * 10 + [S] * 20 + [Q] * 30:
        events += seg.process(CHUNK, prob)
    start = events[0]
    assert start.type is T.SPEECH_START
    assert start.speech_start_s == pytest.approx(0.2)
    end = events[-1]
    assert end.type is T.TURN_END and end.speech_start_s == pytest.approx(0.2)
    assert end.speech_s == pytest.approx(0.4)


@pytest.mark.parametrize(
    "probs,expected",
    [
        # 0.4 is below start (0.5) so it cannot start speech...
        ([0.4] * 20 + [Q] * 30, []),
        # ...but once speaking it keeps speech going (above stop 0.35): no turn end inside
        ([0.9] * 10 + [0.4] * 40 + [Q] * 30, [T.SPEECH_START, T.SPECULATIVE_END, T.TURN_END]),
        # 0.3 is below stop: counts as silence and ends the turn
        ([0.9] * 10 + [0.3] * 30, [T.SPEECH_START, T.SPECULATIVE_END, T.TURN_END]),
    ],
)
def test_hysteresis(probs, expected):
    seg = TurnSegmenter()
    got = [e.type for p in probs for e in seg.process(CHUNK, p)]
    assert got == expected


def test_hysteresis_keeps_turn_through_mid_probabilities():
    seg = TurnSegmenter()
    got = []
    for p in [0.9] * 10 + [0.4] * 40:
        got += [e.type for e in seg.process(CHUNK, p)]
    assert got == [T.SPEECH_START]  # 0.8 s of 0.4 did not end the turn


def test_max_turn_forces_end():
    assert kinds([(3.0, S)], max_turn_s=2.0) == [T.SPEECH_START, T.TURN_END, T.SPEECH_START]


@pytest.mark.parametrize("chunk", [0.01, 0.02, 0.032, 0.03])
def test_chunk_size_independent(chunk):
    seg = TurnSegmenter()
    got = []
    t = 0.0
    while t < 3.0:
        p = S if 0.5 <= t < 1.5 else Q
        got += [e.type for e in seg.process(chunk, p)]
        t += chunk
    assert got == [T.SPEECH_START, T.SPECULATIVE_END, T.TURN_END]


@pytest.mark.parametrize(
    "kw",
    [
        {"end_silence_s": 0},
        {"speculative_after_s": 0.6},  # later than end_silence
        {"start_threshold": 0.3, "stop_threshold": 0.5},
        {"min_speech_s": -1},
    ],
)
def test_bad_params(kw):
    with pytest.raises(ValueError):
        TurnSegmenter(**kw)


def test_reset():
    seg = TurnSegmenter()
    for _ in range(20):
        seg.process(CHUNK, S)
    assert seg.in_turn
    seg.reset()
    assert not seg.in_turn and seg.time_s == 0


# -- adaptive end of turn: transcript_ready(complete, speculation) ------------------------------

ADAPTIVE = {"speculative_after_s": 0.06, "short_silence_s": 0.12}


def feed(seg: TurnSegmenter, seconds: float, prob: float) -> list:
    out = []
    for _ in range(round(seconds / CHUNK)):
        out.extend(seg.process(CHUNK, prob))
    return out


def speculation_of(events) -> int:
    return next(e.speculation for e in events if e.type is T.SPECULATIVE_END)


@pytest.mark.parametrize(
    "ready_after_s,complete,end_at_s,reason",
    [
        (0.06, True, 1.12, "complete"),  # transcript before the short threshold: end at 0.12 s
        (0.10, True, 1.12, "complete"),
        (0.16, True, 1.16, "complete"),  # late transcript: end the moment it arrives
        (0.06, False, 1.5, "silence"),  # looks unfinished: the normal 0.5 s
        (None, None, 1.5, "silence"),  # STT never answered: the normal 0.5 s
        (0.6, True, 1.5, "silence"),  # answered after the turn already ended: ignored
    ],
)
def test_adaptive_end(ready_after_s, complete, end_at_s, reason):
    seg = TurnSegmenter(**ADAPTIVE)
    feed(seg, 1.0, S)
    events = []
    silence, n = 0.0, None
    while silence < 0.8 - 1e-9:
        got = seg.process(CHUNK, Q)
        silence = round(silence + CHUNK, 6)
        events += got
        if n is None and any(e.type is T.SPECULATIVE_END for e in got):
            n = speculation_of(got)
            assert got[0].at_s == pytest.approx(1.06)
        if ready_after_s is not None and silence == pytest.approx(ready_after_s):
            events += seg.transcript_ready(complete, n)
    ends = [e for e in events if e.type is T.TURN_END]
    assert len(ends) == 1
    assert ends[0].at_s == pytest.approx(end_at_s)
    assert ends[0].reason == reason
    assert ends[0].speech_s == pytest.approx(1.0)


def test_adaptive_resumed_speech_discards_verdict():
    """A mid-sentence pause: the transcript of the first part arrives after speech resumed."""
    seg = TurnSegmenter(**ADAPTIVE)
    feed(seg, 1.0, S)
    first = speculation_of(feed(seg, 0.08, Q))
    assert [e.type for e in feed(seg, 0.3, S)] == [T.SPEECH_RESUMED]
    assert seg.transcript_ready(True, first) == []  # stale: speech resumed since
    got = feed(seg, 0.08, Q)
    second = speculation_of(got)
    assert second == first + 1
    assert seg.transcript_ready(True, first) == []  # still stale: a newer speculation runs
    assert seg.transcript_ready(True, second) == []  # silence 0.08 < 0.12: not yet
    ends = feed(seg, 0.06, Q)
    assert [(e.type, e.reason) for e in ends] == [(T.TURN_END, "complete")]
    assert ends[0].at_s == pytest.approx(1.0 + 0.08 + 0.3 + 0.12)


def test_adaptive_unfinished_pause_is_not_cut():
    seg = TurnSegmenter(**ADAPTIVE)
    feed(seg, 1.0, S)
    n = speculation_of(feed(seg, 0.06, Q))
    assert seg.transcript_ready(False, n) == []
    assert T.TURN_END not in [e.type for e in feed(seg, 0.34, Q)]  # a 0.4 s pause in total
    assert [e.type for e in feed(seg, 0.5, S)] == [T.SPEECH_RESUMED]
    assert [e.reason for e in feed(seg, 0.6, Q) if e.type is T.TURN_END] == ["silence"]


def test_transcript_ready_outside_a_turn_or_without_adaptive():
    seg = TurnSegmenter(**ADAPTIVE)
    assert seg.transcript_ready(True) == []  # no turn
    feed(seg, 1.0, S)
    assert seg.transcript_ready(True) == []  # still speaking: no speculation running
    fixed = TurnSegmenter()
    assert not fixed.adaptive and seg.adaptive
    feed(fixed, 1.0, S)
    feed(fixed, 0.2, Q)
    assert fixed.transcript_ready(True) == []  # records the verdict but never ends early
    assert [e.reason for e in feed(fixed, 0.3, Q) if e.type is T.TURN_END] == ["silence"]


def test_fixed_end_reasons():
    assert [e.reason for e in feed(TurnSegmenter(), 1.6, S) + feed(TurnSegmenter(max_turn_s=1.0), 1.2, S)] == [
        "",
        "",
        "max_turn",
        "",
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {"speculative_after_s": 0.2, "short_silence_s": 0.12},  # short before speculation
        {"short_silence_s": 0.6},  # later than end_silence
    ],
)
def test_bad_adaptive_params(kw):
    with pytest.raises(ValueError):
        TurnSegmenter(**kw)


# -- statements (a full stop only) wait statement_silence_s -------------------------------------

STATEMENT = {**ADAPTIVE, "statement_silence_s": 0.16}


@pytest.mark.parametrize(
    "ready_after_s,statement,end_at_s",
    [
        (0.06, False, 1.12),  # a question / short answer: the short threshold
        (0.06, True, 1.16),  # a statement: one window more
        (0.14, True, 1.16),  # statement verdict between the two thresholds: wait for 0.16
        (0.20, True, 1.20),  # late statement verdict: end the moment it arrives
    ],
)
def test_statement_waits_longer(ready_after_s, statement, end_at_s):
    seg = TurnSegmenter(**STATEMENT)
    feed(seg, 1.0, S)
    events, silence, n = [], 0.0, None
    while silence < 0.8 - 1e-9:
        got = seg.process(CHUNK, Q)
        silence = round(silence + CHUNK, 6)
        events += got
        if n is None and any(e.type is T.SPECULATIVE_END for e in got):
            n = speculation_of(got)
        if silence == pytest.approx(ready_after_s):
            events += seg.transcript_ready(True, n, statement=statement)
    ends = [e for e in events if e.type is T.TURN_END]
    assert [(e.at_s, e.reason) for e in ends] == [(pytest.approx(end_at_s), "complete")]


def test_statement_gap_between_words_is_not_cut():
    """A 0.128 s gap between words (4 VAD windows) after a fragment that looks finished."""
    seg = TurnSegmenter(**STATEMENT)
    feed(seg, 1.0, S)
    n = speculation_of(feed(seg, 0.06, Q))
    assert seg.transcript_ready(True, n, statement=True) == []
    assert T.TURN_END not in [e.type for e in feed(seg, 0.08, Q)]  # 0.14 s of silence in all
    assert [e.type for e in feed(seg, 0.3, S)] == [T.SPEECH_RESUMED]
    n = speculation_of(feed(seg, 0.06, Q))
    assert seg.transcript_ready(True, n, statement=True) == []
    assert [e.reason for e in feed(seg, 0.1, Q) if e.type is T.TURN_END] == ["complete"]


def test_statement_silence_defaults_to_short():
    seg = TurnSegmenter(**ADAPTIVE)  # no statement_silence_s: statements end at short_silence_s
    feed(seg, 1.0, S)
    n = speculation_of(feed(seg, 0.06, Q))
    assert seg.transcript_ready(True, n, statement=True) == []
    ends = [e for e in feed(seg, 0.06, Q) if e.type is T.TURN_END]
    assert [e.at_s for e in ends] == [pytest.approx(1.12)]


@pytest.mark.parametrize(
    "kw",
    [
        {**ADAPTIVE, "statement_silence_s": 0.1},  # shorter than short_silence_s
        {**ADAPTIVE, "statement_silence_s": 0.6},  # later than end_silence_s
        {"statement_silence_s": 0.16},  # without short_silence_s (not adaptive)
    ],
)
def test_bad_statement_params(kw):
    with pytest.raises(ValueError):
        TurnSegmenter(**kw)


# -- smart_turn: model_verdict(complete, speculation) -----------------------------------------

SMART = {"speculative_after_s": 0.12, "short_silence_s": 0.12}  # VoiceSettings.smart_turn(0.5)


@pytest.mark.parametrize(
    "verdict_after_s,complete,end_at_s,reason",
    [
        (0.12, True, 1.12, "complete"),  # the verdict comes with the speculative point: end at once
        (0.18, True, 1.18, "complete"),  # inference took 60 ms: end the moment it arrives
        (0.12, False, 1.5, "silence"),  # "incomplete": the normal end_silence_s
        (None, None, 1.5, "silence"),  # the model failed / never answered
        (0.56, True, 1.5, "silence"),  # answered after the turn ended: ignored
    ],
)
def test_model_verdict_end(verdict_after_s, complete, end_at_s, reason):
    seg = TurnSegmenter(**SMART)
    feed(seg, 1.0, S)
    events, silence, n = [], 0.0, None
    while silence < 0.8 - 1e-9:
        got = seg.process(CHUNK, Q)
        silence = round(silence + CHUNK, 6)
        events += got
        if n is None and any(e.type is T.SPECULATIVE_END for e in got):
            n = speculation_of(got)
            assert got[0].at_s == pytest.approx(1.12)
        if verdict_after_s is not None and silence == pytest.approx(verdict_after_s):
            events += seg.model_verdict(complete, n)
    ends = [e for e in events if e.type is T.TURN_END]
    assert [(e.at_s, e.reason) for e in ends] == [(pytest.approx(end_at_s), reason)]


def test_model_verdict_with_earlier_speculation_waits_short_silence():
    """The model may answer before short_silence_s (speculation earlier than the short wait)."""
    seg = TurnSegmenter(speculative_after_s=0.06, short_silence_s=0.12)
    feed(seg, 1.0, S)
    n = speculation_of(feed(seg, 0.06, Q))
    assert seg.model_verdict(True, n) == []  # 0.06 s of silence: not yet
    ends = [e for e in feed(seg, 0.1, Q) if e.type is T.TURN_END]
    assert [(e.at_s, e.reason) for e in ends] == [(pytest.approx(1.12), "complete")]


def test_model_verdict_stale_after_resumed_speech():
    """A mid-sentence pause: "complete" for the first part arrives after the caller went on."""
    seg = TurnSegmenter(**SMART)
    feed(seg, 1.0, S)
    first = speculation_of(feed(seg, 0.14, Q))
    assert [e.type for e in feed(seg, 0.3, S)] == [T.SPEECH_RESUMED]
    assert seg.model_verdict(True, first) == []  # stale
    second = speculation_of(feed(seg, 0.12, Q))
    assert seg.model_verdict(True, first) == []  # another speculation runs
    (end,) = seg.model_verdict(True, second)
    assert (end.type, end.reason, end.at_s) == (T.TURN_END, "complete", pytest.approx(1.0 + 0.14 + 0.3 + 0.12))
    assert end.speech_s == pytest.approx(1.3)
    assert seg.model_verdict(True, second) == []  # the turn is over


def test_model_verdict_without_short_silence_never_ends_early():
    """A segmenter without short_silence_s (the "fixed" strategy) ignores verdicts."""
    seg = TurnSegmenter()
    feed(seg, 1.0, S)
    n = speculation_of(feed(seg, 0.2, Q))
    assert seg.model_verdict(True, n) == []
    assert [(e.at_s, e.reason) for e in feed(seg, 0.4, Q) if e.type is T.TURN_END] == [(pytest.approx(1.5), "silence")]


def test_voice_settings_per_strategy():
    from appliance.voice.pipeline import VoiceSettings

    silence, fixed, smart = VoiceSettings(), VoiceSettings.fixed(0.5), VoiceSettings.smart_turn(0.5)
    assert (silence.turn_strategy, fixed.turn_strategy, smart.turn_strategy) == ("silence", "fixed", "smart_turn")
    p = smart.segmenter().params
    assert (p.speculative_after_s, p.short_silence_s, p.statement_silence_s, p.end_silence_s) == (0.12, 0.12, None, 0.5)
    assert VoiceSettings.smart_turn(0.5, None).speculative_after_s == 0.2  # pipecat's VAD stop_secs
    assert VoiceSettings.smart_turn(0.1).speculative_after_s == 0.1  # never past end_silence_s
    assert fixed.segmenter().params.short_silence_s is None
    with pytest.raises(ValueError):
        VoiceSettings(turn_strategy="smart")
    with pytest.raises(ValueError):
        VoiceSettings(turn_strategy="smart_turn", short_silence_s=None)


# -- the early end counts clear silence only ------------------------------------------------------

DIP = 0.2  # under stop_threshold (not speech) but over clear_threshold: Silero inside a word


def test_a_dip_inside_a_word_does_not_end_a_statement_early():
    """ "Next | weekend" on telephone audio: Silero at 0.1-0.35 for 0.22 s between the words. The
    segmenter speculates there (the quiet counts as silence), but the early end waits for clear
    silence; the real end after the last word comes on the clear windows."""
    seg = TurnSegmenter(**STATEMENT)
    feed(seg, 0.4, S)
    got = feed(seg, 0.06, DIP)
    n = speculation_of(got)
    assert seg.transcript_ready(True, n, statement=True) == []
    assert T.TURN_END not in [e.type for e in feed(seg, 0.16, DIP)]  # 0.22 s under stop_threshold
    assert [e.type for e in feed(seg, 0.4, S)] == [T.SPEECH_RESUMED]
    feed(seg, 0.04, DIP)  # the fall after the last word: one window of doubt, then clear
    n = speculation_of(feed(seg, 0.06, Q))
    assert seg.transcript_ready(True, n, statement=True) == []
    ends = [e for e in feed(seg, 0.2, Q) if e.type is T.TURN_END]
    assert [(e.at_s, e.reason) for e in ends] == [(pytest.approx(0.4 + 0.22 + 0.4 + 0.04 + 0.16), "complete")]


def test_a_long_dip_still_ends_the_turn_after_the_full_silence():
    """Clear silence only shortens the wait; quiet at 0.2 still ends the turn at end_silence_s."""
    seg = TurnSegmenter(**STATEMENT)
    feed(seg, 1.0, S)
    n = speculation_of(feed(seg, 0.06, DIP))
    assert seg.transcript_ready(True, n, statement=True) == []
    ends = [e for e in feed(seg, 0.6, DIP) if e.type is T.TURN_END]
    assert [(e.at_s, e.reason) for e in ends] == [(pytest.approx(1.5), "silence")]


@pytest.mark.parametrize("clear", [0.0, 0.4])
def test_bad_clear_threshold(clear):
    with pytest.raises(ValueError):
        TurnSegmenter(**ADAPTIVE, clear_threshold=clear)


def test_a_complete_verdict_counts_every_quiet_window():
    """A question or a yes ("COMPLETE") rarely stops half-way: its short wait counts quiet windows
    (under stop_threshold), clear or not, and stays short."""
    seg = TurnSegmenter(**STATEMENT)
    feed(seg, 1.0, S)
    n = speculation_of(feed(seg, 0.06, DIP))
    assert seg.transcript_ready(True, n) == []
    ends = [e for e in feed(seg, 0.1, DIP) if e.type is T.TURN_END]
    assert [(e.at_s, e.reason) for e in ends] == [(pytest.approx(1.12), "complete")]
