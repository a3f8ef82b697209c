//! The embedded default backend: SQLite through sqlx, WAL journal, `synchronous=FULL` (every
//! commit is fsynced before it returns), one writer at a time (`BEGIN IMMEDIATE`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::rows::{self, RawReport, check_text, reporter_json, tags_json};
use super::{
    AlertAction, AlertEvent, AlertRecord, Announce, AuditEntry, BoxFuture, InsertOutcome, MAX_PAGE, OutboxCounts,
    OutboxMessage, ReportQuery, ScanCursor, ScanPosition, Store, StoreError, TokenRecord, VerificationChange,
};
use crate::domain::{Report, ReportCore, Verification};
use crate::index::grid;

const REPORT_COLUMNS: &str = "id, lon, lat, occurred_at, received_at, category, severity, source, description, \
                              reporter, tags, verification";
/// Rows per multi-row INSERT (13 binds each, well under SQLite's 32 766 variables).
const INSERT_CHUNK: usize = 1_000;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt(format!("timestamp {v} out of range")))
}

fn cell_of(r: &Report) -> i64 {
    grid::base_cell(r.lon(), r.lat()).map_or(0, |c| i64::try_from(u64::from(c)).unwrap_or(0))
}

fn read_report(row: &SqliteRow) -> Result<Report, StoreError> {
    RawReport {
        id: row.try_get("id")?,
        lon: row.try_get("lon")?,
        lat: row.try_get("lat")?,
        occurred_at: from_micros(row.try_get("occurred_at")?)?,
        received_at: from_micros(row.try_get("received_at")?)?,
        category: row.try_get("category")?,
        severity: row.try_get("severity")?,
        source: row.try_get("source")?,
        description: row.try_get("description")?,
        reporter: row.try_get("reporter")?,
        tags: row.try_get("tags")?,
        verification: row.try_get("verification")?,
    }
    .into_report()
}

fn read_audit(row: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let objects: String = row.try_get("objects")?;
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: from_micros(row.try_get("at")?)?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        objects: if objects.is_empty() { Vec::new() } else { objects.split(',').map(str::to_string).collect() },
        filter: row.try_get("filter")?,
        count: row.try_get("count")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

async fn fetch_report(conn: &mut SqliteConnection, id: Uuid) -> Result<Option<Report>, StoreError> {
    let sql = "SELECT id, lon, lat, occurred_at, received_at, category, severity, source, description, reporter, \
               tags, verification FROM reports WHERE id = ?";
    let row = sqlx::query(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(read_report).transpose()
}

/// Appends to the hash chain inside the caller's write transaction.
async fn append_audit_in(conn: &mut SqliteConnection, mut entry: AuditEntry) -> Result<AuditEntry, StoreError> {
    let last =
        sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *conn).await?;
    let (seq, prev) = match last {
        Some(row) => (row.try_get::<i64, _>("seq")? + 1, row.try_get::<String, _>("hash")?),
        None => (1, String::new()),
    };
    entry.seq = seq;
    entry.at = crate::domain::truncate_micros(entry.at);
    entry.prev_hash = prev;
    entry.hash = entry.compute_hash();
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, objects, filter, count, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(entry.seq)
    .bind(micros(entry.at))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(entry.objects.join(","))
    .bind(&entry.filter)
    .bind(entry.count)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *conn)
    .await?;
    Ok(entry)
}

impl SqliteStore {
    /// Opens (creating if needed) the database a `sqlite://PATH` URL names, durable settings on.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be created or opened.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 8 MiB of page cache per connection (default 2 MiB): five B-trees take every insert.
            .pragma("cache_size", "-8192")
            // Checkpoint the WAL every 16 MiB rather than 4 MiB: fewer, larger copies into the
            // database file. Durability is the WAL's fsync at each commit, unchanged.
            .pragma("wal_autocheckpoint", "4096");
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&pool).await?;
        if sync < 2 {
            return Err(StoreError::UnsafeDurability(format!("SQLite synchronous={sync}, FULL (2) required")));
        }
        Ok(Self { pool })
    }

    /// The pool (for benchmarks and tests that inspect the database).
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn migrate(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?;
            Ok(())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn setting(&self, key: &'static str) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn set_setting(&self, key: &'static str, value: String) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(key)
                .bind(value)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn insert_reports<'a>(&'a self, reports: &'a [Report]) -> BoxFuture<'a, Result<Vec<InsertOutcome>, StoreError>> {
        Box::pin(async move {
            check_text(reports)?;
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let mut inserted: HashSet<Uuid> = HashSet::with_capacity(reports.len());
            for chunk in reports.chunks(INSERT_CHUNK) {
                // Fast path: a plain insert; when every row went in (no replay, no repeated id)
                // they are all new. Otherwise undo it and insert again, learning which went in.
                sqlx::query("SAVEPOINT chunk").execute(&mut *tx).await?;
                let done = insert_values(chunk, false).build().execute(&mut *tx).await?.rows_affected();
                if usize::try_from(done).is_ok_and(|n| n == chunk.len()) {
                    sqlx::query("RELEASE chunk").execute(&mut *tx).await?;
                    inserted.extend(chunk.iter().map(Report::id));
                    continue;
                }
                sqlx::query("ROLLBACK TO chunk").execute(&mut *tx).await?;
                sqlx::query("RELEASE chunk").execute(&mut *tx).await?;
                let ids: Vec<Uuid> = insert_values(chunk, true).build_query_scalar().fetch_all(&mut *tx).await?;
                inserted.extend(ids);
            }
            let mut first_in_batch: HashMap<Uuid, &Report> = HashMap::new();
            let mut outcomes = Vec::with_capacity(reports.len());
            for r in reports {
                let id = r.id();
                if inserted.contains(&id) && !first_in_batch.contains_key(&id) {
                    first_in_batch.insert(id, r);
                    outcomes.push(InsertOutcome::Created);
                    continue;
                }
                let existing = match first_in_batch.get(&id) {
                    Some(first) => Some((*first).clone()),
                    None => fetch_report(&mut tx, id).await?,
                };
                outcomes.push(match existing {
                    Some(e) if e.same_content(r) => InsertOutcome::Duplicate(Box::new(e)),
                    _ => InsertOutcome::Conflict,
                });
            }
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    fn get_report(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Report>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            fetch_report(&mut conn, id).await
        })
    }

    fn scan_cores(
        &self,
        from: ScanCursor,
        limit: usize,
    ) -> BoxFuture<'_, Result<(Vec<ReportCore>, ScanCursor), StoreError>> {
        Box::pin(async move {
            // Rows are stored in arrival order under their rowid (migration 0005): a rowid range
            // is one sequential pass. They are decoded as they stream in, so a page never holds
            // its rows and its cores at once (buffered 20 000-row pages left ~30 MiB more resident).
            let after = from.rowid()?;
            let mut stream = sqlx::query(
                "SELECT rowid, id, lon, lat, occurred_at, received_at, category, severity, verification \
                 FROM reports WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
            )
            .bind(after)
            .bind(i64::try_from(limit.max(1)).unwrap_or(i64::MAX))
            .fetch(&self.pool);
            let mut cores = Vec::with_capacity(limit.min(100_000));
            let mut last = None;
            while let Some(r) = futures_util::TryStreamExt::try_next(&mut stream).await? {
                last = Some(r.try_get::<i64, _>("rowid")?);
                cores.push(rows::core(
                    r.try_get("id")?,
                    (r.try_get("lon")?, r.try_get("lat")?),
                    (from_micros(r.try_get("occurred_at")?)?, from_micros(r.try_get("received_at")?)?),
                    r.try_get_unchecked::<&str, _>("category")?,
                    r.try_get("severity")?,
                    r.try_get_unchecked::<&str, _>("verification")?,
                )?);
            }
            let next = last.map_or(from, |rowid| ScanCursor(Some(ScanPosition::Row(rowid))));
            Ok((cores, next))
        })
    }

    fn query_reports<'a>(&'a self, q: &'a ReportQuery) -> BoxFuture<'a, Result<Vec<Report>, StoreError>> {
        Box::pin(async move {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("SELECT {REPORT_COLUMNS} FROM reports WHERE 1 = 1"));
            if let Some(b) = &q.bbox {
                qb.push(" AND lat BETWEEN ").push_bind(b.south()).push(" AND ").push_bind(b.north());
                if b.crosses_antimeridian() {
                    qb.push(" AND (lon >= ").push_bind(b.west()).push(" OR lon <= ").push_bind(b.east()).push(")");
                } else {
                    qb.push(" AND lon BETWEEN ").push_bind(b.west()).push(" AND ").push_bind(b.east());
                }
            }
            if let Some(from) = q.from {
                qb.push(" AND occurred_at >= ").push_bind(micros(from));
            }
            if let Some(to) = q.to {
                qb.push(" AND occurred_at < ").push_bind(micros(to));
            }
            if !q.categories.is_empty() {
                qb.push(" AND category IN (");
                let mut sep = qb.separated(", ");
                for c in &q.categories {
                    sep.push_bind(c.slug());
                }
                qb.push(")");
            }
            if !q.verification.is_empty() {
                qb.push(" AND verification IN (");
                let mut sep = qb.separated(", ");
                for v in &q.verification {
                    sep.push_bind(v.slug());
                }
                qb.push(")");
            }
            if let Some((at, id)) = q.after {
                // A row value, so SQLite seeks in the (received_at, id) index instead of
                // rescanning it from the start for every page (1 M rows: 121 s → 13 s).
                qb.push(" AND (received_at, id) > (").push_bind(micros(at)).push(", ").push_bind(id).push(")");
            }
            let limit = i64::try_from(q.limit.clamp(1, MAX_PAGE)).unwrap_or(1);
            qb.push(" ORDER BY received_at, id LIMIT ").push_bind(limit);
            let rows = qb.build().fetch_all(&self.pool).await?;
            rows.iter().map(read_report).collect()
        })
    }

    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM reports").fetch_one(&self.pool).await?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn set_verification(&self, change: VerificationChange) -> BoxFuture<'_, Result<Option<Report>, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let updated = sqlx::query("UPDATE reports SET verification = ? WHERE id = ?")
                .bind(change.status.slug())
                .bind(change.report_id)
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Ok(None);
            }
            sqlx::query("INSERT INTO verification_changes (report_id, status, actor, at, note) VALUES (?, ?, ?, ?, ?)")
                .bind(change.report_id)
                .bind(change.status.slug())
                .bind(&change.actor)
                .bind(micros(change.at))
                .bind(&change.note)
                .execute(&mut *tx)
                .await?;
            let report = fetch_report(&mut tx, change.report_id).await?;
            tx.commit().await?;
            Ok(report)
        })
    }

    fn verification_history(&self, id: Uuid) -> BoxFuture<'_, Result<Vec<VerificationChange>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT status, actor, at, note FROM verification_changes WHERE report_id = ? ORDER BY seq",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let status: String = row.try_get("status")?;
                    Ok(VerificationChange {
                        report_id: id,
                        status: Verification::from_slug(&status)
                            .ok_or_else(|| StoreError::Corrupt(format!("verification {status}")))?,
                        actor: row.try_get("actor")?,
                        at: from_micros(row.try_get("at")?)?,
                        note: row.try_get("note")?,
                    })
                })
                .collect()
        })
    }

    fn withdraw_report(&self, id: Uuid, actor: String, at: DateTime<Utc>) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let deleted = sqlx::query("DELETE FROM reports WHERE id = ?").bind(id).execute(&mut *tx).await?;
            if deleted.rows_affected() == 0 {
                return Ok(false);
            }
            let entry = AuditEntry {
                seq: 0,
                at,
                actor,
                action: "withdraw".into(),
                objects: vec![id.to_string()],
                filter: String::new(),
                count: 1,
                prev_hash: String::new(),
                hash: String::new(),
            };
            append_audit_in(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn insert_token(&self, token: TokenRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO tokens (hash, role, name, created_at) VALUES (?, ?, ?, ?)")
                .bind(&token.hash)
                .bind(&token.role)
                .bind(&token.name)
                .bind(micros(token.created_at))
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn find_token(&self, hash: String) -> BoxFuture<'_, Result<Option<TokenRecord>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT hash, role, name, created_at FROM tokens WHERE hash = ?")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|row| {
                Ok(TokenRecord {
                    hash: row.try_get("hash")?,
                    role: row.try_get("role")?,
                    name: row.try_get("name")?,
                    created_at: from_micros(row.try_get("created_at")?)?,
                })
            })
            .transpose()
        })
    }

    fn append_audit(&self, entry: AuditEntry) -> BoxFuture<'_, Result<AuditEntry, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let entry = append_audit_in(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(entry)
        })
    }

    fn audit_log(&self, after_seq: i64, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, objects, filter, count, prev_hash, hash FROM audit_log \
                 WHERE seq > ? ORDER BY seq LIMIT ?",
            )
            .bind(after_seq)
            .bind(i64::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(read_audit).collect()
        })
    }

    fn insert_alert(
        &self,
        alert: AlertRecord,
        actor: String,
        announce: Announce,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.insert_alert_tx(alert, actor, announce))
    }

    fn set_alert_status(
        &self,
        id: Uuid,
        step: AlertEvent,
        announce: Announce,
    ) -> BoxFuture<'_, Result<Option<AlertRecord>, StoreError>> {
        Box::pin(self.set_alert_status_tx(id, step, announce))
    }

    fn add_alert_action(
        &self,
        id: Uuid,
        action: AlertAction,
        announce: Announce,
    ) -> BoxFuture<'_, Result<Option<AlertRecord>, StoreError>> {
        Box::pin(self.add_alert_action_tx(id, action, announce))
    }

    fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<OutboxMessage>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, target, alert_id, body, created_at, attempts FROM webhook_outbox \
                 WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            )
            .bind(micros(now))
            .bind(i64::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1))
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(OutboxMessage {
                        id: r.try_get("id")?,
                        target: r.try_get("target")?,
                        alert_id: r.try_get("alert_id")?,
                        body: r.try_get("body")?,
                        created_at: from_micros(r.try_get("created_at")?)?,
                        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                    })
                })
                .collect()
        })
    }

    fn record_delivery(
        &self,
        id: Uuid,
        outcome: Result<DateTime<Utc>, (Option<DateTime<Utc>>, String)>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let q = match outcome {
                Ok(at) => sqlx::query(
                    "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?2, \
                     last_error = NULL WHERE id = ?1",
                )
                .bind(id)
                .bind(micros(at)),
                Err((Some(next), error)) => sqlx::query(
                    "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                )
                .bind(id)
                .bind(micros(next))
                .bind(error),
                Err((None, error)) => sqlx::query(
                    "UPDATE webhook_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                )
                .bind(id)
                .bind(error),
            };
            q.execute(&self.pool).await?;
            Ok(())
        })
    }

    fn outbox_counts(&self) -> BoxFuture<'_, Result<OutboxCounts, StoreError>> {
        Box::pin(async move {
            let rows: Vec<(String, i64)> = sqlx::query_as(super::OUTBOX_COUNTS_SQL).fetch_all(&self.pool).await?;
            Ok(OutboxCounts::from_groups(rows))
        })
    }

    fn list_alerts(&self, active_only: bool, limit: usize) -> BoxFuture<'_, Result<Vec<AlertRecord>, StoreError>> {
        Box::pin(self.list_alerts_q(active_only, limit))
    }

    fn get_alert(&self, id: Uuid) -> BoxFuture<'_, Result<Option<super::AlertDetail>, StoreError>> {
        Box::pin(self.get_alert_q(id))
    }
}

fn read_alert(row: &SqliteRow) -> Result<AlertRecord, StoreError> {
    let res: i64 = row.try_get("res")?;
    Ok(AlertRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        cell: row.try_get("cell")?,
        res: u8::try_from(res).map_err(|_| StoreError::Corrupt(format!("alert resolution {res}")))?,
        opened_at: from_micros(row.try_get("opened_at")?)?,
        status: row.try_get("status")?,
        level: row.try_get("level")?,
        score: row.try_get("score")?,
        reason: row.try_get("reason")?,
        closed_at: row.try_get::<Option<i64>, _>("closed_at")?.map(from_micros).transpose()?,
    })
}

const ALERT_COLUMNS: &str = "id, kind, cell, res, opened_at, status, level, score, reason, closed_at";

async fn fetch_alert(conn: &mut SqliteConnection, id: Uuid) -> Result<Option<AlertRecord>, StoreError> {
    let sql = "SELECT id, kind, cell, res, opened_at, status, level, score, reason, closed_at FROM alerts WHERE id = ?";
    let row = sqlx::query(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(read_alert).transpose()
}

/// The multi-row INSERT of a chunk, skipping ids already stored; `returning` lists the ids that
/// went in.
fn insert_values(chunk: &[Report], returning: bool) -> QueryBuilder<Sqlite> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO reports (id, lon, lat, cell, occurred_at, received_at, category, severity, source, \
         description, reporter, tags, verification) ",
    );
    qb.push_values(chunk, |mut b, r| {
        b.push_bind(r.id())
            .push_bind(r.lon())
            .push_bind(r.lat())
            .push_bind(cell_of(r))
            .push_bind(micros(r.occurred_at()))
            .push_bind(micros(r.received_at()))
            .push_bind(r.category().slug())
            .push_bind(i64::from(r.severity().get()))
            .push_bind(r.source().slug())
            .push_bind(r.description().map(str::to_string))
            .push_bind(reporter_json(r))
            .push_bind(tags_json(r))
            .push_bind(r.verification().slug());
    });
    qb.push(if returning { " ON CONFLICT (id) DO NOTHING RETURNING id" } else { " ON CONFLICT (id) DO NOTHING" });
    qb
}

/// Writes outbox messages inside the caller's transaction.
async fn enqueue(conn: &mut SqliteConnection, messages: Vec<OutboxMessage>) -> Result<(), StoreError> {
    for m in messages {
        sqlx::query(
            "INSERT INTO webhook_outbox (id, target, alert_id, body, created_at, attempts, next_attempt_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id)
        .bind(&m.target)
        .bind(m.alert_id)
        .bind(&m.body)
        .bind(micros(m.created_at))
        .bind(i64::from(m.attempts))
        .bind(micros(m.created_at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl SqliteStore {
    /// Alert storage (the `Store` methods delegate here to keep the trait impl readable).
    async fn insert_alert_tx(&self, a: AlertRecord, actor: String, announce: Announce) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO alerts (id, kind, cell, res, opened_at, status, level, score, reason, closed_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(a.id)
        .bind(&a.kind)
        .bind(&a.cell)
        .bind(i64::from(a.res))
        .bind(micros(a.opened_at))
        .bind(&a.status)
        .bind(&a.level)
        .bind(a.score)
        .bind(&a.reason)
        .bind(a.closed_at.map(micros))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO alert_events (alert_id, status, actor, at, note) VALUES (?, ?, ?, ?, ?)")
            .bind(a.id)
            .bind(&a.status)
            .bind(&actor)
            .bind(micros(a.opened_at))
            .bind(&a.reason)
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, announce(&a)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_alert_status_tx(
        &self,
        id: Uuid,
        step: AlertEvent,
        announce: Announce,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let closing = matches!(step.status.as_str(), "resolved" | "closed");
        let updated =
            sqlx::query("UPDATE alerts SET status = ?, closed_at = CASE WHEN ? THEN ? ELSE closed_at END WHERE id = ?")
                .bind(&step.status)
                .bind(closing)
                .bind(micros(step.at))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("INSERT INTO alert_events (alert_id, status, actor, at, note) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(&step.status)
            .bind(&step.actor)
            .bind(micros(step.at))
            .bind(&step.note)
            .execute(&mut *tx)
            .await?;
        let alert = fetch_alert(&mut tx, id).await?;
        if let Some(a) = &alert {
            enqueue(&mut tx, announce(a)).await?;
        }
        tx.commit().await?;
        Ok(alert)
    }

    async fn add_alert_action_tx(
        &self,
        id: Uuid,
        action: AlertAction,
        announce: Announce,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(alert) = fetch_alert(&mut tx, id).await? else { return Ok(None) };
        sqlx::query("INSERT INTO alert_actions (alert_id, action, actor, at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(&action.action)
            .bind(&action.actor)
            .bind(micros(action.at))
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, announce(&alert)).await?;
        tx.commit().await?;
        Ok(Some(alert))
    }

    async fn list_alerts_q(&self, active_only: bool, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = if active_only {
            format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE status IN ('open', 'acknowledged') ORDER BY opened_at DESC, id LIMIT ?"
            )
        } else {
            format!("SELECT {ALERT_COLUMNS} FROM alerts ORDER BY opened_at DESC, id LIMIT ?")
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_alert).collect()
    }

    async fn get_alert_q(&self, id: Uuid) -> Result<Option<super::AlertDetail>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(alert) = fetch_alert(&mut conn, id).await? else { return Ok(None) };
        let events = sqlx::query("SELECT status, actor, at, note FROM alert_events WHERE alert_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(AlertEvent {
                    status: r.try_get("status")?,
                    actor: r.try_get("actor")?,
                    at: from_micros(r.try_get("at")?)?,
                    note: r.try_get("note")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let actions = sqlx::query("SELECT action, actor, at FROM alert_actions WHERE alert_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(AlertAction {
                    action: r.try_get("action")?,
                    actor: r.try_get("actor")?,
                    at: from_micros(r.try_get("at")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((alert, events, actions)))
    }
}
