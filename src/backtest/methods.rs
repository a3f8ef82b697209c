//! The forecasting methods compared by the backtest: kinga's own hotspot ranking and the
//! baselines (persistence, static kernel density, uniform random). Each ranks study-area cells
//! from what was known at the origin only; [`fill`] tops every ranking up to the same number of
//! cells so all methods are judged on identical budgets.

use h3o::{CellIndex, Resolution};
use rustc_hash::{FxHashMap, FxHashSet};

use super::Incident;
use super::bootstrap::below;
use crate::domain::{Millis, Report, to_millis};
use crate::index::{StudyArea, grid, haversine_m};
use crate::scenario::Rng;
use crate::scoring::Engine;

/// The `k` best cells of a scoring, highest first, ties by cell id; cells scoring 0 are not
/// candidates.
pub(crate) fn top(scores: impl IntoIterator<Item = (CellIndex, f64)>, k: usize) -> Vec<CellIndex> {
    let mut ranked: Vec<(CellIndex, f64)> = scores.into_iter().filter(|(_, s)| *s > 0.0).collect();
    let order = |a: &(CellIndex, f64), b: &(CellIndex, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if ranked.len() > k && k > 0 {
        ranked.select_nth_unstable_by(k - 1, order);
        ranked.truncate(k);
    }
    ranked.sort_unstable_by(order);
    ranked.into_iter().take(k).map(|(c, _)| c).collect()
}

/// Tops a ranking up to `k` cells with the study-area cells it lacks, in ascending cell id
/// (`sorted_cells` is the study area sorted by id): a deterministic tie-break among cells no
/// method has anything to say about, the same for every method.
pub(crate) fn fill(mut ranking: Vec<CellIndex>, sorted_cells: &[CellIndex], k: usize) -> Vec<CellIndex> {
    ranking.truncate(k);
    if ranking.len() < k {
        let chosen: FxHashSet<CellIndex> = ranking.iter().copied().collect();
        let missing = k - ranking.len();
        ranking.extend(sorted_cells.iter().filter(|c| !chosen.contains(c)).take(missing));
    }
    ranking
}

/// kinga: the engine's hotspot ranking (damped context intensity κ · damping, `docs/scoring.md`
/// §4) at the backtest resolution. Reports enter the engine in `received_at` order as the
/// origins advance, so a forecast can only see reports received by its origin.
pub(crate) struct Kinga<'a> {
    engine: Engine,
    queue: Vec<&'a Report>,
    next: usize,
}

impl<'a> Kinga<'a> {
    pub fn new(engine: Engine, reports: &'a [Report]) -> Self {
        let mut queue: Vec<&Report> = reports.iter().collect();
        queue.sort_by_key(|r| (r.received_at(), r.id()));
        Self { engine, queue, next: 0 }
    }

    pub fn area(&self) -> &StudyArea {
        self.engine.area()
    }

    /// The engine's `k` highest-ranked study-area cells at `t`.
    pub fn rank(&mut self, t: Millis, res: Resolution, k: usize) -> Vec<CellIndex> {
        let start = self.next;
        while self.next < self.queue.len() && to_millis(self.queue[self.next].received_at()) <= t {
            self.next += 1;
        }
        self.engine.extend(self.queue[start..self.next].iter().copied());
        debug_assert!(self.engine.watermark().is_none_or(|w| w <= t), "a report received after t is in the engine");
        let view = self.engine.at(t);
        let mut limit = k.max(1);
        loop {
            let list = view.hotspots(res, None, limit);
            let full = list.len() == limit;
            let cells: Vec<CellIndex> =
                list.iter().map(|h| h.score.cell).filter(|c| self.engine.area().contains(*c)).collect();
            // Cells outside the study area were dropped: ask for more while the list was full.
            if cells.len() >= k || !full {
                return cells.into_iter().take(k).collect();
            }
            limit *= 2;
        }
    }
}

/// Persistence: incidents per cell in the `window` before the origin (known by then), ranked by
/// count — the "no change" model.
pub(crate) fn persistence(by_event: &[Incident], t: Millis, window: Millis, k: usize) -> Vec<CellIndex> {
    let lo = by_event.partition_point(|i| i.event <= t - window);
    let hi = by_event.partition_point(|i| i.event <= t);
    let mut counts: FxHashMap<CellIndex, f64> = FxHashMap::default();
    for i in by_event[lo..hi].iter().filter(|i| i.in_area && i.received <= t) {
        *counts.entry(i.cell).or_insert(0.0) += 1.0;
    }
    top(counts, k)
}

/// Static kernel density: a Gaussian kernel `exp(−d²/2b²)`, cut at 3b, over every incident known
/// at the origin, evaluated at the centres of the study-area cells within 3b of some incident.
/// Kept incrementally: each incident adds its kernel once, when it becomes known.
pub(crate) struct Kde {
    bandwidth_m: f64,
    disk: u32,
    density: FxHashMap<CellIndex, f64>,
    centres: FxHashMap<CellIndex, Option<(f64, f64)>>,
    order: Vec<usize>,
    next: usize,
}

impl Kde {
    /// A KDE over `incidents` (any order) at cells of `res`.
    pub fn new(incidents: &[Incident], res: Resolution, bandwidth_m: f64) -> Self {
        let mut order: Vec<usize> = (0..incidents.len()).collect();
        order.sort_by_key(|i| (incidents[*i].received, *i));
        // Centres of neighbouring cells are ≈ √3 edges apart; H3 cells vary in size, so the disk
        // is grown by half again to never miss a centre within 3b.
        let spacing = 3f64.sqrt() * res.edge_length_m();
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a small positive ring count")]
        let disk = (1.5 * 3.0 * bandwidth_m / spacing).ceil() as u32 + 1;
        Self { bandwidth_m, disk, density: FxHashMap::default(), centres: FxHashMap::default(), order, next: 0 }
    }

    /// The `k` densest study-area cells at `t`.
    pub fn rank(&mut self, incidents: &[Incident], area: &StudyArea, t: Millis, k: usize) -> Vec<CellIndex> {
        let cutoff = 3.0 * self.bandwidth_m;
        let two_b2 = 2.0 * self.bandwidth_m * self.bandwidth_m;
        while self.next < self.order.len() && incidents[self.order[self.next]].received <= t {
            let i = &incidents[self.order[self.next]];
            for cell in i.cell.grid_disk_safe(self.disk) {
                let centre =
                    *self.centres.entry(cell).or_insert_with(|| area.contains(cell).then(|| grid::centre(cell)));
                if let Some((lon, lat)) = centre {
                    let d = haversine_m(i.lon, i.lat, lon, lat);
                    if d <= cutoff {
                        *self.density.entry(cell).or_insert(0.0) += (-d * d / two_b2).exp();
                    }
                }
            }
            self.next += 1;
        }
        top(self.density.iter().map(|(c, d)| (*c, *d)), k)
    }
}

/// Uniform random: `draws` independent selections of `k` cells per origin (partial
/// Fisher–Yates on the study area, seeded).
pub(crate) struct Random {
    cells: Vec<CellIndex>,
    rng: Rng,
}

impl Random {
    pub fn new(sorted_cells: &[CellIndex], seed: u64) -> Self {
        Self { cells: sorted_cells.to_vec(), rng: Rng::new(seed) }
    }

    /// `draws` uniformly random ordered selections of `k` distinct cells.
    pub fn draws(&mut self, draws: usize, k: usize) -> Vec<Vec<CellIndex>> {
        let n = self.cells.len();
        let k = k.min(n);
        (0..draws)
            .map(|_| {
                for i in 0..k {
                    let j = i + below(&mut self.rng, n - i);
                    self.cells.swap(i, j);
                }
                self.cells[..k].to_vec()
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact expected values")]
mod tests {
    use super::*;
    use crate::backtest::metrics::{Outcome, count_f64};
    use crate::domain::Region;

    fn area() -> StudyArea {
        StudyArea::new(&Region::parse_bbox("34.70,-0.12,34.80,-0.02").unwrap())
    }

    fn sorted(area: &StudyArea, res: Resolution) -> Vec<CellIndex> {
        let mut cells: Vec<CellIndex> = area.cells(res).collect();
        cells.sort_unstable();
        cells
    }

    #[test]
    fn top_breaks_ties_by_cell_id_and_drops_zeros() {
        let cells = sorted(&area(), Resolution::Eight);
        let (a, b, c) = (cells[5], cells[1], cells[3]);
        assert_eq!(top([(a, 2.0), (b, 1.0), (c, 1.0), (cells[0], 0.0)], 3), vec![a, b, c]);
        assert_eq!(top([(a, 2.0), (b, 1.0), (c, 1.0)], 2), vec![a, b]);
        assert_eq!(fill(vec![a], &cells, 3), vec![a, cells[0], cells[1]]);
    }

    #[test]
    fn uniform_random_catches_the_budget_share_on_average() {
        // 2 000 incidents scattered over every cell of a ~170-cell area, 17 cells (10 %) drawn
        // 400 times: the mean hit rate is the area share.
        let area = area();
        let cells = sorted(&area, Resolution::Eight);
        let mut rng = Rng::new(11);
        let outcome = Outcome::from_cells((0..2000).map(|_| cells[below(&mut rng, cells.len())]));
        let k = cells.len() / 10;
        let mut random = Random::new(&cells, 42);
        let draws = random.draws(400, k);
        assert!(draws.iter().all(|d| d.len() == k && d.iter().collect::<FxHashSet<_>>().len() == k));
        let mean: f64 = draws.iter().map(|d| f64::from(outcome.hits(d)) / 2000.0).sum::<f64>() / count_f64(draws.len());
        let share = count_f64(k) / count_f64(cells.len());
        assert!((mean - share).abs() < 0.01, "mean hit rate {mean} vs share {share}");
    }
}
