"""A writer killed with SIGKILL mid-stream leaves a consistent database.

A subprocess books in a tight loop; once it has written some bookings it is
killed with ``kill -9`` (several rounds, at slightly different moments). The
file must then pass :meth:`Database.check` and hold no half-made booking: every
booking row is complete and has its ``booking.create`` audit row.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from appliance.core.config import REPO_ROOT
from appliance.store import Database

WORKER = r"""
import asyncio, datetime as dt, sys

from appliance.booking.local import LocalBackend
from appliance.booking.types import BookingRequest
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.store import Database

data_dir, round_ = sys.argv[1], sys.argv[2]
config = load_config(
    environ={},
    use_system=False,
    overrides={
        "store": {"data_dir": data_dir},
        "resources": [{"id": "dog-room", "name": {"en": "dog room"}, "pet_types": ["dog"], "capacity": 100000}],
        "tenant": {"pet_types": ["dog"]},
        "pricing": {"rules": [{"pet_type": "dog", "per_night": "35"}]},
    },
)
backend = LocalBackend(Database.from_config(config), config, fixed_clock(dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)))
backend.sync_resources()


async def main():
    i = 0
    while True:
        start = dt.date(2025, 6, 3) + dt.timedelta(days=i % 300)
        req = BookingRequest(f"Dog {i}", "dog", start, start + dt.timedelta(days=1 + i % 3), f"Owner {i}", "+37251234567")
        b = await backend.create_booking(req, f"crash-{round_}-{i}")
        if i % 5 == 0:
            await backend.cancel_booking(b.id, f"cancel-{round_}-{i}")
        print(b.id, flush=True)
        i += 1


asyncio.run(main())
"""


def _kill_after(tmp_path: Path, round_: int, bookings: int, rng: random.Random) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tmp_path), str(round_)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        seen = 0
        deadline = time.monotonic() + 120
        while seen < bookings:
            line = proc.stdout.readline()
            assert line, f"worker exited early: {proc.stderr.read() if proc.stderr else ''}"
            seen += 1
            assert time.monotonic() < deadline
        time.sleep(rng.uniform(0, 0.03))  # land somewhere inside a later transaction
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        return seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.mark.slow
def test_sigkill_mid_write_leaves_a_consistent_database(tmp_path: Path) -> None:
    rng = random.Random(1234)
    seen = 0
    for round_ in range(4):
        seen += _kill_after(tmp_path, round_, 25 + round_ * 7, rng)
        db = Database(tmp_path / "appliance.db")  # recovery happens here (WAL replay)
        try:
            report = db.check()
            assert report.ok, report.problems
            bookings, creates, incomplete, cancelled_without_audit = db.read(
                lambda s: (
                    s.execute(text("SELECT count(*) FROM bookings")).scalar_one(),
                    s.execute(text("SELECT count(*) FROM audit_log WHERE action = 'booking.create'")).scalar_one(),
                    s.execute(
                        text(
                            "SELECT count(*) FROM bookings WHERE id IS NULL OR length(id) != 6 OR pet_name = '' "
                            "OR owner_name = '' OR owner_phone IS NULL OR idempotency_key IS NULL "
                            "OR request_hash IS NULL OR total_minor <= 0 OR customer_id IS NULL OR pet_id IS NULL"
                        )
                    ).scalar_one(),
                    s.execute(
                        text(
                            "SELECT count(*) FROM bookings b WHERE status = 'cancelled' AND NOT EXISTS ("
                            "SELECT 1 FROM audit_log a WHERE a.entity_id = b.id AND a.action = 'booking.cancel')"
                        )
                    ).scalar_one(),
                )
            )
        finally:
            db.close()
        assert bookings >= seen  # everything acknowledged survived (synchronous=FULL)
        assert creates == bookings
        assert incomplete == 0
        assert cancelled_without_audit == 0
