-- Events as accepted, with the canonical hire and the plan it was given, and the operations
-- that carry the plan out. Times are Unix milliseconds.
CREATE TABLE events (
    id                 TEXT PRIMARY KEY,          -- ULID: sorts by arrival
    source             TEXT NOT NULL,
    dedupe_key         TEXT NOT NULL,
    fingerprint        TEXT NOT NULL,             -- SHA-256 of the canonical body
    status             TEXT NOT NULL,
    received_at        INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    hire               TEXT NOT NULL,             -- canonical hire JSON
    plan               TEXT,                      -- plan JSON as evaluated at intake
    rules_version      TEXT,
    connecteam_user_id INTEGER,
    UNIQUE (source, dedupe_key)
);
CREATE INDEX events_by_status ON events (status, id);
CREATE INDEX events_by_source ON events (source, id);

CREATE TABLE operations (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES events (id),
    seq              INTEGER NOT NULL,            -- order within the event
    kind             TEXT NOT NULL,               -- resolve_user | assign_pack | assign_policy
    target           TEXT NOT NULL,               -- '' | pack id | policy id
    params           TEXT NOT NULL,               -- JSON: balance, unit
    status           TEXT NOT NULL,               -- pending | blocked | waiting | done | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    ambiguous        INTEGER NOT NULL DEFAULT 0,  -- 1: a write's outcome was not seen; read back before repeating
    last_error       TEXT,
    idempotency_key  TEXT NOT NULL,              -- derived from the event id: unique by construction
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX operations_due ON operations (status, next_attempt_at);
CREATE INDEX operations_by_event ON operations (event_id, seq);
