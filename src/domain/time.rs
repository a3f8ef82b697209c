//! Timestamps: RFC 3339 with an explicit offset in, UTC milliseconds inside.

use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};

/// Milliseconds since the Unix epoch, UTC. The engine's clock unit.
pub type Millis = i64;

/// One hour in [`Millis`].
pub const HOUR_MS: Millis = 3_600_000;

/// The default deployment start: reports before it are rejected.
#[must_use]
pub fn default_deployment_start() -> DateTime<Utc> {
    Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(2000, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default())
}

/// Why a timestamp string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    /// Not RFC 3339, or no UTC offset (`2024-05-01T10:00:00`, `2024-05-01`).
    Invalid,
}

/// Drops sub-microsecond digits: kinga keeps time to the microsecond, which both stores hold
/// exactly, so a replayed report compares equal to the stored one.
#[must_use]
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}

/// Parses an RFC 3339 timestamp that carries an offset, returning it in UTC.
///
/// Accepts a space or lower-case `t` as separator and lower-case `z`; keeps microseconds and
/// truncates finer digits; clamps a leap second (`:60`) to `:59`. Rejects a missing offset, a bare
/// date, impossible dates and years beyond 9999.
///
/// ```
/// use kinga::domain::parse_timestamp;
/// let t = parse_timestamp("2013-03-04T10:00:00+03:00").unwrap();
/// assert_eq!(t.to_rfc3339(), "2013-03-04T07:00:00+00:00");
/// assert!(parse_timestamp("2013-03-04T10:00:00").is_err());
/// assert_eq!(parse_timestamp("2016-12-31T23:59:60Z").unwrap().to_rfc3339(), "2016-12-31T23:59:59+00:00");
/// ```
///
/// # Errors
/// [`TimestampError::Invalid`] for anything that is not RFC 3339 with an offset.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, TimestampError> {
    // Fractions past nanoseconds: chrono already truncates them; all else is its RFC 3339 parser.
    let parsed = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| TimestampError::Invalid)?;
    let utc = parsed.with_timezone(&Utc);
    let nanos = utc.nanosecond();
    if nanos >= 1_000_000_000 {
        // chrono represents a leap second as nanosecond ≥ 1e9 of second 59.
        let clamped = utc.with_nanosecond(nanos - 1_000_000_000).ok_or(TimestampError::Invalid)?;
        return Ok(truncate_micros(clamped));
    }
    Ok(truncate_micros(utc))
}

/// Converts to engine milliseconds.
#[must_use]
pub fn to_millis(t: DateTime<Utc>) -> Millis {
    t.timestamp_millis()
}

/// Converts engine milliseconds back to a UTC timestamp (saturating at the representable range).
#[must_use]
pub fn from_millis(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_lenient_forms_of_table_b() {
        for ok in [
            "2024-05-01 10:00:00Z",
            "2024-05-01t10:00:00z",
            "2024-05-01T10:00:00.123456789123Z",
            "2024-05-01T13:00:00+03:00",
        ] {
            assert!(parse_timestamp(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_the_bad_forms_of_table_b() {
        for bad in [
            "2024-05-01T10:00:00",
            "2024-05-01",
            "2024-02-30T10:00:00Z",
            "2024-05-01T10:00:00+24:00",
            "+10000-01-01T00:00:00Z",
            "",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(bad), Err(TimestampError::Invalid), "{bad}");
        }
    }

    #[test]
    fn millis_round_trip() {
        let t = parse_timestamp("2013-03-04T07:00:00.250Z").unwrap();
        assert_eq!(from_millis(to_millis(t)), t);
    }
}
