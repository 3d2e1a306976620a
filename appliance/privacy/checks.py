"""``appliance doctor``'s privacy rows: retention per kind (and whether it is being enforced),
pending erasures and the receipts' hash chain. Each row is (area, name, status, detail)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from appliance.core.config import Config
from appliance.core.logs import log_file
from appliance.privacy import erase, receipts, retention

OK, WARN, FAIL = "ok", "warn", "fail"
CheckRow = tuple[str, str, str, str]


def _age_days(value: str | None, now: dt.datetime) -> float | None:
    if not value:
        return None
    at = dt.datetime.fromisoformat(value)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return (now - at).total_seconds() / 86400


def privacy_checks(cfg: Config, now: dt.datetime | None = None) -> list[CheckRow]:
    now = now or dt.datetime.now(dt.UTC)
    rows: list[CheckRow] = []
    oldest: dict[str, Any] = {}
    if cfg.db_path.exists():
        from appliance.store.db import Database

        db = Database.from_config(cfg)
        try:
            oldest = retention.oldest(cfg, db)
        finally:
            db.close()
    for kind, days in retention.days(cfg).items():
        age = _age_days(oldest.get(kind), now)
        late = age is not None and age > days + 1  # the hourly job should have removed it
        held = "nothing held" if age is None else f"oldest {age:.1f} days"
        detail = f"kept {days} days; {held}" + ("; is the daemon's retention job running?" if late else "")
        rows.append(("privacy", f"retention {kind}", WARN if late else OK, detail))
    path = log_file(cfg)
    rows.append(
        (
            "privacy",
            "log retention",
            OK,
            f"{path} rotated daily" if path else "stderr only: journald keeps it (MaxRetentionSec, docs/PRIVACY.md)",
        )
    )
    pending = erase.pending(cfg)
    rows.append(
        (
            "privacy",
            "erasures",
            WARN if pending else OK,
            f"{len(pending)} interrupted, finished at the next start" if pending else "none pending",
        )
    )
    v = receipts.verify(cfg)
    rows.append(
        ("privacy", "erasure receipts", OK if v.ok else FAIL, f"{v.receipts}, chain intact" if v.ok else v.problems[0])
    )
    return rows
