-- Webhook deliveries of alert changes (issue 6): a transactional outbox. Each row is written in
-- the transaction of the alert change it announces and stays until delivered or given up.

CREATE TABLE webhook_outbox (
    id              uuid PRIMARY KEY,  -- idempotency key
    target          text NOT NULL,
    alert_id        uuid NOT NULL REFERENCES alerts (id),
    body            text NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE status = 'pending';
