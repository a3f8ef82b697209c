//! Small validated value types of a report: severity, verification state, source.

use std::fmt;

/// Severity 1 (minor) to 5 (extreme). The only way to build one is [`Severity::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Severity(u8);

impl Severity {
    /// Validates an integer severity.
    ///
    /// ```
    /// use kinga::domain::Severity;
    /// assert_eq!(Severity::new(3).map(Severity::get), Some(3));
    /// assert!(Severity::new(0).is_none());
    /// assert!(Severity::new(6).is_none());
    /// ```
    #[must_use]
    pub fn new(value: i64) -> Option<Self> {
        u8::try_from(value).ok().filter(|v| (1..=5).contains(v)).map(Self)
    }

    /// The integer value, 1–5.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Verification state of a report; only a verifier changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Not yet checked (the default).
    #[default]
    Unverified,
    /// Confirmed by a verifier.
    Verified,
    /// Contradicted by other information, not settled.
    Disputed,
    /// Shown to be false: contributes nothing to any score.
    Debunked,
}

impl Verification {
    /// Every state.
    pub const ALL: [Verification; 4] = [Self::Unverified, Self::Verified, Self::Disputed, Self::Debunked];

    /// The wire slug.
    #[must_use]
    pub const fn slug(self) -> &'static str {
        match self {
            Self::Unverified => "unverified",
            Self::Verified => "verified",
            Self::Disputed => "disputed",
            Self::Debunked => "debunked",
        }
    }

    /// Parses a wire slug.
    #[must_use]
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.slug() == slug)
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// Who sent the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A trained community monitor.
    Monitor,
    /// A hotline operator.
    Hotline,
    /// An SMS gateway.
    Sms,
    /// The web form or API (the default).
    #[default]
    Web,
    /// Press or social media.
    Media,
    /// Police.
    Police,
    /// A partner organisation.
    Partner,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 7] =
        [Self::Monitor, Self::Hotline, Self::Sms, Self::Web, Self::Media, Self::Police, Self::Partner];

    /// The wire slug.
    #[must_use]
    pub const fn slug(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::Hotline => "hotline",
            Self::Sms => "sms",
            Self::Web => "web",
            Self::Media => "media",
            Self::Police => "police",
            Self::Partner => "partner",
        }
    }

    /// Parses a wire slug.
    #[must_use]
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.slug() == slug)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}
