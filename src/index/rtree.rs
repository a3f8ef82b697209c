//! The R-tree of report positions: bounding-box, radius and k-nearest queries.
//!
//! Points are stored in lon/lat degrees with a `u32` key into the engine's report arena. Box
//! queries split at the antimeridian; radius and nearest queries are exact great-circle
//! (haversine) answers, found through a degree envelope and then filtered.

use rstar::{AABB, RTree, primitives::GeomWithData};

use crate::domain::BBox;

/// Mean Earth radius (IUGG), metres: the same radius `geo` uses for haversine.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

type Entry = GeomWithData<[f64; 2], u32>;

/// Great-circle distance in metres between two lon/lat points.
///
/// ```
/// use kinga::index::haversine_m;
/// // One degree of latitude ≈ 111.2 km.
/// assert!((haversine_m(34.0, 0.0, 34.0, 1.0) - 111_195.08).abs() < 0.1);
/// ```
#[must_use]
pub fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dlat = p2 - p1;
    let dlon = (lon2 - lon1).to_radians();
    let a = (dlat / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// An R-tree of report positions keyed by arena index.
#[derive(Debug, Default)]
pub struct ReportIndex {
    tree: RTree<Entry>,
}

impl ReportIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an index in one pass (much faster than repeated inserts).
    #[must_use]
    pub fn bulk_load(points: Vec<(f64, f64, u32)>) -> Self {
        let entries = points.into_iter().map(|(lon, lat, key)| Entry::new([lon, lat], key)).collect();
        Self { tree: RTree::bulk_load(entries) }
    }

    /// Number of indexed points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Adds a point.
    pub fn insert(&mut self, lon: f64, lat: f64, key: u32) {
        self.tree.insert(Entry::new([lon, lat], key));
    }

    /// Removes a point; returns whether it was there.
    pub fn remove(&mut self, lon: f64, lat: f64, key: u32) -> bool {
        self.tree.remove(&Entry::new([lon, lat], key)).is_some()
    }

    /// Keys of every point inside the box (edges included; antimeridian-crossing boxes work).
    ///
    /// ```
    /// use kinga::{domain::BBox, index::ReportIndex};
    /// let idx = ReportIndex::bulk_load(vec![(179.5, -18.0, 1), (-179.5, -17.0, 2), (0.0, -17.0, 3)]);
    /// let mut keys = idx.in_bbox(&BBox::parse("177,-20,-178,-16").unwrap());
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// ```
    #[must_use]
    pub fn in_bbox(&self, bbox: &BBox) -> Vec<u32> {
        let mut out = Vec::new();
        for rect in bbox.parts() {
            let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
            out.extend(self.tree.locate_in_envelope_intersecting(&env).map(|e| e.data));
        }
        out
    }

    /// Keys and distances (metres) of every point within `radius_m` of (lon, lat), nearest first.
    #[must_use]
    pub fn within_radius(&self, lon: f64, lat: f64, radius_m: f64) -> Vec<(u32, f64)> {
        let mut out: Vec<(u32, f64)> = Vec::new();
        for bbox in search_boxes(lon, lat, radius_m) {
            for rect in bbox.parts() {
                let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
                for e in self.tree.locate_in_envelope_intersecting(&env) {
                    let [plon, plat] = *e.geom();
                    let d = haversine_m(lon, lat, plon, plat);
                    if d <= radius_m {
                        out.push((e.data, d));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        out.dedup_by_key(|e| e.0);
        out
    }

    /// How many points within `radius_m` of (lon, lat) satisfy `keep` — as
    /// `within_radius(..).filter(keep).count()`, without collecting or sorting (the alert rules
    /// count clusters after every change).
    pub fn count_within_radius(&self, lon: f64, lat: f64, radius_m: f64, mut keep: impl FnMut(u32) -> bool) -> usize {
        let rects: Vec<_> = search_boxes(lon, lat, radius_m).into_iter().flat_map(|b| b.parts()).collect();
        if rects.len() > 1 {
            // Boxes may overlap across the antimeridian or a pole: de-duplicate the slow way.
            return self.within_radius(lon, lat, radius_m).into_iter().filter(|(k, _)| keep(*k)).count();
        }
        let mut n = 0;
        for rect in rects {
            let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
            for e in self.tree.locate_in_envelope_intersecting(&env) {
                let [plon, plat] = *e.geom();
                if haversine_m(lon, lat, plon, plat) <= radius_m && keep(e.data) {
                    n += 1;
                }
            }
        }
        n
    }

    /// The `k` nearest points by great-circle distance, nearest first (ties by key).
    ///
    /// ```
    /// use kinga::index::ReportIndex;
    /// // Across the antimeridian, 179.9 is nearer to -179.9 than 179.0 is.
    /// let idx = ReportIndex::bulk_load(vec![(179.0, 0.0, 1), (-179.9, 0.0, 2), (10.0, 0.0, 3)]);
    /// let near: Vec<u32> = idx.nearest(179.9, 0.0, 2).into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(near, [2, 1]);
    /// ```
    #[must_use]
    pub fn nearest(&self, lon: f64, lat: f64, k: usize) -> Vec<(u32, f64)> {
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        // Grow the radius until it holds k points: every point nearer than the k-th found one
        // is then inside the searched circle, so the answer is exact.
        let mut radius = 1_000.0;
        loop {
            let mut found = self.within_radius(lon, lat, radius);
            if found.len() >= k || radius >= std::f64::consts::PI * EARTH_RADIUS_M {
                found.truncate(k);
                return found;
            }
            radius *= 4.0;
        }
    }
}

/// Lon/lat boxes that together cover the circle of `radius_m` around a point.
fn search_boxes(lon: f64, lat: f64, radius_m: f64) -> Vec<BBox> {
    let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
    let south = (lat - dlat).max(-90.0);
    let north = (lat + dlat).min(90.0);
    let near_pole = north >= 90.0 || south <= -90.0;
    let max_abs_lat = lat.abs() + dlat;
    if near_pole || max_abs_lat >= 89.999 {
        return BBox::new(-180.0, south, 180.0, north).into_iter().collect();
    }
    let dlon = dlat / max_abs_lat.to_radians().cos();
    if dlon >= 180.0 {
        return BBox::new(-180.0, south, 180.0, north).into_iter().collect();
    }
    let wrap = |v: f64| {
        if v > 180.0 {
            v - 360.0
        } else if v < -180.0 {
            v + 360.0
        } else {
            v
        }
    };
    BBox::new(wrap(lon - dlon), south, wrap(lon + dlon), north).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_equals_filtering_the_collected_query_also_across_the_antimeridian() {
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            #[expect(clippy::cast_precision_loss, reason = "a test's pseudo-random unit")]
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            u
        };
        for (clon, clat) in [(34.76, -0.09), (179.99, 10.0), (-179.995, -5.0)] {
            let pts: Vec<(f64, f64, u32)> = (0..2_000)
                .map(|k| {
                    let lon = clon + (next() - 0.5) * 0.06;
                    let lon = if lon > 180.0 {
                        lon - 360.0
                    } else if lon < -180.0 {
                        lon + 360.0
                    } else {
                        lon
                    };
                    (lon, clat + (next() - 0.5) * 0.06, k)
                })
                .collect();
            let idx = ReportIndex::bulk_load(pts);
            for r in [100.0, 1_000.0, 2_500.0] {
                let even = |k: u32| k.is_multiple_of(2);
                let want = idx.within_radius(clon, clat, r).into_iter().filter(|(k, _)| even(*k)).count();
                assert_eq!(idx.count_within_radius(clon, clat, r, even), want, "{clon} {r}");
                assert!(want > 0 || r < 500.0);
            }
        }
    }

    #[test]
    fn radius_query_is_exact_in_metres() {
        // Points 100 m, 250 m and 400 m north of the origin.
        let m = |d: f64| (d / EARTH_RADIUS_M).to_degrees();
        let idx = ReportIndex::bulk_load(vec![(34.0, m(100.0), 1), (34.0, m(250.0), 2), (34.0, m(400.0), 3)]);
        let got: Vec<u32> = idx.within_radius(34.0, 0.0, 300.0).into_iter().map(|(k, _)| k).collect();
        assert_eq!(got, [1, 2]);
        let d = idx.within_radius(34.0, 0.0, 300.0)[1].1;
        assert!((d - 250.0).abs() < 1e-6, "{d}");
    }

    #[test]
    fn radius_query_wraps_the_antimeridian_and_the_pole() {
        let idx = ReportIndex::bulk_load(vec![(-179.999, 0.0, 1), (0.0, 89.9999, 2), (180.0 - 1e-9, 89.9999, 3)]);
        assert_eq!(idx.within_radius(179.999, 0.0, 1_000.0).len(), 1);
        assert_eq!(idx.within_radius(90.0, 89.9999, 100.0).len(), 2);
    }

    #[test]
    fn insert_and_remove() {
        let mut idx = ReportIndex::new();
        idx.insert(1.0, 2.0, 7);
        assert_eq!(idx.len(), 1);
        assert!(!idx.remove(1.0, 2.0, 8));
        assert!(idx.remove(1.0, 2.0, 7));
        assert!(idx.is_empty());
    }
}
