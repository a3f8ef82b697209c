//! The H3 grid: which cell a report falls in, its parents, and the study area per resolution.
//!
//! kinga indexes every report at [`BASE_RESOLUTION`] (9, ≈ 0.1 km², about the 200–400 m
//! near-repeat radius with its ring) and aggregates up to [`COARSEST_RESOLUTION`] (5).

use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, LatLng, Resolution};
use rustc_hash::FxHashSet;

use crate::domain::{BBox, Region};

/// The base resolution at which reports are indexed.
pub const BASE_RESOLUTION: Resolution = Resolution::Nine;
/// The coarsest aggregated resolution.
pub const COARSEST_RESOLUTION: Resolution = Resolution::Five;
/// Every resolution kinga scores, finest first.
pub const RESOLUTIONS: [Resolution; 5] =
    [Resolution::Nine, Resolution::Eight, Resolution::Seven, Resolution::Six, Resolution::Five];

/// Position of a resolution in [`RESOLUTIONS`] (`None` outside 5–9).
#[must_use]
pub fn slot(res: Resolution) -> Option<usize> {
    RESOLUTIONS.iter().position(|r| *r == res)
}

/// Parses an integer resolution that kinga scores (5–9).
#[must_use]
pub fn resolution(value: u8) -> Option<Resolution> {
    Resolution::try_from(value).ok().filter(|r| slot(*r).is_some())
}

/// The base cell of a point. Coordinates must already be validated (h3o does not range-check).
#[must_use]
pub fn base_cell(lon: f64, lat: f64) -> Option<CellIndex> {
    LatLng::new(lat, lon).ok().map(|ll| ll.to_cell(BASE_RESOLUTION))
}

/// A cell's centre as (lon, lat).
#[must_use]
pub fn centre(cell: CellIndex) -> (f64, f64) {
    let ll = LatLng::from(cell);
    (ll.lng(), ll.lat())
}

/// A cell's boundary as a closed, counter-clockwise ring of (lon, lat), as RFC 7946 wants.
#[must_use]
pub fn ring(cell: CellIndex) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = cell.boundary().iter().map(|ll| (ll.lng(), ll.lat())).collect();
    // Cells crossing the antimeridian: keep longitudes continuous around the first vertex.
    if let Some(&(lon0, _)) = pts.first() {
        for p in &mut pts {
            if p.0 - lon0 > 180.0 {
                p.0 -= 360.0;
            } else if lon0 - p.0 > 180.0 {
                p.0 += 360.0;
            }
        }
    }
    // Shoelace: positive area = counter-clockwise in lon/lat.
    let area2: f64 = pts.iter().zip(pts.iter().cycle().skip(1)).map(|(a, b)| a.0 * b.1 - b.0 * a.1).sum();
    if area2 < 0.0 {
        pts.reverse();
    }
    if let Some(&first) = pts.first() {
        pts.push(first);
    }
    pts
}

/// The cells of `bbox` at a resolution are those whose centre lies in the box; this is the
/// margin (degrees) to grow a box by so no cell touching it is missed.
#[must_use]
pub fn margin_degrees(res: Resolution) -> f64 {
    // Edge length in km → degrees of latitude, doubled for the circumradius and distortion.
    res.edge_length_km() / 111.0 * 2.0
}

/// The study area: the cells of the region at each scored resolution (cell centre inside the
/// region, as H3's standard polygon fill gives them). Gi* runs over exactly these cells.
#[derive(Debug, Clone)]
pub struct StudyArea {
    cells: [FxHashSet<CellIndex>; 5],
    bounds: BBox,
}

impl StudyArea {
    /// Fills the region at every scored resolution.
    ///
    /// ```
    /// use kinga::{domain::Region, index::StudyArea};
    /// use h3o::Resolution;
    /// let area = StudyArea::new(&Region::parse_bbox("34.6,-0.2,34.9,0.0").unwrap());
    /// // ≈ 0.3° × 0.2° ≈ 740 km²; resolution-9 cells near the equator are ≈ 0.115 km².
    /// assert_eq!(area.len(Resolution::Nine), 6_415);
    /// ```
    #[must_use]
    pub fn new(region: &Region) -> Self {
        let cells = RESOLUTIONS.map(|res| {
            let mut tiler = TilerBuilder::new(res).containment_mode(ContainmentMode::ContainsCentroid).build();
            for poly in region.polygons() {
                // A polygon h3o rejects (degenerate) contributes no cell.
                let _ = tiler.add(poly.clone());
            }
            tiler.into_coverage().collect::<FxHashSet<_>>()
        });
        Self { cells, bounds: region.bounds() }
    }

    /// Number of study-area cells at a resolution (0 outside 5–9).
    #[must_use]
    pub fn len(&self, res: Resolution) -> usize {
        slot(res).map_or(0, |s| self.cells[s].len())
    }

    /// Whether the cell is in the study area.
    #[must_use]
    pub fn contains(&self, cell: CellIndex) -> bool {
        slot(cell.resolution()).is_some_and(|s| self.cells[s].contains(&cell))
    }

    /// The region's bounding box.
    #[must_use]
    pub fn bounds(&self) -> BBox {
        self.bounds
    }

    /// Every study-area cell at a resolution (no particular order).
    pub fn cells(&self, res: Resolution) -> impl Iterator<Item = CellIndex> + '_ {
        slot(res).into_iter().flat_map(|s| self.cells[s].iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_nest_and_rings_are_closed_ccw() {
        let cell = base_cell(34.7617, -0.0917).unwrap();
        assert_eq!(cell.resolution(), Resolution::Nine);
        let parent = cell.parent(Resolution::Five).unwrap();
        assert_eq!(parent.resolution(), Resolution::Five);
        let r = ring(cell);
        assert_eq!(r.len(), 7);
        assert_eq!(r.first(), r.last());
        let area2: f64 = r.windows(2).map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1).sum();
        assert!(area2 > 0.0);
    }

    #[test]
    fn antimeridian_cells_stay_continuous() {
        let cell = base_cell(180.0 - 1e-7, 0.0).unwrap();
        let r = ring(cell);
        let (min, max) = r.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        assert!(max - min < 1.0, "{r:?}");
    }

    #[test]
    fn only_resolutions_five_to_nine_are_scored() {
        assert!(resolution(9).is_some() && resolution(5).is_some());
        assert!(resolution(4).is_none() && resolution(10).is_none() && resolution(16).is_none());
    }
}
