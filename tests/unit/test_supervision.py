"""The call-supervision state machine, fed with numbers (seconds) and events."""

from __future__ import annotations

import pytest

from appliance.voice.supervision import (
    CallSupervisor,
    EndReason,
    SupervisionParams,
    SupervisorAction,
    SupervisorActionType,
)

P = SupervisionParams(max_call_s=100.0, caller_silence_s=20.0, no_input_s=8.0, max_reprompts=2, drain_s=0.5)

# Each step: (time_s, event, argument). Events: "tick" (arg: (idle, last_caller_audio_s)),
# "turn" (the caller starts speaking), "dtmf" (arg: digit), "reply" (arg: (end, transfer_to)),
# "hangup", "input_end". Expected: the actions at each step, as short strings.
CASES: list[tuple[str, list[tuple[float, str, object]], list[str]]] = [
    (
        "max duration ends the call",
        [(99.9, "tick", (False, 99.9)), (100.0, "tick", (False, 100.0))],
        ["", "end:max_duration"],
    ),
    ("no caller audio for 20 s", [(19.9, "tick", (False, 0.0)), (20.0, "tick", (False, 0.0))], ["", "end:rtp_silence"]),
    (
        "caller audio keeps the call",
        [(15.0, "tick", (False, 10.0)), (29.9, "tick", (False, 10.0)), (30.0, "tick", (False, 10.0))],
        ["", "", "end:rtp_silence"],
    ),
    (
        "hang-up ends at once, once",
        [(3.0, "hangup", None), (3.1, "hangup", None), (4.0, "tick", (True, 4.0))],
        ["end:caller_hung_up", "", ""],
    ),
    (
        "goodbye waits for 0.5 s of idle",
        [
            (10.0, "reply", (True, None)),
            (10.1, "tick", (False, 10.0)),
            (12.0, "tick", (True, 12.0)),
            (12.4, "tick", (True, 12.0)),
            (12.5, "tick", (True, 12.0)),
        ],
        ["", "", "", "", "end:completed"],
    ),
    (
        "goodbye drain restarts when the appliance talks again",
        [
            (10.0, "reply", (True, None)),
            (10.0, "tick", (True, 10.0)),
            (10.3, "tick", (False, 10.0)),
            (10.4, "tick", (True, 10.0)),
            (10.8, "tick", (True, 10.0)),
            (10.9, "tick", (True, 10.0)),
        ],
        ["", "", "", "", "", "end:completed"],
    ),
    (
        "transfer after the reply drained",
        [
            (5.0, "reply", (False, "100")),
            (5.0, "tick", (True, 5.0)),
            (5.5, "tick", (True, 5.0)),
            (6.0, "tick", (True, 6.0)),
        ],
        ["", "", "transfer:100", ""],
    ),
    ("digits go to the brain", [(2.0, "dtmf", "0"), (2.5, "dtmf", "1")], ["dtmf:0", "dtmf:1"]),
    ("no digits after goodbye", [(2.0, "reply", (True, None)), (2.5, "dtmf", "0")], ["", ""]),
    (
        "two re-prompts, then the call ends",
        [
            (0.0, "tick", (True, 0.0)),
            (7.9, "tick", (True, 7.9)),
            (8.0, "tick", (True, 8.0)),
            (9.0, "tick", (False, 9.0)),
            (12.0, "tick", (True, 12.0)),
            (19.9, "tick", (True, 19.0)),
            (20.0, "tick", (True, 19.0)),
            (27.0, "tick", (True, 19.0)),
            (34.9, "tick", (True, 19.0)),
            (35.0, "tick", (True, 19.0)),
        ],
        ["", "", "reprompt:1", "", "", "", "reprompt:2", "", "", "end:no_input"],
    ),
    (
        "a caller turn resets the re-prompt count",
        [
            (0.0, "tick", (True, 0.0)),
            (8.0, "tick", (True, 8.0)),
            (9.0, "turn", None),
            (9.0, "tick", (False, 9.0)),
            (10.0, "tick", (True, 10.0)),
            (17.9, "tick", (True, 17.9)),
            (18.0, "tick", (True, 18.0)),
        ],
        ["", "reprompt:1", "", "", "", "", "reprompt:1"],
    ),
    (
        "a digit counts as input; idle time counts from the next idle tick",
        [
            (0.0, "tick", (True, 0.0)),
            (6.0, "dtmf", "5"),
            (8.0, "tick", (True, 8.0)),
            (15.9, "tick", (True, 8.0)),
            (16.0, "tick", (True, 8.0)),
        ],
        ["", "dtmf:5", "", "", "reprompt:1"],
    ),
    ("busy appliance never re-prompts", [(0.0, "tick", (False, 0.0)), (15.0, "tick", (False, 15.0))], ["", ""]),
    ("input end of a file call", [(30.0, "input_end", None)], ["end:input_end"]),
    (
        "input end after goodbye is completed",
        [(1.0, "reply", (True, None)), (30.0, "input_end", None)],
        ["", "end:completed"],
    ),
    (
        "nothing after the end",
        [(100.0, "tick", (True, 100.0)), (101.0, "dtmf", "0"), (102.0, "tick", (True, 0.0))],
        ["end:max_duration", "", ""],
    ),
]


def _short(actions: list[SupervisorAction]) -> str:
    out = []
    for a in actions:
        if a.type is SupervisorActionType.END:
            out.append(f"end:{a.reason}")
        elif a.type is SupervisorActionType.TRANSFER:
            out.append(f"transfer:{a.transfer_to}")
        elif a.type is SupervisorActionType.DTMF:
            out.append(f"dtmf:{a.digit}")
        else:
            out.append(f"reprompt:{a.reprompt}")
    return ",".join(out)


@pytest.mark.parametrize(("name", "steps", "expected"), CASES, ids=[c[0] for c in CASES])
def test_supervision(name: str, steps: list[tuple[float, str, object]], expected: list[str]) -> None:
    sup = CallSupervisor(P)
    got = []
    for at, event, arg in steps:
        if event == "tick":
            idle, heard = arg  # type: ignore[misc]
            got.append(_short(sup.tick(at, idle=idle, last_caller_audio_s=heard)))
        elif event == "turn":
            got.append(_short(sup.caller_turn(at)))
        elif event == "dtmf":
            got.append(_short(sup.dtmf(str(arg), at)))
        elif event == "reply":
            end, to = arg  # type: ignore[misc]
            sup.reply(at, end_of_conversation=end, transfer_to=to)
            got.append("")
        elif event == "hangup":
            got.append(_short(sup.hangup(at)))
        elif event == "input_end":
            got.append(_short(sup.input_end(at)))
    assert got == expected


def test_reprompts_off() -> None:
    sup = CallSupervisor(SupervisionParams(no_input_s=0, caller_silence_s=1000))
    assert sup.tick(0.0, idle=True, last_caller_audio_s=0.0) == []
    assert sup.tick(500.0, idle=True, last_caller_audio_s=0.0) == []
    assert sup.ended is None


def test_start_offset() -> None:
    sup = CallSupervisor(P, start_s=1000.0)
    assert sup.tick(1099.0, idle=False, last_caller_audio_s=1099.0) == []
    assert sup.tick(1100.0, idle=False, last_caller_audio_s=1100.0)[0].reason is EndReason.MAX_DURATION
