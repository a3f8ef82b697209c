//! Forecast metrics of one selection at one origin: hit rate, PAI and PEI* (`docs/scoring.md` §8,
//! after the reference's §3 "Evaluation metrics for hotspot forecasts"), and the area budgets.
//!
//! Notation of the reference: n = incidents in the selected cells during the window, N = all
//! incidents in the study area, k = selected cells, A = study-area cells, n* = the most incidents
//! any k cells could have caught (the oracle).

use h3o::CellIndex;
use rustc_hash::FxHashMap;

/// `usize` → `f64` for counts (exact below 2^53).
#[expect(clippy::cast_precision_loss, reason = "cell and incident counts are far below 2^53")]
pub(crate) fn count_f64(n: usize) -> f64 {
    n as f64
}

/// What happened after one forecast origin: incidents per cell in the window (t, t + h].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    counts: FxHashMap<CellIndex, u32>,
    total: u32,
}

impl Outcome {
    /// Counts one incident per listed cell (a cell listed twice had two incidents).
    #[must_use]
    pub fn from_cells(cells: impl IntoIterator<Item = CellIndex>) -> Self {
        let mut out = Self::default();
        for c in cells {
            *out.counts.entry(c).or_insert(0) += 1;
            out.total += 1;
        }
        out
    }

    /// N: every incident of the window.
    #[must_use]
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Incidents in one cell.
    #[must_use]
    pub fn count(&self, cell: CellIndex) -> u32 {
        self.counts.get(&cell).copied().unwrap_or(0)
    }

    /// n: incidents falling in the selected cells (each cell counted once).
    #[must_use]
    pub fn hits(&self, selected: &[CellIndex]) -> u32 {
        let mut seen: Vec<CellIndex> = selected.to_vec();
        seen.sort_unstable();
        seen.dedup();
        seen.iter().map(|c| self.count(*c)).sum()
    }

    /// The oracle's selection of `k` cells: most incidents first, ties by cell id (only cells
    /// with incidents; fewer than `k` when fewer cells had any).
    #[must_use]
    pub fn oracle(&self, k: usize) -> Vec<CellIndex> {
        let mut cells: Vec<(CellIndex, u32)> = self.counts.iter().map(|(c, n)| (*c, *n)).collect();
        cells.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        cells.into_iter().take(k).map(|(c, _)| c).collect()
    }

    /// n*: the most incidents any `k` cells could have caught — the sum of the `k` largest cell
    /// counts (the numerator of `open_cp`'s `maximum_hit_rate`).
    #[must_use]
    pub fn best(&self, k: usize) -> u32 {
        self.oracle(k).iter().map(|c| self.count(*c)).sum()
    }
}

/// Cells of an area budget: `ceil(share × A)` for A study-area cells (at least 1, at most A).
/// A relative tolerance of 1e-9 keeps `0.01 × 8300 = 83.000…01` at 83.
///
/// ```
/// use kinga::backtest::budget_cells;
/// assert_eq!(budget_cells(0.01, 8300), 83);
/// assert_eq!(budget_cells(0.01, 8301), 84);
/// assert_eq!(budget_cells(0.005, 10), 1);
/// ```
#[must_use]
pub fn budget_cells(share: f64, study_cells: usize) -> usize {
    let exact = share * count_f64(study_cells);
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a non-negative cell count")]
    let k = (exact * (1.0 - 1e-9)).ceil().max(1.0) as usize;
    k.min(study_cells)
}

/// The three metrics of one selection of `k` cells at one origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Hit rate = n / N.
    pub hit_rate: f64,
    /// PAI (Chainey et al. 2008) = (n / N) / (a / A), with a / A = k / A (H3 cells of one
    /// resolution have near-equal areas inside a region, so the share of cells is the share of area).
    pub pai: f64,
    /// PEI* = n / n*: efficiency against the best possible k cells, 0…1.
    pub pei_star: f64,
}

impl Score {
    /// Scores `hits` (n, fractional for averaged random draws) out of `total` (N) incidents when
    /// the best k cells caught `best` (n*) and `k` of `study_cells` (A) cells were selected.
    /// `None` when nothing happened (N = 0): the metrics are undefined and the origin is skipped.
    ///
    /// ```
    /// use kinga::backtest::Score;
    /// // 6 incidents; the 2 selected cells caught 3; the best 2 cells held 5; 2 of 100 cells.
    /// let s = Score::new(3.0, 6, 5, 2, 100).unwrap();
    /// assert_eq!(s.hit_rate, 0.5);
    /// assert_eq!(s.pai, 25.0); // 0.5 / (2 / 100)
    /// assert_eq!(s.pei_star, 0.6); // 3 / 5
    /// assert!(Score::new(0.0, 0, 0, 2, 100).is_none());
    /// ```
    #[must_use]
    pub fn new(hits: f64, total: u32, best: u32, k: usize, study_cells: usize) -> Option<Self> {
        if total == 0 || best == 0 || k == 0 || study_cells == 0 {
            return None;
        }
        let hit_rate = hits / f64::from(total);
        Some(Self {
            hit_rate,
            pai: hit_rate / (count_f64(k) / count_f64(study_cells)),
            pei_star: hits / f64::from(best),
        })
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "hand-computed exact values")]
mod tests {
    use super::*;
    use crate::index::grid;

    fn cells() -> [CellIndex; 4] {
        let c = |lon, lat| grid::base_cell(lon, lat).unwrap();
        [c(34.70, -0.10), c(34.72, -0.10), c(34.74, -0.10), c(34.76, -0.10)]
    }

    #[test]
    fn hand_computed_hit_rate_pai_and_pei_star() {
        // Future incidents: A 3, B 1, C 0, D 2 (N = 6). 100 study cells, k = 2.
        let [ca, cb, cc, cd] = cells();
        let outcome = Outcome::from_cells([ca, ca, ca, cb, cd, cd]);
        assert_eq!(outcome.total(), 6);
        let hits = outcome.hits(&[cb, cd]);
        assert_eq!(hits, 3);
        assert_eq!(outcome.best(2), 5); // A + D
        let score = Score::new(f64::from(hits), outcome.total(), outcome.best(2), 2, 100).unwrap();
        assert_eq!((score.hit_rate, score.pai, score.pei_star), (0.5, 25.0, 0.6));
        // A selection that misses every incident scores zero everywhere.
        let miss = Score::new(f64::from(outcome.hits(&[cc])), 6, outcome.best(1), 1, 100).unwrap();
        assert_eq!((miss.hit_rate, miss.pai, miss.pei_star), (0.0, 0.0, 0.0));
    }

    #[test]
    fn the_oracle_has_pei_star_one_at_every_budget() {
        let [ca, cb, cc, cd] = cells();
        let outcome = Outcome::from_cells([ca, ca, ca, cb, cd, cd, cc]);
        for k in 1..=5 {
            let pick = outcome.oracle(k);
            let score = Score::new(f64::from(outcome.hits(&pick)), 7, outcome.best(k), k, 100).unwrap();
            assert_eq!(score.pei_star, 1.0, "k = {k}");
        }
        // Ties broken by cell id: C and B both hold one incident.
        let third = outcome.oracle(3)[2];
        assert_eq!(third, cb.min(cc));
    }

    #[test]
    fn a_cell_selected_twice_counts_once() {
        let [a, ..] = cells();
        assert_eq!(Outcome::from_cells([a, a]).hits(&[a, a]), 2);
    }
}
