"""Never double-book: 50 concurrent requests for a resource with capacity 3 give exactly 3 bookings.

From threads of one process (sharing a Database, and each with its own Database
on the same file), from tasks on one event loop, and from 50 separate
processes. Also: one idempotency key used concurrently makes one booking.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from appliance.booking.local import LocalBackend
from appliance.booking.types import Booking, BookingRequest
from appliance.core.clock import fixed_clock
from appliance.core.config import REPO_ROOT, Config, load_config
from appliance.core.errors import NoAvailability
from appliance.store import Database

N = 50
CLOCK = fixed_clock(dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC))
START, END = dt.date(2025, 6, 10), dt.date(2025, 6, 13)


def make_config(tmp_path: Path) -> Config:
    return load_config(environ={}, use_system=False, overrides={"store": {"data_dir": str(tmp_path)}})


def request(i: int) -> BookingRequest:
    return BookingRequest(f"Dog{i}", "dog", START, END, f"Owner {i}", f"+3725{1000000 + i}", channel="web")


def _live_rows(db: Database) -> list[tuple[str, str]]:
    return db.read(
        lambda s: [
            tuple(r)
            for r in s.execute(text("SELECT id, idempotency_key FROM bookings WHERE status != 'cancelled'")).all()
        ]
    )


def _assert_exactly(db: Database, results: list[object], booked: int) -> None:
    ok = [r for r in results if isinstance(r, Booking)]
    full = [r for r in results if isinstance(r, NoAvailability)]
    others = [r for r in results if not isinstance(r, Booking | NoAvailability)]
    assert not others, others[:3]
    assert len(ok) == booked and len(full) == len(results) - booked
    assert len(_live_rows(db)) == booked
    report = db.check()
    assert report.ok, report.problems


def _create(backend: LocalBackend, i: int, key: str | None = None) -> object:
    try:
        return asyncio.run(backend.create_booking(request(i), key or f"key-{i}"))
    except Exception as exc:  # collected and asserted on
        return exc


def _run_threads(target, n: int = N) -> list[object]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def worker(i: int) -> None:
        barrier.wait(timeout=60)
        results[i] = target(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def test_threads_sharing_one_database(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    db = Database.from_config(config)
    try:
        backend = LocalBackend(db, config, CLOCK)
        backend.sync_resources()
        results = _run_threads(lambda i: _create(backend, i))  # each thread runs its own event loop
        _assert_exactly(db, results, 3)
    finally:
        db.close()


def test_threads_each_with_its_own_database(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    dbs = [Database.from_config(config) for _ in range(N)]
    try:
        backends = [LocalBackend(db, config, CLOCK) for db in dbs]
        backends[0].sync_resources()
        results = _run_threads(lambda i: _create(backends[i], i))
        _assert_exactly(dbs[0], results, 3)
    finally:
        for db in dbs:
            db.close()


def test_tasks_on_one_event_loop(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    db = Database.from_config(config)
    backend = LocalBackend(db, config, CLOCK)

    async def main() -> list[object]:
        return await asyncio.gather(
            *(backend.create_booking(request(i), f"key-{i}") for i in range(N)), return_exceptions=True
        )

    try:
        _assert_exactly(db, asyncio.run(main()), 3)
    finally:
        db.close()


def test_same_key_from_many_threads_makes_one_booking(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    dbs = [Database.from_config(config) for _ in range(10)]
    try:
        backends = [LocalBackend(db, config, CLOCK) for db in dbs]
        backends[0].sync_resources()
        results = _run_threads(lambda i: _create(backends[i % 10], 7, key="one-key"), n=20)
        assert all(isinstance(r, Booking) for r in results), results
        assert len({r.id for r in results}) == 1  # type: ignore[attr-defined]
        assert _live_rows(dbs[0]) == [(results[0].id, "one-key")]  # type: ignore[attr-defined]
    finally:
        for db in dbs:
            db.close()


# --- separate processes --------------------------------------------------------

WORKER = r"""
import asyncio, datetime as dt, json, os, sys, time
from pathlib import Path

from appliance.booking.local import LocalBackend
from appliance.booking.types import BookingRequest
from appliance.core.clock import fixed_clock
from appliance.core.config import load_config
from appliance.core.errors import NoAvailability
from appliance.store import Database

data_dir, worker, i, key, ready_dir, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:7]
config = load_config(environ={}, use_system=False, overrides={"store": {"data_dir": data_dir}})
db = Database.from_config(config)
backend = LocalBackend(db, config, fixed_clock(dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)))
backend.sync_resources()
Path(ready_dir, worker).touch()
deadline = time.monotonic() + 240
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit(3)
    time.sleep(0.02)
req = BookingRequest(f"Dog{i}", "dog", dt.date(2025, 6, 10), dt.date(2025, 6, 13), f"Owner {i}", f"+3725{1000000 + i}")
try:
    booking = asyncio.run(backend.create_booking(req, key))
    print(json.dumps({"booked": booking.id}))
except NoAvailability:
    print(json.dumps({"full": True}))
db.close()
"""


def _run_processes(tmp_path: Path, keys: list[str], same_request: bool) -> list[dict[str, object]]:
    config = make_config(tmp_path)
    db = Database.from_config(config)  # migrate and sync once up front
    LocalBackend(db, config, CLOCK).sync_resources()
    db.close()
    ready, go = tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(tmp_path),
                str(i),
                str(0 if same_request else i),
                key,
                str(ready),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        for i, key in enumerate(keys)
    ]
    try:
        deadline = time.monotonic() + 240
        while len(list(ready.iterdir())) < len(procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, failed[0].communicate()[1]
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.05)
        go.touch()  # all 50 are waiting: release them together
        out = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=240)
            assert p.returncode == 0, stderr
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.slow
def test_fifty_processes_book_exactly_capacity(tmp_path: Path) -> None:
    results = _run_processes(tmp_path, [f"key-{i}" for i in range(N)], same_request=False)
    booked = [r["booked"] for r in results if "booked" in r]
    assert len(booked) == 3 and len(set(booked)) == 3
    assert sum(1 for r in results if r.get("full")) == N - 3
    db = Database(tmp_path / "appliance.db")
    try:
        assert sorted(r[0] for r in _live_rows(db)) == sorted(booked)
        assert db.check().ok, db.check().problems
    finally:
        db.close()


@pytest.mark.slow
def test_same_key_from_many_processes_makes_one_booking(tmp_path: Path) -> None:
    results = _run_processes(tmp_path, ["one-key"] * 12, same_request=True)
    assert {r.get("booked") for r in results} != {None}
    assert len({r["booked"] for r in results}) == 1
    db = Database(tmp_path / "appliance.db")
    try:
        assert len(_live_rows(db)) == 1
    finally:
        db.close()
