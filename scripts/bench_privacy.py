"""Find, export and erase one caller among many: how long it takes on a real SQLite file.

    .venv/bin/python scripts/bench_privacy.py --callers 2000 --turns 12

Fills a fresh data directory with ``--callers`` callers, each with a customer row, a pet, a
booking and a chat session of ``--turns`` turns (written with the store's own tables, one
transaction per 500 callers), then times ``find`` (which reads every user turn of the tenant
to catch a number said in passing), the export archive, and the erase (the transaction,
then WAL checkpoint + VACUUM). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from appliance.core.config import load_config  # noqa: E402
from appliance.privacy import erase, export  # noqa: E402
from appliance.privacy.find import find, subject_for_phone  # noqa: E402
from appliance.store.db import Database  # noqa: E402

NOW = "2026-12-01 08:00:00.000000"


def fill(db: Database, callers: int, turns: int) -> None:
    def batch(lo: int, hi: int) -> None:
        def w(s: object) -> None:
            ex = s.execute  # type: ignore[attr-defined]
            for i in range(lo, hi):
                phone, sid = f"+3725{i:07d}", f"web-bench-{i:07d}"
                ex(text("INSERT INTO customers (tenant_id, name, phone, created_at, updated_at) "
                        "VALUES ('demo', :n, :p, :t, :t)"), {"n": f"Caller {i}", "p": phone, "t": NOW})  # fmt: skip
                cid = ex(text("SELECT last_insert_rowid()")).scalar()
                ex(text("INSERT INTO pets (customer_id, name, pet_type, created_at) VALUES (:c, 'Rex', 'dog', :t)"),
                   {"c": cid, "t": NOW})  # fmt: skip
                pid = ex(text("SELECT last_insert_rowid()")).scalar()
                ex(text("INSERT INTO bookings (id, tenant_id, resource_id, customer_id, pet_id, pet_name, pet_type, "
                        "start_date, end_date, nights, owner_name, owner_phone, status, total_minor, currency, "
                        "channel, session_id, created_at, updated_at) VALUES (:id, 'demo', 'dog-room', :c, :p, "
                        "'Rex', 'dog', '2027-01-10', '2027-01-12', 2, :n, :ph, 'cancelled', 7500, 'EUR', 'web', "
                        ":s, :t, :t)"),
                   {"id": f"{100000 + i}", "c": cid, "p": pid, "n": f"Caller {i}", "ph": phone, "s": sid, "t": NOW})  # fmt: skip
                ex(text("INSERT INTO audit_log (at, actor, action, entity, entity_id, details) "
                        "VALUES (:t, 'system', 'booking.create', 'booking', :id, '{}')"), {"t": NOW, "id": f"{100000 + i}"})  # fmt: skip
                ex(text("INSERT INTO conversation_sessions (id, tenant_id, channel, language, state, created_at, "
                        "updated_at) VALUES (:s, 'demo', 'web', 'en', '{}', :t, :t)"), {"s": sid, "t": NOW})  # fmt: skip
                for k in range(turns):
                    said = f"my number is {phone}" if k == 2 else f"turn {k} about a room for Rex next weekend"
                    ex(text("INSERT INTO turns (session_id, seq, role, text, language, channel, created_at) "
                            "VALUES (:s, :q, :r, :x, 'en', 'web', :t)"),
                       {"s": sid, "q": k + 1, "r": "user" if k % 2 == 0 else "assistant", "x": said, "t": NOW})  # fmt: skip

        db.write(w)

    for lo in range(0, callers, 500):
        batch(lo, min(callers, lo + 500))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--callers", type=int, default=2000)
    ap.add_argument("--turns", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(environ={}, use_system=False, overrides={"store": {"data_dir": tmp}})
        db = Database.from_config(cfg)
        try:
            from appliance.booking.local import LocalBackend

            LocalBackend(db, cfg).sync_resources()
            fill(db, args.callers, args.turns)
            subject = subject_for_phone(cfg, f"+3725{args.callers // 2:07d}")
            t0 = time.perf_counter()
            found = db.read(lambda s: find(cfg, s, subject))
            t1 = time.perf_counter()
            export.write_archive(cfg, found, Path(tmp) / "export.zip")
            t2 = time.perf_counter()
            receipt = erase.erase(cfg, db, subject, reason="benchmark", by="bench")
            t3 = time.perf_counter()
            size = cfg.db_path.stat().st_size
        finally:
            db.close()
    print(json.dumps({
        "callers": args.callers, "turns": args.callers * args.turns, "db_mb": round(size / 2**20, 1),
        "found": found.counts(), "find_ms": round((t1 - t0) * 1000, 1), "export_ms": round((t2 - t1) * 1000, 1),
        "erase_ms": round((t3 - t2) * 1000, 1), "receipt": receipt["seq"],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
