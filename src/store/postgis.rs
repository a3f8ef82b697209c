//! The PostGIS backend: `geometry(Point, 4326)` with `GiST`, the H3 cell as `bigint`, batched
//! inserts through UNNEST. Refuses to start when `fsync`, `synchronous_commit` or
//! `full_page_writes` is off.
//!
//! Behaves exactly like [`super::sqlite`]: the same outcomes, orderings and keyset semantics
//! (PostgreSQL orders `uuid` by its bytes, as [`Uuid`]'s `Ord` does). `lon`/`lat` are stored as
//! `double precision` and read back from there; `geom` is derived from them (a CHECK keeps them
//! equal) and only serves the spatial index.
//!
//! Concurrency: transactions run at READ COMMITTED. Inserts first try a plain `INSERT` under a
//! savepoint (new ids, the common case, skip speculative insertion); if an id is stored already
//! the chunk is rolled back to the savepoint and redone with `INSERT … ON CONFLICT DO NOTHING`.
//! Both wait for a concurrent transaction that inserted the same id; once it commits, its row is
//! visible to the next statement, so a racing insert reports `Duplicate` (or `Conflict`), never an
//! error. Each batch inserts its ids in ascending order, so two batches that overlap cannot
//! deadlock. Audit appends are serialised by `LOCK TABLE audit_log IN EXCLUSIVE MODE` (readers
//! are not blocked).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::rows::{self, RawReport, check_text, reporter_json, tags_json};
use super::{
    AuditEntry, BoxFuture, InsertOutcome, MAX_PAGE, ReportQuery, ScanCursor, ScanPosition, Store, StoreError,
    TokenRecord, VerificationChange,
};
use crate::domain::{Report, ReportCore, Verification, truncate_micros};
use crate::index::grid;

const REPORT_COLUMNS: &str = "id, lon, lat, occurred_at, received_at, category, severity, source, description, \
                              reporter::text AS reporter, tags::text AS tags, verification";

/// Rows per INSERT statement (each column is one array parameter; this bounds message size).
const INSERT_CHUNK: usize = 5_000;

/// Connections per store.
const MAX_CONNECTIONS: u32 = 10;

/// The columns an insert binds, as arrays ($1 … $13) that `UNNEST` turns back into rows.
/// `ORDER BY id` makes every writer take its unique-index waits in the same order (no deadlocks
/// between overlapping batches).
macro_rules! insert_reports_sql {
    ($tail:literal) => {
        concat!(
            "INSERT INTO reports (id, geom, lon, lat, cell, occurred_at, received_at, category, severity, source, \
                                  description, reporter, tags, verification) \
             SELECT t.id, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326), t.lon, t.lat, t.cell, t.occurred_at, \
                    t.received_at, t.category, t.severity, t.source, t.description, t.reporter::jsonb, \
                    t.tags::jsonb, t.verification \
             FROM UNNEST($1::uuid[], $2::float8[], $3::float8[], $4::int8[], $5::timestamptz[], \
                         $6::timestamptz[], $7::text[], $8::int2[], $9::text[], $10::text[], $11::text[], \
                         $12::text[], $13::text[]) \
                  AS t(id, lon, lat, cell, occurred_at, received_at, category, severity, source, description, \
                       reporter, tags, verification) \
             ORDER BY t.id",
            $tail
        )
    };
}

/// The fast path for a chunk of new ids: a plain INSERT, which skips speculative insertion
/// (about a fifth less server work than `ON CONFLICT`, measured); a stored id makes it fail.
const INSERT_NEW: &str = insert_reports_sql!("");

/// The general path: inserts the ids not stored yet and returns them. `ON CONFLICT` waits for
/// a concurrent transaction that inserted the same id and skips the row if that one commits.
const INSERT_OR_SKIP: &str = insert_reports_sql!(" ON CONFLICT (id) DO NOTHING RETURNING id");

/// The PostGIS store.
#[derive(Debug, Clone)]
pub struct PostgisStore {
    pool: PgPool,
}

fn cell_of(r: &Report) -> i64 {
    grid::base_cell(r.lon(), r.lat()).map_or(0, |c| i64::try_from(u64::from(c)).unwrap_or(0))
}

/// Why the server's durability settings are unsafe, or `None` when they are safe.
fn durability_problem(fsync: &str, synchronous_commit: &str, full_page_writes: &str) -> Option<String> {
    if fsync != "on" {
        return Some(format!("PostgreSQL fsync = {fsync}; kinga requires fsync = on"));
    }
    if !matches!(synchronous_commit, "on" | "remote_write" | "remote_apply" | "local") {
        return Some(format!(
            "PostgreSQL synchronous_commit = {synchronous_commit}; kinga requires on, local, remote_write or \
             remote_apply"
        ));
    }
    if full_page_writes != "on" {
        return Some(format!("PostgreSQL full_page_writes = {full_page_writes}; kinga requires full_page_writes = on"));
    }
    None
}

/// Refuses text PostgreSQL `text` cannot hold (NUL), naming the field, before anything is written.
fn refuse_nul(what: &str, text: &str) -> Result<(), StoreError> {
    if text.contains('\0') {
        return Err(StoreError::Rejected(format!("{what} contains a NUL character")));
    }
    Ok(())
}

fn read_report(row: &PgRow) -> Result<Report, StoreError> {
    RawReport {
        id: row.try_get("id")?,
        lon: row.try_get("lon")?,
        lat: row.try_get("lat")?,
        occurred_at: row.try_get("occurred_at")?,
        received_at: row.try_get("received_at")?,
        category: row.try_get("category")?,
        severity: i64::from(row.try_get::<i16, _>("severity")?),
        source: row.try_get("source")?,
        description: row.try_get("description")?,
        reporter: row.try_get("reporter")?,
        tags: row.try_get("tags")?,
        verification: row.try_get("verification")?,
    }
    .into_report()
}

fn read_audit(row: &PgRow) -> Result<AuditEntry, StoreError> {
    let objects: String = row.try_get("objects")?;
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        objects: if objects.is_empty() { Vec::new() } else { objects.split(',').map(str::to_string).collect() },
        filter: row.try_get("filter")?,
        count: row.try_get("count")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

async fn fetch_report(conn: &mut PgConnection, id: Uuid) -> Result<Option<Report>, StoreError> {
    let sql = "SELECT id, lon, lat, occurred_at, received_at, category, severity, source, description, \
               reporter::text AS reporter, tags::text AS tags, verification FROM reports WHERE id = $1";
    let row = sqlx::query(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(read_report).transpose()
}

/// The stored reports among `ids`, by id.
async fn fetch_reports(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, Report>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = "SELECT id, lon, lat, occurred_at, received_at, category, severity, source, description, \
               reporter::text AS reporter, tags::text AS tags, verification FROM reports WHERE id = ANY($1)";
    let rows = sqlx::query(sql).bind(ids).fetch_all(conn).await?;
    rows.iter().map(|row| read_report(row).map(|r| (r.id(), r))).collect()
}

/// The column arrays of a chunk of reports, in the order of the insert statements' parameters.
struct Columns<'a> {
    id: Vec<Uuid>,
    lon: Vec<f64>,
    lat: Vec<f64>,
    cell: Vec<i64>,
    occurred_at: Vec<DateTime<Utc>>,
    received_at: Vec<DateTime<Utc>>,
    category: Vec<&'static str>,
    severity: Vec<i16>,
    source: Vec<&'static str>,
    description: Vec<Option<&'a str>>,
    reporter: Vec<Option<String>>,
    tags: Vec<Option<String>>,
    verification: Vec<&'static str>,
}

impl<'a> Columns<'a> {
    fn of(chunk: &[&'a Report]) -> Self {
        let n = chunk.len();
        let mut c = Columns {
            id: Vec::with_capacity(n),
            lon: Vec::with_capacity(n),
            lat: Vec::with_capacity(n),
            cell: Vec::with_capacity(n),
            occurred_at: Vec::with_capacity(n),
            received_at: Vec::with_capacity(n),
            category: Vec::with_capacity(n),
            severity: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            description: Vec::with_capacity(n),
            reporter: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            verification: Vec::with_capacity(n),
        };
        for r in chunk {
            c.id.push(r.id());
            c.lon.push(r.lon());
            c.lat.push(r.lat());
            c.cell.push(cell_of(r));
            c.occurred_at.push(truncate_micros(r.occurred_at()));
            c.received_at.push(truncate_micros(r.received_at()));
            c.category.push(r.category().slug());
            c.severity.push(i16::from(r.severity().get()));
            c.source.push(r.source().slug());
            c.description.push(r.description());
            c.reporter.push(reporter_json(r));
            c.tags.push(tags_json(r));
            c.verification.push(r.verification().slug());
        }
        c
    }

    fn bind(self, sql: &'static str) -> sqlx::query::Query<'a, Postgres, PgArguments> {
        sqlx::query(sql)
            .bind(self.id)
            .bind(self.lon)
            .bind(self.lat)
            .bind(self.cell)
            .bind(self.occurred_at)
            .bind(self.received_at)
            .bind(self.category)
            .bind(self.severity)
            .bind(self.source)
            .bind(self.description)
            .bind(self.reporter)
            .bind(self.tags)
            .bind(self.verification)
    }
}

/// Whether an insert failed because a report with one of its ids is stored already.
fn is_duplicate_id(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().as_deref() == Some("23505") && db.constraint() == Some("reports_pkey"),
        _ => false,
    }
}

/// Inserts chunks of reports (ids unique and ascending, in the caller's transaction); returns
/// the ids actually inserted. Each chunk first tries [`INSERT_NEW`] under a savepoint; once an id
/// turns out to be stored (a replay, or a concurrent writer that committed it first) that chunk
/// and the rest go through [`INSERT_OR_SKIP`].
async fn insert_chunks(conn: &mut PgConnection, firsts: &[&Report]) -> Result<HashSet<Uuid>, StoreError> {
    let mut inserted: HashSet<Uuid> = HashSet::with_capacity(firsts.len());
    let mut replaying = false;
    for chunk in firsts.chunks(INSERT_CHUNK) {
        if !replaying {
            sqlx::query("SAVEPOINT new_reports").execute(&mut *conn).await?;
            match Columns::of(chunk).bind(INSERT_NEW).execute(&mut *conn).await {
                Ok(_) => {
                    sqlx::query("RELEASE SAVEPOINT new_reports").execute(&mut *conn).await?;
                    inserted.extend(chunk.iter().map(|r| r.id()));
                    continue;
                }
                Err(e) if is_duplicate_id(&e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT new_reports").execute(&mut *conn).await?;
                    replaying = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let rows = Columns::of(chunk).bind(INSERT_OR_SKIP).fetch_all(&mut *conn).await?;
        for row in &rows {
            inserted.insert(row.try_get("id")?);
        }
    }
    Ok(inserted)
}

/// Appends to the hash chain inside the caller's transaction, holding the audit table lock until
/// it ends so that appends are serialised.
async fn append_audit_in(conn: &mut PgConnection, mut entry: AuditEntry) -> Result<AuditEntry, StoreError> {
    refuse_nul("audit actor", &entry.actor)?;
    refuse_nul("audit action", &entry.action)?;
    refuse_nul("audit filter", &entry.filter)?;
    for o in &entry.objects {
        refuse_nul("audit object", o)?;
    }
    sqlx::query("LOCK TABLE audit_log IN EXCLUSIVE MODE").execute(&mut *conn).await?;
    let last =
        sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *conn).await?;
    let (seq, prev) = match last {
        Some(row) => (row.try_get::<i64, _>("seq")? + 1, row.try_get::<String, _>("hash")?),
        None => (1, String::new()),
    };
    entry.seq = seq;
    entry.at = truncate_micros(entry.at);
    entry.prev_hash = prev;
    entry.hash = entry.compute_hash();
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, objects, filter, count, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(entry.seq)
    .bind(entry.at)
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

impl PostgisStore {
    /// Connects to the database a `postgres://…` URL names and checks that its durability
    /// settings are safe. Does not migrate (see [`Store::migrate`]).
    ///
    /// # Errors
    /// [`StoreError::Config`] for a malformed URL, [`StoreError::Unavailable`] when the server
    /// cannot be reached, [`StoreError::UnsafeDurability`] naming the setting that is off.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        Self::open_with(options).await
    }

    /// Like [`PostgisStore::open`], with connect options built by the caller (e.g. a
    /// `search_path` that puts a test's own schema first).
    ///
    /// # Errors
    /// As [`PostgisStore::open`].
    pub async fn open_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        let (fsync, synchronous_commit, full_page_writes): (String, String, String) = sqlx::query_as(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'), \
             current_setting('full_page_writes')",
        )
        .fetch_one(&pool)
        .await?;
        if let Some(problem) = durability_problem(&fsync, &synchronous_commit, &full_page_writes) {
            pool.close().await;
            return Err(StoreError::UnsafeDurability(problem));
        }
        Ok(Self { pool })
    }

    /// The pool (for benchmarks and tests that inspect the database).
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Store for PostgisStore {
    fn backend(&self) -> &'static str {
        "postgis"
    }

    fn migrate(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
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
            Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn set_setting(&self, key: &'static str, value: String) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            refuse_nul("setting key", key)?;
            refuse_nul("setting value", &value)?;
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
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
            // The first occurrence of each id, in ascending id order (see `insert_reports_sql!`).
            let mut seen: HashSet<Uuid> = HashSet::with_capacity(reports.len());
            let mut firsts: Vec<&Report> = reports.iter().filter(|r| seen.insert(r.id())).collect();
            firsts.sort_unstable_by_key(|r| r.id());

            let mut tx = self.pool.begin().await?;
            let inserted = insert_chunks(&mut tx, &firsts).await?;
            // Skipped ids were stored before, or committed meanwhile by a concurrent writer that
            // ON CONFLICT waited for: either way this new statement sees them.
            let skipped: Vec<Uuid> = firsts.iter().map(|r| r.id()).filter(|id| !inserted.contains(id)).collect();
            let existing = fetch_reports(&mut tx, &skipped).await?;
            tx.commit().await?;

            let mut first_in_batch: HashMap<Uuid, &Report> = HashMap::with_capacity(inserted.len());
            let outcomes = reports
                .iter()
                .map(|r| {
                    let id = r.id();
                    if inserted.contains(&id) && !first_in_batch.contains_key(&id) {
                        first_in_batch.insert(id, r);
                        return InsertOutcome::Created;
                    }
                    let earlier = first_in_batch.get(&id).copied().or_else(|| existing.get(&id));
                    match earlier {
                        Some(e) if e.same_content(r) => InsertOutcome::Duplicate(Box::new(e.clone())),
                        _ => InsertOutcome::Conflict,
                    }
                })
                .collect();
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
            let after = from.id()?;
            // No lower bound on the first page (and no OR: a generic plan would lose the index).
            let sql = if after.is_some() {
                "SELECT id, lon, lat, occurred_at, received_at, category, severity, verification FROM reports \
                 WHERE id > $1 ORDER BY id LIMIT $2"
            } else {
                "SELECT id, lon, lat, occurred_at, received_at, category, severity, verification FROM reports \
                 WHERE $1::uuid IS NULL ORDER BY id LIMIT $2"
            };
            // Decoded as they stream in (a page never holds its rows and its cores at once).
            let mut stream =
                sqlx::query(sql).bind(after).bind(i64::try_from(limit.max(1)).unwrap_or(i64::MAX)).fetch(&self.pool);
            let mut cores = Vec::with_capacity(limit.min(100_000));
            while let Some(r) = futures_util::TryStreamExt::try_next(&mut stream).await? {
                cores.push(rows::core(
                    r.try_get("id")?,
                    (r.try_get("lon")?, r.try_get("lat")?),
                    (r.try_get("occurred_at")?, r.try_get("received_at")?),
                    r.try_get::<&str, _>("category")?,
                    i64::from(r.try_get::<i16, _>("severity")?),
                    r.try_get::<&str, _>("verification")?,
                )?);
            }
            let next = cores.last().map_or(from, |c| ScanCursor(Some(ScanPosition::Id(c.id))));
            Ok((cores, next))
        })
    }

    fn query_reports<'a>(&'a self, q: &'a ReportQuery) -> BoxFuture<'a, Result<Vec<Report>, StoreError>> {
        Box::pin(async move {
            let mut qb: QueryBuilder<Postgres> =
                QueryBuilder::new(format!("SELECT {REPORT_COLUMNS} FROM reports WHERE true"));
            if let Some(b) = &q.bbox {
                // `&&` against the envelope(s) uses the GiST index; its boxes are float4, rounded
                // outward, so the exact lon/lat test keeps the edges where `BBox::contains` has
                // them.
                if b.crosses_antimeridian() {
                    qb.push(" AND (geom && ST_MakeEnvelope(")
                        .push_bind(b.west())
                        .push(", ")
                        .push_bind(b.south())
                        .push(", 180, ")
                        .push_bind(b.north())
                        .push(", 4326) OR geom && ST_MakeEnvelope(-180, ")
                        .push_bind(b.south())
                        .push(", ")
                        .push_bind(b.east())
                        .push(", ")
                        .push_bind(b.north())
                        .push(", 4326))");
                    qb.push(" AND (lon >= ").push_bind(b.west()).push(" OR lon <= ").push_bind(b.east()).push(")");
                } else {
                    qb.push(" AND geom && ST_MakeEnvelope(")
                        .push_bind(b.west())
                        .push(", ")
                        .push_bind(b.south())
                        .push(", ")
                        .push_bind(b.east())
                        .push(", ")
                        .push_bind(b.north())
                        .push(", 4326)");
                    qb.push(" AND lon BETWEEN ").push_bind(b.west()).push(" AND ").push_bind(b.east());
                }
                qb.push(" AND lat BETWEEN ").push_bind(b.south()).push(" AND ").push_bind(b.north());
            }
            if let Some(from) = q.from {
                qb.push(" AND occurred_at >= ").push_bind(truncate_micros(from));
            }
            if let Some(to) = q.to {
                qb.push(" AND occurred_at < ").push_bind(truncate_micros(to));
            }
            if !q.categories.is_empty() {
                let slugs: Vec<&'static str> = q.categories.iter().map(|c| c.slug()).collect();
                qb.push(" AND category = ANY(").push_bind(slugs).push(")");
            }
            if !q.verification.is_empty() {
                let slugs: Vec<&'static str> = q.verification.iter().map(|v| v.slug()).collect();
                qb.push(" AND verification = ANY(").push_bind(slugs).push(")");
            }
            if let Some((at, id)) = q.after {
                qb.push(" AND (received_at, id) > (").push_bind(truncate_micros(at)).push(", ").push_bind(id).push(")");
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
            refuse_nul("verification actor", &change.actor)?;
            if let Some(note) = &change.note {
                refuse_nul("verification note", note)?;
            }
            let mut tx = self.pool.begin().await?;
            let updated = sqlx::query("UPDATE reports SET verification = $1 WHERE id = $2")
                .bind(change.status.slug())
                .bind(change.report_id)
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Ok(None);
            }
            sqlx::query(
                "INSERT INTO verification_changes (report_id, status, actor, at, note) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(change.report_id)
            .bind(change.status.slug())
            .bind(&change.actor)
            .bind(truncate_micros(change.at))
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
                "SELECT status, actor, at, note FROM verification_changes WHERE report_id = $1 ORDER BY seq",
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
                        at: row.try_get("at")?,
                        note: row.try_get("note")?,
                    })
                })
                .collect()
        })
    }

    fn withdraw_report(&self, id: Uuid, actor: String, at: DateTime<Utc>) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            refuse_nul("audit actor", &actor)?;
            let mut tx = self.pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM reports WHERE id = $1").bind(id).execute(&mut *tx).await?;
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
            refuse_nul("token hash", &token.hash)?;
            refuse_nul("token role", &token.role)?;
            refuse_nul("token name", &token.name)?;
            sqlx::query("INSERT INTO tokens (hash, role, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&token.hash)
                .bind(&token.role)
                .bind(&token.name)
                .bind(truncate_micros(token.created_at))
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn find_token(&self, hash: String) -> BoxFuture<'_, Result<Option<TokenRecord>, StoreError>> {
        Box::pin(async move {
            if hash.contains('\0') {
                // No stored hash holds a NUL (insert_token refuses them).
                return Ok(None);
            }
            let row = sqlx::query("SELECT hash, role, name, created_at FROM tokens WHERE hash = $1")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|row| {
                Ok(TokenRecord {
                    hash: row.try_get("hash")?,
                    role: row.try_get("role")?,
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .transpose()
        })
    }

    fn append_audit(&self, entry: AuditEntry) -> BoxFuture<'_, Result<AuditEntry, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let entry = append_audit_in(&mut tx, entry).await?;
            tx.commit().await?;
            Ok(entry)
        })
    }

    fn audit_log(&self, after_seq: i64, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, objects, filter, count, prev_hash, hash FROM audit_log \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
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
        alert: super::AlertRecord,
        actor: String,
        announce: super::Announce,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.insert_alert_tx(alert, actor, announce))
    }

    fn set_alert_status(
        &self,
        id: Uuid,
        step: super::AlertEvent,
        announce: super::Announce,
    ) -> BoxFuture<'_, Result<Option<super::AlertRecord>, StoreError>> {
        Box::pin(self.set_alert_status_tx(id, step, announce))
    }

    fn add_alert_action(
        &self,
        id: Uuid,
        action: super::AlertAction,
        announce: super::Announce,
    ) -> BoxFuture<'_, Result<Option<super::AlertRecord>, StoreError>> {
        Box::pin(self.add_alert_action_tx(id, action, announce))
    }

    fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<super::OutboxMessage>, StoreError>> {
        Box::pin(self.due_deliveries_q(now, limit))
    }

    fn record_delivery(
        &self,
        id: Uuid,
        outcome: Result<DateTime<Utc>, (Option<DateTime<Utc>>, String)>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.record_delivery_q(id, outcome))
    }

    fn outbox_counts(&self) -> BoxFuture<'_, Result<super::OutboxCounts, StoreError>> {
        Box::pin(self.outbox_counts_q())
    }

    fn list_alerts(
        &self,
        active_only: bool,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<super::AlertRecord>, StoreError>> {
        Box::pin(self.list_alerts_q(active_only, limit))
    }

    fn get_alert(&self, id: Uuid) -> BoxFuture<'_, Result<Option<super::AlertDetail>, StoreError>> {
        Box::pin(self.get_alert_q(id))
    }
}

#[cfg(test)]
mod tests {
    use super::durability_problem;

    #[test]
    fn safe_settings_pass() {
        for sc in ["on", "local", "remote_write", "remote_apply"] {
            assert_eq!(durability_problem("on", sc, "on"), None, "{sc}");
        }
    }

    #[test]
    fn each_unsafe_setting_is_named() {
        let named = |p: Option<String>, what: &str| p.is_some_and(|m| m.contains(what));
        assert!(named(durability_problem("off", "on", "on"), "fsync = off"));
        assert!(named(durability_problem("on", "off", "on"), "synchronous_commit = off"));
        assert!(named(durability_problem("on", "on", "off"), "full_page_writes = off"));
    }
}
