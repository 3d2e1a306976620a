"""The Database: writer thread, readers, async API, errors, backup and check."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlean
from sqlalchemy import text

from appliance.core.errors import StoreError
from appliance.store import Database
from appliance.store.models import AuditLog

NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = Database(tmp_path / "data" / "appliance.db")
    yield database
    database.close()


def _add(s, n: int) -> int:  # type: ignore[no-untyped-def]
    s.add(AuditLog(at=NOW, actor="t", action="x", entity="e", entity_id=str(n), details="{}"))
    s.flush()
    return n


def _count(s) -> int:  # type: ignore[no-untyped-def]
    return s.execute(text("SELECT count(*) FROM audit_log")).scalar_one()


def test_writes_run_on_one_thread_and_reads_see_them(db: Database) -> None:
    threads: set[str] = set()

    def w(s):  # type: ignore[no-untyped-def]
        threads.add(threading.current_thread().name)
        return _add(s, 1)

    workers = [threading.Thread(target=db.write, args=(w,)) for _ in range(20)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=30)
    assert len(threads) == 1 and next(iter(threads)).startswith("db-writer")
    assert db.read(_count) == 20


def test_a_failed_write_rolls_back_and_the_error_reaches_the_caller(db: Database) -> None:
    def boom(s):  # type: ignore[no-untyped-def]
        _add(s, 1)
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        db.write(boom)
    assert db.read(_count) == 0
    db.write(lambda s: _add(s, 2))  # the writer survives
    assert db.read(_count) == 1


def test_reads_cannot_write(db: Database) -> None:
    with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        db.read(lambda s: _add(s, 1))


def test_nested_write_is_refused(db: Database) -> None:
    with pytest.raises(StoreError, match="nested"):
        db.write(lambda s: db.write(lambda s2: None))


def test_async_api_does_not_block_the_loop(db: Database) -> None:
    async def main() -> tuple[list[int], int, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.create_task(ticker())
        results = await asyncio.gather(*(db.awrite(lambda s, i=i: _add(s, i)) for i in range(30)))
        count = await db.aread(_count)
        stop.set()
        await t
        return list(results), count, ticks

    results, count, ticks = asyncio.run(main())
    assert results == list(range(30))
    assert count == 30
    assert ticks > 0


def test_busy_from_another_process_is_waited_for(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db", busy_timeout_ms=5000)
    other = sqlean.connect(str(tmp_path / "a.db"), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock...
    timer = threading.Timer(0.3, lambda: other.execute("COMMIT"))  # ...for a moment
    timer.start()
    try:
        assert db.write(lambda s: _add(s, 7)) == 7
    finally:
        timer.join()
        other.close()
        db.close()


def test_busy_for_too_long_is_a_retryable_store_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db", busy_timeout_ms=50, busy_retries=2)
    other = sqlean.connect(str(tmp_path / "a.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as info:
            db.write(lambda s: _add(s, 1))
        assert info.value.retryable
    finally:
        other.execute("ROLLBACK")
        other.close()
        db.close()


def test_backup_is_a_consistent_copy(db: Database, tmp_path: Path) -> None:
    for i in range(5):
        db.write(lambda s, i=i: _add(s, i))
    dest = db.backup(tmp_path / "backups" / "copy.db")
    copy = Database(dest)
    try:
        assert copy.read(_count) == 5
        assert copy.check().ok
    finally:
        copy.close()
    with pytest.raises(StoreError):
        db.backup(db.path)


def test_check_reports_a_clean_database(db: Database) -> None:
    report = db.check()
    assert report.ok, report.problems
    assert report.schema_current
    assert report.to_dict()["ok"] is True


def test_close_finishes_queued_writes(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db")
    futures = [db.submit_write(lambda s, i=i: _add(s, i)) for i in range(10)]
    db.close()
    assert [f.result(timeout=5) for f in futures] == list(range(10))
    with pytest.raises(StoreError, match="closed"):
        db.write(lambda s: None)
    again = Database(tmp_path / "a.db")
    assert again.read(_count) == 10
    again.close()


def test_group_commit_reports_each_job_after_its_savepoint(tmp_path: Path) -> None:
    """A job whose pending rows fail when its savepoint is released fails alone; the others
    get their own results and the writer thread survives (regression: results shifted by one)."""
    from appliance.store.models import Tenant

    db = Database(tmp_path / "batch.db")
    try:
        now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        block = threading.Event()
        first = db.submit_write(lambda s: block.wait(5))

        def insert(key: str):
            def w(s):  # no flush: the INSERT runs when the savepoint is released
                s.add(Tenant(id=key, name=key, timezone="UTC", currency="EUR", created_at=now, updated_at=now))
                return key

            return w

        futs = [db.submit_write(insert("a")), db.submit_write(insert("a")), db.submit_write(insert("b"))]
        block.set()  # the three queued jobs now run as one batch
        assert first.result(5) is True
        assert futs[0].result(5) == "a"
        with pytest.raises(Exception, match="UNIQUE|IntegrityError"):
            futs[1].result(5)
        assert futs[2].result(5) == "b"
        assert sorted(r[0] for r in db.read(lambda s: s.execute(text("SELECT id FROM tenants")).all())) == ["a", "b"]
        assert db.write(lambda s: 42) == 42  # the writer thread is alive
    finally:
        db.close()


def test_write_after_close_fails_fast(tmp_path: Path) -> None:
    db = Database(tmp_path / "closed.db")
    db.close()
    with pytest.raises(StoreError):
        db.write(lambda s: 1)
