-- kinga schema, PostGIS backend. Same tables and meaning as migrations/sqlite/0001_init.sql.
-- Times are timestamptz (microseconds, UTC). `lon`/`lat` keep the exact f64 values the
-- client sent; `geom` is derived from them for spatial indexing and never read back.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE reports (
    id           uuid PRIMARY KEY,
    geom         geometry(Point, 4326) NOT NULL,
    lon          double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat          double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    cell         bigint NOT NULL,               -- H3 index at resolution 9
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    category     text NOT NULL,
    severity     smallint NOT NULL CHECK (severity BETWEEN 1 AND 5),
    source       text NOT NULL,
    description  text,
    reporter     jsonb CHECK (reporter IS NULL OR jsonb_typeof(reporter) = 'object'),  -- restricted
    tags         jsonb CHECK (tags IS NULL OR jsonb_typeof(tags) = 'array'),
    verification text NOT NULL DEFAULT 'unverified'
        CHECK (verification IN ('unverified', 'verified', 'disputed', 'debunked')),
    CONSTRAINT reports_geom_is_lon_lat CHECK (ST_X(geom) = lon AND ST_Y(geom) = lat)
);

CREATE INDEX reports_geom ON reports USING gist (geom);
CREATE INDEX reports_received ON reports (received_at, id);
CREATE INDEX reports_occurred ON reports (occurred_at);
CREATE INDEX reports_category ON reports (category);
CREATE INDEX reports_cell ON reports (cell);

CREATE TABLE verification_changes (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id uuid NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    status    text NOT NULL,
    actor     text NOT NULL,
    at        timestamptz NOT NULL,
    note      text
);
CREATE INDEX verification_changes_report ON verification_changes (report_id, seq);

CREATE TABLE tokens (
    hash       text PRIMARY KEY,
    role       text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);

-- seq, prev_hash and hash are assigned by the store, which serialises appends with
-- LOCK TABLE audit_log IN EXCLUSIVE MODE inside the writing transaction.
CREATE TABLE audit_log (
    seq       bigint PRIMARY KEY CHECK (seq > 0),
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    objects   text NOT NULL,
    filter    text NOT NULL,
    count     bigint NOT NULL,
    prev_hash text NOT NULL,
    hash      text NOT NULL
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
