//! Areas on the globe: query boxes (which may cross the antimeridian) and the deployment region.

use geo::{Coord, Intersects, LineString, MultiPolygon, Point, Polygon, Rect};

/// A `minLon,minLat,maxLon,maxLat` box (RFC 7946 §5). West > east means it crosses the
/// antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    west: f64,
    south: f64,
    east: f64,
    north: f64,
}

/// Why a box was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BBoxError {
    /// Not four comma-separated numbers.
    Syntax,
    /// A value is not finite, or out of [-180, 180] / [-90, 90].
    OutOfRange,
    /// South is above north.
    Inverted,
}

impl BBox {
    /// The whole world.
    pub const WORLD: BBox = BBox { west: -180.0, south: -90.0, east: 180.0, north: 90.0 };

    /// Validates a box.
    ///
    /// # Errors
    /// [`BBoxError`] when a value is out of range or south > north.
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<Self, BBoxError> {
        let lon_ok = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
        let lat_ok = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
        if !(lon_ok(west) && lon_ok(east) && lat_ok(south) && lat_ok(north)) {
            return Err(BBoxError::OutOfRange);
        }
        if south > north {
            return Err(BBoxError::Inverted);
        }
        Ok(Self { west, south, east, north })
    }

    /// Parses `minLon,minLat,maxLon,maxLat`.
    ///
    /// ```
    /// use kinga::domain::BBox;
    /// let fiji = BBox::parse("177,-20,-178,-16").unwrap();
    /// assert!(fiji.crosses_antimeridian());
    /// assert!(fiji.contains(179.5, -18.0) && fiji.contains(-179.5, -18.0));
    /// assert!(!fiji.contains(0.0, -18.0));
    /// ```
    ///
    /// # Errors
    /// [`BBoxError`] for anything but four valid numbers.
    pub fn parse(text: &str) -> Result<Self, BBoxError> {
        let parts: Vec<f64> = text
            .split(',')
            .map(|p| p.trim().parse::<f64>().map_err(|_| BBoxError::Syntax))
            .collect::<Result<_, _>>()?;
        match parts[..] {
            [w, s, e, n] => Self::new(w, s, e, n),
            _ => Err(BBoxError::Syntax),
        }
    }

    /// West edge (min longitude unless crossing the antimeridian).
    #[must_use]
    pub const fn west(&self) -> f64 {
        self.west
    }
    /// South edge.
    #[must_use]
    pub const fn south(&self) -> f64 {
        self.south
    }
    /// East edge.
    #[must_use]
    pub const fn east(&self) -> f64 {
        self.east
    }
    /// North edge.
    #[must_use]
    pub const fn north(&self) -> f64 {
        self.north
    }

    /// True when west > east (RFC 7946 §5.2).
    #[must_use]
    pub fn crosses_antimeridian(&self) -> bool {
        self.west > self.east
    }

    /// Whether the point (edges included) lies in the box.
    #[must_use]
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        if !(self.south..=self.north).contains(&lat) {
            return false;
        }
        if self.crosses_antimeridian() {
            lon >= self.west || lon <= self.east
        } else {
            (self.west..=self.east).contains(&lon)
        }
    }

    /// The box as one or two ordinary `[min, max]` rectangles (split at the antimeridian).
    #[must_use]
    pub fn parts(&self) -> Vec<Rect<f64>> {
        let rect = |w: f64, e: f64| Rect::new(Coord { x: w, y: self.south }, Coord { x: e, y: self.north });
        if self.crosses_antimeridian() {
            vec![rect(self.west, 180.0), rect(-180.0, self.east)]
        } else {
            vec![rect(self.west, self.east)]
        }
    }

    /// The box grown by `margin` degrees on every side, clamped to valid ranges.
    #[must_use]
    pub fn expanded(&self, margin: f64) -> BBox {
        let wrap = |v: f64| {
            if v > 180.0 {
                v - 360.0
            } else if v < -180.0 {
                v + 360.0
            } else {
                v
            }
        };
        let width = if self.crosses_antimeridian() { self.east + 360.0 - self.west } else { self.east - self.west };
        let (west, east) = if width + 2.0 * margin >= 360.0 {
            (-180.0, 180.0)
        } else {
            (wrap(self.west - margin), wrap(self.east + margin))
        };
        BBox { west, south: (self.south - margin).max(-90.0), east, north: (self.north + margin).min(90.0) }
    }
}

/// The deployment region: the study area for statistics and the fence for intake.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    shape: MultiPolygon<f64>,
    bounds: BBox,
    /// True when the region is exactly its bounding box (no polygon test needed).
    is_box: bool,
}

impl Region {
    /// A region from a box (split in two if it crosses the antimeridian).
    #[must_use]
    pub fn from_bbox(bbox: BBox) -> Self {
        let shape = MultiPolygon::new(bbox.parts().into_iter().map(geo::Rect::to_polygon).collect());
        Self { shape, bounds: bbox, is_box: true }
    }

    /// A region from polygons in lon/lat. Rings are closed by `geo` if needed.
    ///
    /// # Errors
    /// [`BBoxError::OutOfRange`] if a vertex is out of range or there is no vertex at all.
    pub fn from_polygons(shape: MultiPolygon<f64>) -> Result<Self, BBoxError> {
        let mut bounds: Option<(f64, f64, f64, f64)> = None;
        for poly in &shape {
            for c in poly.exterior().coords().chain(poly.interiors().iter().flat_map(LineString::coords)) {
                let b = bounds.get_or_insert((c.x, c.y, c.x, c.y));
                *b = (b.0.min(c.x), b.1.min(c.y), b.2.max(c.x), b.3.max(c.y));
            }
        }
        let (w, s, e, n) = bounds.ok_or(BBoxError::OutOfRange)?;
        Ok(Self { bounds: BBox::new(w, s, e, n)?, shape, is_box: false })
    }

    /// Parses `minLon,minLat,maxLon,maxLat` into a box region.
    ///
    /// # Errors
    /// As [`BBox::parse`].
    pub fn parse_bbox(text: &str) -> Result<Self, BBoxError> {
        BBox::parse(text).map(Self::from_bbox)
    }

    /// Whether a point lies in the region (its boundary included).
    ///
    /// ```
    /// use kinga::domain::Region;
    /// let kisumu = Region::parse_bbox("34.4,-0.45,35.4,0.05").unwrap();
    /// assert!(kisumu.contains(34.75, -0.09));
    /// assert!(!kisumu.contains(-0.09, 34.75)); // swapped lat/lon
    /// ```
    #[must_use]
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        if !self.bounds.contains(lon, lat) {
            return false;
        }
        if self.is_box {
            return true;
        }
        // `intersects` holds for interior and boundary points alike.
        let p = Point::new(lon, lat);
        self.shape.iter().any(|poly| poly.intersects(&p))
    }

    /// The region's polygons.
    #[must_use]
    pub fn shape(&self) -> &MultiPolygon<f64> {
        &self.shape
    }

    /// The bounding box.
    #[must_use]
    pub fn bounds(&self) -> BBox {
        self.bounds
    }

    /// The polygons, for callers that need to iterate them.
    pub fn polygons(&self) -> impl Iterator<Item = &Polygon<f64>> {
        self.shape.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_rejects_bad_values() {
        assert_eq!(BBox::parse("1,2,3"), Err(BBoxError::Syntax));
        assert_eq!(BBox::parse("a,2,3,4"), Err(BBoxError::Syntax));
        assert_eq!(BBox::parse("0,91,1,92"), Err(BBoxError::OutOfRange));
        assert_eq!(BBox::parse("0,NaN,1,2"), Err(BBoxError::OutOfRange));
        assert_eq!(BBox::parse("0,5,1,2"), Err(BBoxError::Inverted));
    }

    #[test]
    fn antimeridian_box_splits_in_two() {
        let b = BBox::parse("177,-20,-178,-16").unwrap();
        assert_eq!(b.parts().len(), 2);
        assert!(Region::from_bbox(b).contains(-179.0, -17.0));
    }
}
