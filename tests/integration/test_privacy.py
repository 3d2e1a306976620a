"""Export then erase a caller (issue 12): real SQLite file, real recordings, the daemon's log file,
through the ``appliance privacy`` CLI. Afterwards nothing about the caller is left anywhere in the
data directory (database bytes with its WAL, recordings, logs), the receipt verifies, the other
caller's data is untouched and ``db check`` passes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main
from appliance.privacy import receipts
from appliance.privacy.find import optout_key
from appliance.store.db import Database
from appliance.store.outbox import OutboxStatus
from tests.support.privacy_scenario import JAAN, MARI, Caller, World, build, grep_tree, make_config

NEEDLES_MARI = [MARI.e164, MARI.phone, MARI.national, "5123 4567", MARI.name, "Tamm", MARI.sentence, "allergic to salmon",
                "Rexy", "Rexo", MARI.texted, "37251234567"]  # fmt: skip


@pytest.fixture(scope="module", name="world")
def world_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("privacy-world")
    build(root)
    return root


@pytest.fixture(name="root")
def root_fixture(world: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "box"
    shutil.copytree(world, dest)
    cfg = (dest / "appliance.toml").read_text().replace(str(world), str(dest))
    (dest / "appliance.toml").write_text(cfg)
    return dest


def cli(root: Path, *args: str) -> tuple[int, Any]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main([*args, "--config", str(root / "appliance.toml"), "--json"])
    text = out.getvalue()
    return rc, (json.loads(text) if text.strip() else None)


def rows(root: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    c = sqlite3.connect(f"file:{root / 'data' / 'appliance.db'}?mode=ro", uri=True)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def snapshot(root: Path, c: Caller) -> dict[str, Any]:
    """Everything about ``c`` in the database and the recordings folder."""
    return {
        "bookings": rows(root, "SELECT * FROM bookings WHERE owner_phone = ? ORDER BY id", c.e164),
        "customers": rows(root, "SELECT * FROM customers WHERE phone = ?", c.e164),
        "tickets": rows(root, "SELECT * FROM callback_tickets WHERE phone = ?", c.e164),
        "turns": rows(root, "SELECT * FROM turns WHERE session_id LIKE ? ORDER BY id", f"%{c.tag}%"),
        "sessions": rows(root, "SELECT * FROM conversation_sessions WHERE id LIKE ?", f"%{c.tag}%"),
        "recordings": {p.name: p.read_bytes() for p in (root / "data" / "recordings").glob(f"*{c.tag}*")},
    }


def test_logs_of_the_chats_and_call_hold_no_personal_data(root: Path) -> None:
    log = (root / "data" / "logs" / "appliance.log").read_text()
    assert "SIP call sip-mari00000000 from [phone#" in log  # the line is there, its number hashed
    for c in (MARI, JAAN):
        for needle in (c.e164, c.phone, c.national, c.name, c.sentence):
            assert needle not in log


def test_export_then_erase_leaves_nothing(root: Path, tmp_path: Path) -> None:
    jaan_before = snapshot(root, JAAN)
    assert len(jaan_before["bookings"]) == 3 and jaan_before["tickets"] and len(jaan_before["recordings"]) == 3

    with (root / "data" / "logs" / "appliance.log").open("a") as fh:  # a DEBUG line, as on a developer's box
        fh.write(f"2026-12-01 10:00:00,000 DEBUG appliance.test: caller {MARI.e164} said hello\n")
    rc, found = cli(root, "privacy", "find", "--phone", "5123 4567")
    assert rc == 0 and found["log_lines"] == 1
    assert found["bookings"] == 3 and found["callback_tickets"] == 1 and found["recordings"] == 1
    assert found["sessions"] == 7  # four chats, the one where only the number was typed, the call, the texts
    # her text and STOP; the reply, the confirmation, the pending reminder and the STOP receipt
    assert found["sms_received"] == 2 and found["sms_sent"] == 4 and found["sms_optouts"] == 1
    jaan_sms = rows(root, "SELECT recipient, text, status FROM outbox WHERE recipient = ? ORDER BY id", JAAN.e164)
    assert len(jaan_sms) == 3 and rows(root, "SELECT count(*) FROM sms_inbound WHERE sender = ?", JAAN.e164) == [(1,)]

    archive = tmp_path / "export.zip"
    rc, out = cli(root, "privacy", "export", "--phone", MARI.phone, "--out", str(archive), "--language", "et")
    assert rc == 0
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        data = json.loads(z.read("data.json"))
        summary = z.read("summary.txt").decode()
    assert {n for n in names if n.startswith("recordings/")} == {
        f"recordings/{n}" for n in snapshot(root, MARI)["recordings"]
    }
    assert sorted(b["status"] for b in data["bookings"]) == ["cancelled", "confirmed", "confirmed"]
    assert data["customers"][0]["name"] == MARI.name
    said = [t["text"] for c in data["conversations"] for t in c["turns"]]
    assert MARI.sentence in said and "5123 4567" in said
    assert data["callback_tickets"][0]["phone"] == MARI.e164
    assert [ln for lines in data["log_lines"].values() for ln in lines] == [
        f"2026-12-01 10:00:00,000 DEBUG appliance.test: caller {MARI.e164} said hello"
    ]
    assert "Broneering" in summary and "tühistatud" in summary and MARI.e164 in summary
    assert [m["text"] for m in data["sms_received"]] == [MARI.texted, "STOP"] and data["sms_opted_out"] is True
    sent = {m["kind"]: m for m in data["sms_sent"]}
    assert set(sent) == {"reply", "confirmation", "reminder", "notice"} and sent["reminder"]["status"] == "pending"
    assert "Rex" in sent["confirmation"]["text"] and sent["confirmation"]["recipient"] == MARI.e164
    assert "teile saadetud sõnumid: 4" in summary
    audit = rows(root, "SELECT actor, details FROM audit_log WHERE action = 'privacy.export'")
    assert len(audit) == 1 and MARI.e164 not in audit[0][1]  # the disclosure is on record, without the number

    rc, receipt = cli(root, "privacy", "erase", "--phone", MARI.phone, "--reason", "caller asked by phone",
                      "--by", "anna")  # fmt: skip
    assert rc == 0
    assert receipt["counts"]["bookings_anonymised"] == 3 and receipt["counts"]["recording_files"] == 3
    assert receipt["by"] == "anna" and receipt["subject"] == receipts.subject_hash(make_config(root), MARI.e164)
    assert MARI.e164 not in json.dumps(receipt)

    hits = grep_tree(root / "data", NEEDLES_MARI)
    assert hits == []
    # kept for the books, anonymised; the other caller's data is exactly as it was
    assert rows(root, "SELECT owner_name, owner_phone, pet_name, status FROM bookings WHERE id IN (?, ?, ?) ORDER BY status",
                *data_ids(data)) == [("[erased]", "+0", "[erased]", "cancelled")] + [("[erased]", "+0", "[erased]", "confirmed")] * 2  # fmt: skip
    assert snapshot(root, JAAN) == jaan_before
    assert (
        rows(root, "SELECT recipient, text, status FROM outbox WHERE recipient = ? ORDER BY id", JAAN.e164) == jaan_sms
    )
    rc, found = cli(root, "privacy", "find", "--phone", MARI.phone)
    assert not any(found.values())
    # her STOP outlives her number: kept as its salted hash, so she is never texted again
    optouts = rows(root, "SELECT phone, keyword FROM sms_optouts")
    assert optouts == [(optout_key(make_config(root), MARI.e164), "")] and optouts[0][0].startswith("hmac:")
    assert asyncio.run(texted_after_erasure(root)) == (OutboxStatus.SKIPPED, "opted_out")

    rc, verified = cli(root, "privacy", "receipts", "verify")
    assert rc == 0 and verified == {"ok": True, "receipts": 1, "problems": []}
    db = Database.from_config(make_config(root))
    try:
        report = db.check()
    finally:
        db.close()
    assert report.ok, report.problems
    assert main(["db", "check", "--config", str(root / "appliance.toml")]) == 0
    erased_at = rows(root, "SELECT at FROM audit_log WHERE action = 'privacy.erase'")[0][0]
    assert abs(dt.datetime.fromisoformat(erased_at).replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)) < dt.timedelta(
        minutes=5
    )


async def texted_after_erasure(root: Path) -> tuple[OutboxStatus, str | None]:
    """What the SMS channel does with a new text to the erased, opted-out number."""
    from appliance.channels.sms.service import SmsService
    from appliance.store.outbox import OutboxKind

    cfg = make_config(root)
    db = Database.from_config(cfg)
    try:
        service = SmsService(cfg, None, db, {})
        msg, _new = await service.enqueue("after", OutboxKind.REPLY, "kannel", MARI.e164, "hello again", "en")
        return msg.status, msg.last_error
    finally:
        db.close()


def data_ids(data: dict[str, Any]) -> list[str]:
    return [b["id"] for b in data["bookings"]]


def test_erase_by_booking_number_deletes_when_not_kept(root: Path) -> None:
    cfg = root / "appliance.toml"
    cfg.write_text(cfg.read_text() + "[tenant.privacy]\nkeep_bookings_for_accounting = false\n")
    number = rows(root, "SELECT id FROM bookings WHERE owner_phone = ? LIMIT 1", JAAN.e164)[0][0]
    mari_before = snapshot(root, MARI)
    rc, receipt = cli(root, "privacy", "erase", "--booking", number, "--reason", "written request", "--by", "jüri")
    assert rc == 0 and receipt["counts"]["bookings_deleted"] == 3
    assert rows(root, "SELECT count(*) FROM bookings WHERE owner_phone IN (?, '+0')", JAAN.e164) == [(0,)]
    assert grep_tree(root / "data", [JAAN.e164, JAAN.name, JAAN.sentence, "5555 1234"]) == []
    assert snapshot(root, MARI) == mari_before
    db = Database.from_config(make_config(root))
    try:
        assert db.check().ok
    finally:
        db.close()


def test_receipt_chain_detects_an_edit(root: Path) -> None:
    for c in (MARI, JAAN):
        assert cli(root, "privacy", "erase", "--phone", c.phone, "--reason", "asked", "--by", "anna")[0] == 0
    rc, listed = cli(root, "privacy", "receipts", "list")
    assert [r["seq"] for r in listed] == [1, 2] and listed[1]["prev"] == listed[0]["hash"]
    path = root / "data" / "privacy" / "receipts.jsonl"
    lines = path.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["by"] = "somebody else"
    path.write_text(json.dumps(edited) + "\n" + lines[1] + "\n")
    rc, verified = cli(root, "privacy", "receipts", "verify")
    assert rc == 4 and not verified["ok"] and "edited" in verified["problems"][0]
    path.write_text(lines[1] + "\n")  # the first one removed
    rc, verified = cli(root, "privacy", "receipts", "verify")
    assert rc == 4 and any("removed" in p for p in verified["problems"])


def test_an_erasure_survives_a_backup_restore(root: Path, tmp_path: Path) -> None:
    from appliance.ops import backup

    cfg = make_config(root)
    archive = backup.create(cfg, tmp_path / "before.tar.gz").path
    assert cli(root, "privacy", "erase", "--phone", MARI.phone, "--reason", "asked", "--by", "anna")[0] == 0
    backup.restore(cfg, archive)
    assert rows(root, "SELECT count(*) FROM customers WHERE phone = ?", MARI.e164) == [(1,)]  # back again
    jaan_before = snapshot(root, JAAN)
    rc, done = cli(root, "privacy", "reapply")  # the daemon does this at start
    assert rc == 0 and [r["reason"] for r in done] == ["re-applied after a restore"]
    assert rows(root, "SELECT count(*) FROM customers WHERE phone = ?", MARI.e164) == [(0,)]
    assert not list((root / "data" / "recordings").glob("*mari*"))
    assert snapshot(root, JAAN) == jaan_before
    assert cli(root, "privacy", "reapply")[1] == []  # nothing left to do
    # the caller comes back after the erasure: their new booking is theirs to keep
    w = World(make_config(root)).start(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    try:
        w.book(MARI, "web-mari-new", "Rex", "10th to the 12th")
    finally:
        w.close()
    assert cli(root, "privacy", "reapply")[1] == []
    assert rows(root, "SELECT count(*) FROM customers WHERE phone = ?", MARI.e164) == [(1,)]
    assert cli(root, "privacy", "receipts", "verify")[1]["ok"]


def test_another_tenants_records_of_the_same_number_are_left_alone(root: Path) -> None:
    """Every query is scoped by tenant: rows of tenant "other" with the same number stay."""
    db_path = root / "data" / "appliance.db"
    c = sqlite3.connect(db_path)
    t = "2026-12-01 08:00:00.000000"
    with c:
        c.execute("INSERT INTO tenants VALUES ('other', 'Other Hotel', 'Europe/Tallinn', 'EUR', ?, ?)", (t, t))
        c.execute("INSERT INTO customers (tenant_id, name, phone, created_at, updated_at) "
                  "VALUES ('other', ?, ?, ?, ?)", (MARI.name, MARI.e164, t, t))  # fmt: skip
        c.execute(
            "INSERT INTO conversation_sessions VALUES ('other-s1', 'other', 'web', 'en', '{}', ?, ?, NULL)", (t, t)
        )
        c.execute("INSERT INTO turns (session_id, seq, role, text, language, channel, created_at) "
                  "VALUES ('other-s1', 1, 'user', ?, 'en', 'web', ?)", (MARI.phone, t))  # fmt: skip
        c.execute("INSERT INTO callback_tickets (tenant_id, phone, name, reason, language, channel, status, created_at) "
                  "VALUES ('other', ?, ?, 'question', 'en', 'web', 'open', ?)", (MARI.e164, MARI.name, t))  # fmt: skip
    c.close()
    other = {
        "customers": rows(root, "SELECT * FROM customers WHERE tenant_id = 'other'"),
        "turns": rows(root, "SELECT * FROM turns WHERE session_id = 'other-s1'"),
        "tickets": rows(root, "SELECT * FROM callback_tickets WHERE tenant_id = 'other'"),
        "sms": rows(root, "SELECT * FROM sms_inbound WHERE tenant_id = 'other'"),
    }
    rc, found = cli(root, "privacy", "find", "--phone", MARI.phone)
    assert found["customers"] == 1 and found["callback_tickets"] == 1 and found["sessions"] == 7
    assert found["sms_received"] == 2
    assert cli(root, "privacy", "erase", "--phone", MARI.phone, "--reason", "asked", "--by", "anna")[0] == 0
    assert other == {
        "customers": rows(root, "SELECT * FROM customers WHERE tenant_id = 'other'"),
        "turns": rows(root, "SELECT * FROM turns WHERE session_id = 'other-s1'"),
        "tickets": rows(root, "SELECT * FROM callback_tickets WHERE tenant_id = 'other'"),
        "sms": rows(root, "SELECT * FROM sms_inbound WHERE tenant_id = 'other'"),
    }
