-- 0002: the SMS outbox (every text the appliance sends), the inbound SMS log (every text it
-- received, answered or not) and the opt-out list. Keep in step with appliance/store/models.py.

CREATE TABLE outbox (
    id               INTEGER NOT NULL PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('reply', 'confirmation', 'reminder', 'approved', 'declined', 'notice')),
    transport        TEXT NOT NULL,
    recipient        TEXT NOT NULL CHECK (length(recipient) > 0),
    text             TEXT NOT NULL,
    language         TEXT NOT NULL,
    encoding         TEXT NOT NULL CHECK (encoding IN ('gsm7', 'ucs2')),
    segments         INTEGER NOT NULL CHECK (segments >= 1),
    booking_id       TEXT,
    session_id       TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    not_before       DATETIME NOT NULL,
    last_error       TEXT,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    sent_at          DATETIME
);
CREATE INDEX ix_outbox_due ON outbox (status, not_before);
CREATE INDEX ix_outbox_booking ON outbox (booking_id);

CREATE TABLE sms_inbound (
    id           INTEGER NOT NULL PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    transport    TEXT NOT NULL,
    sender       TEXT NOT NULL,
    message_id   TEXT UNIQUE,
    text         TEXT NOT NULL,
    raw_hex      TEXT,
    status       TEXT NOT NULL CHECK (status IN ('received', 'answered', 'opt_out', 'opt_in', 'rate_limited', 'unreadable', 'ignored')),
    session_id   TEXT,
    received_at  DATETIME NOT NULL
);
CREATE INDEX ix_sms_inbound_sender ON sms_inbound (sender, received_at);

CREATE TABLE sms_optouts (
    phone       TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    keyword     TEXT NOT NULL,
    created_at  DATETIME NOT NULL
);
