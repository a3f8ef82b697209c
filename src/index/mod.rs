//! Spatial indexes: an R-tree of report positions ([`ReportIndex`]) and the H3 grid
//! ([`grid`]): each report's cell at the base resolution and its parents, and the study area.
//!
//! Pure and synchronous; imports only `domain`.

pub mod grid;
mod rtree;

pub use grid::{BASE_RESOLUTION, COARSEST_RESOLUTION, RESOLUTIONS, StudyArea};
pub use rtree::{EARTH_RADIUS_M, ReportIndex, haversine_m};
