"""Find every record about one caller: the query layer export, erase and the staff API share.

A caller is a phone number (normalised to E.164 with the tenant's ``phone_region``, the same
:func:`appliance.booking.rules.normalise_phone` the booking tools use) or a booking number (which
stands for its owner's phone). Every query is scoped by ``tenant_id``.

What is looked at, and how a record is tied to the caller:

- ``customers`` (phone), their ``pets``, ``bookings`` (owner phone or customer), the
  ``idempotency_keys`` of those bookings;
- ``callback_tickets`` (phone, or the session they were taken in);
- ``conversation_sessions`` and all their ``turns`` (transcripts and timelines): sessions a
  booking or ticket was made in, sessions of a recorded call from the number, sessions whose
  dialogue state holds the number, and sessions with a turn in which the number was said or
  typed (in any spacing: ``+372 5123 4567``, ``5123-4567``) even when nothing else happened;
- ``audit_log`` rows about those bookings, tickets and sessions (their details may quote names);
- ``diarizations`` and their ``speaker_turns`` (who spoke when in a recorded call) of those sessions;
- call recordings in ``<data_dir>/recordings`` (``channels/sip/recording.py``: two WAVs and a
  JSON call record with the caller ID and the transcript) from the number or of those sessions;
- texts: ``sms_inbound`` rows from the number (or in its sessions) and ``outbox`` rows to it, about
  its bookings or in its sessions; the number's SMS conversations (``sms-<digits>-...``) and
  its ``sms_optouts`` row (an erasure keeps only a salted hash of it: :func:`optout_key`);
- lines of the log files (``logging.file`` and its rotations) that hold the number or a name.

The knowledge base holds nothing personal: it is built only from the business's own documents
(``knowledge.dir``), never from conversations, so it is not searched. In-memory caches of a
running daemon (the recent-events list) are cleared by the API's erase route.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from appliance.booking import rules
from appliance.booking.numbers import normalise_booking_number
from appliance.core.config import Config
from appliance.core.errors import NotFound, ValidationError
from appliance.core.logs import log_file
from appliance.privacy import receipts
from appliance.store import diarization

ERASED = "[erased]"  # what an anonymised booking holds instead of names
ANON_PHONE = "+0"  # ... and instead of the owner's number (bookings.owner_phone must start with "+")
_SEVEN_DIGITS = "*" + "[0-9]*" * 7  # GLOB: at least seven digits anywhere (no number is shorter)
_DIGIT_RUN = re.compile(r"\+?\d[\d\s\-.()/]*\d")


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a request is about."""

    tenant_id: str
    phone: str  # E.164
    national: str  # the national significant number, digits only (what a caller says)
    booking: str | None = None  # the booking number the request named, if it named one


def subject_for_phone(config: Config, phone: str) -> Subject:
    import phonenumbers

    e164 = rules.normalise_phone(phone, config.tenant.phone_region)
    national = str(phonenumbers.parse(e164).national_number)
    return Subject(config.tenant.id, e164, national)


def subject_for_booking(config: Config, s: Session, booking: str) -> Subject:
    number = normalise_booking_number(booking)
    if not number:
        raise ValidationError("booking number is empty", field="booking")
    row = s.execute(
        text("SELECT owner_phone FROM bookings WHERE tenant_id = :t AND id = :id"),
        {"t": config.tenant.id, "id": number},
    ).first()
    if row is None or row[0] == ANON_PHONE:
        raise NotFound(f"no booking {number}" if row is None else f"booking {number} belongs to an erased caller")
    base = subject_for_phone(config, row[0])
    return Subject(base.tenant_id, base.phone, base.national, number)


def mentions(subject: Subject, value: str | None) -> bool:
    """True when ``value`` holds the number in any usual spacing (national or international)."""
    if not value:
        return False
    for run in _DIGIT_RUN.findall(value):
        if subject.national in re.sub(r"\D", "", run):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorded call: its JSON record and audio files."""

    session_id: str
    record: Path  # the JSON call record
    files: tuple[Path, ...]  # every file of the call (the JSON and the WAVs that exist)
    data: dict[str, Any]


@dataclass(slots=True)
class Findings:
    subject: Subject
    customers: list[dict[str, Any]] = field(default_factory=list)
    pets: list[dict[str, Any]] = field(default_factory=list)
    bookings: list[dict[str, Any]] = field(default_factory=list)
    idempotency_keys: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    callback_tickets: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    sms_received: list[dict[str, Any]] = field(default_factory=list)  # sms_inbound rows
    sms_sent: list[dict[str, Any]] = field(default_factory=list)  # outbox rows (sent, pending, failed...)
    sms_optout: list[dict[str, Any]] = field(default_factory=list)  # the number's sms_optouts row, if any
    log_lines: dict[str, list[str]] = field(default_factory=dict)  # log file -> its lines about the caller
    diarizations: list[dict[str, Any]] = field(default_factory=list)  # speaker turns of the recorded calls

    @property
    def names(self) -> list[str]:
        """Names the caller gave (customer, booking owner, ticket), longest first."""
        found = {c["name"] for c in self.customers} | {b["owner_name"] for b in self.bookings}
        found |= {t["name"] for t in self.callback_tickets if t.get("name")}
        return sorted((n for n in found if n and n.strip()), key=len, reverse=True)

    @property
    def session_ids(self) -> list[str]:
        return [s["id"] for s in self.sessions]

    @property
    def files(self) -> list[Path]:
        return [p for r in self.recordings for p in r.files]

    def counts(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "pets": len(self.pets),
            "bookings": len(self.bookings),
            "sessions": len(self.sessions),
            "turns": len(self.turns),
            "callback_tickets": len(self.callback_tickets),
            "audit_entries": len(self.audit),
            "recordings": len(self.recordings),
            "recording_files": len(self.files),
            "speaker_turns": sum(len(d["turns"]) for d in self.diarizations),
            "sms_received": len(self.sms_received),
            "sms_sent": len(self.sms_sent),
            "sms_optouts": len(self.sms_optout),
            "log_lines": sum(len(v) for v in self.log_lines.values()),
        }

    @property
    def empty(self) -> bool:
        return not any(self.counts().values())

    def to_dict(self) -> dict[str, Any]:
        """Everything found, for the export archive (recordings by file name)."""
        return {
            "phone": self.subject.phone,
            "tenant": self.subject.tenant_id,
            "customers": self.customers,
            "pets": self.pets,
            "bookings": self.bookings,
            "conversations": [
                {**s, "turns": [t for t in self.turns if t["session_id"] == s["id"]]} for s in self.sessions
            ],
            "callback_tickets": self.callback_tickets,
            "audit_log": self.audit,
            "recordings": [
                {"session_id": r.session_id, "files": [p.name for p in r.files], "call_record": r.data}
                for r in self.recordings
            ],
            "diarizations": self.diarizations,
            "sms_received": self.sms_received,
            "sms_sent": self.sms_sent,
            "sms_opted_out": bool(self.sms_optout),
            "log_lines": self.log_lines,
        }


OPTOUT_PREFIX = "hmac:"  # an sms_optouts key that is a salted hash, not a number


def optout_key(config: Config, phone_e164: str, *, create: bool = False) -> str | None:
    """The key an erased caller's opt-out is kept under: the salted hash of the number (the receipts'
    salt), so the number is never texted again though it is no longer stored. None before the
    install has a salt (no erasure yet: no hashed opt-out can exist) unless ``create``."""
    if not create and not (receipts.privacy_dir(config) / "salt").exists():
        return None
    return OPTOUT_PREFIX + receipts.subject_hash(config, phone_e164)


def sms_session_prefix(phone_e164: str) -> str:
    """The id prefix of a number's SMS conversations (``channels/sms/service.py``)."""
    return "sms-" + re.sub(r"[^0-9A-Za-z]+", "", phone_e164) + "-"


def _rows(s: Session, sql: str, **params: Any) -> list[dict[str, Any]]:
    out = []
    for row in s.execute(text(sql), params).mappings():
        out.append({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()})
    return out


def _in(values: Iterable[Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """An ``IN (...)`` list with bound parameters (an impossible one when empty)."""
    vals = list(dict.fromkeys(values))
    if not vals:
        return "(NULL)", {}
    names = {f"{prefix}{i}": v for i, v in enumerate(vals)}
    return "(" + ", ".join(f":{k}" for k in names) + ")", names


def recordings_dir(config: Config) -> Path:
    """Where ``channels/sip/service.py`` writes call recordings."""
    return config.data_path / "recordings"


def scan_recordings(config: Config) -> list[Recording]:
    """Every recorded call on disk (a JSON call record and its WAVs)."""
    out: list[Recording] = []
    directory = recordings_dir(config)
    if not directory.is_dir():
        return out
    for record in sorted(directory.glob("*.json")):
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        base = record.with_suffix("")
        files = tuple(
            p for p in (record, base.with_suffix(".caller.wav"), base.with_suffix(".appliance.wav")) if p.exists()
        )
        out.append(Recording(str(data.get("session_id") or ""), record, files, data))
    return out


def _recording_is_about(subject: Subject, config: Config, rec: Recording, sessions: set[str]) -> bool:
    if rec.session_id and rec.session_id in sessions:
        return True
    caller = str(rec.data.get("caller_id") or "")
    if mentions(subject, caller):
        return True
    transcript = rec.data.get("transcript") or []
    return any(mentions(subject, json.dumps(item, ensure_ascii=False)) for item in transcript)


def log_files(config: Config) -> list[Path]:
    path = log_file(config)
    if path is None or not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.glob(path.name + "*") if p.is_file())


def line_is_about(subject: Subject, names: list[str], line: str) -> bool:
    return subject.phone in line or mentions(subject, line) or any(n in line for n in names)


def find(config: Config, s: Session, subject: Subject, *, with_logs: bool = True) -> Findings:
    """Every record about ``subject`` (runs in one read snapshot ``s``)."""
    t = subject.tenant_id
    f = Findings(subject)
    f.customers = _rows(s, "SELECT * FROM customers WHERE tenant_id = :t AND phone = :p", t=t, p=subject.phone)
    cust_in, cust_p = _in((c["id"] for c in f.customers), "c")
    f.bookings = _rows(
        s,
        f"SELECT * FROM bookings WHERE tenant_id = :t AND (owner_phone = :p OR customer_id IN {cust_in}) ORDER BY created_at",
        t=t, p=subject.phone, **cust_p,
    )  # fmt: skip
    pet_ids = {b["pet_id"] for b in f.bookings}
    pets_in, pets_p = _in(pet_ids, "p")
    f.pets = _rows(s, f"SELECT * FROM pets WHERE customer_id IN {cust_in} OR id IN {pets_in}", **cust_p, **pets_p)
    book_in, book_p = _in((b["id"] for b in f.bookings), "b")
    f.idempotency_keys = _rows(s, f"SELECT * FROM idempotency_keys WHERE booking_id IN {book_in}", **book_p)
    tickets = _rows(s, "SELECT * FROM callback_tickets WHERE tenant_id = :t ORDER BY id", t=t)

    sessions: set[str] = {b["session_id"] for b in f.bookings if b.get("session_id")}
    sessions |= {tk["session_id"] for tk in tickets if tk.get("session_id") and mentions(subject, tk.get("phone"))}
    for row in s.execute(
        text("SELECT id, state FROM conversation_sessions WHERE tenant_id = :t"), {"t": t}
    ):  # the number in the dialogue state (slots)
        if mentions(subject, row[1]):
            sessions.add(row[0])
    for row in s.execute(
        text(
            "SELECT DISTINCT t.session_id, t.text FROM turns t JOIN conversation_sessions c ON c.id = t.session_id "
            "WHERE c.tenant_id = :t AND t.role = 'user' AND t.text GLOB :seven_digits"
        ),
        {"t": t, "seven_digits": _SEVEN_DIGITS},
    ):  # turns in which the number was said or typed (SQLite skips those without 7 digits)
        if mentions(subject, row[1]):
            sessions.add(row[0])
    sessions |= {
        r[0] for r in s.execute(
            text("SELECT id FROM conversation_sessions WHERE tenant_id = :t AND substr(id, 1, :n) = :pre"),
            {"t": t, "n": len(sms_session_prefix(subject.phone)), "pre": sms_session_prefix(subject.phone)},
        )
    }  # fmt: skip
    f.sms_received = [
        r for r in _rows(s, "SELECT * FROM sms_inbound WHERE tenant_id = :t ORDER BY id", t=t)
        if r["sender"] == subject.phone or mentions(subject, r["sender"])
    ]  # fmt: skip
    sessions |= {r["session_id"] for r in f.sms_received if r.get("session_id")}
    recordings = scan_recordings(config)
    f.recordings = [r for r in recordings if _recording_is_about(subject, config, r, sessions)]
    sessions |= {r.session_id for r in f.recordings if r.session_id}
    f.recordings = [r for r in recordings if _recording_is_about(subject, config, r, sessions)]

    f.callback_tickets = [
        tk for tk in tickets if mentions(subject, tk.get("phone")) or (tk.get("session_id") in sessions)
    ]
    sess_in, sess_p = _in(sessions, "s")
    f.sessions = _rows(
        s, f"SELECT * FROM conversation_sessions WHERE tenant_id = :t AND id IN {sess_in} ORDER BY created_at",
        t=t, **sess_p,
    )  # fmt: skip
    f.turns = _rows(s, f"SELECT * FROM turns WHERE session_id IN {sess_in} ORDER BY session_id, seq", **sess_p)
    f.diarizations = diarization.for_sessions(s, sessions)
    f.sms_received += [
        r for r in _rows(s, "SELECT * FROM sms_inbound WHERE tenant_id = :t ORDER BY id", t=t)
        if r.get("session_id") in sessions and r not in f.sms_received
    ]  # fmt: skip
    booking_ids = {b["id"] for b in f.bookings}
    f.sms_sent = [
        r for r in _rows(s, "SELECT * FROM outbox WHERE tenant_id = :t ORDER BY id", t=t)
        if mentions(subject, r["recipient"]) or r.get("booking_id") in booking_ids or r.get("session_id") in sessions
    ]  # fmt: skip
    f.sms_optout = _rows(s, "SELECT * FROM sms_optouts WHERE tenant_id = :t AND phone = :p", t=t, p=subject.phone)
    ids = [("booking", b["id"]) for b in f.bookings]
    ids += [("callback", str(tk["id"])) for tk in f.callback_tickets]
    ids += [("session", sid) for sid in sessions]
    audit: list[dict[str, Any]] = []
    for entity, entity_id in ids:
        audit += _rows(s, "SELECT * FROM audit_log WHERE entity = :e AND entity_id = :i", e=entity, i=entity_id)
    names = f.names
    for entry in _rows(s, "SELECT * FROM audit_log WHERE details != '{}'"):
        if entry not in audit and line_is_about(subject, names, str(entry["details"])):
            audit.append(entry)
    f.audit = sorted(audit, key=lambda r: int(r["id"]))
    if with_logs:
        for path in log_files(config):
            lines = _matching_lines(path, subject, names)
            if lines:
                f.log_lines[str(path)] = lines
    return f


def _matching_lines(path: Path, subject: Subject, names: list[str]) -> list[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in fh if line_is_about(subject, names, line)]
    except OSError:
        return []
