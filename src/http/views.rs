//! The serialisation chokepoint: every report, cell and hotspot leaves kinga through these
//! functions, which apply the caller's role (R1–R5):
//!
//! - exact coordinates and free text only for roles that see points; reporter identity and GBV
//!   reports as points only for the case-handling role;
//! - everyone else gets the report's cell centre at its category's public resolution
//!   (deterministic, never jitter), the hour it occurred, no text, and only verified reports;
//! - aggregates for suppressed roles come at one publication resolution, omit cells backed by
//!   fewer than k reports, and name no category finer than its public resolution.

use h3o::{CellIndex, Resolution};
use serde_json::{Map, Value, json};

use super::auth::Role;
use crate::domain::{Category, Millis, Report, Sensitivity, Verification, from_millis};
use crate::index::grid;
use crate::scoring::{CellScore, Drivers, Entry, Hotspot};

/// How one caller may see data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The caller's role.
    pub role: Role,
    /// Small-cell suppression threshold.
    pub k: u32,
    /// The resolution aggregates are published at for suppressed roles.
    pub publication_res: Resolution,
}

/// Rounds a coordinate to 6 decimals (≈ 0.1 m), as every output does.
#[must_use]
pub fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// How a report may appear to a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Not at all (404, absent from lists).
    Hidden,
    /// Generalised to a cell centre, no free text.
    Generalised,
    /// Exact point and free text (no reporter identity).
    Exact,
    /// Everything, reporter identity included.
    Full,
}

/// The one rule for reports.
#[must_use]
pub fn visibility(role: Role, category: Category, verification: Verification) -> Visibility {
    let restricted = category.sensitivity() == Sensitivity::Restricted;
    if role.handles_cases() {
        Visibility::Full
    } else if role.sees_points() {
        if restricted { Visibility::Generalised } else { Visibility::Exact }
    } else if restricted || verification != Verification::Verified {
        Visibility::Hidden
    } else {
        Visibility::Generalised
    }
}

/// The public cell of a point for a category: its cell at the category's public resolution.
#[must_use]
pub fn public_cell(lon: f64, lat: f64, category: Category) -> Option<CellIndex> {
    let res = Resolution::try_from(category.sensitivity().public_resolution()).ok()?;
    grid::base_cell(lon, lat).and_then(|c| c.parent(res))
}

fn hour_floor(ms: Millis) -> String {
    from_millis(ms - ms.rem_euclid(3_600_000)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn point(lon: f64, lat: f64) -> Value {
    json!({ "type": "Point", "coordinates": [round6(lon), round6(lat)] })
}

fn generalised(
    id: uuid::Uuid,
    lon: f64,
    lat: f64,
    category: Category,
    severity: u8,
    verification: Verification,
    occurred: Millis,
) -> Option<Value> {
    let cell = public_cell(lon, lat, category)?;
    let (clon, clat) = grid::centre(cell);
    Some(json!({
        "type": "Feature",
        "id": id.to_string(),
        "geometry": point(clon, clat),
        "properties": {
            "id": id.to_string(),
            "occurred_at": hour_floor(occurred),
            "category": category.slug(),
            "severity": severity,
            "verification": verification.slug(),
            "cell": cell.to_string(),
            "location_precision": format!("h3:{}", u8::from(cell.resolution())),
        }
    }))
}

/// A stored report as the viewer may see it (`None`: hidden).
#[must_use]
pub fn report_feature(r: &Report, viewer: &Viewer) -> Option<Value> {
    let vis = visibility(viewer.role, r.category(), r.verification());
    match vis {
        Visibility::Hidden => None,
        Visibility::Generalised => generalised(
            r.id(),
            r.lon(),
            r.lat(),
            r.category(),
            r.severity().get(),
            r.verification(),
            r.occurred_at().timestamp_millis(),
        ),
        Visibility::Exact | Visibility::Full => {
            let mut props = Map::new();
            props.insert("id".into(), json!(r.id().to_string()));
            props.insert("occurred_at".into(), json!(rfc3339(r.occurred_at())));
            props.insert("received_at".into(), json!(rfc3339(r.received_at())));
            props.insert("category".into(), json!(r.category().slug()));
            props.insert("severity".into(), json!(r.severity().get()));
            props.insert("source".into(), json!(r.source().slug()));
            props.insert("verification".into(), json!(r.verification().slug()));
            props.insert("description".into(), json!(r.description()));
            props.insert("tags".into(), json!(r.tags()));
            if let Some(c) = grid::base_cell(r.lon(), r.lat()) {
                props.insert("cell".into(), json!(c.to_string()));
            }
            props.insert("location_precision".into(), json!("exact"));
            if vis == Visibility::Full {
                props.insert("reporter".into(), json!(r.reporter()));
            }
            Some(json!({
                "type": "Feature",
                "id": r.id().to_string(),
                "geometry": point(r.lon(), r.lat()),
                "properties": props,
            }))
        }
    }
}

/// An engine entry (no text) as the viewer may see it, for live events and tiles.
#[must_use]
pub fn entry_feature(e: &Entry, viewer: &Viewer) -> Option<Value> {
    match visibility(viewer.role, e.category, e.verification) {
        Visibility::Hidden => None,
        Visibility::Generalised => {
            generalised(e.id, e.lon, e.lat, e.category, e.severity.get(), e.verification, e.occurred)
        }
        Visibility::Exact | Visibility::Full => Some(json!({
            "type": "Feature",
            "id": e.id.to_string(),
            "geometry": point(e.lon, e.lat),
            "properties": {
                "id": e.id.to_string(),
                "occurred_at": rfc3339(from_millis(e.occurred)),
                "category": e.category.slug(),
                "severity": e.severity.get(),
                "verification": e.verification.slug(),
                "cell": e.cell.to_string(),
                "location_precision": "exact",
            }
        })),
    }
}

/// The cell's hexagon as a closed, counter-clockwise GeoJSON Polygon, 6 decimals.
#[must_use]
pub fn cell_polygon(cell: CellIndex) -> Value {
    let ring: Vec<[f64; 2]> = grid::ring(cell).into_iter().map(|(x, y)| [round6(x), round6(y)]).collect();
    json!({ "type": "Polygon", "coordinates": [ring] })
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn opt_round2(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |z| json!(round2(z)))
}

/// Whether a suppressed viewer may see this cell's aggregate.
#[must_use]
pub fn published(s: &CellScore, viewer: &Viewer) -> bool {
    !viewer.role.suppressed() || s.reports >= viewer.k
}

/// Where a suppressed role (planner) may see an alert: the cell at the publication resolution
/// that holds the alert's cell, when that cell is backed by at least k reports at `view`'s time;
/// `None` when the location must be withheld.
#[must_use]
pub fn published_alert_cell(cell: &str, viewer: &Viewer, view: &crate::scoring::View<'_>) -> Option<CellIndex> {
    let cell = cell.parse::<CellIndex>().ok()?;
    let coarse =
        if cell.resolution() <= viewer.publication_res { Some(cell) } else { cell.parent(viewer.publication_res) };
    coarse.filter(|c| view.cell_untrended(*c).is_some_and(|s| published(&s, viewer)))
}

/// An alert (its JSON, from [`crate::early_warning::alert_json`]) as a viewer may see it. For a
/// suppressed role it names [`published_alert_cell`] with that cell's centre and no score of the
/// finer cell, or withholds the location (`cell`, `res`, `centroid` null and
/// `location_withheld: true`) — the alert itself still reaches them.
#[must_use]
pub fn alert_for(alert: &Value, viewer: &Viewer, view: &crate::scoring::View<'_>) -> Value {
    let mut v = alert.clone();
    if !viewer.role.suppressed() {
        return v;
    }
    let shown = v["cell"].as_str().and_then(|c| published_alert_cell(c, viewer, view));
    v["score"] = Value::Null;
    v["location_withheld"] = json!(shown.is_none());
    v["cell"] = json!(shown.map(|c| c.to_string()));
    v["res"] = json!(shown.map(|c| u8::from(c.resolution())));
    v["centroid"] = json!(shown.map(|c| {
        let (x, y) = grid::centre(c);
        [round6(x), round6(y)]
    }));
    v
}

/// Categories a viewer may see named for a cell at a resolution.
fn nameable(category: Category, res: Resolution, viewer: &Viewer) -> bool {
    viewer.role.sees_points() || category.sensitivity().public_resolution() >= u8::from(res)
}

/// The properties of a scored cell (the `cells` contract), `None` when suppressed.
#[must_use]
pub fn cell_properties(s: &CellScore, drivers: Option<&Drivers>, viewer: &Viewer) -> Option<Map<String, Value>> {
    if !published(s, viewer) {
        return None;
    }
    let res = s.cell.resolution();
    let mut p = Map::new();
    p.insert("cell".into(), json!(s.cell.to_string()));
    p.insert("res".into(), json!(u8::from(res)));
    p.insert("score".into(), json!(round2(s.score)));
    p.insert("level".into(), json!(s.level.slug()));
    p.insert("intensity".into(), json!(round2(s.intensity)));
    p.insert("expected".into(), json!(round2(s.expected)));
    p.insert("anomaly_z".into(), json!(round2(s.anomaly_z)));
    p.insert("gi_z".into(), opt_round2(s.gi_z));
    p.insert("hot".into(), json!(s.hot));
    p.insert("trend".into(), json!(s.trend.slug()));
    p.insert("reports".into(), json!(s.reports));
    p.insert("peace".into(), json!(round2(s.peace)));
    p.insert("neighbour_intensity".into(), json!(round2(s.neighbour_intensity)));
    if let Some(d) = drivers {
        let cats: Vec<Value> = d
            .top_categories
            .iter()
            .filter(|(c, _)| nameable(*c, res, viewer))
            .map(|(c, share)| json!({ "category": c.slug(), "share": round2(*share) }))
            .collect();
        p.insert("top_categories".into(), json!(cats));
        p.insert(
            "last_report_at".into(),
            d.last_report.map_or(Value::Null, |t| {
                json!(if viewer.role.sees_points() { rfc3339(from_millis(t)) } else { hour_floor(t) })
            }),
        );
        if viewer.role.sees_points() {
            let top: Vec<Value> = d
                .top_reports
                .iter()
                .map(|(id, w)| json!({ "id": id.to_string(), "contribution": round2(*w) }))
                .collect();
            p.insert("top_reports".into(), json!(top));
        }
    }
    Some(p)
}

/// A scored cell as a GeoJSON Feature with its hexagon, `None` when suppressed.
#[must_use]
pub fn cell_feature(s: &CellScore, drivers: Option<&Drivers>, viewer: &Viewer) -> Option<Value> {
    let props = cell_properties(s, drivers, viewer)?;
    Some(json!({ "type": "Feature", "id": s.cell.to_string(), "geometry": cell_polygon(s.cell), "properties": props }))
}

/// A hotspot as JSON (centroid, score, level, `gi_z`, trend, drivers, last report), `None` when
/// suppressed.
#[must_use]
pub fn hotspot_json(h: &Hotspot, viewer: &Viewer) -> Option<Map<String, Value>> {
    let mut p = cell_properties(&h.score, Some(&h.drivers), viewer)?;
    p.insert("rank".into(), json!(h.rank));
    p.insert("centroid".into(), json!([round6(h.score.centre.0), round6(h.score.centre.1)]));
    Some(p)
}

/// A GeoJSON FeatureCollection.
#[must_use]
pub fn collection(features: Vec<Value>) -> Value {
    json!({ "type": "FeatureCollection", "features": Value::Array(features) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_visibility_table() {
        use Verification::{Unverified, Verified};
        use Visibility::{Exact, Full, Generalised, Hidden};
        let v = |role, cat, ver| visibility(role, cat, ver);
        assert_eq!(v(Role::Public, Category::Rumour, Unverified), Hidden);
        assert_eq!(v(Role::Public, Category::Rumour, Verified), Generalised);
        assert_eq!(v(Role::Planner, Category::Gbv, Verified), Hidden);
        assert_eq!(v(Role::Verifier, Category::Rumour, Unverified), Exact);
        assert_eq!(v(Role::Analyst, Category::Gbv, Verified), Generalised);
        assert_eq!(v(Role::Admin, Category::Gbv, Unverified), Full);
    }

    #[test]
    fn generalisation_is_deterministic_and_within_the_cell() {
        let id = uuid::Uuid::from_u128(1);
        let a = generalised(id, 34.761_234_5, -0.091_734_5, Category::Rumour, 2, Verification::Verified, 0).unwrap();
        let b = generalised(id, 34.761_234_5, -0.091_734_5, Category::Rumour, 2, Verification::Verified, 0).unwrap();
        assert_eq!(a, b);
        let text = a.to_string();
        assert!(!text.contains("7612345") && !text.contains("0917345"));
        let c = a["geometry"]["coordinates"].as_array().unwrap();
        let d = crate::index::haversine_m(34.761_234_5, -0.091_734_5, c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!(d < Resolution::Seven.edge_length_m() * 1.1, "{d}");
    }
}
