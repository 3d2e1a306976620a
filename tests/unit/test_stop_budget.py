"""The stop budget (voice/stopbudget.py): every step of a clean stop takes its share of one
deadline, latest step first, and the whole stop fits in the systemd unit's TimeoutStopSec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.core.config import load_config
from appliance.daemon import CLOSE_S
from appliance.voice.stopbudget import StopBudget

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_stop_every_step_keeps_its_usual_limit() -> None:
    b = StopBudget(20.0)
    assert not b.stopping and b.deadline is None
    assert (b.flush_s(100.0, 8.0), b.pipeline_wait_s(100.0, 5.0), b.say_s(100.0, 9.0), b.hangup_wait_s(100.0, 3.0)) == (
        8.0, 5.0, 9.0, 3.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("elapsed", "flush", "say", "hangup"),
    [
        (0.0, 8.0, 9.0, 3.0),  # a fresh stop: the usual limits fit (8 + 1 + 6 + 1.5 < 20)
        (10.0, 1.5, 8.5, 3.0),  # half gone: the flush is cut so the goodbye and hang-up still fit
        (13.0, 0.0, 5.5, 3.0),  # no time for turns in flight: goodbye and hang-up only
        (18.0, 0.0, 0.5, 2.0),  # a late call: a short goodbye is cut, the BYE still goes out
        (25.0, 0.0, 0.0, 0.2),  # past the deadline: only the BYE
    ],
)
def test_each_step_gets_its_share_of_what_is_left(elapsed: float, flush: float, say: float, hangup: float) -> None:
    b = StopBudget(20.0, goodbye_s=6.0, hangup_s=1.5, pipeline_s=1.0)
    b.begin(100.0)
    b.begin(105.0)  # a second stop request does not move the deadline
    assert b.deadline == 120.0
    now = 100.0 + elapsed
    assert b.flush_s(now, 8.0) == pytest.approx(flush)
    assert b.say_s(now, 9.0) == pytest.approx(say)
    assert b.hangup_wait_s(now, 3.0) == pytest.approx(hangup)
    assert b.pipeline_wait_s(now, 5.0) <= max(0.05, (b.left(now) - 7.5) / 2)


@pytest.mark.parametrize("total", [6.0, 8.5, 12.0, 20.0, 30.0])
def test_the_steps_of_one_call_never_outlast_the_budget_and_keep_the_goodbye(total: float) -> None:
    """The worst case: every step uses all it is given, one after the other."""
    b = StopBudget(total, goodbye_s=6.0, hangup_s=1.5, pipeline_s=1.0)
    b.begin(0.0)
    now = b.flush_s(0.0, 8.0)
    now += b.pipeline_wait_s(now, 5.0)  # cancel the pipeline
    now += b.pipeline_wait_s(now, 5.0)  # then wait for its task
    goodbye = b.say_s(now, 9.0)
    now += goodbye
    now += b.hangup_wait_s(now, 3.0)
    assert now <= total + 2 * 0.05 + 0.2, now  # + the minimum pipeline and BYE moments
    if total >= 8.5:  # room for the pipeline's, the goodbye's and the hang-up's shares
        assert goodbye >= 6.0


def test_the_whole_stop_fits_in_the_units_timeout_stop_sec() -> None:
    unit = (ROOT / "systemd" / "appliance.service").read_text(encoding="utf-8")
    (timeout,) = re.findall(r"^TimeoutStopSec=(\d+)$", unit, re.M)
    sip = load_config(environ={}, use_system=False).sip
    # the calls' budget, then the rest of the daemon, with a margin for the process exit itself
    assert sip.stop_timeout_s + CLOSE_S + 3 <= int(timeout)
