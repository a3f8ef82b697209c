//! Domain types: reports, the taxonomy, validated values and areas. No I/O, no async.
//!
//! Everything that enters kinga is parsed into these types at the edge
//! ([`ReportInput::validate`]); the rest of the crate trusts them.

mod area;
mod category;
mod error;
mod report;
mod time;
mod values;

pub use area::{BBox, BBoxError, Region};
pub use category::{Category, CategoryGroup, Sensitivity};
pub use error::{FieldError, ValidationErrors};
pub use report::{
    MAX_DESCRIPTION_CHARS, MAX_FUTURE_SKEW, MAX_SHORT_TEXT_CHARS, MAX_TAGS, Report, ReportCore, ReportInput,
    ReportParts, Reporter, ValidationRules, field,
};
pub use time::{
    HOUR_MS, Millis, TimestampError, default_deployment_start, from_millis, parse_timestamp, to_millis, truncate_micros,
};
pub use values::{Severity, Source, Verification};
