//! The report: a validated point event, and the one constructor that builds it from raw input.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{
    Category, FieldError, Region, Severity, Source, ValidationErrors, Verification, parse_timestamp, truncate_micros,
};

/// Longest accepted `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Longest accepted reporter field or tag, in characters.
pub const MAX_SHORT_TEXT_CHARS: usize = 200;
/// Most tags on one report.
pub const MAX_TAGS: usize = 20;
/// How far in the future `occurred_at` may lie (clock skew of phones).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

/// Restricted contact details of whoever sent the report. Never in public outputs or logs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reporter {
    /// Name as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Any other contact (e-mail, handle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

impl Reporter {
    /// True when no field is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.phone.is_none() && self.contact.is_none()
    }
}

/// A report as it arrives, already split from its wire format but not yet validated.
///
/// Every adapter (GeoJSON, CSV, NDJSON, the store) fills this and calls [`ReportInput::validate`]:
/// one place decides what a valid report is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportInput {
    /// Client idempotency key, if any.
    pub id: Option<String>,
    /// Longitude, WGS84.
    pub lon: f64,
    /// Latitude, WGS84.
    pub lat: f64,
    /// RFC 3339 with offset.
    pub occurred_at: String,
    /// Category slug.
    pub category: String,
    /// 1–5.
    pub severity: i64,
    /// Source slug; `None` means `web`.
    pub source: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Restricted contact details.
    pub reporter: Option<Reporter>,
    /// Free labels.
    pub tags: Vec<String>,
}

/// What validation checks against: the deployment and the clock.
#[derive(Debug, Clone)]
pub struct ValidationRules<'a> {
    /// The deployment region; points outside are rejected.
    pub region: &'a Region,
    /// Reports that occurred before this are rejected.
    pub deployment_start: DateTime<Utc>,
    /// The current time (injected, for tests and replays).
    pub now: DateTime<Utc>,
    /// `true` for backfill: `received_at` is set to `occurred_at`.
    pub backfill: bool,
}

/// The part of a report the risk engine reads: no text, no reporter, nothing restricted. The
/// engine is rebuilt from these at start-up, so the store can read just these columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportCore {
    /// Identifier.
    pub id: Uuid,
    /// Longitude, WGS84.
    pub lon: f64,
    /// Latitude, WGS84.
    pub lat: f64,
    /// When it happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// When kinga received it (UTC).
    pub received_at: DateTime<Utc>,
    /// Category.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Verification state.
    pub verification: Verification,
}

/// A validated report. Fields are private: the only way in is [`ReportInput::validate`] (or
/// [`Report::from_parts`] for data already validated once, e.g. read back from the store).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    id: Uuid,
    lon: f64,
    lat: f64,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    category: Category,
    severity: Severity,
    source: Source,
    description: Option<String>,
    reporter: Option<Reporter>,
    tags: Vec<String>,
    verification: Verification,
}

/// JSON pointers of the canonical Feature form, used in every error.
pub mod field {
    /// Longitude.
    pub const LON: &str = "/geometry/coordinates/0";
    /// Latitude.
    pub const LAT: &str = "/geometry/coordinates/1";
    /// Both coordinates (the point as a whole).
    pub const COORDINATES: &str = "/geometry/coordinates";
    /// `id`.
    pub const ID: &str = "/properties/id";
    /// `occurred_at`.
    pub const OCCURRED_AT: &str = "/properties/occurred_at";
    /// `category`.
    pub const CATEGORY: &str = "/properties/category";
    /// `severity`.
    pub const SEVERITY: &str = "/properties/severity";
    /// `source`.
    pub const SOURCE: &str = "/properties/source";
    /// `description`.
    pub const DESCRIPTION: &str = "/properties/description";
    /// `reporter`.
    pub const REPORTER: &str = "/properties/reporter";
    /// `tags`.
    pub const TAGS: &str = "/properties/tags";
}

/// Longitude 180 and -180 are one meridian (the same H3 cell): keep the one spelling.
fn normalise_lon(lon: f64) -> f64 {
    if lon >= 180.0 { -180.0 } else { lon }
}

fn check_text(errors: &mut ValidationErrors, pointer: &str, text: &str, max: usize) {
    if text.chars().count() > max {
        errors.push(pointer, "too_long", format!("must be at most {max} characters"));
    }
    if text.contains('\0') {
        errors.push(pointer, "invalid_character", "must not contain NUL characters");
    }
}

impl ReportInput {
    /// Validates every field and builds a [`Report`], or returns every problem found.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use kinga::domain::{Region, ReportInput, ValidationRules, default_deployment_start};
    ///
    /// let region = Region::parse_bbox("34.4,-0.45,35.4,0.05").unwrap();
    /// let rules = ValidationRules {
    ///     region: &region,
    ///     deployment_start: default_deployment_start(),
    ///     now: Utc.with_ymd_and_hms(2013, 3, 5, 0, 0, 0).unwrap(),
    ///     backfill: false,
    /// };
    /// let input = ReportInput {
    ///     lon: 34.7617, lat: -0.0917, occurred_at: "2013-03-04T18:30:00+03:00".into(),
    ///     category: "rally-violence".into(), severity: 4, ..Default::default()
    /// };
    /// let report = input.clone().validate(&rules).unwrap();
    /// assert_eq!(report.severity().get(), 4);
    ///
    /// let bad = ReportInput { severity: 9, lat: 91.0, ..input };
    /// let errors = bad.validate(&rules).unwrap_err();
    /// let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    /// assert_eq!(fields, ["/geometry/coordinates/1", "/properties/severity"]);
    /// ```
    ///
    /// # Errors
    /// [`ValidationErrors`] naming each bad field by its JSON pointer.
    #[expect(clippy::too_many_lines, reason = "one check per field, in the order of the contract")]
    pub fn validate(self, rules: &ValidationRules<'_>) -> Result<Report, ValidationErrors> {
        let mut errors = ValidationErrors::default();

        let id = match self.id.as_deref() {
            None => None,
            Some(text) => match Uuid::parse_str(text) {
                Ok(id) if !id.is_nil() => Some(id),
                _ => {
                    errors.push(field::ID, "invalid_uuid", "must be a UUID");
                    None
                }
            },
        };

        let lon_ok = self.lon.is_finite() && (-180.0..=180.0).contains(&self.lon);
        let lat_ok = self.lat.is_finite() && (-90.0..=90.0).contains(&self.lat);
        if !lon_ok {
            errors.push(field::LON, "out_of_range", "longitude must be a finite number in [-180, 180]");
        }
        if !lat_ok {
            errors.push(field::LAT, "out_of_range", "latitude must be a finite number in [-90, 90]");
        }
        // Longitude 180 and -180 are one meridian; keep one spelling.
        let lon = normalise_lon(self.lon);
        if lon_ok && lat_ok && !rules.region.contains(lon, self.lat) {
            errors.push(
                field::COORDINATES,
                "location_outside_region",
                "the point lies outside the deployment region (are longitude and latitude swapped?)",
            );
        }

        let occurred_at = match parse_timestamp(&self.occurred_at) {
            Err(_) => {
                errors.push(
                    field::OCCURRED_AT,
                    "invalid_timestamp",
                    "must be an RFC 3339 timestamp with a UTC offset, e.g. 2013-03-04T18:30:00+03:00",
                );
                None
            }
            Ok(t) if t > rules.now + MAX_FUTURE_SKEW => {
                errors.push(
                    field::OCCURRED_AT,
                    "occurred_at_in_future",
                    "must not be more than 5 minutes in the future",
                );
                None
            }
            Ok(t) if t < rules.deployment_start => {
                errors.push(
                    field::OCCURRED_AT,
                    "occurred_at_before_deployment",
                    "must not be before the deployment start",
                );
                None
            }
            Ok(t) => Some(t),
        };

        let category = Category::from_slug(&self.category);
        if category.is_none() {
            errors.push(field::CATEGORY, "unknown_category", "must be a category slug of the taxonomy");
        }
        let severity = Severity::new(self.severity);
        if severity.is_none() {
            errors.push(field::SEVERITY, "out_of_range", "must be an integer from 1 to 5");
        }
        let source = match self.source.as_deref() {
            None => Some(Source::Web),
            Some(slug) => Source::from_slug(slug),
        };
        if source.is_none() {
            errors.push(
                field::SOURCE,
                "unknown_source",
                "must be one of monitor, hotline, sms, web, media, police, partner",
            );
        }
        if let Some(text) = &self.description {
            check_text(&mut errors, field::DESCRIPTION, text, MAX_DESCRIPTION_CHARS);
        }
        if let Some(r) = &self.reporter {
            for (name, value) in [("name", &r.name), ("phone", &r.phone), ("contact", &r.contact)] {
                if let Some(v) = value {
                    check_text(&mut errors, &format!("{}/{name}", field::REPORTER), v, MAX_SHORT_TEXT_CHARS);
                }
            }
        }
        if self.tags.len() > MAX_TAGS {
            errors.push(field::TAGS, "too_many", format!("at most {MAX_TAGS} tags"));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            check_text(&mut errors, &format!("{}/{i}", field::TAGS), tag, MAX_SHORT_TEXT_CHARS);
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        let (Some(occurred_at), Some(category), Some(severity), Some(source)) =
            (occurred_at, category, severity, source)
        else {
            // Unreachable: each `None` above recorded an error.
            return Err(ValidationErrors(vec![FieldError::new("", "invalid", "invalid report")]));
        };
        let received_at = if rules.backfill { occurred_at } else { truncate_micros(rules.now) };
        Ok(Report {
            id: id.unwrap_or_else(Uuid::now_v7),
            lon,
            lat: self.lat,
            occurred_at,
            received_at,
            category,
            severity,
            source,
            description: self.description,
            reporter: self.reporter.filter(|r| !r.is_empty()),
            tags: self.tags,
            verification: Verification::Unverified,
        })
    }
}

/// Every field of a stored report, for [`Report::from_parts`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReportParts {
    /// Identifier.
    pub id: Uuid,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When kinga stored it.
    pub received_at: DateTime<Utc>,
    /// Category.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Source.
    pub source: Source,
    /// Free text.
    pub description: Option<String>,
    /// Contact.
    pub reporter: Option<Reporter>,
    /// Labels.
    pub tags: Vec<String>,
    /// Verification state.
    pub verification: Verification,
}

impl Report {
    /// Rebuilds a report from parts that were validated once already (store rows, generators).
    /// Typed parts make most invalid states unrepresentable; coordinates are still checked.
    ///
    /// # Errors
    /// [`ValidationErrors`] for non-finite or out-of-range coordinates.
    pub fn from_parts(p: ReportParts) -> Result<Self, ValidationErrors> {
        if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
            return Err(ValidationErrors::single(field::LON, "out_of_range", "longitude out of range"));
        }
        if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
            return Err(ValidationErrors::single(field::LAT, "out_of_range", "latitude out of range"));
        }
        Ok(Self {
            id: p.id,
            lon: normalise_lon(p.lon),
            lat: p.lat,
            occurred_at: truncate_micros(p.occurred_at),
            received_at: truncate_micros(p.received_at),
            category: p.category,
            severity: p.severity,
            source: p.source,
            description: p.description,
            reporter: p.reporter,
            tags: p.tags,
            verification: p.verification,
        })
    }

    /// Identifier (client key or server-assigned UUIDv7).
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// Longitude, WGS84.
    #[must_use]
    pub fn lon(&self) -> f64 {
        self.lon
    }
    /// Latitude, WGS84.
    #[must_use]
    pub fn lat(&self) -> f64 {
        self.lat
    }
    /// When the event happened (UTC).
    #[must_use]
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }
    /// When kinga stored it (UTC); equals `occurred_at` for backfill.
    #[must_use]
    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }
    /// Category.
    #[must_use]
    pub fn category(&self) -> Category {
        self.category
    }
    /// Severity.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// Source.
    #[must_use]
    pub fn source(&self) -> Source {
        self.source
    }
    /// Free text (restricted).
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// Contact details (restricted).
    #[must_use]
    pub fn reporter(&self) -> Option<&Reporter> {
        self.reporter.as_ref()
    }
    /// Labels.
    #[must_use]
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
    /// Verification state.
    #[must_use]
    pub fn verification(&self) -> Verification {
        self.verification
    }
    /// Changes the verification state (the service records who and why).
    pub fn set_verification(&mut self, v: Verification) {
        self.verification = v;
    }
    /// The part of the report the risk engine reads.
    #[must_use]
    pub fn core(&self) -> ReportCore {
        ReportCore {
            id: self.id,
            lon: self.lon,
            lat: self.lat,
            occurred_at: self.occurred_at,
            received_at: self.received_at,
            category: self.category,
            severity: self.severity,
            verification: self.verification,
        }
    }

    /// Overrides `received_at` (backfill imports and the store's own clock).
    pub fn set_received_at(&mut self, t: DateTime<Utc>) {
        self.received_at = truncate_micros(t);
    }

    /// True when the client-visible content equals `other`'s: what an idempotent replay compares
    /// (server-owned fields `received_at` and `verification` are ignored).
    #[must_use]
    pub fn same_content(&self, other: &Report) -> bool {
        self.id == other.id
            && self.lon.to_bits() == other.lon.to_bits()
            && self.lat.to_bits() == other.lat.to_bits()
            && self.occurred_at == other.occurred_at
            && self.category == other.category
            && self.severity == other.severity
            && self.source == other.source
            && self.description == other.description
            && self.reporter == other.reporter
            && self.tags == other.tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::default_deployment_start;
    use chrono::TimeZone;

    fn region() -> Region {
        Region::parse_bbox("34.4,-0.45,35.4,0.05").unwrap()
    }

    fn rules(region: &Region) -> ValidationRules<'_> {
        ValidationRules {
            region,
            deployment_start: default_deployment_start(),
            now: Utc.with_ymd_and_hms(2013, 3, 5, 0, 0, 0).unwrap(),
            backfill: false,
        }
    }

    fn good() -> ReportInput {
        ReportInput {
            lon: 34.75,
            lat: -0.1,
            occurred_at: "2013-03-04T10:00:00Z".into(),
            category: "rumour".into(),
            severity: 2,
            ..ReportInput::default()
        }
    }

    fn codes(input: ReportInput) -> Vec<(String, &'static str)> {
        let r = region();
        input.validate(&rules(&r)).unwrap_err().0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn every_invalid_value_names_its_field() {
        let cases: Vec<(ReportInput, &str, &str)> = vec![
            (ReportInput { lon: f64::NAN, ..good() }, field::LON, "out_of_range"),
            (ReportInput { lon: 181.0, ..good() }, field::LON, "out_of_range"),
            (ReportInput { lat: 91.0, ..good() }, field::LAT, "out_of_range"),
            (ReportInput { lat: f64::INFINITY, ..good() }, field::LAT, "out_of_range"),
            (ReportInput { lon: -0.1, lat: 34.75, ..good() }, field::COORDINATES, "location_outside_region"),
            (ReportInput { lon: 9.03, lat: 38.0 - 30.0, ..good() }, field::COORDINATES, "location_outside_region"),
            (
                ReportInput { occurred_at: "2013-03-04T10:00:00".into(), ..good() },
                field::OCCURRED_AT,
                "invalid_timestamp",
            ),
            (
                ReportInput { occurred_at: "2013-03-06T00:00:00Z".into(), ..good() },
                field::OCCURRED_AT,
                "occurred_at_in_future",
            ),
            (
                ReportInput { occurred_at: "1969-12-31T23:59:59Z".into(), ..good() },
                field::OCCURRED_AT,
                "occurred_at_before_deployment",
            ),
            (ReportInput { category: "riot2".into(), ..good() }, field::CATEGORY, "unknown_category"),
            (ReportInput { severity: 0, ..good() }, field::SEVERITY, "out_of_range"),
            (ReportInput { severity: 6, ..good() }, field::SEVERITY, "out_of_range"),
            (ReportInput { source: Some("twitter".into()), ..good() }, field::SOURCE, "unknown_source"),
            (ReportInput { description: Some("x".repeat(4001)), ..good() }, field::DESCRIPTION, "too_long"),
            (ReportInput { description: Some("a\0b".into()), ..good() }, field::DESCRIPTION, "invalid_character"),
            (ReportInput { id: Some("1".into()), ..good() }, field::ID, "invalid_uuid"),
        ];
        for (input, field, code) in cases {
            let found = codes(input.clone());
            assert_eq!(found, vec![(field.to_string(), code)], "{input:?}");
        }
    }

    #[test]
    fn a_report_at_exactly_the_limits_is_accepted() {
        let r = region();
        let rules = rules(&r);
        let at_skew =
            ReportInput { occurred_at: "2013-03-05T00:05:00Z".into(), description: Some("é".repeat(4000)), ..good() };
        assert!(at_skew.validate(&rules).is_ok());
    }

    #[test]
    fn received_at_is_now_unless_backfill() {
        let r = region();
        let mut rules = rules(&r);
        let live = good().validate(&rules).unwrap();
        assert_eq!(live.received_at(), rules.now);
        rules.backfill = true;
        let back = good().validate(&rules).unwrap();
        assert_eq!(back.received_at(), back.occurred_at());
    }

    #[test]
    fn same_content_ignores_server_owned_fields() {
        let r = region();
        let mut a = good().validate(&rules(&r)).unwrap();
        let mut b = a.clone();
        b.set_verification(Verification::Verified);
        b.set_received_at(Utc::now());
        assert!(a.same_content(&b));
        a.description = Some("edited".into());
        assert!(!a.same_content(&b));
    }
}
