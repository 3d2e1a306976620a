"""Retention (issue 12): with the injected clock moved forward day by day, each kind of personal
data disappears on its own schedule and nothing else does."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

from appliance.privacy import retention
from appliance.privacy.job import PrivacyJob
from appliance.store.db import Database
from tests.support.privacy_scenario import NOW, build, make_config

SCHEDULE = {  # days; one kind more each day
    "timelines": 1,
    "recordings": 2,
    "turns": 3,
    "callback_tickets": 4,
    "sessions": 5,
    "logs": 6,
    "backups": 7,
    "sms": 8,
}
EXTRA = "[tenant.privacy.retention]\n" + "".join(f"{k}_days = {v}\n" for k, v in SCHEDULE.items())


def _count(db: Database, sql: str) -> int:
    from sqlalchemy import text

    return int(db.read(lambda s: s.execute(text(sql)).scalar()))


def held(db: Database, data: Path) -> dict[str, int]:
    return {
        "timelines": _count(db, "SELECT count(*) FROM turns WHERE timeline != '{}' OR total_ms IS NOT NULL"),
        "turns": _count(db, "SELECT count(*) FROM turns"),
        "sessions": _count(db, "SELECT count(*) FROM conversation_sessions"),
        "callback_tickets": _count(db, "SELECT count(*) FROM callback_tickets"),
        "recordings": len(list((data / "recordings").iterdir())),
        "logs": len(list((data / "logs").glob("appliance.log.*"))),
        "backups": len(list((data / "backups").glob("*.tar.gz"))),
        # texts received and settled texts sent (a pending reminder waits to be sent: counted apart)
        "sms": _count(db, "SELECT count(*) FROM sms_inbound")
        + _count(db, "SELECT count(*) FROM outbox WHERE status != 'pending'"),
        "sms_pending": _count(db, "SELECT count(*) FROM outbox WHERE status = 'pending'"),
        "bookings": _count(db, "SELECT count(*) FROM bookings"),
        "customers": _count(db, "SELECT count(*) FROM customers"),
        "audit": _count(db, "SELECT count(*) FROM audit_log"),
    }


def test_each_kind_goes_on_its_schedule_and_nothing_else(tmp_path: Path) -> None:
    build(tmp_path, EXTRA)
    cfg = make_config(tmp_path)
    data = cfg.data_path
    (data / "backups").mkdir()
    (data / "backups" / "2026-12-01.tar.gz").write_bytes(b"backup")
    (data / "logs" / "appliance.log.2026-11-30").write_text("old log\n")
    for p in [*(data / "recordings").iterdir(), *(data / "backups").iterdir(), *(data / "logs").iterdir()]:
        os.utime(p, (NOW.timestamp(), NOW.timestamp()))
    assert retention.days(cfg) == SCHEDULE
    db = Database.from_config(cfg)
    try:
        before = held(db, data)
        assert all(before[k] > 0 for k in SCHEDULE), before
        from appliance.privacy.checks import privacy_checks

        late = {n: st for _a, n, st, _d in privacy_checks(cfg, now=NOW + dt.timedelta(days=3))}
        assert late["retention timelines"] == "warn" and late["retention callback_tickets"] == "ok"  # doctor sees it
        at = [NOW + dt.timedelta(hours=12)]
        assert not any(retention.run(cfg, db, clock=lambda: at[0]).values())  # nothing is due yet
        assert held(db, data) == before
        gone: set[str] = set()
        for kind, d in sorted(SCHEDULE.items(), key=lambda kv: kv[1]):
            at[0] = NOW + dt.timedelta(days=d, hours=1)
            removed = retention.run(cfg, db, clock=lambda: at[0])
            gone.add(kind)
            now = held(db, data)
            assert now[kind] == 0, (kind, now)
            for other in SCHEDULE:
                if other not in gone:
                    assert now[other] == before[other], (kind, other, now)
            assert removed[kind] > 0, (kind, removed)
            for k in ("bookings", "customers", "audit", "sms_pending"):
                assert now[k] == before[k]  # business records are not on a schedule, nor unsent texts
        assert retention.oldest(cfg, db) == dict.fromkeys(SCHEDULE)

        rows = {name: (status, detail) for _a, name, status, detail in privacy_checks(cfg)}
        assert rows["retention turns"] == ("ok", "kept 3 days; nothing held")
        assert rows["erasure receipts"][0] == "ok" and rows["erasures"] == ("ok", "none pending")
    finally:
        db.close()


def test_the_daemon_job_runs_retention_and_finishes_pending_erasures(tmp_path: Path) -> None:
    build(tmp_path, "[tenant.privacy.retention]\nturns_days = 0\n")
    cfg = make_config(tmp_path)
    db = Database.from_config(cfg)

    async def go() -> dict[str, int]:
        job = await PrivacyJob(cfg, db, clock=lambda: NOW + dt.timedelta(minutes=1), interval_s=3600).start()
        for _ in range(1500):  # up to 30 s: its first pass runs at start
            if job.last:
                break
            await asyncio.sleep(0.02)
        await job.stop()
        return job.last

    try:
        last = asyncio.run(go())
        assert last["turns"] > 0 and held(db, cfg.data_path)["turns"] == 0
    finally:
        db.close()
