//! Wire formats of report intake → [`ReportInput`]: a GeoJSON Feature, a FeatureCollection,
//! NDJSON (one Feature per line) and CSV (`id,occurred_at,lon,lat,category,severity,source,
//! description`). Every error names its field as a JSON pointer into the Feature (CSV: the
//! column name); syntax errors are 400, semantic ones 422 (DESIGN.md §4).
//!
//! Reports are never parsed through `serde_json::Value` (it keeps the last of duplicate keys
//! silently): typed structs with `deny_unknown_fields` reject duplicates and server-owned
//! fields such as `verification` or `received_at` by name.

use std::fmt::Write;

use serde::Deserialize;
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::domain::{FieldError, ReportInput, Reporter, field};

/// Why a body (or one item of a bulk body) was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum IntakeError {
    /// Not well-formed (400).
    Syntax(Vec<FieldError>),
    /// Well-formed but not a valid report (422).
    Invalid(Vec<FieldError>),
}

impl IntakeError {
    /// The field errors.
    #[must_use]
    pub fn errors(&self) -> &[FieldError] {
        match self {
            Self::Syntax(e) | Self::Invalid(e) => e,
        }
    }

    fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, code, message)])
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureIn {
    #[serde(rename = "type")]
    kind: String,
    geometry: Option<Box<RawValue>>,
    properties: Option<PropertiesIn>,
    id: Option<String>,
    #[serde(rename = "bbox")]
    _bbox: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointIn {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Option<Vec<f64>>,
    #[serde(rename = "bbox")]
    _bbox: Option<Vec<f64>>,
}

/// Only the `type` of a geometry (other members are checked once we know it is a Point).
#[derive(Deserialize)]
struct GeometryType {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertiesIn {
    id: Option<String>,
    occurred_at: String,
    category: String,
    severity: i64,
    source: Option<String>,
    description: Option<String>,
    reporter: Option<Reporter>,
    tags: Option<Vec<String>>,
}

fn pointer(path: &serde_path_to_error::Path, prefix: &str) -> String {
    use serde_path_to_error::Segment;
    let mut out = prefix.to_string();
    for seg in path {
        match seg {
            Segment::Seq { index } => {
                let _ = write!(out, "/{index}");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Turns a `serde_json` error at a path into a field error; syntax → 400, data → 422.
fn json_error(e: &serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> IntakeError {
    let inner = e.inner();
    let mut at = pointer(e.path(), prefix);
    let text = inner.to_string();
    // Drop serde_json's " at line L column C" and never echo values.
    let message = text.split(" at line ").next().unwrap_or("invalid").to_string();
    let named = |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_string);
    let name_field = |at: &mut String, name: &str| {
        if !at.ends_with(&format!("/{name}")) {
            at.push('/');
            at.push_str(name);
        }
    };
    let (code, message) = if let Some(name) = named("unknown field `") {
        name_field(&mut at, &name);
        ("unknown_field", format!("unknown or server-owned field `{name}`"))
    } else if let Some(name) = named("missing field `") {
        name_field(&mut at, &name);
        ("missing_field", format!("missing required field `{name}`"))
    } else if let Some(name) = named("duplicate field `") {
        name_field(&mut at, &name);
        ("duplicate_field", format!("field `{name}` appears twice"))
    } else if message.starts_with("invalid type") {
        (
            "invalid_type",
            message.split(", expected").next().map_or(message.clone(), |m| {
                let expected = message.split(", expected ").nth(1).unwrap_or("another type");
                format!("{}; expected {expected}", m.split(':').next().unwrap_or(m))
            }),
        )
    } else {
        ("invalid", message)
    };
    match inner.classify() {
        Category::Data => IntakeError::Invalid(vec![FieldError::new(at, code, message)]),
        Category::Syntax | Category::Eof | Category::Io => {
            IntakeError::Syntax(vec![FieldError::new(at, "malformed_json", message)])
        }
    }
}

fn strict<'a, T: Deserialize<'a>>(text: &'a str, prefix: &str) -> Result<T, IntakeError> {
    // Valid input — nearly all of it — is parsed once. A typed parse that succeeds has checked
    // the syntax of everything it read; the parts it skipped (a `RawValue` geometry or feature,
    // members a struct ignores) are parsed strictly in turn by the caller, so the depth limit
    // still holds everywhere. Only a failure pays for telling 400 from 422 below.
    let mut de = serde_json::Deserializer::from_str(text);
    if let Ok(value) = T::deserialize(&mut de)
        && de.end().is_ok()
    {
        return Ok(value);
    }
    classified(text, prefix)
}

/// The slow path of [`strict`]: syntax first (truncation, NaN, depth beyond 128, trailing
/// garbage: 400 whatever the shape), then the typed parse with the path of its error (422).
fn classified<'a, T: Deserialize<'a>>(text: &'a str, prefix: &str) -> Result<T, IntakeError> {
    // (`IgnoredAny` would skip the depth limit; the `Value` is dropped, never read.)
    let mut syntax = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, serde_json::Value>(&mut syntax)
        .map_err(|e| json_error(&e, prefix))
        .and_then(|_| {
            syntax.end().map_err(|_| {
                IntakeError::Syntax(vec![FieldError::new(
                    prefix,
                    "malformed_json",
                    "trailing characters after the JSON value",
                )])
            })
        })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(&e, prefix))?;
    de.end().map_err(|e| {
        IntakeError::Syntax(vec![FieldError::new(
            prefix,
            "malformed_json",
            e.to_string().split(" at line ").next().unwrap_or("trailing characters").to_string(),
        )])
    })?;
    Ok(value)
}

/// Parses one GeoJSON Feature into a report input.
///
/// ```
/// use kinga::http::intake::{parse_feature, IntakeError};
/// let ok = r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[34.76,-0.09]},
///   "properties":{"occurred_at":"2013-03-04T10:00:00Z","category":"rumour","severity":2}}"#;
/// assert_eq!(parse_feature(ok).unwrap().lat, -0.09);
/// let mass_assignment = ok.replace(r#""severity":2"#, r#""severity":2,"verification":"verified""#);
/// let IntakeError::Invalid(e) = parse_feature(&mass_assignment).unwrap_err() else { panic!() };
/// assert_eq!(e[0].field, "/properties/verification");
/// ```
///
/// # Errors
/// [`IntakeError`] naming the field.
pub fn parse_feature(text: &str) -> Result<ReportInput, IntakeError> {
    let f: FeatureIn = strict(text, "")?;
    if f.kind != "Feature" {
        return Err(IntakeError::invalid("/type", "invalid_type", "must be \"Feature\""));
    }
    let geometry = f
        .geometry
        .ok_or_else(|| IntakeError::invalid("/geometry", "geometry_empty", "a report needs a Point geometry"))?;
    let point = match serde_json::from_str::<PointIn>(geometry.get()) {
        Ok(point) if point.kind == "Point" => point,
        _ => {
            // Not a valid Point: syntax first, as everywhere (`GeometryType` skips members
            // it does not name, and skipping does not count nesting depth).
            let kind: GeometryType = classified(geometry.get(), "/geometry")?;
            if kind.kind.as_deref() != Some("Point") {
                return Err(IntakeError::invalid(
                    "/geometry/type",
                    "not_a_point",
                    "a report location must be a GeoJSON Point",
                ));
            }
            strict::<PointIn>(geometry.get(), "/geometry")?
        }
    };
    let coords = point.coordinates.unwrap_or_default();
    if coords.is_empty() {
        return Err(IntakeError::invalid(field::COORDINATES, "geometry_empty", "a Point needs [longitude, latitude]"));
    }
    if coords.len() < 2 || coords.len() > 3 {
        return Err(IntakeError::invalid(
            field::COORDINATES,
            "invalid_position",
            "a position has 2 elements [longitude, latitude] (or 3 with altitude)",
        ));
    }
    let p = f
        .properties
        .ok_or_else(|| IntakeError::invalid("/properties", "missing_field", "a report needs properties"))?;
    let id = match (f.id, p.id) {
        (Some(a), Some(b)) if a != b => {
            return Err(IntakeError::invalid(field::ID, "id_mismatch", "the Feature id and properties.id differ"));
        }
        (a, b) => b.or(a),
    };
    Ok(ReportInput {
        id,
        lon: coords[0],
        lat: coords[1],
        occurred_at: p.occurred_at,
        category: p.category,
        severity: p.severity,
        source: p.source,
        description: p.description,
        reporter: p.reporter,
        tags: p.tags.unwrap_or_default(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionIn<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    features: Vec<&'a RawValue>,
    #[serde(rename = "bbox")]
    _bbox: Option<Vec<f64>>,
}

/// One parsed item of a bulk body: its index and the input or why it was refused.
pub type BulkItem = (usize, Result<ReportInput, IntakeError>);

/// Parses a FeatureCollection; item errors are per feature (pointers relative to the feature).
///
/// # Errors
/// [`IntakeError`] when the collection itself is malformed.
pub fn parse_collection(text: &str) -> Result<Vec<BulkItem>, IntakeError> {
    let c: CollectionIn<'_> = strict(text, "")?;
    if c.kind != "FeatureCollection" {
        return Err(IntakeError::invalid("/type", "invalid_type", "must be \"FeatureCollection\""));
    }
    let items: Vec<BulkItem> =
        c.features.into_iter().enumerate().map(|(i, raw)| (i, parse_feature(raw.get()))).collect();
    if items.iter().any(|(_, item)| matches!(item, Err(IntakeError::Syntax(_)))) {
        // A syntax error inside a feature (nesting too deep) makes the whole body malformed.
        classified::<CollectionIn<'_>>(text, "")?;
    }
    Ok(items)
}

/// Parses NDJSON: one Feature per non-empty line.
#[must_use]
pub fn parse_ndjson(text: &str) -> Vec<BulkItem> {
    text.lines().filter(|l| !l.trim().is_empty()).enumerate().map(|(i, line)| (i, parse_feature(line))).collect()
}

/// The CSV header kinga reads and writes.
pub const CSV_COLUMNS: [&str; 8] = ["id", "occurred_at", "lon", "lat", "category", "severity", "source", "description"];

/// Maps a Feature pointer to the CSV column it came from.
#[must_use]
pub fn csv_column(pointer: &str) -> String {
    match pointer {
        field::LON => "lon".into(),
        field::LAT => "lat".into(),
        field::COORDINATES => "lon,lat".into(),
        p => p.strip_prefix("/properties/").unwrap_or(p).to_string(),
    }
}

/// Parses CSV with the header [`CSV_COLUMNS`] (columns in any order; `id`, `source` and
/// `description` may be absent). Errors name the column.
///
/// # Errors
/// [`IntakeError`] when the header is unusable.
pub fn parse_csv(text: &str) -> Result<Vec<BulkItem>, IntakeError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| IntakeError::Syntax(vec![FieldError::new("header", "malformed_csv", "unreadable CSV header")]))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    for required in ["occurred_at", "lon", "lat", "category", "severity"] {
        if col(required).is_none() {
            return Err(IntakeError::invalid(
                required,
                "missing_column",
                format!("the CSV header needs a `{required}` column"),
            ));
        }
    }
    if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(h)) {
        return Err(IntakeError::invalid(unknown, "unknown_column", "unknown CSV column"));
    }
    let mut items = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let item = match record {
            Err(e) => {
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!(
                            "the row has {len} fields, the header {expected_len} (quote fields that contain commas or quotes)"
                        )
                    }
                    csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_string(),
                    _ => "unreadable CSV row".to_string(),
                };
                Err(IntakeError::Syntax(vec![FieldError::new("row", "malformed_csv", message)]))
            }
            Ok(rec) => {
                let get = |name: &str| col(name).and_then(|c| rec.get(c)).map(str::to_string).filter(|s| !s.is_empty());
                let number = |name: &'static str| -> Result<f64, IntakeError> {
                    get(name).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite()).ok_or_else(|| {
                        IntakeError::invalid(name, "not_a_number", format!("`{name}` must be a finite number"))
                    })
                };
                (|| {
                    let lon = number("lon")?;
                    let lat = number("lat")?;
                    let severity = get("severity").and_then(|v| v.parse::<i64>().ok()).ok_or_else(|| {
                        IntakeError::invalid("severity", "invalid_type", "`severity` must be an integer 1–5")
                    })?;
                    Ok(ReportInput {
                        id: get("id"),
                        lon,
                        lat,
                        occurred_at: get("occurred_at").unwrap_or_default(),
                        category: get("category").unwrap_or_default(),
                        severity,
                        source: get("source"),
                        description: get("description"),
                        reporter: None,
                        tags: Vec::new(),
                    })
                })()
            }
        };
        items.push((i, item));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[34.76,-0.09]},"properties":{"occurred_at":"2013-03-04T10:00:00Z","category":"rumour","severity":2}}"#;

    fn err(text: &str) -> (bool, String, &'static str) {
        match parse_feature(text).unwrap_err() {
            IntakeError::Syntax(e) => (true, e[0].field.clone(), e[0].code),
            IntakeError::Invalid(e) => (false, e[0].field.clone(), e[0].code),
        }
    }

    #[test]
    fn table_b_json_rows() {
        // J3 truncated, J4 NaN, J5 out of range, J10 deep nesting: syntax (400).
        assert!(err(r#"{"type":"Feature","#).0);
        assert!(err(&OK.replace("34.76", "NaN")).0);
        assert!(err(&OK.replace("34.76", "1e400")).0);
        assert!(err(&format!("{}{}", "[".repeat(200), "]".repeat(200))).0);
        // … also where the typed parse skips: a geometry that is not a Point, nested too deep;
        // inside a FeatureCollection the whole body is malformed.
        let deep = OK.replace(
            r#"{"type":"Point","coordinates":[34.76,-0.09]}"#,
            &format!(r#"{{"type":"Polygon","coordinates":{}{}}}"#, "[".repeat(200), "]".repeat(200)),
        );
        assert_ne!(deep, OK);
        let (syntax, at, code) = err(&deep);
        assert!(syntax && code == "malformed_json" && at.starts_with("/geometry/coordinates/0/0"), "{at} {code}");
        let body = format!(r#"{{"type":"FeatureCollection","features":[{OK},{deep}]}}"#);
        assert!(matches!(parse_collection(&body), Err(IntakeError::Syntax(_))));
        // J6 wrong type, J7 missing, J8 mass assignment, J9 duplicate key: 422 naming the field.
        assert_eq!(
            err(&OK.replace(r#""severity":2"#, r#""severity":"2""#)),
            (false, "/properties/severity".into(), "invalid_type")
        );
        assert_eq!(err(&OK.replace(r#","severity":2"#, "")), (false, "/properties/severity".into(), "missing_field"));
        assert_eq!(
            err(&OK.replace(r#""severity":2"#, r#""severity":2,"received_at":"x""#)),
            (false, "/properties/received_at".into(), "unknown_field")
        );
        assert_eq!(
            err(&OK.replace(r#""severity":2"#, r#""severity":2,"severity":3"#)),
            (false, "/properties/severity".into(), "duplicate_field")
        );
        assert_eq!(
            err(&OK.replace(r#""coordinates":[34.76,-0.09]"#, r#""coordinates":["34.76",-0.09]"#)).1,
            "/geometry/coordinates/0"
        );
    }

    #[test]
    fn table_b_geometry_rows() {
        assert_eq!(err(&OK.replace("[34.76,-0.09]", "[9.0]")).2, "invalid_position");
        assert_eq!(err(&OK.replace("[34.76,-0.09]", "[]")).2, "geometry_empty");
        assert_eq!(err(&OK.replace("[34.76,-0.09]", "[38.7,9.0,2300,17]")).2, "invalid_position");
        assert_eq!(err(&OK.replace(r#""type":"Point""#, r#""type":"Pointz""#)).2, "not_a_point");
        assert_eq!(err(&OK.replace(r#"{"type":"Point","coordinates":[34.76,-0.09]}"#, "null")).2, "geometry_empty");
        let line = OK.replace(
            r#"{"type":"Point","coordinates":[34.76,-0.09]}"#,
            r#"{"type":"LineString","coordinates":[[34.76,-0.09],[34.77,-0.09]]}"#,
        );
        assert_eq!(err(&line), (false, "/geometry/type".into(), "not_a_point"));
        assert!(parse_feature(&OK.replace("[34.76,-0.09]", "[34.76,-0.09,1200]")).is_ok());
    }

    #[test]
    fn bulk_formats_keep_item_indices() {
        let fc = format!(r#"{{"type":"FeatureCollection","features":[{OK},{{"type":"Feature"}},{OK}]}}"#);
        let items = parse_collection(&fc).unwrap();
        assert_eq!(items.iter().map(|(_, r)| r.is_ok()).collect::<Vec<_>>(), [true, false, true]);
        let nd = format!("{OK}\n\n{{broken\n{OK}\n");
        assert_eq!(parse_ndjson(&nd).iter().map(|(_, r)| r.is_ok()).collect::<Vec<_>>(), [true, false, true]);
        let csv = "id,occurred_at,lon,lat,category,severity,source,description\n,2013-03-04T10:00:00Z,34.7,-0.1,rumour,2,sms,\"a, b\"\n,2013-03-04T10:00:00Z,abc,-0.1,rumour,2,sms,x\n";
        let items = parse_csv(csv).unwrap();
        assert_eq!(items[0].1.as_ref().unwrap().description.as_deref(), Some("a, b"));
        assert_eq!(items[1].1.as_ref().unwrap_err().errors()[0].field, "lon");
        assert!(parse_csv("lon,lat\n1,2\n").is_err());
    }
}
