//! Use cases: the store (source of truth) and the engine (in-memory scores) kept in step.
//!
//! A report is stored first and enters the engine only after its commit; the engine is rebuilt
//! from the store at start-up. Knows the [`Store`] trait, never a concrete backend.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::config::{Config, region_from_text};
use crate::domain::{FieldError, Region, Report, ReportInput, ValidationErrors, ValidationRules, Verification, field};
use crate::scoring::{Engine, Entry, ScoringError};
use crate::store::{AuditEntry, InsertOutcome, ReportQuery, ScanCursor, Store, StoreError, VerificationChange};

/// Reports read per page while rebuilding the engine (each backend decodes rows as they stream
/// in, so a page costs only its `ReportCore`s: 20 000 → 1.6 MB).
const REBUILD_PAGE: usize = 20_000;

/// Submissions of at most this many reports may share a transaction with others: single POSTs,
/// and bulk bodies of up to 1 000 (concurrent bulks of 1 000 into a fresh store: 38–42 k → 41–51 k
/// reports/s once they shared fsyncs; docs/perf.md).
const GROUP_ITEM_MAX: usize = 1_000;
/// The most reports one group commit holds.
const GROUP_MAX: usize = 4_096;

/// A commit's answer: the reports themselves (moved through the committer, never copied) with
/// their outcomes.
type Committed = Result<(Vec<Report>, Vec<InsertOutcome>), StoreError>;

/// A submission waiting for the committer.
struct PendingCommit {
    reports: Vec<Report>,
    reply: tokio::sync::oneshot::Sender<Committed>,
}

/// The committer: takes the waiting submissions (up to [`GROUP_MAX`] reports), stores them in
/// one `insert_reports` call, and answers each with its own outcomes. If the shared call fails,
/// each submission is retried alone, so one bad submission cannot fail the others.
fn spawn_committer(store: Arc<dyn Store>) -> tokio::sync::mpsc::Sender<PendingCommit> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<PendingCommit>(1_024);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut group = vec![first];
            let mut size = group[0].reports.len();
            while size < GROUP_MAX {
                match rx.try_recv() {
                    Ok(p) => {
                        size += p.reports.len();
                        group.push(p);
                    }
                    Err(_) => break,
                }
            }
            let mut all: Vec<Report> = Vec::with_capacity(size);
            let mut parts = Vec::with_capacity(group.len());
            for p in group {
                parts.push((p.reports.len(), p.reply));
                all.extend(p.reports);
            }
            let result = store.insert_reports(&all).await;
            let mut all = all.into_iter();
            match result {
                Ok(outcomes) => {
                    let mut outcomes = outcomes.into_iter();
                    for (len, reply) in parts {
                        let _ =
                            reply.send(Ok((all.by_ref().take(len).collect(), outcomes.by_ref().take(len).collect())));
                    }
                }
                // One submission alone: its own error.
                Err(e) if parts.len() == 1 => {
                    let _ = parts.remove(0).1.send(Err(e));
                }
                Err(_) => {
                    for (len, reply) in parts {
                        let reports: Vec<Report> = all.by_ref().take(len).collect();
                        let _ = reply.send(store.insert_reports(&reports).await.map(|o| (reports, o)));
                    }
                }
            }
        }
    });
    tx
}

/// Loads every stored report into the engine: the store is read (engine columns only, in the
/// table's own order — the engine does not depend on order) while the previous page is scored,
/// and the R-tree is bulk-loaded once at the end.
async fn rebuild(store: &Arc<dyn Store>, engine: &mut Engine) -> Result<(), ServiceError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<crate::domain::ReportCore>>(2);
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut cursor = ScanCursor::default();
            loop {
                let (page, next) = store.scan_cores(cursor, REBUILD_PAGE).await?;
                if page.is_empty() {
                    return Ok::<_, StoreError>(());
                }
                cursor = next;
                if tx.send(page).await.is_err() {
                    return Ok(());
                }
            }
        })
    };
    let mut bulk = engine.bulk();
    while let Some(page) = rx.recv().await {
        bulk.push(&page);
    }
    drop(bulk);
    reader.await.map_err(|e| StoreError::Unavailable(format!("rebuild reader: {e}")))??;
    Ok(())
}

/// Errors of the use cases.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed (unavailable, unsafe, corrupt).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The input is invalid; nothing was stored.
    #[error("invalid input: {0}")]
    Invalid(ValidationErrors),
    /// No such object (or not visible).
    #[error("not found")]
    NotFound,
    /// The deployment is misconfigured.
    #[error("configuration: {0}")]
    Config(String),
}

impl From<ScoringError> for ServiceError {
    fn from(e: ScoringError) -> Self {
        match e {
            ScoringError::NotFound(_) => Self::NotFound,
            other => Self::Config(other.to_string()),
        }
    }
}

/// What happened to one submitted report.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// Stored now (201).
    Created(Report),
    /// An identical replay of a stored report (200).
    Duplicate(Report),
    /// Refused; nothing stored.
    Rejected(ValidationErrors),
}

/// A change the live map and alerting listen to.
#[derive(Debug, Clone)]
pub enum Event {
    /// A report entered the engine.
    Report(Entry),
    /// Scores changed in these base cells (and their parents and neighbours).
    Cells(Vec<h3o::CellIndex>),
    /// An early warning was raised or changed (already serialised for every role).
    Alert(serde_json::Value),
}

/// Where recent changes happened, so cached tiles elsewhere stay valid.
#[derive(Debug, Default)]
struct ChangeLog {
    /// (engine version after the change, lon, lat), oldest first.
    points: std::collections::VecDeque<(u64, f64, f64)>,
    /// Versions at or below this are no longer covered by `points`.
    trimmed_to: u64,
}

/// Changes kept for tile invalidation.
const CHANGE_LOG_LEN: usize = 50_000;

/// The running deployment.
pub struct Service {
    store: Arc<dyn Store>,
    /// Small submissions waiting to share one durable transaction (group commit).
    commits: tokio::sync::mpsc::Sender<PendingCommit>,
    engine: RwLock<Engine>,
    changes: std::sync::Mutex<ChangeLog>,
    region: Region,
    config: Config,
    events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("backend", &self.store.backend()).finish_non_exhaustive()
    }
}

impl Service {
    /// Opens the deployment on a migrated store: settles the region (given now, or remembered),
    /// and rebuilds the engine from every stored report.
    ///
    /// # Errors
    /// [`ServiceError::Config`] without a region or with one that differs from the stored one;
    /// [`ServiceError::Store`] when the store fails.
    pub async fn start(store: Arc<dyn Store>, config: Config) -> Result<Arc<Self>, ServiceError> {
        let stored = store.setting("region").await?;
        let given = config
            .region
            .as_ref()
            .map(crate::config::RegionSpec::to_stored)
            .transpose()
            .map_err(ServiceError::Config)?;
        let text = match (stored, given) {
            (None, None) => {
                return Err(ServiceError::Config(
                    "no region: give --region minLon,minLat,maxLon,maxLat (or a GeoJSON Polygon file) the first time a store is used".into(),
                ));
            }
            (Some(s), None) => s,
            (None, Some(g)) => {
                region_from_text(&g).map_err(ServiceError::Config)?;
                store.set_setting("region", g.clone()).await?;
                g
            }
            (Some(s), Some(g)) => {
                if region_from_text(&s).map_err(ServiceError::Config)?
                    != region_from_text(&g).map_err(ServiceError::Config)?
                {
                    return Err(ServiceError::Config(
                        "--region differs from the region this store was created with".into(),
                    ));
                }
                s
            }
        };
        let region = region_from_text(&text).map_err(ServiceError::Config)?;
        let started = std::time::Instant::now();
        let mut engine = Engine::new(&region, config.scoring.clone())?;
        rebuild(&store, &mut engine).await?;
        let took_ms = started.elapsed().as_millis();
        tracing::info!(reports = engine.len(), backend = store.backend(), took_ms, "engine rebuilt from the store");
        let (events, _) = broadcast::channel(1024);
        let changes = std::sync::Mutex::new(ChangeLog {
            points: std::collections::VecDeque::new(),
            trimmed_to: engine.version(),
        });
        let commits = spawn_committer(store.clone());
        Ok(Arc::new(Self { store, commits, engine: RwLock::new(engine), changes, region, config, events }))
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The deployment region.
    #[must_use]
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Read access to the engine (scores, cells, hotspots). Hold it briefly.
    ///
    /// # Panics
    /// Never in practice: a poisoned lock is recovered (the engine has no broken invariants
    /// across a panic because every mutation is a single call).
    pub fn engine(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn engine_mut(&self) -> RwLockWriteGuard<'_, Engine> {
        self.engine.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record_changes(&self, version: u64, points: impl IntoIterator<Item = (f64, f64)>) {
        let mut log = self.changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (lon, lat) in points {
            log.points.push_back((version, lon, lat));
        }
        while log.points.len() > CHANGE_LOG_LEN {
            if let Some((v, _, _)) = log.points.pop_front() {
                log.trimmed_to = log.trimmed_to.max(v);
            }
        }
    }

    /// Whether anything changed inside `bbox` after engine version `since`. `true` when the log
    /// no longer reaches back that far.
    #[must_use]
    pub fn changed_since(&self, since: u64, bbox: &crate::domain::BBox) -> bool {
        let log = self.changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if since < log.trimmed_to {
            return true;
        }
        log.points.iter().rev().take_while(|(v, _, _)| *v > since).any(|(_, lon, lat)| bbox.contains(*lon, *lat))
    }

    /// Publishes an event to every live subscriber.
    pub fn publish(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Live events (reports, changed cells).
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Validates, stores (durably) and indexes reports; one outcome per input, in order. Invalid
    /// items are rejected individually; the valid ones are stored in one transaction.
    ///
    /// # Errors
    /// [`ServiceError::Store`] when the store fails: then nothing was acknowledged.
    pub async fn submit(&self, inputs: Vec<ReportInput>, backfill: bool) -> Result<Vec<ItemOutcome>, ServiceError> {
        let now = Utc::now();
        let rules =
            ValidationRules { region: &self.region, deployment_start: self.config.deployment_start, now, backfill };
        let mut outcomes: Vec<Option<ItemOutcome>> = Vec::with_capacity(inputs.len());
        let mut valid: Vec<Report> = Vec::new();
        let mut slots: Vec<usize> = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            match input.validate(&rules) {
                Ok(r) => {
                    valid.push(r);
                    slots.push(i);
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(ItemOutcome::Rejected(e))),
            }
        }
        let (valid, stored) = if valid.is_empty() { (valid, Vec::new()) } else { self.commit(valid).await? };
        let created: Vec<&Report> =
            valid.iter().zip(&stored).filter(|(_, o)| matches!(o, InsertOutcome::Created)).map(|(r, _)| r).collect();
        if !created.is_empty() {
            let entries: Vec<Entry> = {
                let mut engine = self.engine_mut();
                if created.len() > 64 {
                    engine.extend(created.iter().copied());
                } else {
                    for r in &created {
                        // Only a concurrent identical insert can make this fail; the store
                        // already decided which one was created.
                        let _ = engine.insert(r);
                    }
                }
                let entries: Vec<Entry> = created.iter().filter_map(|r| engine.get(r.id()).copied()).collect();
                self.record_changes(engine.version(), entries.iter().map(|e| (e.lon, e.lat)));
                entries
            };
            let cells = entries.iter().map(|e| e.cell).collect();
            for e in entries {
                let _ = self.events.send(Event::Report(e));
            }
            let _ = self.events.send(Event::Cells(cells));
        }
        for ((slot, report), outcome) in slots.into_iter().zip(valid).zip(stored) {
            outcomes[slot] = Some(match outcome {
                InsertOutcome::Created => ItemOutcome::Created(report),
                InsertOutcome::Duplicate(existing) => ItemOutcome::Duplicate(*existing),
                InsertOutcome::Conflict => ItemOutcome::Rejected(ValidationErrors(vec![FieldError::new(
                    field::ID,
                    "id_conflict",
                    "a different report was already stored with this id",
                )])),
            });
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or(ItemOutcome::Rejected(ValidationErrors::default()))).collect())
    }

    /// Stores reports durably. Small submissions arriving together share one transaction (one
    /// fsync) through the committer task; each caller still returns only after that commit, with
    /// the outcomes of its own reports, exactly as if the submissions had been stored one after
    /// the other. Large ones are stored on their own.
    /// The reports come back with their outcomes.
    async fn commit(&self, reports: Vec<Report>) -> Committed {
        if reports.len() > GROUP_ITEM_MAX {
            return self.store.insert_reports(&reports).await.map(|o| (reports, o));
        }
        let closed = || StoreError::Unavailable("the commit queue is closed".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commits.send(PendingCommit { reports, reply }).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// One stored report.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn get(&self, id: Uuid) -> Result<Option<Report>, ServiceError> {
        Ok(self.store.get_report(id).await?)
    }

    /// A page of stored reports.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn query(&self, q: &ReportQuery) -> Result<Vec<Report>, ServiceError> {
        Ok(self.store.query_reports(q).await?)
    }

    /// Changes a report's verification (stored with who/when/note, then applied to the scores).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown id; [`ServiceError::Store`].
    pub async fn verify(
        &self,
        id: Uuid,
        status: Verification,
        note: Option<String>,
        actor: &str,
    ) -> Result<Report, ServiceError> {
        let change = VerificationChange { report_id: id, status, actor: actor.to_string(), at: Utc::now(), note };
        let report = self.store.set_verification(change).await?.ok_or(ServiceError::NotFound)?;
        let cell = {
            let mut engine = self.engine_mut();
            engine.set_verification(id, status)?;
            let entry = engine.get(id).copied();
            self.record_changes(engine.version(), entry.map(|e| (e.lon, e.lat)));
            entry.map(|e| e.cell)
        };
        let _ = self.events.send(Event::Cells(cell.into_iter().collect()));
        Ok(report)
    }

    /// The recorded verification changes of a report.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn verification_history(&self, id: Uuid) -> Result<Vec<VerificationChange>, ServiceError> {
        Ok(self.store.verification_history(id).await?)
    }

    /// Withdraws a report: deleted from the store (an audit record without content stays), then
    /// removed from every score.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown id; [`ServiceError::Store`].
    pub async fn withdraw(&self, id: Uuid, actor: &str) -> Result<(), ServiceError> {
        if !self.store.withdraw_report(id, actor.to_string(), Utc::now()).await? {
            return Err(ServiceError::NotFound);
        }
        let cell = {
            let mut engine = self.engine_mut();
            let entry = engine.get(id).copied();
            engine.withdraw(id)?;
            self.record_changes(engine.version(), entry.map(|e| (e.lon, e.lat)));
            entry.map(|e| e.cell)
        };
        let _ = self.events.send(Event::Cells(cell.into_iter().collect()));
        Ok(())
    }

    /// Appends an audit record.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        objects: Vec<String>,
        filter: String,
        count: usize,
    ) -> Result<(), ServiceError> {
        let entry = AuditEntry {
            seq: 0,
            at: Utc::now(),
            actor: actor.to_string(),
            action: action.to_string(),
            objects,
            filter,
            count: i64::try_from(count).unwrap_or(i64::MAX),
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.store.append_audit(entry).await?;
        Ok(())
    }

    /// The current time, in engine milliseconds.
    #[must_use]
    pub fn now_ms() -> i64 {
        Utc::now().timestamp_millis()
    }

    /// The time a query asks for: `at`, or now.
    #[must_use]
    pub fn at_ms(at: Option<DateTime<Utc>>) -> i64 {
        at.map_or_else(Self::now_ms, |t| t.timestamp_millis())
    }
}
