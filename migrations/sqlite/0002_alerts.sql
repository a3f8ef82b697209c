-- Early warnings and what was done about them (issue 6).

CREATE TABLE alerts (
    id        BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind      TEXT NOT NULL,
    cell      TEXT NOT NULL,                 -- H3 index (hex) at the alert resolution
    res       INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved', 'closed')),
    level     TEXT NOT NULL,
    score     REAL NOT NULL,
    reason    TEXT NOT NULL,
    closed_at INTEGER
) STRICT;
CREATE INDEX alerts_status ON alerts (status, opened_at);

CREATE TABLE alert_events (
    seq      INTEGER PRIMARY KEY,
    alert_id BLOB NOT NULL REFERENCES alerts (id),
    status   TEXT NOT NULL,
    actor    TEXT NOT NULL,
    at       INTEGER NOT NULL,
    note     TEXT
) STRICT;
CREATE INDEX alert_events_alert ON alert_events (alert_id, seq);

CREATE TABLE alert_actions (
    seq      INTEGER PRIMARY KEY,
    alert_id BLOB NOT NULL REFERENCES alerts (id),
    action   TEXT NOT NULL,
    actor    TEXT NOT NULL,
    at       INTEGER NOT NULL
) STRICT;
CREATE INDEX alert_actions_alert ON alert_actions (alert_id, seq);
