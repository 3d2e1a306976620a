"""Migrations: the migrated schema matches the sqlmodel tables; PRAGMAs; one transaction per migration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlean

from appliance.core.errors import MigrationError
from appliance.store import Database
from appliance.store import migrate as m
from appliance.store.models import StoreModel


def _columns(conn: sqlean.Connection, table: str) -> dict[str, tuple[bool, bool]]:
    """name -> (not null, primary key) as SQLite sees it (INTEGER PRIMARY KEY counts as not null)."""
    out = {}
    for _cid, name, _type, notnull, _default, pk in conn.execute(f"PRAGMA table_info({table})"):
        out[name] = (bool(notnull) or bool(pk), bool(pk))
    return out


def test_migrated_schema_matches_sqlmodel_metadata(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db")
    db.close()
    conn = sqlean.connect(str(tmp_path / "a.db"))
    tables = {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }
    assert tables == set(StoreModel.metadata.tables)
    for name, table in StoreModel.metadata.tables.items():
        expected = {c.name: (not c.nullable or c.primary_key, c.primary_key) for c in table.columns}
        assert _columns(conn, name) == expected, name
        fks_db = {(r[3], r[2], r[4]) for r in conn.execute(f"PRAGMA foreign_key_list({name})")}
        fks_meta = {(fk.parent.name, fk.column.table.name, fk.column.name) for fk in table.foreign_keys}
        assert fks_db == fks_meta, name
    conn.close()


def test_pragmas_and_version(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.db", busy_timeout_ms=1234)
    try:

        def pragmas(s):  # type: ignore[no-untyped-def]
            conn = s.connection().connection.driver_connection
            return {
                p: conn.execute(f"PRAGMA {p}").fetchone()[0]
                for p in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout", "user_version")
            }

        for got in (db.read(pragmas), db.write(pragmas)):
            assert got == {
                "journal_mode": "wal",
                "foreign_keys": 1,
                "synchronous": 2,  # FULL
                "busy_timeout": 1234,
                "user_version": m.latest_version(),
            }
        assert db.schema_version == m.latest_version() >= 1
    finally:
        db.close()


def test_reopen_is_a_no_op_and_newer_schema_is_refused(tmp_path: Path) -> None:
    Database(tmp_path / "a.db").close()
    Database(tmp_path / "a.db").close()
    conn = sqlean.connect(str(tmp_path / "a.db"), isolation_level=None)
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == m.latest_version()
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(MigrationError, match="newer"):
        Database(tmp_path / "a.db")


def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    shutil.copy(m.MIGRATIONS_DIR / "0001_initial.sql", migrations)
    (migrations / "0002_broken.sql").write_text(
        "CREATE TABLE extra (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n", encoding="utf-8"
    )
    conn = sqlean.connect(str(tmp_path / "b.db"), isolation_level=None)
    with pytest.raises(MigrationError, match="0002_broken"):
        m.migrate(conn, migrations)
    assert m.user_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None
    assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1]
    (migrations / "0002_broken.sql").write_text("CREATE TABLE extra (id INTEGER PRIMARY KEY);\n", encoding="utf-8")
    assert m.migrate(conn, migrations) == 2
    conn.close()


def test_migration_files_are_numbered_without_gaps(tmp_path: Path) -> None:
    found = m.discover()
    assert [x.version for x in found] == list(range(1, len(found) + 1))
    (tmp_path / "0002_x.sql").write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match="without gaps"):
        m.discover(tmp_path)


def test_opt_outs_become_per_tenant_and_are_kept(tmp_path: Path) -> None:
    """0004: a box's opt-outs survive the upgrade; the same number may then be on two tenants' lists."""
    old = tmp_path / "migrations"
    old.mkdir()
    for f in sorted(m.MIGRATIONS_DIR.glob("000[1-3]_*.sql")):
        shutil.copy(f, old)
    conn = sqlean.connect(str(tmp_path / "c.db"), isolation_level=None)
    assert m.migrate(conn, old) == 3
    conn.execute("INSERT INTO sms_optouts VALUES ('+37251234567', 'demo', 'STOP', '2026-12-01 10:00:00')")
    assert m.migrate(conn) == m.latest_version() >= 4
    conn.execute("INSERT INTO sms_optouts VALUES ('+37251234567', 'clinic', 'STOPP', '2026-12-02 10:00:00')")
    rows = conn.execute("SELECT phone, tenant_id, keyword FROM sms_optouts ORDER BY tenant_id").fetchall()
    assert rows == [("+37251234567", "clinic", "STOPP"), ("+37251234567", "demo", "STOP")]
    with pytest.raises(sqlean.IntegrityError):
        conn.execute("INSERT INTO sms_optouts VALUES ('+37251234567', 'demo', 'STOP', '2026-12-03 10:00:00')")
    conn.close()
