-- Webhook deliveries of alert changes (issue 6): a transactional outbox. Each row is written in
-- the transaction of the alert change it announces and stays until delivered or given up.

CREATE TABLE webhook_outbox (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),  -- idempotency key
    target          TEXT NOT NULL,
    alert_id        BLOB NOT NULL REFERENCES alerts (id),
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    delivered_at    INTEGER,
    last_error      TEXT
) STRICT;
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE status = 'pending';
