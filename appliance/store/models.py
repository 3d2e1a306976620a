"""The sqlmodel tables of the appliance's SQLite store.

The tables live in their own SQLAlchemy registry (``StoreModel.metadata``) so
that the migrated schema can be compared with exactly these definitions
(``tests/integration/test_store_schema.py``). The schema itself is created by
the numbered SQL migrations in ``appliance/store/migrations``, never by
``metadata.create_all``: the SQL files carry the CHECK constraints, indexes and
the partial unique indexes the ORM does not need to know about.

Conventions: dates are ``DATE`` (ISO text ``YYYY-MM-DD``), timestamps are
aware UTC in Python (sqlmodel's ``UTCDateTime``; stored as UTC text without an
offset), money is integer minor units, JSON is stored as ``TEXT``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

STORE_REGISTRY = registry()


class StoreModel(SQLModel, registry=STORE_REGISTRY):
    """Base of every store table (separate metadata from other SQLModel users)."""


class SchemaMigration(StoreModel, table=True):
    __tablename__ = "schema_migrations"

    version: int = Field(primary_key=True)
    name: str
    applied_at: dt.datetime


class Tenant(StoreModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True)
    name: str
    timezone: str
    currency: str
    created_at: dt.datetime
    updated_at: dt.datetime


class Customer(StoreModel, table=True):
    __tablename__ = "customers"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id")
    name: str
    phone: str  # E.164; unique per tenant
    created_at: dt.datetime
    updated_at: dt.datetime


class Pet(StoreModel, table=True):
    __tablename__ = "pets"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id")
    name: str
    pet_type: str
    created_at: dt.datetime


class Resource(StoreModel, table=True):
    """A bookable kind of room, synced from the config at startup."""

    __tablename__ = "resources"

    id: str = Field(primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id")
    name: str  # JSON: {language: name}
    pet_types: str  # JSON list
    capacity: int
    sort_order: int
    active: bool
    updated_at: dt.datetime


class BookingRow(StoreModel, table=True):
    """One booking. Pet and owner fields are copied in so a row is self-contained."""

    __tablename__ = "bookings"

    id: str = Field(primary_key=True)  # the speakable booking number
    tenant_id: str = Field(foreign_key="tenants.id")
    resource_id: str = Field(foreign_key="resources.id")
    customer_id: int = Field(foreign_key="customers.id")
    pet_id: int = Field(foreign_key="pets.id")
    pet_name: str
    pet_type: str
    start_date: dt.date
    end_date: dt.date
    nights: int
    owner_name: str
    owner_phone: str
    status: str  # held / confirmed / cancelled
    total_minor: int
    currency: str
    channel: str
    session_id: str | None = None
    idempotency_key: str | None = Field(default=None, unique=True)
    request_hash: str | None = None
    notes: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime


class IdempotencyKey(StoreModel, table=True):
    """Keys of cancel/change calls (create keys live on ``bookings`` itself)."""

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True)
    operation: str  # cancel / change
    booking_id: str = Field(foreign_key="bookings.id")
    request_hash: str
    created_at: dt.datetime


class ConversationSession(StoreModel, table=True):
    __tablename__ = "conversation_sessions"

    id: str = Field(primary_key=True)
    tenant_id: str
    channel: str
    language: str
    state: str = "{}"  # JSON
    created_at: dt.datetime
    updated_at: dt.datetime
    ended_at: dt.datetime | None = None


class Turn(StoreModel, table=True):
    """One user or assistant turn, with its latency timeline."""

    __tablename__ = "turns"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="conversation_sessions.id")
    seq: int
    role: str  # user / assistant
    text: str
    language: str
    channel: str
    created_at: dt.datetime
    timeline: str = "{}"  # JSON {stage: seconds}
    speech_start: float | None = None
    speech_end: float | None = None
    stt_done: float | None = None
    first_output: float | None = None
    first_audio: float | None = None
    playback_end: float | None = None
    interrupted: float | None = None
    total_ms: float | None = None


class CallbackTicketRow(StoreModel, table=True):
    __tablename__ = "callback_tickets"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str
    phone: str | None = None
    name: str | None = None
    reason: str
    language: str
    session_id: str | None = None
    channel: str
    status: str  # open / done
    details: str = "{}"  # JSON
    created_at: dt.datetime
    done_at: dt.datetime | None = None


class AuditLog(StoreModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    details: str = "{}"  # JSON


TURN_STAGES: tuple[str, ...] = (
    "speech_start",
    "speech_end",
    "stt_done",
    "first_output",
    "first_audio",
    "playback_end",
    "interrupted",
)


class OutboxRow(StoreModel, table=True):
    """One text to send (a reply, a confirmation, a reminder...); see appliance/store/outbox.py."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str
    idempotency_key: str = Field(unique=True)
    kind: str  # reply / confirmation / reminder / approved / declined / notice
    transport: str  # kannel / sip
    recipient: str  # E.164 number or SIP URI
    text: str
    language: str
    encoding: str  # gsm7 / ucs2
    segments: int
    booking_id: str | None = None
    session_id: str | None = None
    status: str  # pending / sending / sent / failed / skipped
    attempts: int = 0
    not_before: dt.datetime
    last_error: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None = None


class SmsInboundRow(StoreModel, table=True):
    """Every text received, whatever came of it (answered, rate limited, unreadable...)."""

    __tablename__ = "sms_inbound"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str
    transport: str
    sender: str
    message_id: str | None = Field(default=None, unique=True)
    text: str
    raw_hex: str | None = None
    status: str
    session_id: str | None = None
    received_at: dt.datetime


class SmsOptOut(StoreModel, table=True):
    __tablename__ = "sms_optouts"

    phone: str = Field(primary_key=True)
    tenant_id: str = Field(primary_key=True)  # per business: migration 0004
    keyword: str
    created_at: dt.datetime


class Diarization(StoreModel, table=True):
    """The diarization job of one recorded call (``engines/diarize.py``)."""

    __tablename__ = "diarizations"

    recording: str = Field(primary_key=True)
    tenant_id: str
    session_id: str
    status: str  # pending / running / done / failed
    speakers: int = 0
    model: str = ""
    error: str | None = None
    created_at: dt.datetime
    finished_at: dt.datetime | None = None


class SpeakerTurnRow(StoreModel, table=True):
    """One stretch of one speaker on the caller's channel, aligned with a transcript turn."""

    __tablename__ = "speaker_turns"

    id: int | None = Field(default=None, primary_key=True)
    recording: str = Field(foreign_key="diarizations.recording")
    session_id: str
    seq: int
    speaker: str
    start_s: float
    end_s: float
    transcript_turn: int | None = None
