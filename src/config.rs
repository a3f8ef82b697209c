//! One typed configuration, read once at start-up: defaults, then `kinga.toml`, then
//! environment variables (`KINGA_*`), then command-line flags — each layer overriding the last.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use geo::{Coord, LineString, MultiPolygon, Polygon};

use crate::domain::{Region, default_deployment_start, parse_timestamp};
use crate::scoring::ScoringParams;

/// The default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// The default store: the embedded SQLite file.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/kinga.db";

/// Everything a subcommand needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub addr: SocketAddr,
    /// `sqlite://…` (embedded, default) or `postgres://…` (PostGIS).
    pub database_url: String,
    /// The region given on this start (`None`: use the one remembered by the store).
    pub region: Option<RegionSpec>,
    /// Reports that occurred before this are rejected.
    pub deployment_start: DateTime<Utc>,
    /// Whether callers without a token may read (public role). Off = a private deployment.
    pub public_read: bool,
    /// Small-cell suppression threshold k for non-privileged roles (never below 3).
    pub suppression_k: u32,
    /// The single H3 resolution at which aggregates are published to non-privileged roles.
    pub publication_res: u8,
    /// Risk model parameters.
    pub scoring: ScoringParams,
    /// Service limits.
    pub limits: Limits,
    /// Alternative directory of the web map's files (default: the copy embedded in the binary).
    pub web_dir: Option<PathBuf>,
    /// Basemap tile URL template for the map (`""` for none: region outline and cells only).
    pub basemap_url: String,
    /// Where alert changes are posted (see [`crate::webhooks`]).
    pub webhooks: Vec<WebhookTarget>,
}

/// A webhook receiving alert changes, signed with its shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// `http://host[:port]/path`.
    pub url: String,
    /// The HMAC-SHA256 key (at least 16 bytes).
    pub secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget").field("url", &self.url).field("secret", &"<redacted>").finish()
    }
}

/// `[[webhooks]]` of `kinga.toml`: the secret inline or, better, named by an environment variable.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    url: String,
    secret: Option<String>,
    secret_env: Option<String>,
}

impl WebhookFile {
    fn resolve(self, n: usize) -> Result<WebhookTarget, String> {
        let at = format!("webhooks[{n}]");
        let uri: axum::http::Uri = self.url.parse().map_err(|_| format!("{at}.url: {:?} is not a URL", self.url))?;
        match uri.scheme_str() {
            Some("http") if uri.host().is_some() => {}
            Some("https") => {
                return Err(format!(
                    "{at}.url: https is not supported by this build (no TLS client); post to an http \
                     relay on the same host or network"
                ));
            }
            _ => return Err(format!("{at}.url: must be http://host[:port]/path")),
        }
        let secret = match (self.secret, self.secret_env) {
            (Some(s), None) => s,
            (None, Some(var)) => std::env::var(&var).map_err(|_| format!("{at}.secret_env: ${var} is not set"))?,
            _ => return Err(format!("{at}: give exactly one of secret or secret_env")),
        };
        if secret.len() < 16 {
            return Err(format!("{at}.secret: at least 16 bytes"));
        }
        Ok(WebhookTarget { url: self.url, secret })
    }
}

/// Resource limits of the HTTP service.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Requests handled at once; beyond it requests are shed with 503 + `Retry-After`.
    pub max_in_flight: usize,
    /// Requests per minute per credential (token, or client address for the public role).
    pub rate_per_minute: u32,
    /// Whole-request timeout, seconds (answered 408).
    pub request_timeout_s: u64,
    /// Time allowed to send the request headers, seconds.
    pub header_timeout_s: u64,
    /// Largest body of a single-report POST, bytes.
    pub report_body_bytes: usize,
    /// Largest body of a bulk POST, bytes.
    pub bulk_body_bytes: usize,
    /// Largest page for non-privileged roles.
    pub max_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 512,
            rate_per_minute: 6_000,
            request_timeout_s: 30,
            header_timeout_s: 10,
            report_body_bytes: 64 * 1024,
            bulk_body_bytes: 32 * 1024 * 1024,
            max_page: 100,
        }
    }
}

/// How the region was given.
#[derive(Debug, Clone, PartialEq)]
pub enum RegionSpec {
    /// `minLon,minLat,maxLon,maxLat`.
    BBox(String),
    /// A GeoJSON file holding a Polygon or `MultiPolygon` (a Feature or FeatureCollection of one
    /// is accepted).
    File(PathBuf),
}

impl RegionSpec {
    /// Reads a `--region` value: a file path if such a file exists, else a box.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        if Path::new(text).is_file() { Self::File(PathBuf::from(text)) } else { Self::BBox(text.to_string()) }
    }

    /// The text remembered in the store: the box, or the GeoJSON geometry itself.
    ///
    /// # Errors
    /// A message when the file cannot be read.
    pub fn to_stored(&self) -> Result<String, String> {
        match self {
            Self::BBox(b) => Ok(b.clone()),
            Self::File(p) => {
                std::fs::read_to_string(p).map_err(|e| format!("cannot read region file {}: {e}", p.display()))
            }
        }
    }
}

/// Builds a region from its stored text: a box, or GeoJSON.
///
/// ```
/// use kinga::config::region_from_text;
/// assert!(region_from_text("34.4,-0.45,35.4,0.05").unwrap().contains(34.75, -0.1));
/// let poly = r#"{"type":"Polygon","coordinates":[[[34,-1],[35,-1],[35,0],[34,0],[34,-1]]]}"#;
/// assert!(region_from_text(poly).unwrap().contains(34.5, -0.5));
/// assert!(region_from_text("nonsense").is_err());
/// ```
///
/// # Errors
/// A message naming what is wrong with the region.
pub fn region_from_text(text: &str) -> Result<Region, String> {
    let trimmed = text.trim();
    if !trimmed.starts_with('{') {
        return Region::parse_bbox(trimmed)
            .map_err(|e| format!("region must be minLon,minLat,maxLon,maxLat or a GeoJSON Polygon file ({e:?})"));
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| format!("region GeoJSON: {e}"))?;
    let polygons = geometry_polygons(&value)?;
    if polygons.is_empty() {
        return Err("region GeoJSON holds no polygon".into());
    }
    Region::from_polygons(MultiPolygon::new(polygons)).map_err(|e| format!("region GeoJSON: {e:?}"))
}

fn geometry_polygons(v: &serde_json::Value) -> Result<Vec<Polygon<f64>>, String> {
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
    match kind {
        "FeatureCollection" => {
            let mut out = Vec::new();
            for f in v.get("features").and_then(|f| f.as_array()).into_iter().flatten() {
                out.extend(geometry_polygons(f)?);
            }
            Ok(out)
        }
        "Feature" => v.get("geometry").map_or(Ok(Vec::new()), geometry_polygons),
        "Polygon" => Ok(vec![polygon(v.get("coordinates"))?]),
        "MultiPolygon" => v
            .get("coordinates")
            .and_then(|c| c.as_array())
            .ok_or("MultiPolygon without coordinates")?
            .iter()
            .map(|p| polygon(Some(p)))
            .collect(),
        other => Err(format!("region GeoJSON must be a Polygon or MultiPolygon, not {other:?}")),
    }
}

fn polygon(coords: Option<&serde_json::Value>) -> Result<Polygon<f64>, String> {
    let rings = coords.and_then(|c| c.as_array()).ok_or("Polygon without coordinates")?;
    let mut rings = rings.iter().map(|ring| {
        let pts = ring.as_array().ok_or("a ring must be an array")?;
        let coords: Vec<Coord<f64>> = pts
            .iter()
            .map(|p| {
                match p.as_array().map(|a| {
                    (a.first().and_then(serde_json::Value::as_f64), a.get(1).and_then(serde_json::Value::as_f64))
                }) {
                    Some((Some(x), Some(y))) if (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y) => {
                        Ok(Coord { x, y })
                    }
                    _ => Err("a position must be [lon, lat] within range".to_string()),
                }
            })
            .collect::<Result<_, _>>()?;
        if coords.len() < 4 || coords.first() != coords.last() {
            return Err("a ring needs at least 4 positions and must be closed".to_string());
        }
        Ok(LineString::new(coords))
    });
    let exterior = rings.next().ok_or("Polygon without rings")??;
    let interiors = rings.collect::<Result<Vec<_>, String>>()?;
    Ok(Polygon::new(exterior, interiors))
}

/// The `kinga.toml` file: every key optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    addr: Option<String>,
    database_url: Option<String>,
    region: Option<String>,
    deployment_start: Option<String>,
    public_read: Option<bool>,
    suppression_k: Option<u32>,
    publication_res: Option<u8>,
    web_dir: Option<PathBuf>,
    basemap_url: Option<String>,
    #[serde(default)]
    scoring: ScoringFile,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    webhooks: Vec<WebhookFile>,
}

/// `[scoring]` of `kinga.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoringFile {
    short_half_life_h: Option<f64>,
    long_half_life_h: Option<f64>,
    trend_window_h: Option<f64>,
    spill: Option<f64>,
    k_ring: Option<u32>,
    score_scale: Option<f64>,
    baseline_prior: Option<f64>,
    peace_scale: Option<f64>,
    gi_hot_z: Option<f64>,
}

/// `[limits]` of `kinga.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_in_flight: Option<usize>,
    rate_per_minute: Option<u32>,
    request_timeout_s: Option<u64>,
    header_timeout_s: Option<u64>,
}

/// Values given on the command line or in the environment (clap merges the two).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`.
    pub config_file: Option<PathBuf>,
    /// `--addr` / `KINGA_ADDR`.
    pub addr: Option<String>,
    /// `--database-url` / `KINGA_DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--region` / `KINGA_REGION`.
    pub region: Option<String>,
    /// `--deployment-start` / `KINGA_DEPLOYMENT_START`.
    pub deployment_start: Option<String>,
    /// `--public-read` / `KINGA_PUBLIC_READ`.
    pub public_read: Option<bool>,
    /// `--suppression-k` / `KINGA_SUPPRESSION_K`.
    pub suppression_k: Option<u32>,
    /// `--short-half-life-h` / `KINGA_SHORT_HALF_LIFE_H`.
    pub short_half_life_h: Option<f64>,
    /// `--long-half-life-h` / `KINGA_LONG_HALF_LIFE_H`.
    pub long_half_life_h: Option<f64>,
    /// `--web-dir` / `KINGA_WEB_DIR`.
    pub web_dir: Option<PathBuf>,
    /// `--basemap-url` / `KINGA_BASEMAP_URL`.
    pub basemap_url: Option<String>,
}

impl Config {
    /// Layers defaults, the config file (`--config`, or `./kinga.toml` when present), and the
    /// overrides.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn load(o: &Overrides) -> Result<Self, String> {
        let path = o.config_file.clone().or_else(|| Some(PathBuf::from("kinga.toml")).filter(|p| p.is_file()));
        let file: FileConfig = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => FileConfig::default(),
        };
        Self::from_layers(file, o)
    }

    /// Merges a parsed file and overrides over the defaults.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn from_layers(file: FileConfig, o: &Overrides) -> Result<Self, String> {
        let addr_text = o.addr.clone().or(file.addr).unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr = addr_text.parse().map_err(|_| format!("addr: {addr_text:?} is not host:port"))?;
        let deployment_start = match o.deployment_start.clone().or(file.deployment_start) {
            None => default_deployment_start(),
            Some(t) => {
                parse_timestamp(&t).map_err(|_| "deployment_start must be RFC 3339 with an offset".to_string())?
            }
        };
        let suppression_k = o.suppression_k.or(file.suppression_k).unwrap_or(5);
        if suppression_k < 3 {
            return Err("suppression_k must be at least 3".into());
        }
        let publication_res = file.publication_res.unwrap_or(7);
        if !(5..=9).contains(&publication_res) {
            return Err("publication_res must be 5–9".into());
        }
        let d = ScoringParams::default();
        let s = file.scoring;
        let scoring = ScoringParams {
            short_half_life_h: o.short_half_life_h.or(s.short_half_life_h).unwrap_or(d.short_half_life_h),
            long_half_life_h: o.long_half_life_h.or(s.long_half_life_h).unwrap_or(d.long_half_life_h),
            trend_window_h: s.trend_window_h.unwrap_or(d.trend_window_h),
            spill: s.spill.unwrap_or(d.spill),
            k_ring: s.k_ring.unwrap_or(d.k_ring),
            score_scale: s.score_scale.unwrap_or(d.score_scale),
            baseline_prior: s.baseline_prior.unwrap_or(d.baseline_prior),
            peace_scale: s.peace_scale.unwrap_or(d.peace_scale),
            gi_hot_z: s.gi_hot_z.unwrap_or(d.gi_hot_z),
            ..d
        };
        scoring.validate()?;
        let dl = Limits::default();
        let limits = Limits {
            max_in_flight: file.limits.max_in_flight.unwrap_or(dl.max_in_flight).max(1),
            rate_per_minute: file.limits.rate_per_minute.unwrap_or(dl.rate_per_minute).max(1),
            request_timeout_s: file.limits.request_timeout_s.unwrap_or(dl.request_timeout_s).max(1),
            header_timeout_s: file.limits.header_timeout_s.unwrap_or(dl.header_timeout_s).max(1),
            ..dl
        };
        Ok(Self {
            addr,
            database_url: o.database_url.clone().or(file.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            region: o.region.clone().or(file.region).map(|r| RegionSpec::parse(&r)),
            deployment_start,
            public_read: o.public_read.or(file.public_read).unwrap_or(true),
            suppression_k,
            publication_res,
            scoring,
            limits,
            web_dir: o.web_dir.clone().or(file.web_dir),
            basemap_url: o
                .basemap_url
                .clone()
                .or(file.basemap_url)
                .unwrap_or_else(|| "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into()),
            webhooks: file.webhooks.into_iter().enumerate().map(|(n, w)| w.resolve(n)).collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, clippy::unreadable_literal, reason = "exact expected values from the reference")]
mod tests {
    use super::*;

    #[test]
    fn layers_override_in_order() {
        let file: FileConfig =
            toml::from_str("addr = \"127.0.0.1:9000\"\nsuppression_k = 7\n[scoring]\nshort_half_life_h = 48.0\n")
                .unwrap();
        let o = Overrides { addr: Some("0.0.0.0:1".into()), ..Overrides::default() };
        let c = Config::from_layers(file, &o).unwrap();
        assert_eq!(c.addr.to_string(), "0.0.0.0:1");
        assert_eq!(c.suppression_k, 7);
        assert_eq!(c.scoring.short_half_life_h, 48.0);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    }

    #[test]
    fn bad_settings_are_named() {
        let o = Overrides { suppression_k: Some(2), ..Overrides::default() };
        assert!(Config::from_layers(FileConfig::default(), &o).unwrap_err().contains("suppression_k"));
        assert!(toml::from_str::<FileConfig>("colour = 1").is_err());
        let o = Overrides { addr: Some("nowhere".into()), ..Overrides::default() };
        assert!(Config::from_layers(FileConfig::default(), &o).unwrap_err().contains("addr"));
    }

    #[test]
    fn webhooks_are_checked_and_their_secrets_not_printed() {
        let load = |text: &str| Config::from_layers(toml::from_str(text).unwrap(), &Overrides::default());
        let ok = load("[[webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"0123456789abcdef\"\n").unwrap();
        assert_eq!(ok.webhooks.len(), 1);
        assert!(!format!("{ok:?}").contains("0123456789abcdef"));
        let short = load("[[webhooks]]\nurl = \"http://h/x\"\nsecret = \"short\"\n").unwrap_err();
        assert_eq!(short, "webhooks[0].secret: at least 16 bytes");
        let tls = load("[[webhooks]]\nurl = \"https://h/x\"\nsecret = \"0123456789abcdef\"\n").unwrap_err();
        assert!(tls.starts_with("webhooks[0].url: https"), "{tls}");
        let both = "[[webhooks]]\nurl = \"http://h/x\"\nsecret = \"0123456789abcdef\"\nsecret_env = \"X\"\n";
        assert!(load(both).unwrap_err().contains("exactly one"));
        let unset = load("[[webhooks]]\nurl = \"http://h/x\"\nsecret_env = \"KINGA_TEST_UNSET_SECRET\"\n").unwrap_err();
        assert!(unset.contains("$KINGA_TEST_UNSET_SECRET is not set"), "{unset}");
    }
}
