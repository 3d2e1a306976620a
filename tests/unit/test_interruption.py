"""InterruptionPolicy: numbers only. The acceptance numbers: a real utterance over the
appliance stops playback (PAUSE) within 200 ms of VAD start; a 200 ms backchannel never
INTERRUPTs; nothing interrupts a protected read-back."""

from __future__ import annotations

import pytest

from appliance.voice.interruption import BargeInAction as A
from appliance.voice.interruption import InterruptionPolicy

CHUNK = 0.02
S, Q = 0.9, 0.05


def feed(policy: InterruptionPolicy, pattern: list[tuple[float, float]]) -> list[tuple[A, float]]:
    out = []
    for seconds, prob in pattern:
        for _ in range(round(seconds / CHUNK)):
            out += [(e.action, round(e.at_s, 3)) for e in policy.process(CHUNK, prob)]
    return out


def speaking(**kw) -> InterruptionPolicy:
    p = InterruptionPolicy(**kw)
    p.bot_started()
    return p


CASES = [
    ("silence", [(2.0, Q)], []),
    ("real utterance", [(1.0, S)], [A.PAUSE, A.INTERRUPT]),
    ("mhm 200 ms", [(0.2, S), (1.0, Q)], [A.PAUSE, A.RESUME]),
    ("jah 120 ms", [(0.12, S), (1.0, Q)], [A.PAUSE, A.RESUME]),
    ("click 60 ms", [(0.06, S), (1.0, Q)], []),
    ("two backchannels", [(0.2, S), (0.5, Q), (0.2, S), (0.5, Q)], [A.PAUSE, A.RESUME, A.PAUSE, A.RESUME]),
    # a short gap inside the caller's speech does not reset the count
    ("speech with a 60 ms gap", [(0.2, S), (0.06, Q), (0.2, S)], [A.PAUSE, A.INTERRUPT]),
    # speech that goes on after a backchannel's resume window is a new burst
    ("burst, long gap, burst", [(0.2, S), (0.3, Q), (0.2, S), (1.0, Q)], [A.PAUSE, A.RESUME, A.PAUSE, A.RESUME]),
    ("interrupt only once", [(2.0, S), (0.5, Q), (2.0, S)], [A.PAUSE, A.INTERRUPT]),
]


@pytest.mark.parametrize("name,pattern,expected", CASES, ids=[c[0] for c in CASES])
def test_sequences_while_bot_speaks(name, pattern, expected):
    assert [a for a, _ in feed(speaking(), pattern)] == expected


@pytest.mark.parametrize("pattern", [c[1] for c in CASES])
def test_no_events_when_bot_silent(pattern):
    assert feed(InterruptionPolicy(), pattern) == []


@pytest.mark.parametrize("onset", [0.0, 0.3, 1.0])
def test_real_utterance_stops_playback_within_200ms_of_vad_start(onset):
    events = dict(feed(speaking(), [(onset, Q), (1.0, S)]))
    assert events[A.PAUSE] - onset <= 0.15 + 1e-9  # the <= 150 ms benchmark goal
    assert events[A.PAUSE] - onset <= 0.2  # the acceptance bound
    assert events[A.INTERRUPT] - onset == pytest.approx(0.3)


@pytest.mark.parametrize("burst", [0.1, 0.16, 0.2, 0.26, 0.28])
def test_backchannels_never_interrupt(burst):
    actions = [a for a, _ in feed(speaking(), [(burst, S), (1.0, Q)])]
    assert A.INTERRUPT not in actions
    assert actions == [A.PAUSE, A.RESUME]  # the pause is always lifted


@pytest.mark.parametrize("burst", [0.3, 0.32, 0.5, 1.0])
def test_longer_speech_interrupts(burst):
    assert A.INTERRUPT in [a for a, _ in feed(speaking(), [(burst, S), (1.0, Q)])]


@pytest.mark.parametrize(
    "min_barge_in_s,pause_after_s,burst,expected",
    [
        (0.5, 0.1, 0.4, [A.PAUSE, A.RESUME]),
        (0.5, 0.1, 0.6, [A.PAUSE, A.INTERRUPT]),
        (0.3, 0.0, 0.02, [A.PAUSE, A.RESUME]),
        (0.3, 0.3, 0.4, [A.INTERRUPT]),  # no early pause: interrupt straight away at 300 ms
        (0.2, 0.1, 0.2, [A.PAUSE, A.INTERRUPT]),
    ],
)
def test_parameters(min_barge_in_s, pause_after_s, burst, expected):
    policy = speaking(min_barge_in_s=min_barge_in_s, pause_after_s=pause_after_s)
    assert [a for a, _ in feed(policy, [(burst, S), (1.0, Q)])] == expected


def test_resume_time():
    events = feed(speaking(), [(0.2, S), (1.0, Q)])
    assert events == [(A.PAUSE, 0.1), (A.RESUME, 0.2 + 0.16)]  # 0.15 s of silence on a 20 ms grid


def test_protected_segment_is_never_interrupted():
    p = speaking()
    p.protected_start()
    assert feed(p, [(2.0, S), (0.5, Q), (1.0, S)]) == []
    p.protected_end()
    assert [a for a, _ in feed(p, [(1.0, S)])] == [A.PAUSE, A.INTERRUPT]


def test_protected_start_lifts_a_pause():
    p = speaking()
    assert [a for a, _ in feed(p, [(0.12, S)])] == [A.PAUSE]
    assert [e.action for e in p.protected_start()] == [A.RESUME]
    assert feed(p, [(1.0, S)]) == []


def test_speech_before_bot_starts_does_not_count():
    p = InterruptionPolicy()
    feed(p, [(0.25, S)])  # the caller is mid-word when the bot starts
    p.bot_started()
    assert [a for a, _ in feed(p, [(0.04, S), (0.5, Q)])] == []


def test_bot_stopped_clears_state():
    p = speaking()
    feed(p, [(0.12, S)])
    assert p.paused
    p.bot_stopped()
    assert not p.paused
    assert feed(p, [(1.0, S)]) == []
    p.bot_started()
    assert [a for a, _ in feed(p, [(1.0, S)])] == [A.PAUSE, A.INTERRUPT]


def test_hysteresis_on_probability():
    p = speaking()
    # 0.4 alone does not start speech; after 0.9 it keeps it going
    assert feed(p, [(0.5, 0.4)]) == []
    assert [a for a, _ in feed(p, [(0.06, 0.9), (0.5, 0.4)])] == [A.PAUSE, A.INTERRUPT]


@pytest.mark.parametrize("kw", [{"pause_after_s": 0.5}, {"start_threshold": 0.2, "stop_threshold": 0.4}])
def test_bad_params(kw):
    with pytest.raises(ValueError):
        InterruptionPolicy(**kw)
