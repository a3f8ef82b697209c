//! The incident taxonomy: stable slugs, default weights and sensitivity classes.
//!
//! Pure data. The weights here are defaults; the scorer takes its own copy so a deployment can
//! tune them (`docs/scoring.md` explains each choice).

use std::fmt;

/// How much harm a leaked location of this category could do; decides the public resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Ordinary incidents: published generalised to an H3 resolution-7 cell (≈ 5 km²).
    Standard,
    /// Targets a group (hate speech): published at resolution 6 (≈ 36 km²).
    Elevated,
    /// Survivors at risk (gender-based violence): aggregate only, resolution 5 (≈ 253 km²), never
    /// as points outside a case-handling role, never in patrol plans.
    Restricted,
}

impl Sensitivity {
    /// The finest H3 resolution at which a report of this class may be shown to a role without
    /// point-level access.
    #[must_use]
    pub const fn public_resolution(self) -> u8 {
        match self {
            Self::Standard => 7,
            Self::Elevated => 6,
            Self::Restricted => 5,
        }
    }
}

/// Families of the taxonomy (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryGroup {
    /// Clashes, killings, assaults, abductions.
    PhysicalSafety,
    /// Election-related incidents.
    Election,
    /// Early signs of tension: rumours, mobilisation, roadblocks.
    Tension,
    /// Land, water, cattle and other resource conflicts.
    Livelihoods,
    /// Gangs, drugs, harassment.
    SocialOrder,
    /// Peace meetings, joint patrols, dialogue: they dampen risk.
    Peace,
}

macro_rules! taxonomy {
    ($( $variant:ident => $slug:literal, $group:ident, $weight:literal, $sens:ident; )*) => {
        /// A report category. Slugs are stable: they are part of the HTTP contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Category {
            $(
                #[doc = concat!("`", $slug, "`")]
                $variant,
            )*
        }

        impl Category {
            /// Every category, in taxonomy order.
            pub const ALL: &'static [Category] = &[$(Category::$variant),*];

            /// The stable slug, as on the wire.
            #[must_use]
            pub const fn slug(self) -> &'static str {
                match self { $(Self::$variant => $slug),* }
            }

            /// The taxonomy family.
            #[must_use]
            pub const fn group(self) -> CategoryGroup {
                match self { $(Self::$variant => CategoryGroup::$group),* }
            }

            /// The default weight in the risk score (peace indicators: the damping weight).
            #[must_use]
            pub const fn default_weight(self) -> f64 {
                match self { $(Self::$variant => $weight),* }
            }

            /// The sensitivity class, which fixes the public resolution.
            #[must_use]
            pub const fn sensitivity(self) -> Sensitivity {
                match self { $(Self::$variant => Sensitivity::$sens),* }
            }
        }
    };
}

taxonomy! {
    ArmedClash => "armed-clash", PhysicalSafety, 3.0, Standard;
    Killing => "killing", PhysicalSafety, 4.0, Standard;
    Assault => "assault", PhysicalSafety, 2.0, Standard;
    SmallArms => "small-arms", PhysicalSafety, 2.0, Standard;
    Gbv => "gbv", PhysicalSafety, 2.5, Restricted;
    ArsonProperty => "arson-property", PhysicalSafety, 2.0, Standard;
    PoliceAbuse => "police-abuse", PhysicalSafety, 2.0, Standard;
    Abduction => "abduction", PhysicalSafety, 3.0, Standard;
    VoterIntimidation => "voter-intimidation", Election, 1.5, Standard;
    HateSpeech => "hate-speech", Election, 1.5, Elevated;
    RallyViolence => "rally-violence", Election, 2.5, Standard;
    VoteBuying => "vote-buying", Election, 0.5, Standard;
    PollingDisruption => "polling-disruption", Election, 2.0, Standard;
    BallotTampering => "ballot-tampering", Election, 1.0, Standard;
    Rumour => "rumour", Tension, 1.0, Standard;
    Mobilisation => "mobilisation", Tension, 2.0, Standard;
    InflammatoryMaterial => "inflammatory-material", Tension, 1.0, Standard;
    Roadblock => "roadblock", Tension, 1.5, Standard;
    Displacement => "displacement", Tension, 2.0, Standard;
    Threat => "threat", Tension, 1.5, Standard;
    LandDispute => "land-dispute", Livelihoods, 1.0, Standard;
    CattleRaid => "cattle-raid", Livelihoods, 2.5, Standard;
    WaterDispute => "water-dispute", Livelihoods, 1.0, Standard;
    ResourceConflict => "resource-conflict", Livelihoods, 1.0, Standard;
    GangActivity => "gang-activity", SocialOrder, 1.5, Standard;
    DrugAbuse => "drug-abuse", SocialOrder, 0.5, Standard;
    StreetHarassment => "street-harassment", SocialOrder, 0.5, Standard;
    PeaceMeeting => "peace-meeting", Peace, 1.0, Standard;
    JointPatrol => "joint-patrol", Peace, 1.0, Standard;
    Dialogue => "dialogue", Peace, 1.0, Standard;
}

impl Category {
    /// Parses a slug; `None` for anything outside the taxonomy (exact, case-sensitive).
    ///
    /// ```
    /// use kinga::domain::Category;
    /// assert_eq!(Category::from_slug("cattle-raid"), Some(Category::CattleRaid));
    /// assert_eq!(Category::from_slug("riot2"), None);
    /// ```
    #[must_use]
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.slug() == slug)
    }

    /// Dense index in `0..Category::ALL.len()`, for per-category tables.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Peace indicators lower risk (a damping term), never add to it.
    #[must_use]
    pub const fn is_peace_indicator(self) -> bool {
        matches!(self.group(), CategoryGroup::Peace)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.slug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxonomy_has_thirty_unique_slugs_that_round_trip() {
        assert_eq!(Category::ALL.len(), 30);
        for (i, c) in Category::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Category::from_slug(c.slug()), Some(*c));
        }
    }

    #[test]
    fn gbv_and_hate_speech_are_published_coarser() {
        assert_eq!(Category::Gbv.sensitivity().public_resolution(), 5);
        assert_eq!(Category::HateSpeech.sensitivity().public_resolution(), 6);
        assert_eq!(Category::Rumour.sensitivity().public_resolution(), 7);
    }

    #[test]
    fn only_the_three_peace_indicators_dampen() {
        let peace: Vec<_> = Category::ALL.iter().filter(|c| c.is_peace_indicator()).collect();
        assert_eq!(peace, [&Category::PeaceMeeting, &Category::JointPatrol, &Category::Dialogue]);
    }
}
