-- kinga schema, embedded SQLite backend. Times are microseconds since the Unix epoch, UTC.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE reports (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    lon          REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat          REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    cell         INTEGER NOT NULL,            -- H3 index at resolution 9
    occurred_at  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    category     TEXT NOT NULL,
    severity     INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 5),
    source       TEXT NOT NULL,
    description  TEXT,
    reporter     TEXT,                        -- JSON object, restricted
    tags         TEXT,                        -- JSON array
    verification TEXT NOT NULL DEFAULT 'unverified'
        CHECK (verification IN ('unverified', 'verified', 'disputed', 'debunked'))
) STRICT, WITHOUT ROWID;

CREATE INDEX reports_received ON reports (received_at, id);
CREATE INDEX reports_occurred ON reports (occurred_at);
CREATE INDEX reports_category ON reports (category);
CREATE INDEX reports_cell ON reports (cell);
CREATE INDEX reports_lat_lon ON reports (lat, lon);

CREATE TABLE verification_changes (
    seq       INTEGER PRIMARY KEY,
    report_id BLOB NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    status    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    at        INTEGER NOT NULL,
    note      TEXT
) STRICT;
CREATE INDEX verification_changes_report ON verification_changes (report_id, seq);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    objects   TEXT NOT NULL,
    filter    TEXT NOT NULL,
    count     INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
