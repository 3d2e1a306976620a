-- 0003: speaker diarization of recorded calls. One row per recording in diarizations (the
-- job's state) and its speaker turns, each tied to the transcript turn it overlaps most.
-- Keep in step with appliance/store/models.py.

CREATE TABLE diarizations (
    recording    TEXT NOT NULL PRIMARY KEY,  -- the recording's base name (<stamp>-<session>)
    tenant_id    TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    speakers     INTEGER NOT NULL DEFAULT 0,
    model        TEXT NOT NULL DEFAULT '',
    error        TEXT,
    created_at   DATETIME NOT NULL,
    finished_at  DATETIME
);
CREATE INDEX ix_diarizations_session ON diarizations (session_id);

CREATE TABLE speaker_turns (
    id               INTEGER NOT NULL PRIMARY KEY,
    recording        TEXT NOT NULL REFERENCES diarizations (recording) ON DELETE CASCADE,
    session_id       TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    speaker          TEXT NOT NULL,
    start_s          REAL NOT NULL CHECK (start_s >= 0),
    end_s            REAL NOT NULL CHECK (end_s >= start_s),
    transcript_turn  INTEGER,  -- the call transcript's turn this speech overlaps most (NULL: none)
    UNIQUE (recording, seq)
);
CREATE INDEX ix_speaker_turns_session ON speaker_turns (session_id);
