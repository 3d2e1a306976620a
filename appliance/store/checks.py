"""Domain checks for :meth:`appliance.store.db.Database.check` (read-only SQL + Python)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

_REQUIRED = ("tenant_id", "resource_id", "pet_name", "pet_type", "owner_name", "owner_phone", "currency", "channel")
_TABLES = (
    "tenants",
    "customers",
    "pets",
    "resources",
    "bookings",
    "idempotency_keys",
    "conversation_sessions",
    "turns",
    "callback_tickets",
    "audit_log",
)


def table_counts(conn: Any) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in _TABLES}


def domain_problems(conn: Any, *, limit: int = 50) -> tuple[str, ...]:
    """Booking rows that break the invariants the domain guarantees.

    - every required field present and non-empty, status known, phone in E.164;
    - ``end > start`` and ``nights`` consistent;
    - every booking has its ``booking.create`` audit row (written in the same transaction);
    - no resource holds more live (held/confirmed) bookings than its capacity on any night.
    """
    problems: list[str] = []
    cols = ", ".join(_REQUIRED)
    rows = conn.execute(
        f"SELECT id, start_date, end_date, nights, status, total_minor, {cols} FROM bookings ORDER BY id"
    ).fetchall()
    for row in rows:
        bid, start_s, end_s, nights, status, total = row[:6]
        for name, value in zip(_REQUIRED, row[6:], strict=True):
            if value is None or str(value).strip() == "":
                problems.append(f"booking {bid}: missing {name}")
        if status not in ("held", "confirmed", "cancelled"):
            problems.append(f"booking {bid}: unknown status {status!r}")
        if total is None or total < 0:
            problems.append(f"booking {bid}: bad total {total!r}")
        try:
            start, end = dt.date.fromisoformat(start_s), dt.date.fromisoformat(end_s)
        except (TypeError, ValueError):
            problems.append(f"booking {bid}: bad dates {start_s!r}..{end_s!r}")
            continue
        if end <= start:
            problems.append(f"booking {bid}: end {end} is not after start {start}")
        elif nights != (end - start).days:
            problems.append(f"booking {bid}: nights {nights} != {(end - start).days}")
    for (bid,) in conn.execute(
        "SELECT b.id FROM bookings b WHERE NOT EXISTS (SELECT 1 FROM audit_log a "
        "WHERE a.entity = 'booking' AND a.entity_id = b.id AND a.action = 'booking.create') ORDER BY b.id"
    ):
        problems.append(f"booking {bid}: no booking.create audit row")
    problems.extend(capacity_problems(conn))
    if len(problems) > limit:
        problems = [*problems[:limit], f"... and {len(problems) - limit} more"]
    return tuple(problems)


def capacity_problems(conn: Any) -> list[str]:
    capacity = {rid: cap for rid, cap in conn.execute("SELECT id, capacity FROM resources")}
    used: Counter[tuple[str, dt.date]] = Counter()
    for rid, start_s, end_s in conn.execute(
        "SELECT resource_id, start_date, end_date FROM bookings WHERE status IN ('held', 'confirmed')"
    ):
        try:
            start, end = dt.date.fromisoformat(start_s), dt.date.fromisoformat(end_s)
        except (TypeError, ValueError):
            continue
        for i in range(max(0, (end - start).days)):
            used[(rid, start + dt.timedelta(days=i))] += 1
    out = []
    for (rid, night), n in sorted(used.items()):
        if n > capacity.get(rid, 0):
            out.append(f"resource {rid}: {n} bookings on the night of {night}, capacity {capacity.get(rid, 0)}")
    return out
