//! Scoring parameters with their documented defaults (`docs/scoring.md` gives the reasons).

use crate::domain::{Category, Severity, Verification};

/// Every tunable number of the risk model.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringParams {
    /// Half-life of the short intensity λ, hours (default 72: a clash still matters three days on).
    pub short_half_life_h: f64,
    /// Half-life of the baseline μ, hours (default 720 = 30 days).
    pub long_half_life_h: f64,
    /// Trend window, hours: λ now against λ this long before (default 24).
    pub trend_window_h: f64,
    /// Ratio beyond which the trend is rising or falling (default 1.25).
    pub trend_ratio: f64,
    /// k of the k-ring used for spill-over and Gi* weights (default 1).
    pub k_ring: u32,
    /// Share of the neighbours' mean intensity added to a cell (near-repeat spill, default 0.5).
    pub spill: f64,
    /// Context intensity that gives a resolution-9 cell a score of 63 (1 − 1/e), default 6.0
    /// weight units: one severity-4 armed clash. Coarser resolutions scale it by √7 per level.
    pub score_scale: f64,
    /// Expected short intensity of a resolution-9 cell with no history (default 0.05), the floor
    /// of the Poisson-style anomaly z; scaled by 7 per coarser level (area).
    pub baseline_prior: f64,
    /// Peace weight at which risk is halved (default 4.0): damping = s / (s + peace).
    pub peace_scale: f64,
    /// Gi* z at or above which a cell is statistically hot (default 1.96).
    pub gi_hot_z: f64,
    /// Score thresholds of `elevated`, `high`, `critical` (default 25, 50, 75).
    pub level_thresholds: [f64; 3],
    /// Weight of severity 1…5 (default 0.25, 0.5, 1, 2, 4: each step doubles).
    pub severity_weights: [f64; 5],
    /// Factor per verification state: unverified, verified, disputed, debunked
    /// (default 1.0, 1.5, 0.5, 0: debunked reports count for nothing).
    pub verification_factors: [f64; 4],
    /// Weight per category, indexed by [`Category::index`] (default: the taxonomy's weights).
    pub category_weights: Vec<f64>,
}

impl Default for ScoringParams {
    fn default() -> Self {
        Self {
            short_half_life_h: 72.0,
            long_half_life_h: 720.0,
            trend_window_h: 24.0,
            trend_ratio: 1.25,
            k_ring: 1,
            spill: 0.5,
            score_scale: 6.0,
            baseline_prior: 0.05,
            peace_scale: 4.0,
            gi_hot_z: 1.96,
            level_thresholds: [25.0, 50.0, 75.0],
            severity_weights: [0.25, 0.5, 1.0, 2.0, 4.0],
            verification_factors: [1.0, 1.5, 0.5, 0.0],
            category_weights: Category::ALL.iter().map(|c| c.default_weight()).collect(),
        }
    }
}

/// What one report adds to its cells.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Contribution {
    /// Weight added to the risk intensities (0 for peace indicators and debunked reports).
    pub risk: f64,
    /// Weight added to the peace (damping) intensity.
    pub peace: f64,
    /// Whether the report counts as one of the reports behind the cell (not debunked).
    pub counted: bool,
}

impl ScoringParams {
    /// Why a parameter set is unusable.
    ///
    /// # Errors
    /// A message naming the first bad parameter.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("short_half_life_h", self.short_half_life_h),
            ("long_half_life_h", self.long_half_life_h),
            ("trend_window_h", self.trend_window_h),
            ("score_scale", self.score_scale),
            ("baseline_prior", self.baseline_prior),
            ("peace_scale", self.peace_scale),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number"));
            }
        }
        if !(self.trend_ratio.is_finite() && self.trend_ratio >= 1.0) {
            return Err("trend_ratio must be at least 1".into());
        }
        if !(self.spill.is_finite() && self.spill >= 0.0) || self.k_ring == 0 || self.k_ring > 5 {
            return Err("spill must be ≥ 0 and k_ring in 1..=5".into());
        }
        if self.category_weights.len() != Category::ALL.len()
            || self
                .category_weights
                .iter()
                .chain(&self.severity_weights)
                .chain(&self.verification_factors)
                .any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err("weights must be finite and ≥ 0, one per category".into());
        }
        Ok(())
    }

    /// The verification factor of a state.
    #[must_use]
    pub fn verification_factor(&self, v: Verification) -> f64 {
        self.verification_factors[match v {
            Verification::Unverified => 0,
            Verification::Verified => 1,
            Verification::Disputed => 2,
            Verification::Debunked => 3,
        }]
    }

    /// Weight of a report: severity weight × category weight × verification factor.
    ///
    /// ```
    /// use kinga::domain::{Category, Severity, Verification};
    /// use kinga::scoring::ScoringParams;
    /// let p = ScoringParams::default();
    /// let sev4 = Severity::new(4).unwrap();
    /// // armed-clash 3.0 × severity-4 2.0 × unverified 1.0
    /// assert_eq!(p.contribution(Category::ArmedClash, sev4, Verification::Unverified).risk, 6.0);
    /// assert_eq!(p.contribution(Category::ArmedClash, sev4, Verification::Verified).risk, 9.0);
    /// assert_eq!(p.contribution(Category::ArmedClash, sev4, Verification::Debunked).risk, 0.0);
    /// // Peace indicators dampen, never add risk.
    /// let meeting = p.contribution(Category::PeaceMeeting, sev4, Verification::Verified);
    /// assert_eq!((meeting.risk, meeting.peace), (0.0, 3.0));
    /// ```
    #[must_use]
    pub fn contribution(&self, category: Category, severity: Severity, verification: Verification) -> Contribution {
        let w = self.severity_weights[usize::from(severity.get() - 1)]
            * self.category_weights[category.index()]
            * self.verification_factor(verification);
        let counted = verification != Verification::Debunked;
        if category.is_peace_indicator() {
            Contribution { risk: 0.0, peace: w, counted }
        } else {
            Contribution { risk: w, peace: 0.0, counted }
        }
    }

    /// Score scale R0 at a resolution: `score_scale · √7^(9 − res)`.
    #[must_use]
    pub fn scale_at(&self, res: h3o::Resolution) -> f64 {
        self.score_scale * 7f64.sqrt().powi(9 - i32::from(u8::from(res)))
    }

    /// Prior expected intensity at a resolution: `baseline_prior · 7^(9 − res)`.
    #[must_use]
    pub fn prior_at(&self, res: h3o::Resolution) -> f64 {
        self.baseline_prior * 7f64.powi(9 - i32::from(u8::from(res)))
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, clippy::unreadable_literal, reason = "exact expected values from the reference")]
mod tests {
    use super::*;

    #[test]
    fn weights_for_each_verification_state() {
        let p = ScoringParams::default();
        let s3 = Severity::new(3).unwrap();
        let w = |v| p.contribution(Category::Mobilisation, s3, v);
        assert_eq!(w(Verification::Verified).risk, 3.0);
        assert_eq!(w(Verification::Unverified).risk, 2.0);
        assert_eq!(w(Verification::Disputed).risk, 1.0);
        assert_eq!(w(Verification::Debunked).risk, 0.0);
        assert!(!w(Verification::Debunked).counted && w(Verification::Disputed).counted);
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(ScoringParams::default().validate(), Ok(()));
        let bad = ScoringParams { short_half_life_h: 0.0, ..ScoringParams::default() };
        assert!(bad.validate().unwrap_err().contains("short_half_life_h"));
    }
}
