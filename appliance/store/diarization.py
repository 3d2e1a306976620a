"""Speaker turns of recorded calls: the diarization job's state and its results.

A recording is named by its base name (``<YYYYmmdd-HHMMSS>-<session>``, as
``channels/sip/recording.py`` writes it). Each write runs on the store's writer thread
(:meth:`Database.write`); the result replaces earlier turns of the same recording in one
transaction. Privacy export, erasure and retention read and delete through here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from appliance.store.models import Diarization, SpeakerTurnRow
from appliance.store.repos import to_db_time

# (speaker, start_s, end_s, transcript turn or None)
TurnTuple = tuple[str, float, float, int | None]


def _in(values: Iterable[str], prefix: str) -> tuple[str, dict[str, Any]]:
    vals = list(dict.fromkeys(values))
    if not vals:
        return "(NULL)", {}
    names = {f"{prefix}{i}": v for i, v in enumerate(vals)}
    return "(" + ", ".join(f":{k}" for k in names) + ")", names


def set_status(
    s: Session, recording: str, *, tenant_id: str, session_id: str, status: str, now: dt.datetime,
    error: str | None = None, model: str = "",
) -> None:  # fmt: skip
    row = s.get(Diarization, recording)
    if row is None:
        row = Diarization(recording=recording, tenant_id=tenant_id, session_id=session_id, status=status,
                          created_at=to_db_time(now), model=model)  # fmt: skip
    row.status = status
    row.error = error
    if model:
        row.model = model
    if status in ("done", "failed"):
        row.finished_at = to_db_time(now)
    s.add(row)


def save_turns(
    s: Session, recording: str, *, tenant_id: str, session_id: str, turns: Sequence[TurnTuple], model: str,
    now: dt.datetime,
) -> None:  # fmt: skip
    """Store a finished diarization (replacing any earlier result of the recording)."""
    s.execute(text("DELETE FROM speaker_turns WHERE recording = :r"), {"r": recording})
    set_status(s, recording, tenant_id=tenant_id, session_id=session_id, status="done", now=now, model=model)
    row = s.get(Diarization, recording)
    assert row is not None
    row.speakers = len({t[0] for t in turns})
    s.flush()
    for seq, (speaker, start, end, turn) in enumerate(turns):
        s.add(SpeakerTurnRow(recording=recording, session_id=session_id, seq=seq, speaker=speaker,
                             start_s=start, end_s=end, transcript_turn=turn))  # fmt: skip


def for_sessions(s: Session, session_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Each diarization of these sessions with its turns, oldest first (plain dicts, for the API/export)."""
    sess_in, params = _in(session_ids, "s")
    out: list[dict[str, Any]] = []
    rows = s.execute(
        text(f"SELECT * FROM diarizations WHERE session_id IN {sess_in} ORDER BY created_at, recording"), params
    ).mappings()
    for r in rows:
        item = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        item["turns"] = [
            dict(t) for t in s.execute(
                text("SELECT seq, speaker, start_s, end_s, transcript_turn FROM speaker_turns "
                     "WHERE recording = :r ORDER BY seq"), {"r": r["recording"]},
            ).mappings()
        ]  # fmt: skip
        out.append(item)
    return out


def delete_for_sessions(s: Session, session_ids: Iterable[str]) -> int:
    """Erase the speaker turns (and job rows) of these sessions; returns the turns removed."""
    sess_in, params = _in(session_ids, "s")
    n = s.execute(text(f"DELETE FROM speaker_turns WHERE session_id IN {sess_in}"), params).rowcount or 0  # type: ignore[attr-defined]
    s.execute(text(f"DELETE FROM diarizations WHERE session_id IN {sess_in}"), params)
    return int(n)


def delete_for_recordings(s: Session, recordings: Iterable[str]) -> int:
    rec_in, params = _in(recordings, "r")
    n = s.execute(text(f"DELETE FROM speaker_turns WHERE recording IN {rec_in}"), params).rowcount or 0  # type: ignore[attr-defined]
    s.execute(text(f"DELETE FROM diarizations WHERE recording IN {rec_in}"), params)
    return int(n)


def unfinished(s: Session, tenant_id: str) -> list[tuple[str, str]]:
    """(recording, session) of jobs a stop cut short (pending or running), oldest first."""
    rows = s.execute(
        text("SELECT recording, session_id FROM diarizations WHERE tenant_id = :t AND status IN ('pending', 'running') "
             "ORDER BY created_at"), {"t": tenant_id},
    )  # fmt: skip
    return [(r[0], r[1]) for r in rows]


def recordings_known(s: Session, tenant_id: str) -> list[str]:
    return [r[0] for r in s.execute(text("SELECT recording FROM diarizations WHERE tenant_id = :t"), {"t": tenant_id})]
