"""Injectable clocks (appliance.core.clock): the pinned date of ``appliance run --now`` runs on."""

from __future__ import annotations

import datetime as dt
import time

from appliance.cli import build_parser
from appliance.core.clock import fixed_clock, shifted_clock


def test_a_shifted_clock_starts_at_the_pinned_time_and_runs_on() -> None:
    at = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    clock = shifted_clock(at)
    first = clock()
    assert dt.timedelta(0) <= first - at < dt.timedelta(seconds=1)
    time.sleep(0.02)
    assert clock() - first >= dt.timedelta(seconds=0.02)


def test_naive_times_are_utc_as_for_the_fixed_clock() -> None:
    naive = dt.datetime(2026, 12, 1, 8, 0)
    assert abs(shifted_clock(naive)() - fixed_clock(naive)()) < dt.timedelta(seconds=1)
    assert shifted_clock(naive)().tzinfo is not None


def test_appliance_run_takes_now() -> None:
    args = build_parser().parse_args(["run", "--now", "2026-12-01T10:00:00+02:00"])
    assert args.now == "2026-12-01T10:00:00+02:00"
    assert build_parser().parse_args(["run"]).now is None
