//! Durable storage: the [`Store`] trait and its two backends, embedded SQLite ([`sqlite`], the
//! default) and PostGIS ([`postgis`]). sqlx lives only here; SQL lives only here and in
//! `migrations/`, always with bind parameters.
//!
//! A write returns only after its commit is durable: SQLite runs in WAL mode with
//! `synchronous=FULL`; PostgreSQL must have `fsync` and `synchronous_commit` on, or kinga
//! refuses to start. The same contract suite (`tests/store/`) runs on both backends.

pub mod postgis;
mod postgis_alerts;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{BBox, Category, Report, ReportCore, Verification};

/// A boxed, sendable future: keeps [`Store`] object-safe so the service holds `Arc<dyn Store>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or failed to commit: nothing was stored (HTTP 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database's durability settings are too weak to acknowledge reports.
    #[error("unsafe durability: {0}")]
    UnsafeDurability(String),
    /// A stored row could not be read back as a valid value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The configuration does not match the store (e.g. another region).
    #[error("configuration: {0}")]
    Config(String),
    /// A value the database cannot hold faithfully (e.g. a NUL character, which PostgreSQL
    /// `text` refuses): nothing was stored.
    #[error("rejected: {0}")]
    Rejected(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
                Self::Corrupt(e.to_string())
            }
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(e.to_string())
    }
}

/// Where a [`Store::scan_cores`] pass stands: start from `ScanCursor::default()`, then pass the
/// cursor each page returns. Opaque: each backend reads its table in its own storage order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanCursor(pub(crate) Option<ScanPosition>);

impl ScanCursor {
    /// SQLite's position: the last rowid read (0 before the first page).
    pub(crate) fn rowid(self) -> Result<i64, StoreError> {
        match self.0 {
            None => Ok(0),
            Some(ScanPosition::Row(rowid)) => Ok(rowid),
            Some(ScanPosition::Id(_)) => Err(Self::foreign()),
        }
    }

    /// PostGIS's position: the last id read (`None` before the first page).
    pub(crate) fn id(self) -> Result<Option<Uuid>, StoreError> {
        match self.0 {
            None => Ok(None),
            Some(ScanPosition::Id(id)) => Ok(Some(id)),
            Some(ScanPosition::Row(_)) => Err(Self::foreign()),
        }
    }

    fn foreign() -> StoreError {
        StoreError::Config("a scan cursor of the other backend".into())
    }
}

/// A backend's position in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanPosition {
    /// SQLite: the last rowid read (rows are stored in arrival order).
    Row(i64),
    /// PostGIS: the last id read (the primary-key order).
    Id(Uuid),
}

/// Result of one insert.
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    /// Stored now.
    Created,
    /// The same id with the same content was stored before: the stored report (idempotent replay).
    Duplicate(Box<Report>),
    /// The same id was stored before with different content: nothing changed.
    Conflict,
}

/// A page of reports filtered as the caller asked, ordered by (`received_at`, `id`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportQuery {
    /// Only reports inside this box.
    pub bbox: Option<BBox>,
    /// `occurred_at ≥ from`.
    pub from: Option<DateTime<Utc>>,
    /// `occurred_at < to`.
    pub to: Option<DateTime<Utc>>,
    /// Only these categories (empty: all).
    pub categories: Vec<Category>,
    /// Only these verification states (empty: all).
    pub verification: Vec<Verification>,
    /// Keyset cursor: reports strictly after this (`received_at`, `id`).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// Page size (the store caps it at [`MAX_PAGE`]).
    pub limit: usize,
}

/// The largest page any query returns.
pub const MAX_PAGE: usize = 10_000;

/// One recorded verification change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationChange {
    /// The report.
    pub report_id: Uuid,
    /// The new state.
    pub status: Verification,
    /// Who (token name or id).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why (restricted free text).
    pub note: Option<String>,
}

/// An API token as stored: only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// Role slug.
    pub role: String,
    /// Display name (the actor in audit records).
    pub name: String,
    /// When created.
    pub created_at: DateTime<Utc>,
}

/// One entry of the append-only, hash-chained audit log. Never holds coordinates or free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain (assigned by the store).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What (`export`, `read_restricted`, `withdraw`, `verify`, `denied`, …).
    pub action: String,
    /// Objects concerned (report ids, layer names).
    pub objects: Vec<String>,
    /// The filter used, as query text without coordinates of individual reports.
    pub filter: String,
    /// Rows concerned.
    pub count: i64,
    /// Hex SHA-256 of the previous entry (`""` for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over this entry's fields and `prev_hash`.
    pub hash: String,
}

impl AuditEntry {
    /// The chain hash of an entry's content after `prev_hash`.
    #[must_use]
    pub fn compute_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.seq.to_string().as_str(),
            &self.at.timestamp_micros().to_string(),
            &self.actor,
            &self.action,
            &self.objects.join(","),
            &self.filter,
            &self.count.to_string(),
            &self.prev_hash,
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        hex(&h.finalize())
    }
}

/// An early warning as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// Identifier.
    pub id: Uuid,
    /// Rule slug (`high_risk`, `spike`, `hotspot`, `trigger`, `cluster`).
    pub kind: String,
    /// H3 cell (hex) at the alert resolution.
    pub cell: String,
    /// That resolution.
    pub res: u8,
    /// When the condition was first met.
    pub opened_at: DateTime<Utc>,
    /// `open`, `acknowledged`, `resolved` (by a person) or `closed` (the condition cleared).
    pub status: String,
    /// Risk level when opened.
    pub level: String,
    /// Score when opened.
    pub score: f64,
    /// Why, in one line (no coordinates, no free text from reports).
    pub reason: String,
    /// When resolved or closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// A lifecycle step of an alert: who moved it to which status, when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    /// The new status.
    pub status: String,
    /// Who (`kinga` for automatic steps).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub note: Option<String>,
}

/// Something done about an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertAction {
    /// What was done.
    pub action: String,
    /// By whom.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A webhook delivery waiting in the outbox: written in the same transaction as the alert change
/// it announces, so an acknowledged change is never left unannounced by a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The delivery's identifier, sent as its idempotency key (the same on every retry).
    pub id: Uuid,
    /// Where it goes (the configured webhook URL).
    pub target: String,
    /// The alert it announces.
    pub alert_id: Uuid,
    /// The JSON body, fixed at enqueue time (retries send the same bytes).
    pub body: String,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// Builds the outbox messages announcing an alert change from the alert as it is after the
/// change; called by the store inside the change's transaction.
pub type Announce = Box<dyn FnOnce(&AlertRecord) -> Vec<OutboxMessage> + Send>;

/// An [`Announce`] that enqueues nothing (no webhooks configured).
#[must_use]
pub fn announce_nothing() -> Announce {
    Box::new(|_| Vec::new())
}

/// Outbox counts, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    /// Waiting to be delivered (including retries).
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up after the last retry.
    pub failed: u64,
}

/// The outbox counts query, the same on both backends.
pub(crate) const OUTBOX_COUNTS_SQL: &str = "SELECT status, count(*) FROM webhook_outbox GROUP BY status";

impl OutboxCounts {
    /// From the `(status, count)` rows of [`OUTBOX_COUNTS_SQL`].
    pub(crate) fn from_groups(rows: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut c = Self::default();
        for (status, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match status.as_str() {
                "pending" => c.pending = n,
                "delivered" => c.delivered = n,
                _ => c.failed = n,
            }
        }
        c
    }
}

/// One alert with its lifecycle steps and actions, oldest first.
pub type AlertDetail = (AlertRecord, Vec<AlertEvent>, Vec<AlertAction>);

/// Checks an audit log read in order: every hash matches and links to the previous one.
///
/// # Errors
/// The `seq` of the first entry that does not verify.
pub fn verify_audit_chain(entries: &[AuditEntry]) -> Result<(), i64> {
    let mut prev = String::new();
    for e in entries {
        if e.prev_hash != prev || e.compute_hash() != e.hash {
            return Err(e.seq);
        }
        prev.clone_from(&e.hash);
    }
    Ok(())
}

/// Lower-case hex of bytes.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The storage contract. Every method that writes returns after a durable commit, or fails and
/// leaves nothing behind.
pub trait Store: Send + Sync {
    /// `"sqlite"` or `"postgis"`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations.
    fn migrate(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Whether the database answers (for `/readyz`).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Reads a deployment setting (`region`, `deployment_start`).
    fn setting(&self, key: &'static str) -> BoxFuture<'_, Result<Option<String>, StoreError>>;

    /// Writes a deployment setting.
    fn set_setting(&self, key: &'static str, value: String) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Inserts reports in one transaction, idempotent on `id`; one outcome per input, in order.
    fn insert_reports<'a>(&'a self, reports: &'a [Report]) -> BoxFuture<'a, Result<Vec<InsertOutcome>, StoreError>>;

    /// One report.
    fn get_report(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Report>, StoreError>>;

    /// The engine's columns of every report ([`ReportCore`]), at most `limit` (any size) after
    /// `from`, and the cursor of the next page (an empty page: the pass is complete). The
    /// start-up rebuild: the table read in its own storage order with no text columns; each
    /// report stored before the pass began comes exactly once.
    fn scan_cores(
        &self,
        from: ScanCursor,
        limit: usize,
    ) -> BoxFuture<'_, Result<(Vec<ReportCore>, ScanCursor), StoreError>>;

    /// A page of reports (see [`ReportQuery`]).
    fn query_reports<'a>(&'a self, query: &'a ReportQuery) -> BoxFuture<'a, Result<Vec<Report>, StoreError>>;

    /// Number of stored reports.
    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Changes a report's verification and records who, when and why, in one transaction.
    /// `None` when the report does not exist.
    fn set_verification(&self, change: VerificationChange) -> BoxFuture<'_, Result<Option<Report>, StoreError>>;

    /// The recorded verification changes of a report, oldest first.
    fn verification_history(&self, id: Uuid) -> BoxFuture<'_, Result<Vec<VerificationChange>, StoreError>>;

    /// Withdraws (deletes) a report and its history, writing an audit entry without content in
    /// the same transaction. `false` when it did not exist.
    fn withdraw_report(&self, id: Uuid, actor: String, at: DateTime<Utc>) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Stores a token (its hash only).
    fn insert_token(&self, token: TokenRecord) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Finds a token by hash.
    fn find_token(&self, hash: String) -> BoxFuture<'_, Result<Option<TokenRecord>, StoreError>>;

    /// Appends an audit entry (seq, `prev_hash` and hash are assigned here).
    fn append_audit(&self, entry: AuditEntry) -> BoxFuture<'_, Result<AuditEntry, StoreError>>;

    /// The audit log, oldest first, from `after_seq` (exclusive), at most `limit` entries.
    fn audit_log(&self, after_seq: i64, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>>;

    /// Stores a new alert with its opening event and the outbox messages `announce` makes of
    /// it, in one transaction.
    fn insert_alert(
        &self,
        alert: AlertRecord,
        actor: String,
        announce: Announce,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Moves an alert to `status`, recording the step; `closed_at` is set for `resolved` and
    /// `closed`; the outbox messages `announce` makes of the updated alert are enqueued in the
    /// same transaction. `None` (and nothing written) when the alert does not exist.
    fn set_alert_status(
        &self,
        id: Uuid,
        step: AlertEvent,
        announce: Announce,
    ) -> BoxFuture<'_, Result<Option<AlertRecord>, StoreError>>;

    /// Records an action taken, with the outbox messages `announce` makes, in one transaction;
    /// `None` (and nothing written) when the alert does not exist.
    fn add_alert_action(
        &self,
        id: Uuid,
        action: AlertAction,
        announce: Announce,
    ) -> BoxFuture<'_, Result<Option<AlertRecord>, StoreError>>;

    /// Undelivered outbox messages due at `now`, in the order they were enqueued (by id), at
    /// most `limit`.
    fn due_deliveries(&self, now: DateTime<Utc>, limit: usize)
    -> BoxFuture<'_, Result<Vec<OutboxMessage>, StoreError>>;

    /// Records a delivery attempt: delivered (`Ok`), to be retried at `Err(Some(t))`, or given up
    /// (`Err(None)`), with the error text of a failure.
    fn record_delivery(
        &self,
        id: Uuid,
        outcome: Result<DateTime<Utc>, (Option<DateTime<Utc>>, String)>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// How many outbox messages are pending, delivered and failed.
    fn outbox_counts(&self) -> BoxFuture<'_, Result<OutboxCounts, StoreError>>;

    /// Alerts, newest first: only `open`/`acknowledged` ones when `active_only`.
    fn list_alerts(&self, active_only: bool, limit: usize) -> BoxFuture<'_, Result<Vec<AlertRecord>, StoreError>>;

    /// One alert with its lifecycle steps and actions, oldest first.
    fn get_alert(&self, id: Uuid) -> BoxFuture<'_, Result<Option<AlertDetail>, StoreError>>;
}

/// Connects to the store a database URL names (`sqlite://…` or `postgres://…`) and migrates it.
///
/// # Errors
/// [`StoreError`] when the URL is unsupported, the database cannot be opened, durability is
/// unsafe, or a migration fails.
pub async fn connect(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    let store: std::sync::Arc<dyn Store> = if url.starts_with("sqlite:") {
        std::sync::Arc::new(sqlite::SqliteStore::open(url).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        std::sync::Arc::new(postgis::PostgisStore::open(url).await?)
    } else {
        return Err(StoreError::Config("database URL must start with sqlite:// or postgres://".into()));
    };
    store.migrate().await?;
    Ok(store)
}

/// Row helpers shared by both backends: converting stored columns back to domain values.
pub(crate) mod rows {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::StoreError;
    use crate::domain::{Category, Report, ReportParts, Reporter, Severity, Source, Verification};

    /// The columns of a report row, as both backends read them.
    pub struct RawReport {
        pub id: Uuid,
        pub lon: f64,
        pub lat: f64,
        pub occurred_at: DateTime<Utc>,
        pub received_at: DateTime<Utc>,
        pub category: String,
        pub severity: i64,
        pub source: String,
        pub description: Option<String>,
        pub reporter: Option<String>,
        pub tags: Option<String>,
        pub verification: String,
    }

    /// Decodes the engine columns of a row.
    pub fn core(
        id: Uuid,
        (lon, lat): (f64, f64),
        (occurred_at, received_at): (DateTime<Utc>, DateTime<Utc>),
        category: &str,
        severity: i64,
        verification: &str,
    ) -> Result<crate::domain::ReportCore, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("report {id}: invalid {what}"));
        Ok(crate::domain::ReportCore {
            id,
            lon,
            lat,
            occurred_at,
            received_at,
            category: Category::from_slug(category).ok_or_else(|| bad("category"))?,
            severity: Severity::new(severity).ok_or_else(|| bad("severity"))?,
            verification: Verification::from_slug(verification).ok_or_else(|| bad("verification"))?,
        })
    }

    impl RawReport {
        pub fn into_report(self) -> Result<Report, StoreError> {
            let bad = |what: &str| StoreError::Corrupt(format!("report {}: invalid {what}", self.id));
            let reporter = match &self.reporter {
                None => None,
                Some(json) => Some(serde_json::from_str::<Reporter>(json).map_err(|_| bad("reporter"))?),
            };
            let tags = match &self.tags {
                None => Vec::new(),
                Some(json) => serde_json::from_str::<Vec<String>>(json).map_err(|_| bad("tags"))?,
            };
            Report::from_parts(ReportParts {
                id: self.id,
                lon: self.lon,
                lat: self.lat,
                occurred_at: self.occurred_at,
                received_at: self.received_at,
                category: Category::from_slug(&self.category).ok_or_else(|| bad("category"))?,
                severity: Severity::new(self.severity).ok_or_else(|| bad("severity"))?,
                source: Source::from_slug(&self.source).ok_or_else(|| bad("source"))?,
                description: self.description.clone(),
                reporter,
                tags,
                verification: Verification::from_slug(&self.verification).ok_or_else(|| bad("verification"))?,
            })
            .map_err(|_| bad("coordinates"))
        }
    }

    /// Refuses text a backend cannot store faithfully, before anything is written. Validation at
    /// the edge already rejects NUL; this keeps the store honest for every other caller.
    pub fn check_text(reports: &[Report]) -> Result<(), StoreError> {
        for r in reports {
            let reporter = r.reporter().into_iter().flat_map(|p| [&p.name, &p.phone, &p.contact]).flatten();
            let texts = r
                .description()
                .into_iter()
                .chain(reporter.map(String::as_str))
                .chain(r.tags().iter().map(String::as_str));
            for t in texts {
                if t.contains('\0') {
                    return Err(StoreError::Rejected(format!("report {}: text contains a NUL character", r.id())));
                }
            }
        }
        Ok(())
    }

    /// JSON text of the reporter, or `None`.
    pub fn reporter_json(r: &Report) -> Option<String> {
        r.reporter().and_then(|r| serde_json::to_string(r).ok())
    }

    /// JSON text of the tags, or `None` when there are none.
    pub fn tags_json(r: &Report) -> Option<String> {
        if r.tags().is_empty() { None } else { serde_json::to_string(r.tags()).ok() }
    }
}
