-- 0001: the initial schema. Keep in step with appliance/store/models.py
-- (tests/integration/test_store_schema.py compares the two).
-- Applied inside one BEGIN IMMEDIATE transaction by appliance/store/migrate.py.

CREATE TABLE schema_migrations (
    version     INTEGER NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  DATETIME NOT NULL
);

CREATE TABLE tenants (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

CREATE TABLE customers (
    id          INTEGER NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    phone       TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    UNIQUE (tenant_id, phone)
);

CREATE TABLE pets (
    id          INTEGER NOT NULL PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    name        TEXT NOT NULL,
    pet_type    TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    UNIQUE (customer_id, name, pet_type)
);

CREATE TABLE resources (
    id          TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    pet_types   TEXT NOT NULL,
    capacity    INTEGER NOT NULL CHECK (capacity >= 0),
    sort_order  INTEGER NOT NULL,
    active      BOOLEAN NOT NULL,
    updated_at  DATETIME NOT NULL
);

CREATE TABLE bookings (
    id              TEXT NOT NULL PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    resource_id     TEXT NOT NULL REFERENCES resources (id),
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    pet_id          INTEGER NOT NULL REFERENCES pets (id),
    pet_name        TEXT NOT NULL CHECK (length(pet_name) > 0),
    pet_type        TEXT NOT NULL CHECK (length(pet_type) > 0),
    start_date      DATE NOT NULL,
    end_date        DATE NOT NULL,
    nights          INTEGER NOT NULL,
    owner_name      TEXT NOT NULL CHECK (length(owner_name) > 0),
    owner_phone     TEXT NOT NULL CHECK (owner_phone LIKE '+%'),
    status          TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled')),
    total_minor     INTEGER NOT NULL CHECK (total_minor >= 0),
    currency        TEXT NOT NULL CHECK (length(currency) = 3),
    channel         TEXT NOT NULL,
    session_id      TEXT,
    idempotency_key TEXT UNIQUE,
    request_hash    TEXT,
    notes           TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    CHECK (end_date > start_date),
    CHECK (nights = julianday(end_date) - julianday(start_date))
);
CREATE INDEX ix_bookings_resource_dates ON bookings (resource_id, start_date, end_date) WHERE status != 'cancelled';
CREATE INDEX ix_bookings_phone ON bookings (owner_phone);
CREATE INDEX ix_bookings_session ON bookings (session_id);

CREATE TABLE idempotency_keys (
    "key"        TEXT NOT NULL PRIMARY KEY,
    operation    TEXT NOT NULL CHECK (operation IN ('cancel', 'change')),
    booking_id   TEXT NOT NULL REFERENCES bookings (id),
    request_hash TEXT NOT NULL,
    created_at   DATETIME NOT NULL
);

CREATE TABLE conversation_sessions (
    id          TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    channel     TEXT NOT NULL,
    language    TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT '{}',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    ended_at    DATETIME
);

CREATE TABLE turns (
    id           INTEGER NOT NULL PRIMARY KEY,
    session_id   TEXT NOT NULL REFERENCES conversation_sessions (id),
    seq          INTEGER NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text         TEXT NOT NULL,
    language     TEXT NOT NULL,
    channel      TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    timeline     TEXT NOT NULL DEFAULT '{}',
    speech_start REAL,
    speech_end   REAL,
    stt_done     REAL,
    first_output REAL,
    first_audio  REAL,
    playback_end REAL,
    interrupted  REAL,
    total_ms     REAL,
    UNIQUE (session_id, seq)
);

CREATE TABLE callback_tickets (
    id          INTEGER NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    phone       TEXT,
    name        TEXT,
    reason      TEXT NOT NULL,
    language    TEXT NOT NULL,
    session_id  TEXT,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'done')),
    details     TEXT NOT NULL DEFAULT '{}',
    created_at  DATETIME NOT NULL,
    done_at     DATETIME
);
CREATE INDEX ix_callback_tickets_status ON callback_tickets (status, created_at);

CREATE TABLE audit_log (
    id          INTEGER NOT NULL PRIMARY KEY,
    at          DATETIME NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_audit_log_entity ON audit_log (entity, entity_id);
