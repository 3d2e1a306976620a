"""The SQLite database: one writer thread, reader threads, backup and check.

Writes follow datasette's writer-thread model: every write callable is put on a
queue and run, one at a time, by a single thread that owns the only write
connection of this process, inside ``BEGIN IMMEDIATE``. Inside a process writes
therefore never contend; across processes ``BEGIN IMMEDIATE`` takes SQLite's
write lock up front (waiting up to ``busy_timeout``), and a bounded retry covers
the rare ``SQLITE_BUSY`` that still escapes. A read-modify-write callable (check
capacity, then insert) runs entirely under that lock, which is what makes
"check then insert" atomic.

Reads run on their own ``query_only`` connections (the caller's thread for
:meth:`Database.read`, a small thread pool for :meth:`Database.aread`); WAL lets
them proceed while a write is in progress. Nothing here touches the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlean
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool, StaticPool
from sqlmodel import Session, create_engine

from appliance.core.errors import StoreError
from appliance.store import migrate as _migrate

log = logging.getLogger(__name__)
T = TypeVar("T")

_STOP = object()


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What :meth:`Database.check` found. ``ok`` is true when every list is empty."""

    path: str
    integrity: tuple[str, ...] = ()  # PRAGMA integrity_check lines other than "ok"
    foreign_keys: tuple[str, ...] = ()  # PRAGMA foreign_key_check rows
    schema_version: int = 0
    expected_version: int = 0
    domain: tuple[str, ...] = ()  # rows that break booking invariants
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def schema_current(self) -> bool:
        return self.schema_version == self.expected_version

    @property
    def problems(self) -> tuple[str, ...]:
        out = [f"integrity: {p}" for p in self.integrity]
        out += [f"foreign key: {p}" for p in self.foreign_keys]
        if not self.schema_current:
            out.append(f"schema version {self.schema_version}, expected {self.expected_version}")
        out += [f"domain: {p}" for p in self.domain]
        return tuple(out)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "schema_version": self.schema_version,
            "expected_version": self.expected_version,
            "problems": list(self.problems),
            "counts": dict(self.counts),
        }


def _raw_connect(path: Path, busy_timeout_ms: int, *, query_only: bool = False) -> Any:
    """A sqlean connection in autocommit mode (we issue BEGIN ourselves) with our PRAGMAs."""
    conn = sqlean.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    if query_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


class Database:
    """The appliance's SQLite file.

    ``write(fn)``/``awrite(fn)`` run ``fn(session)`` on the writer thread inside
    ``BEGIN IMMEDIATE`` and commit when it returns (roll back when it raises);
    ``read(fn)``/``aread(fn)`` run ``fn(session)`` in a read-only snapshot.
    ``fn`` gets a :class:`sqlmodel.Session` (``expire_on_commit=False``) and
    should return plain values or detached rows.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = 30000,
        readers: int = 4,
        busy_retries: int = 5,
        max_batch: int = 64,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = busy_timeout_ms
        self.busy_retries = busy_retries
        self.max_batch = max_batch
        self._closed = False
        self._open_and_migrate()
        self._writer_engine = self._engine(StaticPool, query_only=False)
        self._reader_engine = self._engine(QueuePool, query_only=True, pool_size=readers, max_overflow=readers * 2)
        self._read_pool = concurrent.futures.ThreadPoolExecutor(max_workers=readers, thread_name_prefix="db-read")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._submit_lock = threading.Lock()
        self._writer = threading.Thread(target=self._writer_loop, name=f"db-writer:{self.path.name}", daemon=True)
        self._writer.start()

    @classmethod
    def from_config(cls, config: Any) -> Database:
        """Open ``config.db_path`` with ``config.store.busy_timeout_ms``."""
        return cls(config.db_path, busy_timeout_ms=config.store.busy_timeout_ms)

    # -- setup -------------------------------------------------------------------

    def _open_and_migrate(self) -> None:
        conn = self._retry_busy(lambda: _raw_connect(self.path, self.busy_timeout_ms))
        try:
            mode = self._retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: could not switch to WAL (journal_mode={mode})")
            self.schema_version = _migrate.migrate(conn)
        finally:
            conn.close()

    def _retry_busy(self, op: Callable[[], T]) -> T:
        for attempt in range(self.busy_retries + 1):
            try:
                return op()
            except sqlean.OperationalError as exc:
                if not _migrate.is_busy(exc) or attempt == self.busy_retries:
                    raise StoreError(f"{self.path}: {exc}", retryable=_migrate.is_busy(exc)) from exc
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    def _engine(self, poolclass: type, *, query_only: bool, **pool_kw: Any) -> Engine:
        path, timeout = self.path, self.busy_timeout_ms
        engine = create_engine(
            f"sqlite:///{path}",
            module=sqlean,
            poolclass=poolclass,
            creator=lambda: _raw_connect(path, timeout, query_only=query_only),
            **pool_kw,
        )
        begin = "BEGIN" if query_only else "BEGIN IMMEDIATE"

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:  # the driver is in autocommit mode; we own BEGIN
            conn.exec_driver_sql(begin)

        return engine

    # -- writes ------------------------------------------------------------------

    def _writer_loop(self) -> None:
        """Run queued writes; whatever queued up meanwhile commits together (group commit).

        Each job runs in its own SAVEPOINT inside one ``BEGIN IMMEDIATE``
        transaction, so a failing job rolls back alone; the batch commits once
        (one fsync) and only then are the callers told. Under load this turns N
        fsyncs into one without weakening durability: nobody hears "done"
        before their write is on disk. The loop never dies: an unexpected error
        fails that batch's futures and the thread carries on.
        """
        while True:
            job = self._queue.get()
            if job is _STOP:
                break
            batch = [job]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            live = [(fn, fut) for fn, fut in batch if fut.set_running_or_notify_cancel()]
            try:
                if len(live) == 1:
                    fn, fut = live[0]
                    try:
                        fut.set_result(self._run_write(fn))
                    except BaseException as exc:  # handed to the caller, never lost
                        fut.set_exception(exc)
                elif live:
                    self._run_batch(live)
            except BaseException as exc:  # a bug here must not leave callers waiting forever
                log.exception("writer thread: batch failed")
                for _fn, fut in live:
                    if not fut.done():
                        fut.set_exception(StoreError(f"write failed: {exc}"))
            if stop:
                break
        self._fail_queued()

    def _fail_queued(self) -> None:
        """After the writer stopped: nothing left in the queue may wait forever."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                _fn, fut = job
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(StoreError("the database is closed"))

    def _run_batch(self, jobs: list[tuple[Callable[[Session], Any], concurrent.futures.Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            for attempt in range(self.busy_retries + 1):
                outcomes = []
                try:
                    with Session(self._writer_engine, expire_on_commit=False) as session, session.begin():
                        for fn, _fut in jobs:
                            # Pending ORM rows are flushed when the savepoint is released, so a job
                            # has succeeded only once its ``with`` block has exited cleanly.
                            try:
                                with session.begin_nested():
                                    value = fn(session)
                            except Exception as exc:
                                outcomes.append((False, exc))
                            else:
                                outcomes.append((True, value))
                    break
                except DBAPIError as exc:
                    busy = _migrate.is_busy(exc.orig) if exc.orig is not None else False
                    if not busy or attempt == self.busy_retries:
                        raise
                    time.sleep(min(0.05 * 2**attempt, 1.0))
        except BaseException as exc:  # the commit itself failed: nobody's write happened
            for _fn, fut in jobs:
                fut.set_exception(exc)
            return
        for (_fn, fut), (ok, value) in zip(jobs, outcomes, strict=True):
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _run_write(self, fn: Callable[[Session], T]) -> T:
        for attempt in range(self.busy_retries + 1):
            try:
                with Session(self._writer_engine, expire_on_commit=False) as session, session.begin():
                    return fn(session)
            except DBAPIError as exc:
                busy = _migrate.is_busy(exc.orig) if exc.orig is not None else False
                if not busy:
                    raise
                if attempt == self.busy_retries:
                    raise StoreError("the database stayed busy; try again", retryable=True) from exc
                log.warning("database busy (attempt %d), retrying", attempt + 1)
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    def submit_write(self, fn: Callable[[Session], T]) -> concurrent.futures.Future[T]:
        """Queue ``fn`` for the writer thread; the future holds its result or error."""
        if self._closed:
            raise StoreError("the database is closed")
        if threading.current_thread() is self._writer:
            raise StoreError("nested write: a write callable must not call Database.write")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._submit_lock:  # no job can slip in behind the stop marker
            if self._closed:
                raise StoreError("the database is closed")
            self._queue.put((fn, fut))
        return fut

    def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in one write transaction; block until done. Not for the event loop."""
        return self.submit_write(fn).result()

    async def awrite(self, fn: Callable[[Session], T]) -> T:
        """Like :meth:`write`, awaiting the writer thread without blocking the loop."""
        return await asyncio.wrap_future(self.submit_write(fn))

    # -- reads -------------------------------------------------------------------

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a read-only snapshot on the calling thread."""
        if self._closed:
            raise StoreError("the database is closed")
        with Session(self._reader_engine, expire_on_commit=False) as session:
            return fn(session)  # autobegin -> BEGIN (one snapshot); close() rolls back

    async def aread(self, fn: Callable[[Session], T]) -> T:
        """Like :meth:`read`, on the reader thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, self.read, fn)

    # -- maintenance ---------------------------------------------------------------

    def backup(self, dest_path: str | Path) -> Path:
        """Copy a consistent snapshot to ``dest_path`` with SQLite's online backup API.

        Safe while the appliance runs: writers are not stopped. Returns the path.
        """
        dest = Path(dest_path).expanduser().resolve()
        if dest == self.path:
            raise StoreError("backup destination is the live database")
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = _raw_connect(self.path, self.busy_timeout_ms, query_only=True)
        try:
            tmp = dest.with_name(dest.name + ".partial")
            tmp.unlink(missing_ok=True)
            dst = sqlean.connect(str(tmp), isolation_level=None)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained single file
            finally:
                dst.close()
            tmp.replace(dest)
        finally:
            src.close()
        return dest

    def check(self) -> CheckReport:
        """Integrity, foreign keys, schema version and booking invariants (read-only)."""
        from appliance.store import checks

        conn = _raw_connect(self.path, self.busy_timeout_ms, query_only=True)
        try:
            conn.execute("BEGIN")
            integrity = tuple(r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok")
            fks = tuple(
                f"{table} rowid {rowid} -> {parent}"
                for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")
            )
            version = _migrate.user_version(conn)
            recorded = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
            domain = checks.domain_problems(conn)
            if recorded != version:
                domain = (*domain, f"schema_migrations records version {recorded}, user_version is {version}")
            counts = checks.table_counts(conn)
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return CheckReport(
            path=str(self.path),
            integrity=integrity,
            foreign_keys=fks,
            schema_version=version,
            expected_version=_migrate.latest_version(),
            domain=tuple(domain),
            counts=counts,
        )

    def close(self) -> None:
        """Finish queued writes, stop the writer thread and close every connection."""
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if threading.current_thread() is not self._writer:
            self._writer.join()
        self._read_pool.shutdown(wait=True)
        self._writer_engine.dispose()
        self._reader_engine.dispose()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
