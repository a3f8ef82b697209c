//! Per-cell accumulators at every resolution: decayed short and long intensities, peace
//! damping, report counts and the reports behind each cell.
//!
//! Values are stored relative to a reference time `t_ref`: a report of weight w that happened at
//! `e` adds `w · 2^((e − t_ref)/h)`, so the value at any `t` is `stored · 2^(−(t − t_ref)/h)`.
//! Adding a report is O(1) per resolution. When a new report lies more than [`REBASE_HALF_LIVES`]
//! short half-lives after `t_ref`, every value is rescaled to a new reference (rare: once per
//! ~190 days of data at the default 72 h), so nothing overflows over years of data.
//!
//! The same structure, filled with `t_ref = t` and no rebasing, is the batch recompute.

use std::sync::OnceLock;

use h3o::{CellIndex, Resolution};
use rustc_hash::FxHashMap;

use super::gistar::GiStats;
use super::params::{Contribution, ScoringParams};
use crate::domain::{HOUR_MS, Millis};
use crate::index::grid::{self, RESOLUTIONS, StudyArea};

/// Rebase when a report lies this many short half-lives after the reference time.
pub const REBASE_HALF_LIVES: f64 = 64.0;

/// One cell's accumulators.
#[derive(Debug, Clone)]
pub(crate) struct CellAccum {
    /// Σ risk · 2^((e − `t_ref)/h_short`)
    pub short: f64,
    /// Σ risk · 2^((e − `t_ref)/h_long`)
    pub long: f64,
    /// Σ peace · 2^((e − `t_ref)/h_short`)
    pub peace: f64,
    /// Reports behind the cell that are not debunked.
    pub counted: u32,
    /// Arena keys of every report in the cell (debunked ones too, so they can be re-verified).
    pub keys: Vec<u32>,
    /// Cell centre (lon, lat).
    pub centre: (f64, f64),
}

impl CellAccum {
    fn empty(cell: CellIndex) -> Self {
        Self { short: 0.0, long: 0.0, peace: 0.0, counted: 0, keys: Vec::new(), centre: grid::centre(cell) }
    }
}

/// One active cell with everything a score needs, copied flat for fast scans.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// The cell.
    pub cell: CellIndex,
    /// Accumulators (reference units).
    pub short: f64,
    /// Long accumulator.
    pub long: f64,
    /// Peace accumulator.
    pub peace: f64,
    /// Counted reports.
    pub counted: u32,
    /// Centre (lon, lat).
    pub centre: (f64, f64),
    /// Sum of the ring neighbours' short accumulators.
    pub nsum: f64,
    /// Number of ring neighbours.
    pub ncount: u32,
    /// Gi* z (scale-invariant, so valid at any time of this state).
    pub gi_z: Option<f64>,
}

/// The whole-resolution statistics one cell's score needs: one pass over the level's cells,
/// far cheaper than the full [`ResCache`] (which takes every active cell's neighbourhood).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Globals {
    /// Gi* statistics of the study area on values divided by `max_short` (Gi* is
    /// scale-invariant; normalising keeps squares of tiny decayed values from underflowing).
    pub gi: GiStats,
    /// The largest short accumulator of a study-area cell (reference units).
    pub max_short: f64,
}

impl Globals {
    fn of(level: &FxHashMap<CellIndex, CellAccum>, area: &StudyArea, res: Resolution) -> Self {
        let max_short =
            level.iter().filter(|(cell, _)| area.contains(**cell)).map(|(_, acc)| acc.short).fold(0.0, f64::max);
        let scale = Self::scale_for(max_short);
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for (cell, acc) in level {
            if area.contains(*cell) {
                let x = acc.short * scale;
                sum += x;
                sum_sq += x * x;
            }
        }
        Self { gi: GiStats::new(area.len(res), sum, sum_sq), max_short }
    }

    /// Factor that normalises short accumulators for Gi*.
    fn scale(&self) -> f64 {
        Self::scale_for(self.max_short)
    }

    fn scale_for(max_short: f64) -> f64 {
        if max_short > 0.0 { 1.0 / max_short } else { 1.0 }
    }
}

/// Per-resolution values that depend on the whole state, computed lazily once per version.
#[derive(Debug)]
pub(crate) struct ResCache {
    /// The whole-resolution statistics the table was built with.
    pub globals: Globals,
    /// Every active cell.
    pub rows: Vec<Row>,
    /// Cell → position in `rows`.
    pub by_cell: FxHashMap<CellIndex, u32>,
}

impl ResCache {
    /// The neighbourhood of any cell: (neighbour sum, neighbour count, Gi* z); computed on demand
    /// for a cell without reports.
    pub fn neighbourhood(
        &self,
        cell: CellIndex,
        level: &FxHashMap<CellIndex, CellAccum>,
        area: &StudyArea,
        k: u32,
    ) -> (f64, u32, Option<f64>) {
        if let Some(i) = self.by_cell.get(&cell) {
            let r = &self.rows[*i as usize];
            return (r.nsum, r.ncount, r.gi_z);
        }
        neighbourhood(cell, level, area, k, &self.globals.gi, self.globals.scale())
    }
}

fn neighbourhood(
    cell: CellIndex,
    level: &FxHashMap<CellIndex, CellAccum>,
    area: &StudyArea,
    k: u32,
    gi: &GiStats,
    scale: f64,
) -> (f64, u32, Option<f64>) {
    let (mut nsum, mut ncount, mut local, mut in_area) = (0.0, 0u32, 0.0, 0usize);
    for j in cell.grid_disk_safe(k) {
        let x = level.get(&j).map_or(0.0, |a| a.short);
        if j != cell {
            nsum += x;
            ncount += 1;
        }
        if area.contains(j) {
            local += x * scale;
            in_area += 1;
        }
    }
    let z = if area.contains(cell) { gi.z(local, in_area) } else { None };
    (nsum, ncount, z)
}

/// Accumulators for every scored resolution.
#[derive(Debug)]
pub(crate) struct ScoreState {
    t_ref: Option<Millis>,
    levels: [FxHashMap<CellIndex, CellAccum>; 5],
    caches: [OnceLock<ResCache>; 5],
    globals: [OnceLock<Globals>; 5],
    rebase: bool,
}

fn decay(dt_ms: f64, half_life_h: f64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "an hour in ms is exact")]
    let h = half_life_h * HOUR_MS as f64;
    (-dt_ms / h).exp2()
}

impl ScoreState {
    /// An incremental state (rebases as data moves forward).
    pub fn incremental() -> Self {
        Self {
            t_ref: None,
            levels: Default::default(),
            caches: Default::default(),
            globals: Default::default(),
            rebase: true,
        }
    }

    /// A batch state evaluated exactly at `t` (reference = t, never rebased).
    pub fn batch_at(t: Millis) -> Self {
        Self {
            t_ref: Some(t),
            levels: Default::default(),
            caches: Default::default(),
            globals: Default::default(),
            rebase: false,
        }
    }

    /// The cells at a resolution slot.
    pub fn level(&self, slot: usize) -> &FxHashMap<CellIndex, CellAccum> {
        &self.levels[slot]
    }

    /// Decay factors (short, long) from the reference to `t`.
    #[expect(clippy::cast_precision_loss, reason = "millisecond spans are far below 2^52")]
    pub fn factors(&self, t: Millis, params: &ScoringParams) -> (f64, f64) {
        let dt = (t - self.t_ref.unwrap_or(t)) as f64;
        (decay(dt, params.short_half_life_h), decay(dt, params.long_half_life_h))
    }

    /// Adds (`sign` = 1) or removes (`sign` = −1) one report's contribution to its cells.
    /// Cells are created on demand; `attach` also records the report's key in each cell (for a
    /// new report), [`Self::forget`] drops it again.
    pub fn apply(
        &mut self,
        cell9: CellIndex,
        event: Millis,
        c: Contribution,
        sign: f64,
        params: &ScoringParams,
        attach: Option<u32>,
    ) {
        let t_ref = *self.t_ref.get_or_insert(event);
        #[expect(clippy::cast_precision_loss, reason = "millisecond spans are far below 2^52")]
        let ahead = (event - t_ref) as f64;
        if self.rebase && ahead > REBASE_HALF_LIVES * params.short_half_life_h * 3_600_000.0 {
            self.rebase_to(event, params);
        }
        let (fs, fl) = self.factors(event, params);
        // factors(t) = 2^(−(t − t_ref)/h), so 1/f = 2^((e − t_ref)/h).
        let (short, long, peace) = (sign * c.risk / fs, sign * c.risk / fl, sign * c.peace / fs);
        let counted_delta: i64 = if c.counted { if sign > 0.0 { 1 } else { -1 } } else { 0 };
        for (slot, res) in RESOLUTIONS.iter().enumerate() {
            let cell = if slot == 0 { cell9 } else { cell9.parent(*res).unwrap_or(cell9) };
            let level = &mut self.levels[slot];
            let acc = level.entry(cell).or_insert_with(|| CellAccum::empty(cell));
            if let Some(key) = attach {
                acc.keys.push(key);
            }
            acc.short += short;
            acc.long += long;
            acc.peace += peace;
            acc.counted = u32::try_from(i64::from(acc.counted) + counted_delta).unwrap_or(0);
            if acc.counted == 0 {
                // Nothing counted is left: return to exact zeros instead of rounding residue.
                acc.short = 0.0;
                acc.long = 0.0;
                acc.peace = 0.0;
            }
        }
        self.invalidate();
    }

    /// Forgets a report's key in every cell (after its contribution was removed).
    pub fn forget(&mut self, key: u32, cell9: CellIndex) {
        for (slot, res) in RESOLUTIONS.iter().enumerate() {
            let cell = if slot == 0 { cell9 } else { cell9.parent(*res).unwrap_or(cell9) };
            if let Some(acc) = self.levels[slot].get_mut(&cell) {
                if let Some(pos) = acc.keys.iter().position(|k| *k == key) {
                    acc.keys.swap_remove(pos);
                }
                if acc.keys.is_empty() {
                    self.levels[slot].remove(&cell);
                }
            }
        }
        self.invalidate();
    }

    fn rebase_to(&mut self, new_ref: Millis, params: &ScoringParams) {
        let (fs, fl) = self.factors(new_ref, params);
        for level in &mut self.levels {
            for acc in level.values_mut() {
                acc.short *= fs;
                acc.long *= fl;
                acc.peace *= fs;
            }
        }
        self.t_ref = Some(new_ref);
    }

    fn invalidate(&mut self) {
        for c in &mut self.caches {
            c.take();
        }
        for g in &mut self.globals {
            g.take();
        }
    }

    /// The whole-resolution statistics of a resolution, computed once per version.
    pub fn globals(&self, res: Resolution, area: &StudyArea) -> Globals {
        let slot = grid::slot(res).unwrap_or(0);
        *self.globals[slot].get_or_init(|| Globals::of(&self.levels[slot], area, res))
    }

    /// One cell's neighbourhood (neighbour sum, count, Gi* z): from the full table when it is
    /// built already, else computed for this cell alone (a few cells after each change need not
    /// rebuild every active cell's).
    pub fn cell_neighbourhood(&self, cell: CellIndex, area: &StudyArea, k: u32) -> ((f64, u32, Option<f64>), f64) {
        let res = cell.resolution();
        let slot = grid::slot(res).unwrap_or(0);
        if let Some(cache) = self.caches[slot].get() {
            return (cache.neighbourhood(cell, &self.levels[slot], area, k), cache.globals.max_short);
        }
        let g = self.globals(res, area);
        (neighbourhood(cell, &self.levels[slot], area, k, &g.gi, g.scale()), g.max_short)
    }

    /// Neighbour sums and Gi* for every active cell of a resolution, computed once per version.
    pub fn cache(&self, res: Resolution, area: &StudyArea, k: u32) -> &ResCache {
        let slot = grid::slot(res).unwrap_or(0);
        self.caches[slot].get_or_init(|| {
            let level = &self.levels[slot];
            let globals = self.globals(res, area);
            let scale = globals.scale();
            let rows: Vec<Row> = level
                .iter()
                .map(|(cell, acc)| {
                    let (nsum, ncount, gi_z) = neighbourhood(*cell, level, area, k, &globals.gi, scale);
                    Row {
                        cell: *cell,
                        short: acc.short,
                        long: acc.long,
                        peace: acc.peace,
                        counted: acc.counted,
                        centre: acc.centre,
                        nsum,
                        ncount,
                        gi_z,
                    }
                })
                .collect();
            #[expect(clippy::cast_possible_truncation, reason = "cells per level are far below 2^32")]
            let by_cell = rows.iter().enumerate().map(|(i, r)| (r.cell, i as u32)).collect();
            ResCache { globals, rows, by_cell }
        })
    }
}
