"""Erasures survive a backup restore: erase again every caller whose number has a receipt.

A ``backup restore`` brings back the database and recordings as they were when the archive was
made, including callers erased since. The receipts (``<data_dir>/privacy``, not part of the
archive's restore) keep a salted hash of each erased number, so at the next start the daemon
(and ``appliance privacy reapply``) hashes every number the restored data holds in a field
(customers, booking owners, callback tickets, recorded calls' caller IDs) and erases the ones
with a receipt again, each with a new receipt ("re-applied after a restore"). A number that was
only ever said in a conversation is not in any field: such a conversation comes back with the
restore until its retention runs out (docs/PRIVACY.md).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.errors import ValidationError
from appliance.privacy import receipts
from appliance.privacy.erase import ANON_PHONE, erase
from appliance.privacy.find import scan_recordings, subject_for_phone
from appliance.store.db import Database

log = logging.getLogger("appliance.privacy")
REASON = "re-applied after a restore"


def _numbers(config: Config, s: Session) -> set[str]:
    t = {"t": config.tenant.id}
    found: set[str] = set()
    for sql in (
        "SELECT phone FROM customers WHERE tenant_id = :t",
        "SELECT owner_phone FROM bookings WHERE tenant_id = :t",
        "SELECT phone FROM callback_tickets WHERE tenant_id = :t AND phone IS NOT NULL",
    ):
        found |= {str(r[0]) for r in s.execute(text(sql), t)}
    return found


def reapply(config: Config, db: Database, clock: Clock = system_clock) -> list[dict[str, Any]]:
    """Erase again whatever a restore brought back; return the new receipts."""
    erased = {r.get("subject") for r in receipts.load(config) if r.get("tenant_id") == config.tenant.id}
    if not erased:
        return []
    raw = db.read(lambda s: _numbers(config, s))
    raw |= {str(r.data.get("caller_id") or "") for r in scan_recordings(config)}
    done = []
    for number in sorted(raw - {"", ANON_PHONE}):
        try:
            subject = subject_for_phone(config, number)
        except ValidationError:
            continue
        if receipts.subject_hash(config, subject.phone) in erased:
            log.warning("privacy: a restore brought back an erased caller; erasing again")
            done.append(erase(config, db, subject, reason=REASON, by="privacy", clock=clock))
    return done
