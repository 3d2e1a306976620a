"""Erase everything about a caller: one database transaction, a durable journal for the files.

Steps (each one safe to repeat, so a crash anywhere is finished by :func:`recover`, which the
daemon and the ``appliance privacy`` commands run at start):

1. find everything (:mod:`appliance.privacy.find`) and write the journal
   ``<data_dir>/privacy/journal/<erase_id>.json`` (fsync'd, renamed into place): the number, the
   names, the files to delete, the counts, the reason and who asked;
2. one write transaction: delete the customer, pets, sessions, turns and callback tickets;
   bookings are anonymised (``tenant.privacy.keep_bookings_for_accounting``) or deleted; the
   details of audit rows about them are cleared; the texts received from and sent to the caller
   (``sms_inbound``, ``outbox``, pending ones too) are deleted; an ``sms_optouts`` row is kept
   under the salted hash of the number instead of the number (:func:`find.optout_key`), so an
   opted-out number is never texted again; a ``privacy.erase`` audit row is added;
3. delete the recordings (audio is deleted, never anonymised) and the log lines;
4. append the receipt (:mod:`appliance.privacy.receipts`) unless one with this ``erase_id``
   is already there, so it is written exactly once;
5. checkpoint the WAL and ``VACUUM`` the database so deleted rows leave no bytes on disk;
6. remove the journal.

Test hook: ``APPLIANCE_PRIVACY_PAUSE=<step>`` (``journal``, ``db``, ``files``) makes the process
write ``<journal>.paused`` after that step and wait there, so a test can SIGKILL it mid-erase.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import sqlean
from sqlalchemy import text
from sqlmodel import Session

from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.logs import redact
from appliance.privacy import receipts
from appliance.privacy.find import (
    ANON_PHONE,
    ERASED,
    Findings,
    Subject,
    find,
    line_is_about,
    log_files,
    optout_key,
)
from appliance.store import diarization
from appliance.store.db import Database

log = logging.getLogger("appliance.privacy")
PAUSE_ENV = "APPLIANCE_PRIVACY_PAUSE"


def journal_dir(config: Config) -> Path:
    return receipts.privacy_dir(config) / "journal"


def pending(config: Config) -> list[Path]:
    d = journal_dir(config)
    return sorted(d.glob("*.json")) if d.is_dir() else []


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_journal(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def _pause(step: str, journal: Path) -> None:
    if os.environ.get(PAUSE_ENV) != step:
        return
    journal.with_suffix(".paused").write_text(step)
    while True:  # the test kills us here
        time.sleep(0.1)


def erase(
    config: Config, db: Database, subject: Subject, *, reason: str, by: str, clock: Clock = system_clock
) -> dict[str, Any]:
    """Erase everything about ``subject``; return the receipt."""
    findings = db.read(lambda s: find(config, s, subject))
    erase_id = uuid.uuid4().hex
    keep = config.tenant.privacy.keep_bookings_for_accounting
    counts = findings.counts()
    counts["bookings_anonymised" if keep else "bookings_deleted"] = counts.pop("bookings")
    data = {
        "erase_id": erase_id,
        "at": clock().astimezone().isoformat(timespec="seconds"),
        "tenant_id": subject.tenant_id,
        "phone": subject.phone,
        "national": subject.national,
        "names": findings.names,
        "files": [str(p) for p in findings.files],
        "counts": counts,
        "reason": redact(reason.strip())[:500],
        "by": by.strip()[:100],
    }
    journal = journal_dir(config) / f"{erase_id}.json"
    _write_journal(journal, data)
    _pause("journal", journal)
    return _finish(config, db, journal, clock)


def recover(
    config: Config, db: Database, clock: Clock = system_clock, *, min_age_s: float = 0.0
) -> list[dict[str, Any]]:
    """Finish every erase a crash interrupted; return their receipts. ``min_age_s`` leaves younger
    journals alone (the daemon's hourly pass must not race an erase that is still running)."""
    done = []
    for journal in pending(config):
        if min_age_s and time.time() - journal.stat().st_mtime < min_age_s:
            continue
        log.warning("privacy: finishing interrupted erase %s", journal.stem)
        done.append(_finish(config, db, journal, clock))
    return done


def _finish(config: Config, db: Database, journal: Path, clock: Clock) -> dict[str, Any]:
    data = json.loads(journal.read_text(encoding="utf-8"))
    subject = Subject(data["tenant_id"], data["phone"], data["national"])
    names: list[str] = list(data["names"])
    db.write(lambda s: _erase_tx(config, s, subject, data["erase_id"], clock))
    _pause("db", journal)
    for name in data["files"]:
        Path(name).unlink(missing_ok=True)
    for path in log_files(config):
        _scrub_log(path, subject, names)
    _pause("files", journal)
    receipt = receipts.find(config, data["erase_id"])
    if receipt is None:
        receipt = receipts.append(
            config,
            {
                "erase_id": data["erase_id"],
                "at": data["at"],
                "tenant_id": data["tenant_id"],
                "subject": receipts.subject_hash(config, data["phone"]),
                "reason": data["reason"],
                "by": data["by"],
                "counts": data["counts"],
                "categories": sorted(k for k, v in data["counts"].items() if v),
            },
        )
    if not compact(db):  # deleted rows may still sit in free pages or the WAL: try again later
        log.warning("privacy: erase %s kept pending until the database can be compacted", data["erase_id"])
        return receipt
    journal.unlink(missing_ok=True)
    journal.with_suffix(".paused").unlink(missing_ok=True)
    _fsync_dir(journal.parent)
    log.info("privacy: erase %s done (receipt %s)", data["erase_id"], receipt["seq"])
    return receipt


def _ids(rows: list[dict[str, Any]], key: str = "id") -> list[Any]:
    return [r[key] for r in rows]


def _exec_in(s: Session, sql: str, values: list[Any], **params: Any) -> None:
    """Run ``sql`` (with ``{ids}`` for an IN list) in chunks SQLite's variable limit allows."""
    for i in range(0, len(values), 500):
        chunk = values[i : i + 500]
        names = {f"v{j}": v for j, v in enumerate(chunk)}
        s.execute(text(sql.format(ids=", ".join(f":{k}" for k in names))), {**names, **params})


def _anon_party(s: Session, tenant_id: str, pet_types: set[str], now: str) -> tuple[int, dict[str, int]]:
    """The tenant's anonymous customer (and one anonymous pet per type) anonymised bookings point to."""
    p = {"t": tenant_id, "n": ERASED, "ph": ANON_PHONE, "now": now}
    s.execute(
        text(
            "INSERT OR IGNORE INTO customers (tenant_id, name, phone, created_at, updated_at) "
            "VALUES (:t, :n, :ph, :now, :now)"
        ),
        p,
    )
    cid = int(s.execute(text("SELECT id FROM customers WHERE tenant_id = :t AND phone = :ph"), p).one()[0])
    pets = {}
    for pet_type in sorted(pet_types):
        q = {"c": cid, "n": ERASED, "pt": pet_type, "now": now}
        s.execute(
            text("INSERT OR IGNORE INTO pets (customer_id, name, pet_type, created_at) VALUES (:c, :n, :pt, :now)"), q
        )
        pets[pet_type] = int(
            s.execute(text("SELECT id FROM pets WHERE customer_id = :c AND name = :n AND pet_type = :pt"), q).one()[0]
        )
    return cid, pets


def _erase_tx(config: Config, s: Session, subject: Subject, erase_id: str, clock: Clock) -> dict[str, int]:
    """Step 2, inside one write transaction (finds again, so a repeat erases what is left)."""
    f: Findings = find(config, s, subject, with_logs=False)
    now = clock().astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # the store's UTC text
    bookings = _ids(f.bookings)
    if bookings and config.tenant.privacy.keep_bookings_for_accounting:
        cid, pets = _anon_party(s, subject.tenant_id, {b["pet_type"] for b in f.bookings}, now)
        for b in f.bookings:
            s.execute(
                text(
                    "UPDATE bookings SET owner_name = :n, owner_phone = :ph, pet_name = :n, customer_id = :c, "
                    "pet_id = :p, notes = '', session_id = NULL, request_hash = NULL, updated_at = :now "
                    "WHERE id = :id AND tenant_id = :t"
                ),
                {"n": ERASED, "ph": ANON_PHONE, "c": cid, "p": pets[b["pet_type"]], "now": now, "id": b["id"],
                 "t": subject.tenant_id},
            )  # fmt: skip
    elif bookings:
        _exec_in(s, "DELETE FROM idempotency_keys WHERE booking_id IN ({ids})", bookings)
        _exec_in(s, "DELETE FROM bookings WHERE tenant_id = :t AND id IN ({ids})", bookings, t=subject.tenant_id)
    customers = _ids(f.customers)
    pets_of = [p["id"] for p in f.pets if p["customer_id"] in customers]
    _exec_in(s, "DELETE FROM pets WHERE id IN ({ids})", pets_of)
    _exec_in(s, "DELETE FROM customers WHERE tenant_id = :t AND id IN ({ids})", customers, t=subject.tenant_id)
    _exec_in(s, "DELETE FROM turns WHERE session_id IN ({ids})", f.session_ids)
    diarization.delete_for_recordings(s, [d["recording"] for d in f.diarizations])  # who spoke when in the calls
    _exec_in(
        s, "DELETE FROM conversation_sessions WHERE tenant_id = :t AND id IN ({ids})", f.session_ids,
        t=subject.tenant_id,
    )  # fmt: skip
    _exec_in(
        s, "DELETE FROM callback_tickets WHERE tenant_id = :t AND id IN ({ids})", _ids(f.callback_tickets),
        t=subject.tenant_id,
    )  # fmt: skip
    _exec_in(s, "DELETE FROM sms_inbound WHERE tenant_id = :t AND id IN ({ids})", _ids(f.sms_received),
             t=subject.tenant_id)  # fmt: skip
    _exec_in(s, "DELETE FROM outbox WHERE tenant_id = :t AND id IN ({ids})", _ids(f.sms_sent), t=subject.tenant_id)
    if f.sms_optout:  # the opt-out outlives the number: kept as its salted hash, without the keyword used
        key = optout_key(config, subject.phone, create=True)
        s.execute(
            text(
                "INSERT OR IGNORE INTO sms_optouts (phone, tenant_id, keyword, created_at) "
                "SELECT :k, tenant_id, '', created_at FROM sms_optouts WHERE tenant_id = :t AND phone = :p"
            ),
            {"k": key, "p": subject.phone, "t": subject.tenant_id},
        )
        s.execute(text("DELETE FROM sms_optouts WHERE tenant_id = :t AND phone = :p"),
                  {"p": subject.phone, "t": subject.tenant_id})  # fmt: skip
    # audit rows stay (who did what, when: the booking numbers are not personal); details that
    # quote the caller (a name in a note, the number) and those of deleted tickets (their reason
    # may be the caller's own question) are cleared
    quoting = [
        a["id"] for a in f.audit if a["entity"] != "booking" or line_is_about(subject, f.names, str(a["details"]))
    ]
    _exec_in(s, "UPDATE audit_log SET details = '{{\"erased\": true}}' WHERE id IN ({ids})", quoting)
    s.execute(
        text(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, details) "
            "SELECT :now, 'privacy', 'privacy.erase', 'erasure', :e, '{}' "
            "WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE action = 'privacy.erase' AND entity_id = :e)"
        ),
        {"now": now, "e": erase_id},
    )
    return f.counts()


def _scrub_log(path: Path, subject: Subject, names: list[str]) -> int:
    """Drop the lines about the caller, in place (a running daemon keeps appending to the same file)."""
    try:
        with path.open("r+", encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.readlines()
            keep = [ln for ln in lines if not line_is_about(subject, names, ln)]
            if len(keep) == len(lines):
                return 0
            fh.seek(0)
            fh.writelines(keep)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
            return len(lines) - len(keep)
    except OSError as exc:
        log.error("privacy: cannot scrub log file %s: %s", path, exc.strerror)
        return 0


def compact(db: Database) -> bool:
    """Checkpoint the WAL into the file, ``VACUUM`` (no free pages keep deleted rows), truncate the WAL.

    Best effort: a long reader elsewhere can keep the WAL; the next erase or retention run retries.
    """
    conn = sqlean.connect(str(db.path), isolation_level=None, timeout=db.busy_timeout_ms / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(db.busy_timeout_ms)}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy
    except sqlean.OperationalError as exc:
        log.warning("privacy: could not compact the database: %s", exc)
        return False
    finally:
        conn.close()
