//! Patrol plans: place `units` patrols, each covering the cells within `radius_m` of its
//! position, to cover as much risk as possible (maximum coverage).
//!
//! Small cases are solved exactly by enumerating every set of positions; larger ones greedily,
//! which for this monotone submodular objective is never below (1 − 1/e) ≈ 63 % of the optimum
//! (Nemhauser, Wolsey & Fisher 1978). Positions are cell centres. Pure and deterministic: ties
//! break on the cell index.

use h3o::CellIndex;

use crate::index::haversine_m;

/// One candidate cell with the risk it carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskCell {
    /// The cell.
    pub cell: CellIndex,
    /// Its centre (lon, lat).
    pub centre: (f64, f64),
    /// Risk mass (≥ 0) to cover.
    pub risk: f64,
}

/// One patrol position.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// The cell the patrol stands in.
    pub cell: CellIndex,
    /// Its centre (lon, lat).
    pub centre: (f64, f64),
    /// Cells newly covered by this position (not already covered by earlier ones).
    pub covers: Vec<CellIndex>,
    /// Risk newly covered by this position.
    pub risk_covered: f64,
}

/// How a plan was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Every combination was tried: the optimum.
    Exact,
    /// Greedy: at least (1 − 1/e) of the optimum.
    Greedy,
}

/// A patrol plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PatrolPlan {
    /// Positions in the order chosen (greedy: by marginal gain).
    pub positions: Vec<Position>,
    /// Risk of all candidate cells.
    pub total_risk: f64,
    /// Risk covered by the plan.
    pub covered_risk: f64,
    /// How it was found.
    pub method: Method,
}

impl PatrolPlan {
    /// Share of the total risk covered (0 when there is no risk).
    #[must_use]
    pub fn share(&self) -> f64 {
        if self.total_risk > 0.0 { self.covered_risk / self.total_risk } else { 0.0 }
    }
}

/// Enumerate exactly while the number of combinations stays below this.
const EXACT_LIMIT: u64 = 200_000;
/// At most this many candidate positions (the riskiest) are considered.
const MAX_CANDIDATES: usize = 3_000;

fn binomial(n: usize, k: usize) -> u64 {
    let k = k.min(n - k.min(n));
    (0..k).fold(1u64, |acc, i| acc.saturating_mul((n - i) as u64) / (i as u64 + 1))
}

/// Plans `units` patrol positions over `cells` with coverage radius `radius_m`.
///
/// ```
/// use kinga::scoring::patrol::{RiskCell, plan};
/// use kinga::index::grid::base_cell;
/// let cell = |lon: f64, risk: f64| RiskCell { cell: base_cell(lon, -0.09).unwrap(), centre: (lon, -0.09), risk };
/// // Three hot cells 0.01° (≈ 1.1 km) apart; one unit with a 1.2 km radius covers two of them.
/// let cells = [cell(34.75, 5.0), cell(34.76, 4.0), cell(34.80, 3.0)];
/// let p = plan(&cells, 1, 1_200.0);
/// assert!((p.covered_risk - 9.0).abs() < 1e-9);
/// assert!((p.share() - 0.75).abs() < 1e-9);
/// ```
#[must_use]
pub fn plan(cells: &[RiskCell], units: usize, radius_m: f64) -> PatrolPlan {
    let mut cells: Vec<RiskCell> = cells.iter().copied().filter(|c| c.risk > 0.0 && c.risk.is_finite()).collect();
    cells.sort_by(|a, b| b.risk.total_cmp(&a.risk).then(a.cell.cmp(&b.cell)));
    let total_risk: f64 = cells.iter().map(|c| c.risk).sum();
    let candidates = &cells[..cells.len().min(MAX_CANDIDATES)];
    // cover[i] = indices of `cells` within the radius of candidate i.
    let cover: Vec<Vec<usize>> = candidates
        .iter()
        .map(|c| {
            cells
                .iter()
                .enumerate()
                .filter(|(_, o)| haversine_m(c.centre.0, c.centre.1, o.centre.0, o.centre.1) <= radius_m)
                .map(|(j, _)| j)
                .collect()
        })
        .collect();
    let units = units.min(candidates.len());
    let chosen = if units > 0 && binomial(candidates.len(), units) <= EXACT_LIMIT {
        (exact(&cells, &cover, units), Method::Exact)
    } else {
        (greedy(&cells, &cover, units), Method::Greedy)
    };
    let (order, method) = chosen;
    let mut covered = vec![false; cells.len()];
    let mut positions = Vec::with_capacity(order.len());
    let mut covered_risk = 0.0;
    for i in order {
        let newly: Vec<usize> = cover[i].iter().copied().filter(|j| !covered[*j]).collect();
        let gain: f64 = newly.iter().map(|j| cells[*j].risk).sum();
        for j in &newly {
            covered[*j] = true;
        }
        covered_risk += gain;
        positions.push(Position {
            cell: candidates[i].cell,
            centre: candidates[i].centre,
            covers: newly.iter().map(|j| cells[*j].cell).collect(),
            risk_covered: gain,
        });
    }
    PatrolPlan { positions, total_risk, covered_risk, method }
}

fn gain(cells: &[RiskCell], cover: &[usize], covered: &[bool]) -> f64 {
    cover.iter().filter(|j| !covered[**j]).map(|j| cells[*j].risk).sum()
}

/// Greedy: repeatedly the candidate with the largest uncovered risk (ties: lower index, i.e.
/// riskier cell, then cell index by the sort above). Returns candidate indices in pick order.
fn greedy(cells: &[RiskCell], cover: &[Vec<usize>], units: usize) -> Vec<usize> {
    let mut covered = vec![false; cells.len()];
    let mut picked = Vec::with_capacity(units);
    for _ in 0..units {
        let best = (0..cover.len())
            .filter(|i| !picked.contains(i))
            .map(|i| (i, gain(cells, &cover[i], &covered)))
            .fold(None::<(usize, f64)>, |best, (i, g)| match best {
                Some((_, bg)) if bg >= g => best,
                _ => Some((i, g)),
            });
        let Some((i, g)) = best else { break };
        if g <= 0.0 {
            break;
        }
        for j in &cover[i] {
            covered[*j] = true;
        }
        picked.push(i);
    }
    picked
}

/// Exact: every combination of `units` candidates; the best total, ties to the
/// lexicographically smallest combination. Returned in greedy order of marginal gain.
fn exact(cells: &[RiskCell], cover: &[Vec<usize>], units: usize) -> Vec<usize> {
    let n = cover.len();
    let mut combo: Vec<usize> = (0..units).collect();
    let mut best: (f64, Vec<usize>) = (-1.0, combo.clone());
    let mut covered = vec![false; cells.len()];
    loop {
        covered.fill(false);
        for i in &combo {
            for j in &cover[*i] {
                covered[*j] = true;
            }
        }
        let value: f64 = cells.iter().zip(&covered).filter(|(_, c)| **c).map(|(c, _)| c.risk).sum();
        if value > best.0 + 1e-12 {
            best = (value, combo.clone());
        }
        // Next combination in lexicographic order.
        let Some(pos) = (0..units).rev().find(|&p| combo[p] < n - units + p) else { break };
        combo[pos] += 1;
        for p in pos + 1..units {
            combo[p] = combo[p - 1] + 1;
        }
    }
    // Order the chosen positions by marginal gain, as a briefing would list them.
    let mut chosen = best.1;
    let mut covered = vec![false; cells.len()];
    let mut order = Vec::with_capacity(chosen.len());
    while !chosen.is_empty() {
        let (k, _) = chosen
            .iter()
            .enumerate()
            .map(|(k, i)| (k, gain(cells, &cover[*i], &covered)))
            .fold((0, -1.0), |best, (k, g)| if g > best.1 { (k, g) } else { best });
        let i = chosen.remove(k);
        for j in &cover[i] {
            covered[*j] = true;
        }
        order.push(i);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::grid::base_cell;
    use crate::scenario::Rng;

    fn cells(rng: &mut Rng, n: usize) -> Vec<RiskCell> {
        (0..n)
            .map(|_| {
                let (lon, lat) = (34.7 + rng.unit() * 0.05, -0.1 + rng.unit() * 0.05);
                RiskCell { cell: base_cell(lon, lat).unwrap(), centre: (lon, lat), risk: (rng.unit() * 10.0).round() }
            })
            .collect()
    }

    fn brute_force(cells: &[RiskCell], units: usize, radius: f64) -> f64 {
        let n = cells.len();
        let mut best: f64 = 0.0;
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != units.min(n) {
                continue;
            }
            let covered: f64 = cells
                .iter()
                .filter(|o| {
                    (0..n).any(|i| {
                        mask & (1 << i) != 0
                            && haversine_m(cells[i].centre.0, cells[i].centre.1, o.centre.0, o.centre.1) <= radius
                    })
                })
                .map(|o| o.risk)
                .sum();
            best = best.max(covered);
        }
        best
    }

    #[test]
    fn small_cases_reach_the_brute_force_optimum() {
        let mut rng = Rng::new(7);
        for case in 0..200 {
            let n = 3 + case % 10;
            let cs = cells(&mut rng, n);
            let units = 1 + case % 4;
            let radius = 500.0 + rng.unit() * 2_000.0;
            let p = plan(&cs, units, radius);
            let positive: Vec<RiskCell> = cs.iter().copied().filter(|c| c.risk > 0.0).collect();
            let opt = brute_force(&positive, units, radius);
            assert!((p.covered_risk - opt).abs() < 1e-9, "case {case}: {} vs {opt}", p.covered_risk);
            assert_eq!(p.method, Method::Exact);
        }
    }

    #[test]
    fn greedy_is_never_below_one_minus_one_over_e() {
        let mut rng = Rng::new(11);
        for case in 0..30 {
            let cs = cells(&mut rng, 16);
            let (units, radius) = (4, 600.0 + rng.unit() * 1_500.0);
            let positive: Vec<RiskCell> = cs.iter().copied().filter(|c| c.risk > 0.0).collect();
            let mut cover = Vec::new();
            let mut sorted = positive.clone();
            sorted.sort_by(|a, b| b.risk.total_cmp(&a.risk).then(a.cell.cmp(&b.cell)));
            for c in &sorted {
                cover.push(
                    sorted
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| haversine_m(c.centre.0, c.centre.1, o.centre.0, o.centre.1) <= radius)
                        .map(|(j, _)| j)
                        .collect::<Vec<_>>(),
                );
            }
            let order = greedy(&sorted, &cover, units);
            let mut covered = vec![false; sorted.len()];
            for i in &order {
                for j in &cover[*i] {
                    covered[*j] = true;
                }
            }
            let g: f64 = sorted.iter().zip(&covered).filter(|(_, c)| **c).map(|(c, _)| c.risk).sum();
            let opt = brute_force(&positive, units, radius);
            assert!(g >= (1.0 - 1.0 / std::f64::consts::E) * opt - 1e-9, "case {case}: greedy {g} < (1-1/e)·{opt}");
        }
    }

    #[test]
    fn large_cases_use_greedy_and_report_their_share() {
        let mut rng = Rng::new(3);
        let cs = cells(&mut rng, 400);
        let p = plan(&cs, 8, 800.0);
        assert_eq!(p.method, Method::Greedy);
        assert_eq!(p.positions.len(), 8);
        assert!(p.share() > 0.0 && p.share() <= 1.0);
        let sum: f64 = p.positions.iter().map(|x| x.risk_covered).sum();
        assert!((sum - p.covered_risk).abs() < 1e-9);
        assert!(p.positions.windows(2).all(|w| w[0].risk_covered >= w[1].risk_covered - 1e-9));
    }
}
