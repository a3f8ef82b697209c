//! The engine: every report in memory (arena + R-tree + H3 accumulators), answering scores,
//! cells and hotspots *as of* any time.
//!
//! The store is the source of truth; the engine is rebuilt from it at start-up and then follows
//! each accepted report, verification change and withdrawal incrementally. A query at or after
//! the newest `received_at` reads the live accumulators; an earlier `t` (a replay) recomputes
//! a batch state from the reports received by then, with the same scoring code.

use h3o::{CellIndex, Resolution};
use rustc_hash::FxHashMap;
use uuid::Uuid;

use super::params::{Contribution, ScoringParams};
use super::state::ScoreState;
use super::view::View;
use crate::domain::{BBox, Category, Millis, Region, Report, ReportCore, Severity, Verification, to_millis};
use crate::index::{ReportIndex, StudyArea, grid};

/// What the engine keeps of a report: no free text, no reporter details.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// Report id.
    pub id: Uuid,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Base-resolution cell.
    pub cell: CellIndex,
    /// `occurred_at`, ms.
    pub occurred: Millis,
    /// `received_at`, ms.
    pub received: Millis,
    /// Category.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Verification state.
    pub verification: Verification,
    alive: bool,
}

/// A bulk load into an [`Engine`]; see [`Engine::bulk`].
#[derive(Debug)]
pub struct Bulk<'a> {
    engine: &'a mut Engine,
    added: usize,
}

impl Bulk<'_> {
    /// Scores these reports (ids already held are skipped); returns how many were added.
    pub fn push(&mut self, reports: &[ReportCore]) -> usize {
        let e = &mut *self.engine;
        e.entries.reserve(reports.len());
        e.by_id.reserve(reports.len());
        let added = reports.iter().filter(|r| e.push_entry(r).is_ok()).count();
        self.added += added;
        added
    }
}

impl Drop for Bulk<'_> {
    /// Rebuilds the R-tree over every live report, once.
    fn drop(&mut self) {
        if self.added == 0 {
            return;
        }
        let points = self.engine.entries.iter().enumerate().filter(|(_, e)| e.alive).map(|(k, e)| {
            #[expect(clippy::cast_possible_truncation, reason = "keys are u32 by construction")]
            (e.lon, e.lat, k as u32)
        });
        self.engine.index = ReportIndex::bulk_load(points.collect());
    }
}

impl Entry {
    /// The time the report's weight decays from: `occurred_at`, but never after `received_at`
    /// (a phone clock a few minutes fast must not make a report count more than its weight).
    #[must_use]
    pub fn event(&self) -> Millis {
        self.occurred.min(self.received)
    }

    /// Still in the engine (not withdrawn).
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.alive
    }
}

/// Errors of the scoring core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoringError {
    /// A report with this id is already in the engine.
    #[error("report {0} is already indexed")]
    Duplicate(Uuid),
    /// No report with this id.
    #[error("report {0} is not indexed")]
    NotFound(Uuid),
    /// The parameters are unusable.
    #[error("invalid scoring parameters: {0}")]
    Params(String),
    /// The engine holds 2^32 reports already.
    #[error("the engine is full")]
    Full,
}

/// The in-memory engine. Not internally synchronised: wrap it in a lock to share it.
#[derive(Debug)]
pub struct Engine {
    params: ScoringParams,
    area: StudyArea,
    entries: Vec<Entry>,
    by_id: FxHashMap<Uuid, u32>,
    index: ReportIndex,
    live: ScoreState,
    watermark: Option<Millis>,
    version: u64,
}

impl Engine {
    /// An empty engine for a region.
    ///
    /// # Errors
    /// [`ScoringError::Params`] when the parameters do not validate.
    pub fn new(region: &Region, params: ScoringParams) -> Result<Self, ScoringError> {
        Self::with_area(StudyArea::new(region), params)
    }

    /// An empty engine over a study area built already (it is the costly part of [`Engine::new`]).
    ///
    /// # Errors
    /// [`ScoringError::Params`] when the parameters do not validate.
    pub fn with_area(area: StudyArea, params: ScoringParams) -> Result<Self, ScoringError> {
        params.validate().map_err(ScoringError::Params)?;
        Ok(Self {
            params,
            area,
            entries: Vec::new(),
            by_id: FxHashMap::default(),
            index: ReportIndex::new(),
            live: ScoreState::incremental(),
            watermark: None,
            version: 0,
        })
    }

    /// The parameters in force.
    #[must_use]
    pub fn params(&self) -> &ScoringParams {
        &self.params
    }

    /// The study area.
    #[must_use]
    pub fn area(&self) -> &StudyArea {
        &self.area
    }

    /// Number of reports held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no report is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Bumped by every change: a cache key for derived outputs (tiles, hotspot lists).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The newest `received_at` held (ms), if any.
    #[must_use]
    pub fn watermark(&self) -> Option<Millis> {
        self.watermark
    }

    /// The engine entry of a report.
    #[must_use]
    pub fn get(&self, id: Uuid) -> Option<&Entry> {
        self.by_id.get(&id).map(|k| &self.entries[*k as usize])
    }

    pub(crate) fn entry(&self, key: u32) -> &Entry {
        &self.entries[key as usize]
    }

    pub(crate) fn live_state(&self) -> &ScoreState {
        &self.live
    }

    /// The R-tree of report positions (withdrawn reports are not in it).
    #[must_use]
    pub fn index(&self) -> &ReportIndex {
        &self.index
    }

    fn contribution(&self, e: &Entry) -> Contribution {
        self.params.contribution(e.category, e.severity, e.verification)
    }

    fn push_entry(&mut self, report: &ReportCore) -> Result<u32, ScoringError> {
        if self.by_id.contains_key(&report.id) {
            return Err(ScoringError::Duplicate(report.id));
        }
        let key = u32::try_from(self.entries.len()).map_err(|_| ScoringError::Full)?;
        // Validated reports always have a cell; the fallback keeps this total.
        let cell = grid::base_cell(report.lon, report.lat).ok_or(ScoringError::Full)?;
        let entry = Entry {
            id: report.id,
            lon: report.lon,
            lat: report.lat,
            cell,
            occurred: to_millis(report.occurred_at),
            received: to_millis(report.received_at),
            category: report.category,
            severity: report.severity,
            verification: report.verification,
            alive: true,
        };
        self.entries.push(entry);
        self.by_id.insert(entry.id, key);
        let c = self.contribution(&entry);
        self.live.apply(entry.cell, entry.event(), c, 1.0, &self.params, Some(key));
        self.watermark = Some(self.watermark.map_or(entry.received, |w| w.max(entry.received)));
        self.version += 1;
        Ok(key)
    }

    /// Adds one report: O(1) per resolution for the scores, O(log n) for the R-tree.
    ///
    /// # Errors
    /// [`ScoringError::Duplicate`] when the id is already held (nothing changes).
    pub fn insert(&mut self, report: &Report) -> Result<(), ScoringError> {
        let key = self.push_entry(&report.core())?;
        let e = self.entries[key as usize];
        self.index.insert(e.lon, e.lat, key);
        Ok(())
    }

    /// Adds many reports; ids already held are skipped. Returns how many were added. Large
    /// batches rebuild the R-tree in one bulk load instead of inserting point by point.
    pub fn extend<'a>(&mut self, reports: impl IntoIterator<Item = &'a Report>) -> usize {
        let reports = reports.into_iter();
        let hint = reports.size_hint().0;
        let cores: Vec<ReportCore> = reports.map(Report::core).collect();
        if hint > self.index.len() / 4 {
            let mut bulk = self.bulk();
            bulk.push(&cores)
        } else {
            let mut added = 0;
            for r in &cores {
                if let Ok(key) = self.push_entry(r) {
                    let e = self.entries[key as usize];
                    self.index.insert(e.lon, e.lat, key);
                    added += 1;
                }
            }
            added
        }
    }

    /// A bulk load (the start-up rebuild): reports pushed through it are scored at once and the
    /// R-tree is rebuilt in one pass when it is dropped, instead of point by point.
    pub fn bulk(&mut self) -> Bulk<'_> {
        Bulk { engine: self, added: 0 }
    }

    /// Changes a report's verification state, adjusting every score it touches.
    ///
    /// # Errors
    /// [`ScoringError::NotFound`] for an unknown id.
    pub fn set_verification(&mut self, id: Uuid, v: Verification) -> Result<(), ScoringError> {
        let key = *self.by_id.get(&id).ok_or(ScoringError::NotFound(id))?;
        let old = self.entries[key as usize];
        if old.verification == v {
            return Ok(());
        }
        let new = Entry { verification: v, ..old };
        self.live.apply(old.cell, old.event(), self.contribution(&old), -1.0, &self.params, None);
        self.live.apply(new.cell, new.event(), self.contribution(&new), 1.0, &self.params, None);
        self.entries[key as usize] = new;
        self.version += 1;
        Ok(())
    }

    /// Withdraws a report: its contribution leaves every score, it leaves every index.
    ///
    /// # Errors
    /// [`ScoringError::NotFound`] for an unknown id.
    pub fn withdraw(&mut self, id: Uuid) -> Result<(), ScoringError> {
        let key = self.by_id.remove(&id).ok_or(ScoringError::NotFound(id))?;
        let e = self.entries[key as usize];
        self.live.apply(e.cell, e.event(), self.contribution(&e), -1.0, &self.params, None);
        self.live.forget(key, e.cell);
        self.index.remove(e.lon, e.lat, key);
        self.entries[key as usize].alive = false;
        self.watermark = self.entries.iter().filter(|e| e.alive).map(|e| e.received).max();
        self.version += 1;
        Ok(())
    }

    /// A read-only view of the scores as of `t` (ms). At or after the newest `received_at` it
    /// reads the live state; before it, it recomputes from the reports received by `t`.
    #[must_use]
    pub fn at(&self, t: Millis) -> View<'_> {
        if self.watermark.is_none_or(|w| t >= w) {
            View::live(self, t)
        } else {
            View::replay(self, self.batch_state(t), t)
        }
    }

    /// A full recompute as of `t`, bypassing the live state: what a replay uses, and what the
    /// live scores must always equal.
    #[must_use]
    pub fn recompute_at(&self, t: Millis) -> View<'_> {
        View::replay(self, self.batch_state(t), t)
    }

    /// The batch recompute: a fresh state evaluated at `t` from every report received by `t`.
    pub(crate) fn batch_state(&self, t: Millis) -> ScoreState {
        let mut state = ScoreState::batch_at(t);
        for (key, e) in self.entries.iter().enumerate() {
            if e.alive && e.received <= t {
                #[expect(clippy::cast_possible_truncation, reason = "keys are u32 by construction")]
                let key = key as u32;
                state.apply(e.cell, e.event(), self.contribution(e), 1.0, &self.params, Some(key));
            }
        }
        state
    }

    /// Every report held (withdrawn ones excluded), in arrival order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.alive)
    }

    /// Reports inside a box and received by `t`.
    #[must_use]
    pub fn reports_in(&self, bbox: &BBox, t: Millis) -> Vec<&Entry> {
        let mut keys = self.index.in_bbox(bbox);
        keys.sort_unstable();
        keys.into_iter().map(|k| self.entry(k)).filter(|e| e.alive && e.received <= t).collect()
    }

    /// The accumulators of a cell in the live state (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn live_cell(&self, cell: CellIndex) -> Option<&super::state::CellAccum> {
        grid::slot(cell.resolution()).and_then(|s| self.live.level(s).get(&cell))
    }

    /// The cells at `res` that hold at least one report in the live state.
    #[must_use]
    pub fn active_cells(&self, res: Resolution) -> usize {
        grid::slot(res).map_or(0, |s| self.live.level(s).len())
    }
}
