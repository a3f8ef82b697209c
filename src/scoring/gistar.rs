//! Getis-Ord Gi* (local G with self-inclusion), binary weights, classic z-score.
//!
//! ```text
//!         Σ_j w_ij x_j − X̄ Σ_j w_ij
//! Gi* = ─────────────────────────────────────────    j over all n cells, i included
//!         S · sqrt((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1))
//! X̄ = Σx / n,   S = sqrt(Σx² / n − X̄²)
//! ```
//!
//! With binary weights Σ w² = Σ w = `c_i` (the number of cells in i's neighbourhood), and the
//! value equals `PySAL` `esda.G_Local(star=True, transform='B')`.

/// Sums over the whole study area, computed once per query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GiStats {
    /// Number of study-area cells (zeros included).
    pub n: usize,
    /// Mean X̄.
    pub mean: f64,
    /// Population standard deviation S.
    pub sd: f64,
}

impl GiStats {
    /// From n, Σx and Σx² (zero cells contribute nothing to the sums but count in n).
    #[must_use]
    pub fn new(n: usize, sum: f64, sum_sq: f64) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "cell counts are far below 2^52")]
        let nf = n as f64;
        let mean = if n == 0 { 0.0 } else { sum / nf };
        let var = if n == 0 { 0.0 } else { (sum_sq / nf - mean * mean).max(0.0) };
        Self { n, mean, sd: var.sqrt() }
    }

    /// The Gi* z of a cell whose neighbourhood (itself included) holds `count` study-area cells
    /// with values summing to `local_sum`. `None` where the statistic is undefined (n < 2, no
    /// variance, or the neighbourhood is the whole area).
    ///
    /// ```
    /// use kinga::scoring::GiStats;
    /// // Six cells on a line, neighbours = adjacent; the middle pair is hot.
    /// let x = [0.0, 0.0, 5.0, 5.0, 0.0, 0.0];
    /// let stats = GiStats::new(6, 10.0, 50.0);
    /// let z = stats.z(0.0 + 5.0 + 5.0, 3).unwrap();
    /// assert!((z - 1.5811388300841898).abs() < 1e-12);
    /// # let _ = x;
    /// ```
    #[must_use]
    pub fn z(&self, local_sum: f64, count: usize) -> Option<f64> {
        #[expect(clippy::cast_precision_loss, reason = "cell counts are far below 2^52")]
        let (nf, c) = (self.n as f64, count as f64);
        if self.n < 2 || self.sd <= 0.0 || count == 0 {
            return None;
        }
        let denom_sq = (nf * c - c * c) / (nf - 1.0);
        if denom_sq <= 0.0 {
            return None;
        }
        let z = (local_sum - self.mean * c) / (self.sd * denom_sq.sqrt());
        z.is_finite().then_some(z)
    }
}

/// Gi* for every site of a general graph: `neighbours[i]` lists the sites j ≠ i adjacent to i.
/// The reference implementation the H3 version is tested against.
#[must_use]
pub fn gi_star(x: &[f64], neighbours: &[Vec<usize>]) -> Vec<Option<f64>> {
    let stats = GiStats::new(x.len(), x.iter().sum(), x.iter().map(|v| v * v).sum());
    (0..x.len())
        .map(|i| {
            let local = x[i] + neighbours[i].iter().map(|&j| x[j]).sum::<f64>();
            stats.z(local, neighbours[i].len() + 1)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::float_cmp, clippy::unreadable_literal, reason = "exact expected values from the reference")]
mod tests {
    use super::*;

    /// The esda `G_Local` docstring example (reference/scoring.md §1.1): six points, a distance
    /// band of 15, binary weights, star = True.
    #[test]
    fn matches_pysal_esda_worked_example() {
        let pts = [(10.0, 10.0), (20.0, 10.0), (40.0, 10.0), (15.0, 20.0), (30.0, 20.0), (30.0, 30.0)];
        let y = [2.0, 3.0, 3.2, 5.0, 8.0, 7.0];
        let neighbours: Vec<Vec<usize>> = (0..pts.len())
            .map(|i| {
                (0..pts.len())
                    .filter(|&j| {
                        let d = f64::hypot(pts[i].0 - pts[j].0, pts[i].1 - pts[j].1);
                        j != i && d <= 15.0
                    })
                    .collect()
            })
            .collect();
        let expected = [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331];
        let got = gi_star(&y, &neighbours);
        for (g, e) in got.iter().zip(expected) {
            let g = g.unwrap();
            assert!((g - e).abs() < 5e-8, "{g} vs {e}");
        }
    }

    #[test]
    fn undefined_without_variance() {
        assert_eq!(GiStats::new(5, 0.0, 0.0).z(0.0, 3), None);
        assert_eq!(GiStats::new(1, 2.0, 4.0).z(2.0, 1), None);
    }
}
