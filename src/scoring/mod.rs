//! The risk model: report weights, decayed intensities, anomaly, spill-over, Getis-Ord Gi*,
//! trend, score and level per H3 cell, and ranked hotspots — pure and deterministic.
//!
//! [`Engine`] holds the reports and the live accumulators; [`Engine::at`] gives a [`View`] of
//! every score as of a time. `docs/scoring.md` is the model's documentation.

pub mod alerts;
mod engine;
mod gistar;
mod params;
pub mod patrol;
mod state;
mod view;

pub use engine::{Bulk, Engine, Entry, ScoringError};
pub use gistar::{GiStats, gi_star};
pub use params::{Contribution, ScoringParams};
pub use state::REBASE_HALF_LIVES;
pub use view::{CellScore, Drivers, Hotspot, RiskLevel, Trend, View};

#[cfg(test)]
mod tests;
