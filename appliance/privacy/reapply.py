"""Erasures survive a backup restore: erase again what a restore brought back.

A ``backup restore`` brings back the database and recordings as they were when the archive was
made, including callers erased since. The receipts (``<data_dir>/privacy``, which a restore does
not touch) keep a salted hash of each erased number and when it was erased, so at the next start
the daemon (and ``appliance privacy reapply``) hashes every number the data holds in a field
(customers, booking owners, callback tickets, recorded calls' caller IDs) and erases it again when
it has a receipt and a record of it is older than that receipt: a restored one. A caller who came
back after the erasure (all their records newer) is left alone. A number that was only ever said
in a conversation is in no field: such a conversation comes back with the restore until its
retention runs out (docs/PRIVACY.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.errors import ValidationError
from appliance.privacy import receipts
from appliance.privacy.erase import erase
from appliance.privacy.find import ANON_PHONE, scan_recordings, subject_for_phone
from appliance.store.db import Database

log = logging.getLogger("appliance.privacy")
REASON = "re-applied after a restore"


def _aware(value: Any) -> dt.datetime:
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # the store keeps UTC without an offset


def _numbers(config: Config, s: Session) -> dict[str, dt.datetime]:
    """Every number held in a field -> when its oldest record was made."""
    found: dict[str, dt.datetime] = {}
    for sql in (
        "SELECT phone, min(created_at) FROM customers WHERE tenant_id = :t GROUP BY phone",
        "SELECT owner_phone, min(created_at) FROM bookings WHERE tenant_id = :t GROUP BY owner_phone",
        "SELECT phone, min(created_at) FROM callback_tickets WHERE tenant_id = :t AND phone IS NOT NULL GROUP BY phone",
    ):
        for number, at in s.execute(text(sql), {"t": config.tenant.id}):
            found[str(number)] = min(found.get(str(number), _aware(at)), _aware(at))
    return found


def reapply(config: Config, db: Database, clock: Clock = system_clock) -> list[dict[str, Any]]:
    """Erase again whatever a restore brought back; return the new receipts."""
    erased: dict[str, dt.datetime] = {}
    for r in receipts.load(config):
        if r.get("tenant_id") == config.tenant.id and r.get("subject"):
            at = _aware(r["at"])
            erased[r["subject"]] = max(erased.get(r["subject"], at), at)
    if not erased:
        return []
    held = db.read(lambda s: _numbers(config, s))
    for rec in scan_recordings(config):
        if rec.data.get("caller_id") and rec.data.get("started_at"):
            at = dt.datetime.fromtimestamp(float(rec.data["started_at"]), dt.UTC)
            number = str(rec.data["caller_id"])
            held[number] = min(held.get(number, at), at)
    subjects = {}
    for number, oldest in sorted(held.items()):
        if number in ("", ANON_PHONE):
            continue
        try:
            subject = subject_for_phone(config, number.removeprefix("sip:").split("@")[0])
        except ValidationError:
            continue
        when = erased.get(receipts.subject_hash(config, subject.phone))
        if when is not None and oldest <= when:
            subjects[subject.phone] = subject
    done = []
    for subject in subjects.values():
        log.warning("privacy: a restore brought back an erased caller; erasing again")
        done.append(erase(config, db, subject, reason=REASON, by="privacy", clock=clock))
    return done
