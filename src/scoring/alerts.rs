//! Early-warning rules: which cells should have an open alert now.
//!
//! Each rule opens at one threshold and clears at a lower one (hysteresis), so a cell hovering
//! around a threshold does not flap. Rules are evaluated on the cells a change touched and, on a
//! timer, on every open alert — decay lowers scores, and a cleared condition closes its alert.
//! Pure: the service persists what this module decides.

use std::collections::BTreeSet;

use h3o::{CellIndex, Resolution};

use super::{CellScore, View};
use crate::domain::{Category, HOUR_MS, Millis, Verification};

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// The cell's level reached `high` (or `critical`).
    HighRisk,
    /// Short intensity far above what the baseline predicts.
    Spike,
    /// The cell became statistically hot (Gi*).
    Hotspot,
    /// A verified report of a trigger category (armed clash, killing).
    Trigger,
    /// Several reports of a cluster category (mobilisation) close together.
    Cluster,
}

impl AlertKind {
    /// The wire slug.
    #[must_use]
    pub const fn slug(self) -> &'static str {
        match self {
            Self::HighRisk => "high_risk",
            Self::Spike => "spike",
            Self::Hotspot => "hotspot",
            Self::Trigger => "trigger",
            Self::Cluster => "cluster",
        }
    }
}

/// The thresholds of every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRules {
    /// Resolution alerts are raised at (default 8, ≈ 0.7 km²: a neighbourhood).
    pub res: Resolution,
    /// Open `HighRisk` at this score (default 50 = `high`) …
    pub open_score: f64,
    /// … and clear it below this one (default 40).
    pub clear_score: f64,
    /// Open `Spike` at this anomaly z (default 4) …
    pub spike_open_z: f64,
    /// … clear below (default 2).
    pub spike_clear_z: f64,
    /// A spike needs at least this many reports behind the cell (default 2).
    pub spike_min_reports: u32,
    /// Open `Hotspot` at this Gi* z (default 2.58, p ≈ 0.005 one-sided) …
    pub hot_open_z: f64,
    /// … clear below (default 1.65).
    pub hot_clear_z: f64,
    /// Verified reports of these categories open a `Trigger` alert.
    pub trigger_categories: Vec<Category>,
    /// How long a trigger keeps its alert open (default 72 h after the report).
    pub trigger_hours: f64,
    /// Category counted by the `Cluster` rule (default mobilisation) …
    pub cluster_category: Category,
    /// … how many reports (default 3) …
    pub cluster_count: usize,
    /// … within this radius (default 1 000 m) …
    pub cluster_radius_m: f64,
    /// … within this many hours (default 24).
    pub cluster_hours: f64,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            res: Resolution::Eight,
            open_score: 50.0,
            clear_score: 40.0,
            spike_open_z: 4.0,
            spike_clear_z: 2.0,
            spike_min_reports: 2,
            hot_open_z: 2.58,
            hot_clear_z: 1.65,
            trigger_categories: vec![Category::ArmedClash, Category::Killing],
            trigger_hours: 72.0,
            cluster_category: Category::Mobilisation,
            cluster_count: 3,
            cluster_radius_m: 1_000.0,
            cluster_hours: 24.0,
        }
    }
}

/// A condition that holds for a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Which rule.
    pub kind: AlertKind,
    /// The cell (at [`AlertRules::res`]).
    pub cell: CellIndex,
    /// The cell's numbers when evaluated.
    pub score: CellScore,
    /// One line saying why, for the alert list and CAP (no coordinates, no free text).
    pub reason: String,
}

/// A decision of the monitor.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new alert should open.
    Opened(Condition),
    /// The condition behind an open alert no longer holds.
    Cleared(AlertKind, CellIndex),
}

/// Which alerts are open, and the rules.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    rules: AlertRules,
    open: BTreeSet<(AlertKind, CellIndex)>,
}

impl Monitor {
    /// A monitor with rules and the alerts already open (from the store).
    #[must_use]
    pub fn new(rules: AlertRules, open: impl IntoIterator<Item = (AlertKind, CellIndex)>) -> Self {
        Self { rules, open: open.into_iter().collect() }
    }

    /// The rules.
    #[must_use]
    pub fn rules(&self) -> &AlertRules {
        &self.rules
    }

    /// Whether an alert is open for this rule and cell.
    #[must_use]
    pub fn is_open(&self, kind: AlertKind, cell: CellIndex) -> bool {
        self.open.contains(&(kind, cell))
    }

    /// Forgets an alert closed by a person (it may open again if its condition still holds
    /// at the next change).
    pub fn forget(&mut self, kind: AlertKind, cell: CellIndex) {
        self.open.remove(&(kind, cell));
    }

    /// Re-evaluates the given base cells (their parents at the alert resolution and those
    /// parents' ring) and every open alert, as of the view's time: the timer's evaluation, which
    /// closes alerts as scores decay.
    pub fn evaluate(&mut self, view: &View<'_>, touched: &[CellIndex]) -> Vec<Change> {
        self.run(view, touched, true)
    }

    /// Re-evaluates only the given base cells (parents at the alert resolution and their ring):
    /// after a change, whose effect on other cells' open alerts (decay, Gi* of the whole area)
    /// the timer's [`Monitor::evaluate`] picks up.
    pub fn evaluate_touched(&mut self, view: &View<'_>, touched: &[CellIndex]) -> Vec<Change> {
        self.run(view, touched, false)
    }

    fn run(&mut self, view: &View<'_>, touched: &[CellIndex], with_open: bool) -> Vec<Change> {
        let res = self.rules.res;
        let open = self.open.iter().filter(|_| with_open).map(|(_, c)| *c);
        let mut cells: Vec<CellIndex> =
            touched.iter().filter_map(|c| c.parent(res)).flat_map(|c| c.grid_disk::<Vec<_>>(1)).chain(open).collect();
        cells.sort_unstable();
        cells.dedup();
        if cells.len() > 256 {
            view.prepare(res);
        }
        // Only a report in the cell itself can raise a trigger alert there: ring cells are not
        // scanned for one after a change (the timer still re-checks open ones).
        let own: rustc_hash::FxHashSet<CellIndex> = touched.iter().filter_map(|c| c.parent(res)).collect();
        let mut changes = Vec::new();
        for cell in cells {
            let Some(score) = view.cell_untrended(cell) else { continue };
            // A warning is about reports in the place itself, not only their neighbours'
            // spill-over (which would raise a ring of alerts around every incident).
            let has_reports = score.reports > 0;
            for kind in
                [AlertKind::HighRisk, AlertKind::Spike, AlertKind::Hotspot, AlertKind::Trigger, AlertKind::Cluster]
            {
                let open = self.is_open(kind, cell);
                if kind == AlertKind::Trigger && !open && !own.contains(&cell) {
                    continue;
                }
                let holds = if has_reports { self.holds(view, kind, &score, open) } else { None };
                match holds {
                    Some(reason) if !open => {
                        self.open.insert((kind, cell));
                        changes.push(Change::Opened(Condition { kind, cell, score: score.clone(), reason }));
                    }
                    None if open => {
                        self.open.remove(&(kind, cell));
                        changes.push(Change::Cleared(kind, cell));
                    }
                    _ => {}
                }
            }
        }
        changes
    }

    /// `Some(reason)` when the rule's condition holds (with the clear threshold when already open).
    fn holds(&self, view: &View<'_>, kind: AlertKind, s: &CellScore, open: bool) -> Option<String> {
        let r = &self.rules;
        match kind {
            AlertKind::HighRisk => {
                let threshold = if open { r.clear_score } else { r.open_score };
                (s.score >= threshold).then(|| format!("risk score {:.0} ({})", s.score, s.level.slug()))
            }
            AlertKind::Spike => {
                let threshold = if open { r.spike_clear_z } else { r.spike_open_z };
                (s.anomaly_z >= threshold && s.reports >= r.spike_min_reports).then(|| {
                    format!(
                        "spike: intensity {:.1} against {:.1} expected (z = {:.1})",
                        s.intensity, s.expected, s.anomaly_z
                    )
                })
            }
            AlertKind::Hotspot => {
                let threshold = if open { r.hot_clear_z } else { r.hot_open_z };
                s.gi_z
                    .filter(|z| *z >= threshold)
                    .map(|z| format!("statistically significant hotspot (Gi* z = {z:.2})"))
            }
            AlertKind::Trigger => {
                let since = view.time() - hours(r.trigger_hours);
                view.reports_in_cell(s.cell)
                    .find(|e| {
                        e.verification == Verification::Verified
                            && e.occurred >= since
                            && r.trigger_categories.contains(&e.category)
                    })
                    .map(|e| format!("verified {} reported", e.category.slug().replace('-', " ")))
            }
            AlertKind::Cluster => {
                let since = view.time() - hours(r.cluster_hours);
                // The alerted cell must hold one of the clustered reports itself.
                let here = view.reports_in_cell(s.cell).any(|e| {
                    e.category == r.cluster_category && e.verification != Verification::Debunked && e.occurred >= since
                });
                if !here {
                    return None;
                }
                let n = view.cluster_count(s.cell, r.cluster_category, since, r.cluster_radius_m);
                (n >= r.cluster_count).then(|| {
                    format!(
                        "{n} {} reports within {:.0} m in {:.0} h",
                        r.cluster_category.slug(),
                        r.cluster_radius_m,
                        r.cluster_hours
                    )
                })
            }
        }
    }
}

#[expect(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "hours of a rule fit in i64 ms")]
fn hours(h: f64) -> Millis {
    (h * HOUR_MS as f64) as Millis
}
