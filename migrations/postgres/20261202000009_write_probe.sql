-- One row readiness rewrites: a store that can read but not write (a read-only file, a full
-- disk) is not ready to take webhooks.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL
);
