//! GeoJSON tiles: `/tiles/{risk|reports}/{z}/{x}/{y}.geojson`.
//!
//! Each cell (or report) goes to the one tile that holds its centre, so no feature is drawn
//! twice. Bytes are serialised and gzipped once and cached per (layer, z, x, y, role class,
//! minute or `at`) with a strong `ETag`; a cached tile stays valid across engine changes that
//! happened elsewhere (the service's change log), so only tiles whose cells changed are rebuilt.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use h3o::Resolution;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::views::{self, Viewer, Visibility, round6};
use crate::domain::BBox;
use crate::index::grid;
use crate::service::Service;

/// The zoom → H3 resolution table of the risk layer.
///
/// ```
/// use kinga::http::tiles::resolution_for_zoom;
/// use h3o::Resolution;
/// assert_eq!(resolution_for_zoom(7), Resolution::Five);
/// assert_eq!(resolution_for_zoom(12), Resolution::Seven);
/// assert_eq!(resolution_for_zoom(17), Resolution::Nine);
/// ```
#[must_use]
pub fn resolution_for_zoom(z: u8) -> Resolution {
    match z {
        0..=8 => Resolution::Five,
        9..=10 => Resolution::Six,
        11..=12 => Resolution::Seven,
        13..=14 => Resolution::Eight,
        _ => Resolution::Nine,
    }
}

/// Zoom from which the reports layer shows single reports instead of clusters.
pub const POINT_ZOOM: u8 = 14;

/// The lon/lat box of a web-mercator tile.
#[must_use]
pub fn tile_bbox(z: u8, x: u32, y: u32) -> Option<BBox> {
    let n = f64::from(1u32 << z);
    let lon = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| (std::f64::consts::PI * (1.0 - 2.0 * y / n)).sinh().atan().to_degrees();
    BBox::new(lon(f64::from(x)), lat(f64::from(y) + 1.0), lon(f64::from(x) + 1.0), lat(f64::from(y))).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TileKey {
    reports: bool,
    z: u8,
    x: u32,
    y: u32,
    class: u8,
    bucket: i64,
}

#[derive(Debug)]
struct CachedTile {
    version: u64,
    etag: HeaderValue,
    json: Bytes,
    gzip: Bytes,
}

/// Cached tile bytes.
#[derive(Debug, Default)]
pub struct TileCache {
    entries: Mutex<HashMap<TileKey, Arc<CachedTile>>>,
}

/// Most tiles kept; beyond it the cache is cleared (tiles rebuild in milliseconds).
const MAX_TILES: usize = 20_000;

fn class(viewer: &Viewer) -> u8 {
    if viewer.role.handles_cases() { 2 } else { u8::from(viewer.role.sees_points()) }
}

fn risk_features(state: &AppState, viewer: &Viewer, z: u8, bbox: &BBox, t: i64) -> Vec<Value> {
    let res = if viewer.role.suppressed() { viewer.publication_res } else { resolution_for_zoom(z) };
    let engine = state.service.engine();
    let view = engine.at(t);
    view.cells(res, Some(bbox))
        .into_iter()
        .filter(|s| views::published(s, viewer))
        .map(|s| {
            json!({
                "type": "Feature",
                "id": s.cell.to_string(),
                "geometry": views::cell_polygon(s.cell),
                "properties": {
                    "cell": s.cell.to_string(),
                    "res": u8::from(res),
                    "score": (s.score * 10.0).round() / 10.0,
                    "level": s.level.slug(),
                    "hot": s.hot,
                    "trend": s.trend.slug(),
                    "reports": s.reports,
                }
            })
        })
        .collect()
}

fn report_features(state: &AppState, viewer: &Viewer, z: u8, bbox: &BBox, t: i64) -> Vec<Value> {
    let engine = state.service.engine();
    let entries = engine.reports_in(bbox, t);
    let points = viewer.role.sees_points() && z >= POINT_ZOOM;
    if points {
        return entries.iter().filter_map(|e| views::entry_feature(e, viewer)).collect();
    }
    // Clusters: counts per cell (the public cell of each report for roles without points).
    let cluster_res = match z {
        0..=9 => Resolution::Six,
        10..=11 => Resolution::Seven,
        _ => Resolution::Eight,
    };
    let mut counts: HashMap<h3o::CellIndex, u32> = HashMap::new();
    for e in &entries {
        let cell = match views::visibility(viewer.role, e.category, e.verification) {
            Visibility::Hidden => None,
            Visibility::Generalised => views::public_cell(e.lon, e.lat, e.category).map(|c| {
                if u8::from(c.resolution()) > u8::from(cluster_res) { c.parent(cluster_res).unwrap_or(c) } else { c }
            }),
            Visibility::Exact | Visibility::Full => e.cell.parent(cluster_res),
        };
        if let Some(c) = cell {
            *counts.entry(c).or_default() += 1;
        }
    }
    let mut cells: Vec<(h3o::CellIndex, u32)> =
        counts.into_iter().filter(|(_, n)| !viewer.role.suppressed() || *n >= viewer.k).collect();
    cells.sort_unstable();
    cells
        .into_iter()
        .filter_map(|(cell, count)| {
            let (lon, lat) = grid::centre(cell);
            bbox.contains(lon, lat).then(|| {
                json!({
                    "type": "Feature",
                    "id": cell.to_string(),
                    "geometry": { "type": "Point", "coordinates": [round6(lon), round6(lat)] },
                    "properties": { "cluster": true, "cell": cell.to_string(), "count": count }
                })
            })
        })
        .collect()
}

fn build(
    state: &AppState,
    viewer: &Viewer,
    key: &TileKey,
    bbox: &BBox,
    t: i64,
    version: u64,
) -> Result<CachedTile, ApiError> {
    let features = if key.reports {
        report_features(state, viewer, key.z, bbox, t)
    } else {
        risk_features(state, viewer, key.z, bbox, t)
    };
    let json = views::collection(features).to_string().into_bytes();
    let digest = Sha256::digest(&json);
    let etag = HeaderValue::from_str(&format!("\"{}\"", crate::store::hex(&digest[..12])))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::fast());
    gz.write_all(&json).map_err(|e| ApiError::Internal(e.to_string()))?;
    let gzip = gz.finish().map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(CachedTile { version, etag, json: Bytes::from(json), gzip: Bytes::from(gzip) })
}

/// `GET /tiles/{layer}/{z}/{x}/{y}.geojson?at=`.
///
/// # Errors
/// 404 for an unknown layer or a path without `.geojson`, 400 for coordinates outside the zoom.
#[expect(clippy::many_single_char_names, reason = "z/x/y are the tile coordinates' own names")]
#[expect(clippy::implicit_hasher, reason = "axum's query extractor fixes the map type")]
pub async fn get_tile(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((layer, z, x, y)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reports = match layer.as_str() {
        "risk" => false,
        "reports" => true,
        _ => return Err(ApiError::NotFound),
    };
    let y = y.strip_suffix(".geojson").ok_or(ApiError::NotFound)?;
    let z: u8 = z.parse().ok().filter(|z| *z <= 22).ok_or_else(|| ApiError::bad_param("z", "z must be 0–22"))?;
    let max = 1u32 << z;
    let x: u32 =
        x.parse().ok().filter(|x| *x < max).ok_or_else(|| ApiError::bad_param("x", "x must be 0 … 2^z − 1"))?;
    let y: u32 =
        y.parse().ok().filter(|y| *y < max).ok_or_else(|| ApiError::bad_param("y", "y must be 0 … 2^z − 1"))?;
    let viewer = state.viewer(&caller);
    let at = super::routes::params::at(q.get("at"))?;
    let mut t = Service::at_ms(at);
    if viewer.role.suppressed() && at.is_some() {
        t -= t.rem_euclid(3_600_000);
    }
    let bucket = if at.is_some() { t } else { t - t.rem_euclid(60_000) };
    let key = TileKey { reports, z, x, y, class: class(&viewer), bucket };
    let bbox = tile_bbox(z, x, y).ok_or_else(|| ApiError::bad_param("y", "no such tile"))?;
    let version = state.service.engine().version();
    let cached = state.tiles.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
    let tile = match cached {
        Some(c) if c.version == version => c,
        Some(c) if !state.service.changed_since(c.version, &bbox.expanded(grid::margin_degrees(Resolution::Five))) => {
            // Nothing changed near this tile: the bytes stand; remember the newer version.
            let fresh =
                Arc::new(CachedTile { version, etag: c.etag.clone(), json: c.json.clone(), gzip: c.gzip.clone() });
            state.tiles.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, fresh.clone());
            fresh
        }
        _ => {
            let fresh = Arc::new(build(&state, &viewer, &key, &bbox, t, version)?);
            let mut entries = state.tiles.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if entries.len() >= MAX_TILES {
                entries.clear();
            }
            entries.insert(key, fresh.clone());
            fresh
        }
    };
    let cache_control = if at.is_some() { "public, max-age=60" } else { "no-cache" };
    let not_modified = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|tag| tag.trim() == tile.etag.to_str().unwrap_or_default() || tag.trim() == "*")
    });
    if not_modified {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, tile.etag.clone()), (header::CACHE_CONTROL, HeaderValue::from_static(cache_control))],
        )
            .into_response());
    }
    let gzip_ok =
        headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("gzip"));
    let mut response = if gzip_ok {
        ([(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))], tile.gzip.clone()).into_response()
    } else {
        tile.json.clone().into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/geo+json"));
    h.insert(header::ETAG, tile.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding, Authorization"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_boxes_follow_web_mercator() {
        let b = tile_bbox(0, 0, 0).unwrap();
        assert!((b.west() + 180.0).abs() < 1e-9 && (b.east() - 180.0).abs() < 1e-9);
        assert!((b.north() - 85.051_128_78).abs() < 1e-6);
        let k = tile_bbox(10, 610, 512).unwrap();
        assert!(k.contains(34.6, -0.1), "{k:?}");
    }
}
