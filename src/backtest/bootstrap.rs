//! Paired circular block bootstrap of a mean difference over forecast origins.
//!
//! Consecutive origins are not independent: with origins every 12 h and a 7-day horizon, fourteen
//! consecutive windows share incidents. Resampling blocks of `ceil(h / step)` consecutive origins
//! (wrapping round the end, Politis & Romano's circular scheme) keeps that overlap inside each
//! block; with a block of 1 it is the ordinary bootstrap. The interval is the 2.5 % and 97.5 %
//! percentiles of the resampled means (linear interpolation between order statistics, numpy's
//! default).

use crate::scenario::Rng;

use super::metrics::count_f64;

/// A mean difference with its bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Mean of the observed differences.
    pub mean: f64,
    /// Lower bound (2.5 % percentile of the resampled means).
    pub low: f64,
    /// Upper bound (97.5 % percentile).
    pub high: f64,
}

impl Interval {
    /// True when the interval lies strictly above or strictly below zero.
    #[must_use]
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// A uniform index in `0..n` (Lemire's multiply-shift; n ≥ 1).
pub(crate) fn below(rng: &mut Rng, n: usize) -> usize {
    let wide = u128::from(rng.next_u64()) * (n as u128);
    #[expect(clippy::cast_possible_truncation, reason = "the high word is below n, a usize")]
    let i = (wide >> 64) as usize;
    i
}

/// Percentile of sorted values, linear interpolation between order statistics (type 7).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let h = (count_f64(sorted.len()) - 1.0) * p;
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 ≤ h < len")]
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - count_f64(lo)) * (sorted[hi] - sorted[lo])
}

/// Bootstraps the mean of `diffs` (one paired difference per origin, in time order) with
/// `resamples` circular block resamples of blocks of `block` origins. `None` for no data.
///
/// ```
/// use kinga::backtest::block_bootstrap;
/// use kinga::scenario::Rng;
/// // A constant difference has a degenerate interval at that value.
/// let ci = block_bootstrap(&[0.25; 10], 2, 200, &mut Rng::new(1)).unwrap();
/// assert_eq!((ci.mean, ci.low, ci.high), (0.25, 0.25, 0.25));
/// assert!(ci.excludes_zero());
/// ```
#[must_use]
pub fn block_bootstrap(diffs: &[f64], block: usize, resamples: usize, rng: &mut Rng) -> Option<Interval> {
    let n = diffs.len();
    if n == 0 {
        return None;
    }
    let mean = diffs.iter().sum::<f64>() / count_f64(n);
    if resamples == 0 {
        return Some(Interval { mean, low: mean, high: mean });
    }
    let block = block.clamp(1, n);
    let mut means = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let (mut sum, mut taken) = (0.0, 0usize);
        while taken < n {
            let start = below(rng, n);
            for j in 0..block.min(n - taken) {
                sum += diffs[(start + j) % n];
            }
            taken += block.min(n - taken);
        }
        means.push(sum / count_f64(n));
    }
    means.sort_unstable_by(f64::total_cmp);
    Some(Interval { mean, low: percentile(&means, 0.025), high: percentile(&means, 0.975) })
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact expected values")]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.025), 0.25);
        assert_eq!(percentile(&v, 0.975), 9.75);
        assert_eq!(percentile(&[3.0], 0.5), 3.0);
    }

    #[test]
    fn a_clear_difference_excludes_zero_and_noise_does_not() {
        let clear: Vec<f64> = (0..40).map(|i| 0.2 + 0.01 * f64::from(i % 5)).collect();
        let ci = block_bootstrap(&clear, 1, 1000, &mut Rng::new(3)).unwrap();
        assert!(ci.low > 0.19 && ci.excludes_zero(), "{ci:?}");
        let noise: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { 0.3 } else { -0.3 }).collect();
        let ci = block_bootstrap(&noise, 1, 1000, &mut Rng::new(3)).unwrap();
        assert!(ci.low < 0.0 && ci.high > 0.0, "{ci:?}");
    }

    #[test]
    fn same_seed_same_interval() {
        let d: Vec<f64> = (0..30).map(|i| f64::from(i * 7 % 11) / 10.0 - 0.4).collect();
        let a = block_bootstrap(&d, 3, 500, &mut Rng::new(9));
        assert_eq!(a, block_bootstrap(&d, 3, 500, &mut Rng::new(9)));
        assert_ne!(a, block_bootstrap(&d, 3, 500, &mut Rng::new(10)));
    }

    #[test]
    fn uniform_indices_stay_in_range() {
        let mut rng = Rng::new(5);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            seen[below(&mut rng, 7)] += 1;
        }
        assert!(seen.iter().all(|n| (800..1200).contains(n)), "{seen:?}");
    }
}
