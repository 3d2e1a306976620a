"""Retention: every kind of personal data is removed when it is older than the tenant allows.

``tenant.privacy.retention`` sets days per kind (docs/PRIVACY.md). One run (:func:`run`, the
daemon's hourly job and ``appliance privacy retention``) removes, for the tenant only:

- ``timelines``: the per-turn latency timeline (JSON and stage columns) of older turns;
- ``turns``: older turns (what was said, both sides);
- ``sessions``: conversations not touched for longer, with all their turns;
- ``callback_tickets``: older tickets, open or done;
- ``sms``: texts received (``sms_inbound``) and texts sent, failed or skipped (``outbox``; a
  pending text stays until it is settled);
- ``recordings``: call audio and call records (by file time) in ``<data_dir>/recordings``, and
  the speaker turns of every recording no longer on disk (``store/diarization.py``);
- ``logs``: rotated files of ``logging.file``;
- ``backups``: ``*.tar.gz`` archives in ``<data_dir>/backups``.

Time comes from the injected clock, so a test moves it forward and watches each kind go.
Bookings and customers are business records, not on a schedule: an erasure removes them.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from appliance.core.clock import Clock, system_clock
from appliance.core.config import Config
from appliance.core.logs import log_file
from appliance.privacy.erase import compact
from appliance.privacy.find import recordings_dir
from appliance.store import diarization
from appliance.store.db import Database

log = logging.getLogger("appliance.privacy")
KINDS = ("timelines", "turns", "sessions", "callback_tickets", "sms", "recordings", "logs", "backups")
_DB_KINDS = ("timelines", "turns", "sessions", "callback_tickets", "sms")
_TENANT_TURNS = "session_id IN (SELECT id FROM conversation_sessions WHERE tenant_id = :t)"
_STAGES = ("speech_start", "speech_end", "stt_done", "first_output", "first_audio", "playback_end", "interrupted")


def days(config: Config) -> dict[str, int]:
    r = config.tenant.privacy.retention
    recordings = config.sip.recording_retention_days  # the SIP setting and the tenant's: the shorter wins
    if r.recordings_days is not None:
        recordings = min(recordings, r.recordings_days)
    return {
        "timelines": r.timelines_days,
        "turns": r.turns_days,
        "sessions": r.sessions_days,
        "callback_tickets": r.callback_tickets_days,
        "sms": r.sms_days,
        "recordings": recordings,
        "logs": r.logs_days,
        "backups": r.backups_days,
    }


def backups_dir(config: Config) -> Path:
    return config.data_path / "backups"


def _db_time(at: dt.datetime) -> str:
    """The stored form of a timestamp (UTC text without an offset), for comparisons in SQL."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _n(s: Session, sql: str, params: dict[str, Any]) -> int:
    """Run one statement; how many rows it changed."""
    return int(s.execute(text(sql), params).rowcount)  # type: ignore[attr-defined]


def _db_tx(s: Session, tenant_id: str, cut: dict[str, str]) -> dict[str, int]:
    t = tenant_id
    stages = " OR ".join(f"{c} IS NOT NULL" for c in (*_STAGES, "total_ms"))
    cleared = ", ".join(f"{c} = NULL" for c in (*_STAGES, "total_ms"))
    out = {
        "timelines": _n(
            s,
            f"UPDATE turns SET timeline = '{{}}', {cleared} "
            f"WHERE {_TENANT_TURNS} AND created_at < :c AND (timeline != '{{}}' OR {stages})",
            {"t": t, "c": cut["timelines"]},
        )
    }
    old_sessions = "SELECT id FROM conversation_sessions WHERE tenant_id = :t AND updated_at < :c"
    turns = _n(s, f"DELETE FROM turns WHERE session_id IN ({old_sessions})", {"t": t, "c": cut["sessions"]})
    out["sessions"] = _n(
        s, "DELETE FROM conversation_sessions WHERE tenant_id = :t AND updated_at < :c", {"t": t, "c": cut["sessions"]}
    )
    turns += _n(s, f"DELETE FROM turns WHERE {_TENANT_TURNS} AND created_at < :c", {"t": t, "c": cut["turns"]})
    out["turns"] = turns
    out["callback_tickets"] = _n(
        s,
        "DELETE FROM callback_tickets WHERE tenant_id = :t AND created_at < :c",
        {"t": t, "c": cut["callback_tickets"]},
    )
    sms = _n(s, "DELETE FROM sms_inbound WHERE tenant_id = :t AND received_at < :c", {"t": t, "c": cut["sms"]})
    out["sms"] = sms + _n(
        s,
        "DELETE FROM outbox WHERE tenant_id = :t AND status IN ('sent', 'failed', 'skipped') AND updated_at < :c",
        {"t": t, "c": cut["sms"]},
    )
    return out


def _old_files(paths: list[Path], cutoff: float) -> int:
    removed = 0
    for path in paths:
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError as exc:
            log.warning("retention: cannot remove %s: %s", path.name, exc.strerror)
    return removed


def _files(config: Config, kind: str) -> list[Path]:
    if kind == "recordings":
        d = recordings_dir(config)
        return [p for p in d.iterdir() if p.suffix in (".wav", ".json")] if d.is_dir() else []
    if kind == "logs":
        active = log_file(config)
        if active is None or not active.parent.is_dir():
            return []
        return [p for p in active.parent.glob(active.name + ".*")]  # rotated files only
    d = backups_dir(config)
    return sorted(d.glob("*.tar.gz")) if d.is_dir() else []


def _drop_orphan_speaker_turns(config: Config, db: Database) -> None:
    """Speaker turns live as long as their recording: once its files are gone, so are they."""
    d = recordings_dir(config)
    known = db.read(lambda s: diarization.recordings_known(s, config.tenant.id))
    gone = [r for r in known if not (d / f"{r}.json").exists() and not (d / f"{r}.caller.wav").exists()]
    if gone:
        n = db.write(lambda s: diarization.delete_for_recordings(s, gone))
        log.info("retention: removed the speaker turns (%d) of %d recordings no longer kept", n, len(gone))


def run(config: Config, db: Database, clock: Clock = system_clock) -> dict[str, int]:
    """One retention pass; returns how many of each kind were removed."""
    now = clock()
    keep = days(config)
    cut = {k: _db_time(now - dt.timedelta(days=d)) for k, d in keep.items()}
    removed = db.write(lambda s: _db_tx(s, config.tenant.id, cut))
    for kind in ("recordings", "logs", "backups"):
        removed[kind] = _old_files(_files(config, kind), (now - dt.timedelta(days=keep[kind])).timestamp())
    _drop_orphan_speaker_turns(config, db)
    if any(removed[k] for k in _DB_KINDS):
        compact(db)
    if any(removed.values()):
        log.info("retention: removed %s", {k: v for k, v in removed.items() if v})
    return removed


def run_all(config: Config, db: Database, clock: Clock = system_clock) -> dict[str, int]:
    """One pass for every tenant on the box (``[[tenants]]``), each by its own ``privacy.retention``;
    files (recordings, logs, backups) are shared, so the shortest of the tenants' days applies."""
    total: dict[str, int] = {}
    for tenant_id in config.tenant_ids:
        for kind, n in run(config.for_tenant(tenant_id), db, clock).items():
            total[kind] = total.get(kind, 0) + n
    return total


def oldest(config: Config, db: Database) -> dict[str, str | None]:
    """The oldest item of each kind still held (for ``appliance doctor``)."""

    def q(s: Session) -> dict[str, str | None]:
        p = {"t": config.tenant.id}
        one = lambda sql: s.execute(text(sql), p).scalar()  # noqa: E731
        return {
            "turns": one(f"SELECT min(created_at) FROM turns WHERE {_TENANT_TURNS}"),
            "timelines": one(
                f"SELECT min(created_at) FROM turns WHERE {_TENANT_TURNS} AND (timeline != '{{}}' OR total_ms IS NOT NULL)"
            ),
            "sessions": one("SELECT min(updated_at) FROM conversation_sessions WHERE tenant_id = :t"),
            "callback_tickets": one("SELECT min(created_at) FROM callback_tickets WHERE tenant_id = :t"),
            "sms": one("SELECT min(received_at) FROM sms_inbound WHERE tenant_id = :t"),
        }

    out: dict[str, str | None] = {k: (str(v) if v is not None else None) for k, v in db.read(q).items()}
    for kind in ("recordings", "logs", "backups"):
        times = [p.stat().st_mtime for p in _files(config, kind) if p.exists()]
        out[kind] = dt.datetime.fromtimestamp(min(times), dt.UTC).isoformat(timespec="seconds") if times else None
    return out
