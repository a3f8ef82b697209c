//! Walk-forward backtest of the risk scores against simple baselines (issue 7): does kinga point
//! to where incidents come next better than looking at last week? Pure and deterministic: no
//! I/O, no async, no clock — `kinga backtest` reads the data and prints the [`Backtest`].
//!
//! At forecast origins t every `step_h` hours (after a burn-in), each [`Method`] ranks the
//! study-area cells at one resolution using **only reports received by t** (kinga's engine is fed
//! in `received_at` order; the baselines filter on `received_at ≤ t`). For each area budget p the
//! top `ceil(p · A)` cells are the forecast; the outcome is the set of incidents — risk categories,
//! not debunked, in the study area — whose event time lies in (t, t + h]. Per origin the
//! [`metrics`] are hit rate n/N, PAI (n/N)/(k/A) and PEI* n/n*; they are averaged over the origins
//! where something happened, and kinga's hit-rate differences against each baseline get a paired
//! block-bootstrap interval ([`block_bootstrap`]). `docs/scoring.md` §8 has the protocol and the
//! figures on the demo scenario.
//!
//! Imports `domain`, `index`, `scoring` and the scenario's seeded RNG only.

mod bootstrap;
mod methods;
pub mod metrics;

use std::collections::BTreeMap;

use h3o::{CellIndex, Resolution};

pub use bootstrap::{Interval, block_bootstrap};
pub use metrics::{Outcome, Score, budget_cells};

use crate::domain::{Category, HOUR_MS, Millis, Report, Verification, from_millis, to_millis};
use crate::index::StudyArea;
use crate::scenario::Rng;
use crate::scoring::{Engine, ScoringError, ScoringParams};
use methods::{Kde, Kinga, Random, fill, persistence};
use metrics::count_f64;

/// A forecasting method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// kinga's hotspot ranking (the engine's damped context intensity).
    Kinga,
    /// Incidents per cell in the previous 7 days.
    #[serde(rename = "persistence-7d")]
    Persistence7d,
    /// Incidents per cell in the previous 28 days.
    #[serde(rename = "persistence-28d")]
    Persistence28d,
    /// Static Gaussian kernel density over every past incident.
    Kde,
    /// Uniformly random cells (mean over seeded draws).
    Random,
    /// The cells with most future incidents: the upper bound (PEI* = 1 by definition).
    Oracle,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 6] =
        [Self::Kinga, Self::Persistence7d, Self::Persistence28d, Self::Kde, Self::Random, Self::Oracle];

    /// The name used in tables and JSON.
    #[must_use]
    pub const fn slug(self) -> &'static str {
        match self {
            Self::Kinga => "kinga",
            Self::Persistence7d => "persistence-7d",
            Self::Persistence28d => "persistence-28d",
            Self::Kde => "kde",
            Self::Random => "random",
            Self::Oracle => "oracle",
        }
    }
}

/// Knobs of a backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// Resolution of the forecast cells (5–9; default 8, ≈ 0.74 km²).
    pub res: Resolution,
    /// Hours between forecast origins (default 12). Origins sit on multiples of it since the epoch.
    pub step_h: u32,
    /// Hours of data before the first origin (default 120 = 5 days).
    pub burn_in_h: u32,
    /// Forecast horizons, hours (default 12, 24, 168).
    pub horizons_h: Vec<u32>,
    /// Area budgets as shares of the study area (default 0.5 %, 1 %, 2 %, 5 %).
    pub budgets: Vec<f64>,
    /// Bandwidth of the kernel-density baseline, metres (default 500).
    pub kde_bandwidth_m: f64,
    /// Random selections averaged per origin (default 20).
    pub random_draws: usize,
    /// Bootstrap resamples (default 1000).
    pub resamples: usize,
    /// Seed of the random baseline and the bootstrap.
    pub seed: u64,
    /// End of the data (ms); default the latest event. No window may reach past it.
    pub end: Option<Millis>,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            res: Resolution::Eight,
            step_h: 12,
            burn_in_h: 120,
            horizons_h: vec![12, 24, 168],
            budgets: vec![0.005, 0.01, 0.02, 0.05],
            kde_bandwidth_m: 500.0,
            random_draws: 20,
            resamples: 1000,
            seed: 7,
            end: None,
        }
    }
}

/// Why a backtest cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    /// A knob is out of range.
    #[error("invalid backtest setting: {0}")]
    Config(String),
    /// No risk incident lies in the study area.
    #[error("no incident (risk category, not debunked) lies in the study area")]
    NoIncidents,
    /// The data are too short for one origin after the burn-in.
    #[error("the data span too little time: no forecast origin after the {0} h burn-in leaves a full horizon")]
    TooShort(u32),
    /// The scoring parameters are unusable.
    #[error(transparent)]
    Scoring(#[from] ScoringError),
}

/// An incident as the backtest sees it: a risk report that was not debunked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Incident {
    /// Its cell at the backtest resolution.
    pub cell: CellIndex,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// When it happened: `occurred_at`, never after `received_at` (the engine's event time).
    pub event: Millis,
    /// When kinga received it.
    pub received: Millis,
    /// Whether its cell is in the study area (only those can be hit, or counted in N).
    pub in_area: bool,
}

/// Whether a report counts as an incident: a risk category that was not debunked.
#[must_use]
pub fn is_incident(r: &Report) -> bool {
    !r.category().is_peace_indicator() && r.verification() != Verification::Debunked
}

fn incidents(reports: &[Report], area: &StudyArea, res: Resolution) -> Vec<Incident> {
    let mut out: Vec<Incident> = reports
        .iter()
        .filter(|r| is_incident(r))
        .filter_map(|r| {
            let cell = crate::index::grid::base_cell(r.lon(), r.lat())?.parent(res)?;
            let (occurred, received) = (to_millis(r.occurred_at()), to_millis(r.received_at()));
            Some(Incident {
                cell,
                lon: r.lon(),
                lat: r.lat(),
                event: occurred.min(received),
                received,
                in_area: area.contains(cell),
            })
        })
        .collect();
    out.sort_by(|a, b| a.event.cmp(&b.event).then(a.received.cmp(&b.received)).then(a.cell.cmp(&b.cell)));
    out
}

/// One method's ranking at one origin, filled to the largest budget's cell count (a smaller
/// budget takes a prefix).
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// The method.
    pub method: Method,
    /// The selected cells, best first.
    pub cells: Vec<CellIndex>,
    /// How many of them the method ranked itself; the rest were filled in cell-id order.
    pub candidates: usize,
}

impl Ranking {
    fn filled(method: Method, ranked: Vec<CellIndex>, sorted_cells: &[CellIndex], k: usize) -> Self {
        let candidates = ranked.len().min(k);
        Self { method, cells: fill(ranked, sorted_cells, k), candidates }
    }
}

/// Every method's forecast at one origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The origin (ms).
    pub t: Millis,
    /// kinga, persistence-7d, persistence-28d and KDE, in that order.
    pub rankings: Vec<Ranking>,
    /// The random draws.
    pub random: Vec<Vec<CellIndex>>,
}

/// The walk over forecast origins: yields each origin's [`Forecast`], oldest first.
pub struct Walk<'a> {
    cfg: BacktestConfig,
    kinga: Kinga<'a>,
    kde: Kde,
    random: Random,
    incidents: Vec<Incident>,
    sorted_cells: Vec<CellIndex>,
    k_max: usize,
    origins: Vec<Millis>,
    end: Millis,
    next: usize,
}

impl<'a> Walk<'a> {
    /// Prepares a walk over `reports` (their `received_at` decides what each origin may see;
    /// their verification is taken as final) in `area` with the model `params`.
    ///
    /// # Errors
    /// [`BacktestError`] for bad settings or data too short for one origin.
    pub fn new(
        area: StudyArea,
        params: ScoringParams,
        reports: &'a [Report],
        cfg: &BacktestConfig,
    ) -> Result<Self, BacktestError> {
        let cfg = cfg.clone();
        if crate::index::grid::slot(cfg.res).is_none() {
            return Err(BacktestError::Config("the resolution must be 5–9".into()));
        }
        if cfg.step_h == 0 || cfg.horizons_h.is_empty() || cfg.horizons_h.contains(&0) {
            return Err(BacktestError::Config("step and horizons must be positive hours".into()));
        }
        if cfg.budgets.is_empty() || cfg.budgets.iter().any(|p| !(p.is_finite() && *p > 0.0 && *p <= 1.0)) {
            return Err(BacktestError::Config("budgets must be shares in (0, 1]".into()));
        }
        if !(cfg.kde_bandwidth_m.is_finite() && cfg.kde_bandwidth_m > 0.0) {
            return Err(BacktestError::Config("the KDE bandwidth must be positive".into()));
        }
        let study_cells = area.len(cfg.res);
        if study_cells == 0 {
            return Err(BacktestError::Config("the study area holds no cell at this resolution".into()));
        }
        let incidents = incidents(reports, &area, cfg.res);
        let first = incidents.iter().filter(|i| i.in_area).map(|i| i.event).min().ok_or(BacktestError::NoIncidents)?;
        let end = cfg.end.unwrap_or_else(|| {
            reports.iter().map(|r| to_millis(r.occurred_at()).min(to_millis(r.received_at()))).max().unwrap_or(first)
        });
        let step = Millis::from(cfg.step_h) * HOUR_MS;
        let shortest = Millis::from(cfg.horizons_h.iter().copied().min().unwrap_or(1)) * HOUR_MS;
        let earliest = first + Millis::from(cfg.burn_in_h) * HOUR_MS;
        let mut t = earliest + (step - earliest.rem_euclid(step)) % step;
        let mut origins = Vec::new();
        while t + shortest <= end {
            origins.push(t);
            t += step;
        }
        if origins.is_empty() {
            return Err(BacktestError::TooShort(cfg.burn_in_h));
        }
        let mut sorted_cells: Vec<CellIndex> = area.cells(cfg.res).collect();
        sorted_cells.sort_unstable();
        let k_max = cfg.budgets.iter().map(|p| budget_cells(*p, study_cells)).max().unwrap_or(1);
        let kde = Kde::new(&incidents, cfg.res, cfg.kde_bandwidth_m);
        let random = Random::new(&sorted_cells, cfg.seed);
        let engine = Engine::with_area(area, params)?;
        Ok(Self {
            kinga: Kinga::new(engine, reports),
            kde,
            random,
            incidents,
            sorted_cells,
            k_max,
            origins,
            end,
            next: 0,
            cfg,
        })
    }

    /// The forecast origins (ms).
    #[must_use]
    pub fn origins(&self) -> &[Millis] {
        &self.origins
    }

    /// The outcome of the window (t, t + h]: incidents in the study area by cell.
    fn outcome(&self, t: Millis, h: Millis) -> Outcome {
        let lo = self.incidents.partition_point(|i| i.event <= t);
        let hi = self.incidents.partition_point(|i| i.event <= t + h);
        Outcome::from_cells(self.incidents[lo..hi].iter().filter(|i| i.in_area).map(|i| i.cell))
    }
}

impl Iterator for Walk<'_> {
    type Item = Forecast;

    fn next(&mut self) -> Option<Forecast> {
        let t = *self.origins.get(self.next)?;
        self.next += 1;
        let (k, res) = (self.k_max, self.cfg.res);
        let day = 24 * HOUR_MS;
        let kinga = self.kinga.rank(t, res, k);
        let p7 = persistence(&self.incidents, t, 7 * day, k);
        let p28 = persistence(&self.incidents, t, 28 * day, k);
        let kde = self.kde.rank(&self.incidents, self.kinga.area(), t, k);
        let cells = &self.sorted_cells;
        let rankings = vec![
            Ranking::filled(Method::Kinga, kinga, cells, k),
            Ranking::filled(Method::Persistence7d, p7, cells, k),
            Ranking::filled(Method::Persistence28d, p28, cells, k),
            Ranking::filled(Method::Kde, kde, cells, k),
        ];
        let random = self.random.draws(self.cfg.random_draws, k);
        Some(Forecast { t, rankings, random })
    }
}

/// One origin's result for one method, horizon and budget.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct OriginScore {
    /// Index into [`Backtest::origins`].
    pub origin: usize,
    /// N: incidents in the window.
    pub incidents: u32,
    /// n: incidents in the selected cells (mean over draws for random).
    pub hits: f64,
    /// n*: the oracle's hits with as many cells.
    pub best: u32,
    /// Selected cells the method had no ranking for, filled in cell-id order.
    pub filled: usize,
}

/// The averaged metrics of one method at one horizon and budget.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MethodScore {
    /// The method.
    pub method: Method,
    /// Horizon, hours.
    pub horizon_h: u32,
    /// Budget, share of the study area.
    pub budget: f64,
    /// Cells selected (k).
    pub cells: usize,
    /// Origins with at least one incident in the window (the ones averaged).
    pub origins: usize,
    /// Mean over those origins of n/N.
    pub hit_rate: Option<f64>,
    /// Mean hit rate / (k/A).
    pub pai: Option<f64>,
    /// Mean over those origins of n/n*.
    pub pei_star: Option<f64>,
    /// Σn / ΣN over the origins (windows of overlapping horizons count an incident repeatedly).
    pub pooled_hit_rate: Option<f64>,
    /// Mean share of the k cells filled in cell-id order because the method ranked fewer.
    pub filled: f64,
    /// Every origin whose window fits in the data, including empty ones.
    pub per_origin: Vec<OriginScore>,
}

/// The hit-rate difference of a method against a baseline, paired by origin.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// The method.
    pub method: Method,
    /// The baseline it is compared with.
    pub baseline: Method,
    /// Horizon, hours.
    pub horizon_h: u32,
    /// Budget, share of the study area.
    pub budget: f64,
    /// Paired origins (those with incidents).
    pub origins: usize,
    /// Bootstrap block length, origins (`ceil(h / step)`).
    pub block: usize,
    /// Origins × step / horizon: roughly how many non-overlapping windows back the interval
    /// (below 5 the interval is not to be trusted).
    pub independent_windows: f64,
    /// Mean difference of hit rates (method − baseline) and its 95 % bootstrap interval.
    pub difference: Interval,
}

/// An area budget.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Budget {
    /// Share of the study area.
    pub share: f64,
    /// Cells, `ceil(share × A)`.
    pub cells: usize,
}

/// The scoring parameters the kinga method ran with.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParamsUsed {
    /// Short half-life, hours.
    pub short_half_life_h: f64,
    /// Baseline half-life, hours.
    pub long_half_life_h: f64,
    /// Spill share.
    pub spill: f64,
    /// Ring size.
    pub k_ring: u32,
    /// Peace scale.
    pub peace_scale: f64,
    /// Severity weights 1…5.
    pub severity_weights: [f64; 5],
    /// Verification factors: unverified, verified, disputed, debunked.
    pub verification_factors: [f64; 4],
    /// Category weights by slug.
    pub category_weights: BTreeMap<&'static str, f64>,
}

impl From<&ScoringParams> for ParamsUsed {
    fn from(p: &ScoringParams) -> Self {
        Self {
            short_half_life_h: p.short_half_life_h,
            long_half_life_h: p.long_half_life_h,
            spill: p.spill,
            k_ring: p.k_ring,
            peace_scale: p.peace_scale,
            severity_weights: p.severity_weights,
            verification_factors: p.verification_factors,
            category_weights: Category::ALL.iter().map(|c| (c.slug(), p.category_weights[c.index()])).collect(),
        }
    }
}

/// Everything a backtest found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Backtest {
    /// Cell resolution.
    pub res: u8,
    /// A: study-area cells at that resolution.
    pub study_cells: usize,
    /// Reports given.
    pub reports: usize,
    /// Incidents (risk, not debunked) in the study area.
    pub incidents: usize,
    /// First incident event time, RFC 3339.
    pub data_start: String,
    /// End of the data, RFC 3339.
    pub data_end: String,
    /// Hours between origins.
    pub step_h: u32,
    /// Burn-in, hours.
    pub burn_in_h: u32,
    /// Forecast origins, RFC 3339.
    pub origins: Vec<String>,
    /// Horizons, hours.
    pub horizons_h: Vec<u32>,
    /// Area budgets.
    pub budgets: Vec<Budget>,
    /// KDE bandwidth, metres.
    pub kde_bandwidth_m: f64,
    /// Random draws per origin.
    pub random_draws: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Seed.
    pub seed: u64,
    /// The model parameters of the kinga method.
    pub params: ParamsUsed,
    /// Per method × horizon × budget.
    pub scores: Vec<MethodScore>,
    /// kinga against every baseline, and every baseline against persistence-7d.
    pub comparisons: Vec<Comparison>,
}

impl Backtest {
    /// The score of a method at a horizon and budget.
    #[must_use]
    pub fn score(&self, method: Method, horizon_h: u32, budget: f64) -> Option<&MethodScore> {
        #[expect(clippy::float_cmp, reason = "budgets are the configured values, compared exactly")]
        self.scores.iter().find(|s| s.method == method && s.horizon_h == horizon_h && s.budget == budget)
    }

    /// The comparison of a method with a baseline at a horizon and budget.
    #[must_use]
    pub fn comparison(&self, method: Method, baseline: Method, horizon_h: u32, budget: f64) -> Option<&Comparison> {
        #[expect(clippy::float_cmp, reason = "budgets are the configured values, compared exactly")]
        self.comparisons
            .iter()
            .find(|c| c.method == method && c.baseline == baseline && c.horizon_h == horizon_h && c.budget == budget)
    }
}

fn rfc3339(t: Millis) -> String {
    from_millis(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / count_f64(n))
}

/// A seeded sub-stream, so each comparison's resamples do not depend on the others.
fn substream(seed: u64, tag: u64) -> Rng {
    let mut mix = Rng::new(seed ^ tag.wrapping_mul(0xD1B5_4A32_D192_ED03));
    Rng::new(mix.next_u64())
}

/// `per[method][horizon][budget]`: the origin scores of every combination.
type PerOrigin = Vec<Vec<Vec<Vec<OriginScore>>>>;

/// Walks every origin and scores each method's selection against the outcome of each horizon.
fn evaluate(walk: &mut Walk<'_>, horizons_h: &[u32], budgets: &[Budget]) -> PerOrigin {
    let mut per: PerOrigin = vec![vec![vec![Vec::new(); budgets.len()]; horizons_h.len()]; Method::ALL.len()];
    while let Some(forecast) = walk.next() {
        let origin = walk.next - 1;
        for (hi, h) in horizons_h.iter().enumerate() {
            let h = Millis::from(*h) * HOUR_MS;
            if forecast.t + h > walk.end {
                continue;
            }
            let outcome = walk.outcome(forecast.t, h);
            for (bi, b) in budgets.iter().enumerate() {
                let best = outcome.best(b.cells);
                for (mi, m) in Method::ALL.iter().enumerate() {
                    let (hits, filled) = match m {
                        Method::Oracle => (f64::from(best), 0),
                        Method::Random => (
                            mean(forecast.random.iter().map(|d| f64::from(outcome.hits(&d[..b.cells])))).unwrap_or(0.0),
                            0,
                        ),
                        _ => forecast.rankings.iter().find(|r| r.method == *m).map_or((0.0, b.cells), |r| {
                            (f64::from(outcome.hits(&r.cells[..b.cells])), b.cells - r.candidates.min(b.cells))
                        }),
                    };
                    per[mi][hi][bi].push(OriginScore { origin, incidents: outcome.total(), hits, best, filled });
                }
            }
        }
    }
    per
}

/// Averages the origin scores into one [`MethodScore`] per method, horizon and budget.
fn summarise(mut per: PerOrigin, horizons_h: &[u32], budgets: &[Budget], study_cells: usize) -> Vec<MethodScore> {
    let mut scores = Vec::new();
    for (mi, m) in Method::ALL.iter().enumerate() {
        for (hi, h) in horizons_h.iter().enumerate() {
            for (bi, b) in budgets.iter().enumerate() {
                let series = std::mem::take(&mut per[mi][hi][bi]);
                let metrics: Vec<Score> = series
                    .iter()
                    .filter_map(|o| Score::new(o.hits, o.incidents, o.best, b.cells, study_cells))
                    .collect();
                let hit_rate = mean(metrics.iter().map(|s| s.hit_rate));
                let total: u32 = series.iter().map(|o| o.incidents).sum();
                scores.push(MethodScore {
                    method: *m,
                    horizon_h: *h,
                    budget: b.share,
                    cells: b.cells,
                    origins: metrics.len(),
                    hit_rate,
                    pai: hit_rate.map(|r| r / (count_f64(b.cells) / count_f64(study_cells))),
                    pei_star: mean(metrics.iter().map(|s| s.pei_star)),
                    pooled_hit_rate: (total > 0).then(|| series.iter().map(|o| o.hits).sum::<f64>() / f64::from(total)),
                    filled: mean(series.iter().map(|o| count_f64(o.filled) / count_f64(b.cells))).unwrap_or(0.0),
                    per_origin: series,
                });
            }
        }
    }
    scores
}

/// Paired block-bootstrap intervals of hit-rate differences: kinga against every baseline, and
/// every baseline against persistence-7d.
fn compare(scores: &[MethodScore], cfg: &BacktestConfig, budgets: &[Budget]) -> Vec<Comparison> {
    let pairs: Vec<(Method, Method)> = [Method::Persistence7d, Method::Persistence28d, Method::Kde, Method::Random]
        .iter()
        .map(|base| (Method::Kinga, *base))
        .chain([Method::Persistence28d, Method::Kde, Method::Random].iter().map(|m| (*m, Method::Persistence7d)))
        .collect();
    let mut comparisons = Vec::new();
    let mut tag = 0u64;
    for (m, base) in pairs {
        for h in &cfg.horizons_h {
            for b in budgets {
                tag += 1;
                let find = |method: Method| {
                    scores.iter().find(|s| s.method == method && s.horizon_h == *h && s.cells == b.cells)
                };
                let (Some(x), Some(y)) = (find(m), find(base)) else { continue };
                let diffs: Vec<f64> = x
                    .per_origin
                    .iter()
                    .zip(&y.per_origin)
                    .filter(|(u, _)| u.incidents > 0)
                    .map(|(u, v)| (u.hits - v.hits) / f64::from(u.incidents))
                    .collect();
                let block = usize::try_from(h.div_ceil(cfg.step_h)).unwrap_or(1);
                let Some(difference) = block_bootstrap(&diffs, block, cfg.resamples, &mut substream(cfg.seed, tag))
                else {
                    continue;
                };
                comparisons.push(Comparison {
                    method: m,
                    baseline: base,
                    horizon_h: *h,
                    budget: b.share,
                    origins: diffs.len(),
                    block,
                    independent_windows: count_f64(diffs.len()) * f64::from(cfg.step_h) / f64::from(*h),
                    difference,
                });
            }
        }
    }
    comparisons
}

/// Runs the whole backtest (see the module documentation).
///
/// # Errors
/// [`BacktestError`] for bad settings, no incidents or too little data.
pub fn run(
    area: StudyArea,
    params: ScoringParams,
    reports: &[Report],
    cfg: &BacktestConfig,
) -> Result<Backtest, BacktestError> {
    let study_cells = area.len(cfg.res);
    let used = ParamsUsed::from(&params);
    let mut walk = Walk::new(area, params, reports, cfg)?;
    let budgets: Vec<Budget> =
        cfg.budgets.iter().map(|p| Budget { share: *p, cells: budget_cells(*p, study_cells) }).collect();
    let per = evaluate(&mut walk, &cfg.horizons_h, &budgets);
    let scores = summarise(per, &cfg.horizons_h, &budgets, study_cells);
    let comparisons = compare(&scores, cfg, &budgets);
    let end = walk.end;
    let in_area = walk.incidents.iter().filter(|i| i.in_area).count();
    let start = walk.incidents.iter().filter(|i| i.in_area).map(|i| i.event).min().unwrap_or(end);
    Ok(Backtest {
        res: u8::from(cfg.res),
        study_cells,
        reports: reports.len(),
        incidents: in_area,
        data_start: rfc3339(start),
        data_end: rfc3339(end),
        step_h: cfg.step_h,
        burn_in_h: cfg.burn_in_h,
        origins: walk.origins.iter().copied().map(rfc3339).collect(),
        horizons_h: cfg.horizons_h.clone(),
        budgets,
        kde_bandwidth_m: cfg.kde_bandwidth_m,
        random_draws: cfg.random_draws,
        resamples: cfg.resamples,
        seed: cfg.seed,
        params: used,
        scores,
        comparisons,
    })
}
