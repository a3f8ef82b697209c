-- Early warnings and what was done about them (issue 6).

CREATE TABLE alerts (
    id        uuid PRIMARY KEY,
    kind      text NOT NULL,
    cell      text NOT NULL,
    res       smallint NOT NULL,
    opened_at timestamptz NOT NULL,
    status    text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved', 'closed')),
    level     text NOT NULL,
    score     double precision NOT NULL,
    reason    text NOT NULL,
    closed_at timestamptz
);
CREATE INDEX alerts_status ON alerts (status, opened_at);

CREATE TABLE alert_events (
    seq      bigserial PRIMARY KEY,
    alert_id uuid NOT NULL REFERENCES alerts (id),
    status   text NOT NULL,
    actor    text NOT NULL,
    at       timestamptz NOT NULL,
    note     text
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, seq);

CREATE TABLE alert_actions (
    seq      bigserial PRIMARY KEY,
    alert_id uuid NOT NULL REFERENCES alerts (id),
    action   text NOT NULL,
    actor    text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX alert_actions_alert ON alert_actions (alert_id, seq);
