//! Reading scores as of a time: one cell, the cells of a box, the ranked hotspots, and the
//! drivers that explain each number.

use std::cmp::Ordering;

use h3o::{CellIndex, Resolution};
use uuid::Uuid;

use super::engine::{Engine, Entry};
use super::state::{CellAccum, Row, ScoreState};
use crate::domain::{BBox, Category, HOUR_MS, Millis};
use crate::index::grid;

/// Risk level, from the score thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Below the `elevated` threshold.
    Low,
    /// Worth watching.
    Elevated,
    /// Act: plan a response.
    High,
    /// Act now.
    Critical,
}

impl RiskLevel {
    /// The wire slug.
    #[must_use]
    pub const fn slug(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Elevated => "elevated",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Level of a score given the `[elevated, high, critical]` thresholds.
    #[must_use]
    pub fn from_score(score: f64, thresholds: [f64; 3]) -> Self {
        if score >= thresholds[2] {
            Self::Critical
        } else if score >= thresholds[1] {
            Self::High
        } else if score >= thresholds[0] {
            Self::Elevated
        } else {
            Self::Low
        }
    }
}

/// Short intensity now against the same `trend_window_h` earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Up by more than the trend ratio.
    Rising,
    /// Within the ratio either way.
    Steady,
    /// Down by more than the ratio (no new reports: decay alone reads as falling).
    Falling,
}

impl Trend {
    /// The wire slug.
    #[must_use]
    pub const fn slug(self) -> &'static str {
        match self {
            Self::Rising => "rising",
            Self::Steady => "steady",
            Self::Falling => "falling",
        }
    }
}

/// Every number of one cell at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct CellScore {
    /// The cell.
    pub cell: CellIndex,
    /// Risk score 0–100.
    pub score: f64,
    /// Level from the score.
    pub level: RiskLevel,
    /// Short intensity λ (decayed weight, short half-life).
    pub intensity: f64,
    /// Expected short intensity from the baseline μ (long half-life) plus the prior.
    pub expected: f64,
    /// Poisson-style anomaly: (λ − expected) / √expected.
    pub anomaly_z: f64,
    /// Getis-Ord Gi* z over the study area (`None` outside it or when undefined).
    pub gi_z: Option<f64>,
    /// `gi_z ≥ gi_hot_z`.
    pub hot: bool,
    /// Rising, steady or falling.
    pub trend: Trend,
    /// Non-debunked reports behind the cell.
    pub reports: u32,
    /// Peace (damping) intensity.
    pub peace: f64,
    /// Mean short intensity of the ring neighbours.
    pub neighbour_intensity: f64,
    /// Cell centre (lon, lat).
    pub centre: (f64, f64),
}

/// What drives a cell's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Drivers {
    /// Risk categories by share of the short intensity, largest first (at most 3).
    pub top_categories: Vec<(Category, f64)>,
    /// The reports contributing most to the short intensity now, largest first (at most 5).
    pub top_reports: Vec<(Uuid, f64)>,
    /// The latest `occurred_at` among the counted reports.
    pub last_report: Option<Millis>,
}

/// One entry of a hotspot list.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    /// 1-based rank.
    pub rank: usize,
    /// The cell's numbers.
    pub score: CellScore,
    /// Why.
    pub drivers: Drivers,
}

/// Drops Gi* when the study area's largest intensity now is negligible.
fn gate(row: Row, max_intensity: f64) -> Row {
    if max_intensity < GI_MIN_INTENSITY { Row { gi_z: None, ..row } } else { row }
}

enum StateRef<'a> {
    Live(&'a ScoreState),
    Replay(Box<ScoreState>),
}

/// Scores as of one time. Cheap to create for live queries; a replay owns its batch state.
pub struct View<'a> {
    engine: &'a Engine,
    state: StateRef<'a>,
    t: Millis,
}

/// Below this largest intensity in the study area (weight units) nothing is going on and Gi*
/// is not reported: it would only rank decay residue.
const GI_MIN_INTENSITY: f64 = 1e-9;
const TOP_CATEGORIES: usize = 3;
const TOP_REPORTS: usize = 5;

impl<'a> View<'a> {
    pub(crate) fn live(engine: &'a Engine, t: Millis) -> Self {
        Self { engine, state: StateRef::Live(engine.live_state()), t }
    }

    pub(crate) fn replay(engine: &'a Engine, state: ScoreState, t: Millis) -> Self {
        Self { engine, state: StateRef::Replay(Box::new(state)), t }
    }

    fn state(&self) -> &ScoreState {
        match &self.state {
            StateRef::Live(s) => s,
            StateRef::Replay(s) => s,
        }
    }

    /// The time of this view (ms).
    #[must_use]
    pub fn time(&self) -> Millis {
        self.t
    }

    /// True when this view recomputed a past state.
    #[must_use]
    pub fn is_replay(&self) -> bool {
        matches!(self.state, StateRef::Replay(_))
    }

    fn accum(&self, cell: CellIndex) -> Option<&CellAccum> {
        grid::slot(cell.resolution()).and_then(|s| self.state().level(s).get(&cell))
    }

    /// The score of any cell at a scored resolution (all zeros for a cell without reports);
    /// `None` for a resolution outside 5–9.
    #[must_use]
    pub fn cell(&self, cell: CellIndex) -> Option<CellScore> {
        let mut score = self.cell_untrended(cell)?;
        score.trend = self.trend(cell, score.intensity);
        Some(score)
    }

    /// [`View::cell`] without the trend (reported `Steady`), which needs a pass over the
    /// cell's reports: what the alert rules read after every change.
    #[must_use]
    pub fn cell_untrended(&self, cell: CellIndex) -> Option<CellScore> {
        let res = cell.resolution();
        let slot = grid::slot(res)?;
        let engine = self.engine;
        let k = engine.params().k_ring;
        let level = self.state().level(slot);
        let ((nsum, ncount, gi_z), max_short) = self.state().cell_neighbourhood(cell, engine.area(), k);
        let acc = level.get(&cell);
        let row = Row {
            cell,
            short: acc.map_or(0.0, |a| a.short),
            long: acc.map_or(0.0, |a| a.long),
            peace: acc.map_or(0.0, |a| a.peace),
            counted: acc.map_or(0, |a| a.counted),
            centre: acc.map_or_else(|| grid::centre(cell), |a| a.centre),
            nsum,
            ncount,
            gi_z,
        };
        let factors = self.state().factors(self.t, engine.params());
        let row = gate(row, max_short * factors.0);
        Some(self.score_row(res, &row, factors))
    }

    /// The score of one row, without the trend (which needs the cell's reports).
    fn score_row(&self, res: Resolution, row: &Row, (fs, fl): (f64, f64)) -> CellScore {
        let p = self.engine.params();
        let intensity = row.short * fs;
        let baseline = row.long * fl;
        let peace = row.peace * fs;
        let expected = baseline * (p.short_half_life_h / p.long_half_life_h) + p.prior_at(res);
        let anomaly_z = (intensity - expected) / expected.sqrt();
        let neighbour_intensity = if row.ncount == 0 { 0.0 } else { row.nsum * fs / f64::from(row.ncount) };
        let context = intensity + p.spill * neighbour_intensity;
        let damping = p.peace_scale / (p.peace_scale + peace);
        let score = 100.0 * (1.0 - (-context * damping / p.scale_at(res)).exp());
        CellScore {
            cell: row.cell,
            score,
            level: RiskLevel::from_score(score, p.level_thresholds),
            intensity,
            expected,
            anomaly_z,
            gi_z: row.gi_z,
            hot: row.gi_z.is_some_and(|z| z >= p.gi_hot_z),
            trend: Trend::Steady,
            reports: row.counted,
            peace,
            neighbour_intensity,
            centre: row.centre,
        }
    }

    /// The reports behind a cell (any scored resolution) that this view counts.
    pub fn reports_in_cell(&self, cell: CellIndex) -> impl Iterator<Item = &Entry> {
        self.keys(cell)
    }

    /// Reports of `category` (not debunked) that occurred since `since` within `radius_m` of
    /// the cell's centre, received by this view's time.
    #[must_use]
    pub fn cluster_count(&self, cell: CellIndex, category: Category, since: Millis, radius_m: f64) -> usize {
        let (lon, lat) = grid::centre(cell);
        self.engine.index().count_within_radius(lon, lat, radius_m, |k| {
            let e = self.engine.entry(k);
            e.category == category
                && e.verification != crate::domain::Verification::Debunked
                && e.occurred >= since
                && e.occurred <= self.t
                && e.received <= self.t
        })
    }

    fn keys(&self, cell: CellIndex) -> impl Iterator<Item = &Entry> {
        self.accum(cell).into_iter().flat_map(|a| a.keys.iter()).map(|k| self.engine.entry(*k))
    }

    #[expect(clippy::cast_precision_loss, reason = "millisecond spans are far below 2^52")]
    fn decayed(&self, e: &Entry, at: Millis) -> f64 {
        let p = self.engine.params();
        let h = p.short_half_life_h * HOUR_MS as f64;
        p.contribution(e.category, e.severity, e.verification).risk * (-((at - e.event()) as f64) / h).exp2()
    }

    /// Rising/steady/falling: λ(t) against λ(t − window) from the reports received by then.
    fn trend(&self, cell: CellIndex, now: f64) -> Trend {
        let p = self.engine.params();
        #[expect(clippy::cast_possible_truncation, reason = "windows of hours fit in i64 ms")]
        let earlier = self.t - (p.trend_window_h * 3_600_000.0) as Millis;
        let before: f64 = self.keys(cell).filter(|e| e.received <= earlier).map(|e| self.decayed(e, earlier)).sum();
        let noise = 1e-3 * p.score_scale;
        if now > before * p.trend_ratio && now - before > noise {
            Trend::Rising
        } else if now * p.trend_ratio < before && before - now > noise {
            Trend::Falling
        } else {
            Trend::Steady
        }
    }

    /// What drives a cell's score now.
    #[must_use]
    pub fn drivers(&self, cell: CellIndex) -> Drivers {
        let mut by_category = vec![0.0; Category::ALL.len()];
        let mut reports: Vec<(Uuid, f64)> = Vec::new();
        let mut last: Option<Millis> = None;
        let p = self.engine.params();
        for e in self.keys(cell) {
            let c = p.contribution(e.category, e.severity, e.verification);
            if !c.counted {
                continue;
            }
            last = Some(last.map_or(e.occurred, |l| l.max(e.occurred)));
            let w = self.decayed(e, self.t);
            by_category[e.category.index()] += w;
            if w > 0.0 {
                reports.push((e.id, w));
            }
        }
        let total: f64 = by_category.iter().sum();
        let mut top_categories: Vec<(Category, f64)> = Category::ALL
            .iter()
            .map(|c| (*c, by_category[c.index()]))
            .filter(|(_, w)| *w > 0.0)
            .map(|(c, w)| (c, w / total))
            .collect();
        top_categories.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        top_categories.truncate(TOP_CATEGORIES);
        reports.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        reports.truncate(TOP_REPORTS);
        Drivers { top_categories, top_reports: reports, last_report: last }
    }

    /// Risk mass for patrol planning at `res` (centre in `bbox` if given): each cell's own
    /// short intensity without its restricted-class (GBV) reports, times the peace damping.
    /// GBV reports never place a patrol, and a cell's neighbours do not count twice (the
    /// coverage radius already spreads a patrol's effect).
    #[must_use]
    pub fn patrol_risk(&self, res: Resolution, bbox: Option<&BBox>) -> Vec<(CellScore, f64)> {
        if grid::slot(res).is_none() {
            return Vec::new();
        }
        let engine = self.engine;
        let p = engine.params();
        let cache = self.state().cache(res, engine.area(), p.k_ring);
        let factors = self.state().factors(self.t, p);
        cache
            .rows
            .iter()
            .filter(|r| r.counted > 0 && bbox.is_none_or(|b| b.contains(r.centre.0, r.centre.1)))
            .filter_map(|r| {
                let restricted: f64 = self
                    .keys(r.cell)
                    .filter(|e| e.category.sensitivity() == crate::domain::Sensitivity::Restricted)
                    .map(|e| self.decayed(e, self.t))
                    .sum();
                let score = self.score_row(res, r, factors);
                let own = (score.intensity - restricted).max(0.0);
                let risk = own * p.peace_scale / (p.peace_scale + score.peace);
                (risk > 1e-9).then_some((score, risk))
            })
            .collect()
    }

    /// Builds the whole-resolution neighbourhood table now, so that scoring many cells of `res`
    /// one by one (e.g. every cell after a restart) costs one pass instead of one each.
    pub fn prepare(&self, res: Resolution) {
        let _ = self.state().cache(res, self.engine.area(), self.engine.params().k_ring);
    }

    /// Scores of every cell at `res` holding reports, optionally only those whose centre lies in
    /// `bbox`, ordered by cell index.
    #[must_use]
    pub fn cells(&self, res: Resolution, bbox: Option<&BBox>) -> Vec<CellScore> {
        if grid::slot(res).is_none() {
            return Vec::new();
        }
        let engine = self.engine;
        let cache = self.state().cache(res, engine.area(), engine.params().k_ring);
        let factors = self.state().factors(self.t, engine.params());
        let mut out: Vec<CellScore> = cache
            .rows
            .iter()
            .filter(|r| bbox.is_none_or(|b| b.contains(r.centre.0, r.centre.1)))
            .map(|r| {
                let mut s = self.score_row(res, &gate(*r, cache.globals.max_short * factors.0), factors);
                s.trend = self.trend(r.cell, s.intensity);
                s
            })
            .collect();
        out.sort_unstable_by_key(|s| s.cell);
        out
    }

    /// The `limit` highest-risk cells at `res` (centre in `bbox` if given), each with its
    /// drivers. Cells are ranked by their damped context intensity — the quantity the score is a
    /// saturating function of, so the order is the score's order without ties at 100 — then by
    /// more reports, then by cell index, so the list is stable.
    #[must_use]
    pub fn hotspots(&self, res: Resolution, bbox: Option<&BBox>, limit: usize) -> Vec<Hotspot> {
        if grid::slot(res).is_none() || limit == 0 {
            return Vec::new();
        }
        let engine = self.engine;
        let p = engine.params();
        let cache = self.state().cache(res, engine.area(), p.k_ring);
        let factors = self.state().factors(self.t, p);
        let fs = factors.0;
        let mut ranked: Vec<(f64, &Row)> = cache
            .rows
            .iter()
            .filter(|r| r.counted > 0 && bbox.is_none_or(|b| b.contains(r.centre.0, r.centre.1)))
            .map(|r| {
                let spill = if r.ncount == 0 { 0.0 } else { p.spill * r.nsum / f64::from(r.ncount) };
                ((r.short + spill) * p.peace_scale / (p.peace_scale + r.peace * fs), r)
            })
            .filter(|(key, _)| *key > 0.0)
            .collect();
        let order = |a: &(f64, &Row), b: &(f64, &Row)| -> Ordering {
            b.0.total_cmp(&a.0).then(b.1.counted.cmp(&a.1.counted)).then(a.1.cell.cmp(&b.1.cell))
        };
        if ranked.len() > limit {
            ranked.select_nth_unstable_by(limit - 1, order);
            ranked.truncate(limit);
        }
        ranked.sort_unstable_by(order);
        ranked
            .into_iter()
            .enumerate()
            .map(|(i, (_, row))| {
                let mut s = self.score_row(res, &gate(*row, cache.globals.max_short * factors.0), factors);
                s.trend = self.trend(row.cell, s.intensity);
                Hotspot { rank: i + 1, drivers: self.drivers(row.cell), score: s }
            })
            .collect()
    }
}
