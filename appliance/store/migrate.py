"""Numbered SQL migrations.

``appliance/store/migrations/NNNN_name.sql`` files are applied in order. Each
runs in one ``BEGIN IMMEDIATE`` transaction together with ``PRAGMA
user_version = NNNN`` and a ``schema_migrations`` row, so a crash leaves the
database either before or after a migration, never half-way. Taking the write
lock before re-reading ``user_version`` makes concurrent openers (several
processes starting at once) apply each migration exactly once.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlean

from appliance.core.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self) -> list[str]:
        """Split the file into statements (``executescript`` would commit our transaction)."""
        out: list[str] = []
        buf = ""
        for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True):
            if not buf and (not line.strip() or line.lstrip().startswith("--")):
                continue
            buf += line
            if sqlean.complete_statement(buf):
                out.append(buf.strip())
                buf = ""
        if buf.strip():
            raise MigrationError(f"{self.path.name}: incomplete statement at end of file")
        return out


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME_RE.match(path.name)
        if not m:
            raise MigrationError(f"bad migration file name {path.name!r} (want NNNN_name.sql)")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def latest_version(directory: Path = MIGRATIONS_DIR) -> int:
    return len(discover(directory))


def user_version(conn: Any) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: Any, directory: Path = MIGRATIONS_DIR, *, attempts: int = 5) -> int:
    """Bring the database on ``conn`` (autocommit mode) up to date; return the version.

    ``conn`` must have ``isolation_level=None`` and a busy timeout set.
    """
    migrations = discover(directory)
    target = len(migrations)
    current = user_version(conn)
    if current > target:
        raise MigrationError(
            f"database schema version {current} is newer than this software ({target}); upgrade the appliance"
        )
    for migration in migrations[current:]:
        for attempt in range(attempts):
            try:
                _apply(conn, migration)
                break
            except sqlean.OperationalError as exc:
                if not is_busy(exc) or attempt == attempts - 1:
                    raise MigrationError(f"{migration.path.name}: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))
    return user_version(conn)


def _apply(conn: Any, migration: Migration) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if user_version(conn) >= migration.version:  # another process got here first
            conn.execute("ROLLBACK")
            return
        for stmt in migration.statements():
            conn.execute(stmt)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")),
        )
        conn.execute(f"PRAGMA user_version = {int(migration.version)}")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlean.OperationalError) and is_busy(exc):
            raise
        if isinstance(exc, sqlean.Error):
            raise MigrationError(f"{migration.path.name}: {exc}") from exc
        raise


def is_busy(exc: BaseException) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED (the only errors worth retrying)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlean.SQLITE_BUSY, sqlean.SQLITE_LOCKED)
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text
