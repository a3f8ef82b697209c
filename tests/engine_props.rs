//! Property tests of the scoring engine's invariants (DESIGN.md §3, issue 2).

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "tests compare exact expected values and build small fixtures"
)]

use std::sync::OnceLock;

use h3o::CellIndex;
use kinga::domain::{
    Category, HOUR_MS, Millis, Region, Report, ReportParts, Severity, Source, Verification, from_millis,
};
use kinga::index::{RESOLUTIONS, StudyArea};
use kinga::scoring::{CellScore, Engine, ScoringParams, View};
use proptest::prelude::*;
use uuid::Uuid;

const T0: Millis = 1_362_355_200_000; // 2013-03-04T00:00:00Z
const W: (f64, f64, f64, f64) = (34.70, -0.15, 34.80, -0.05);

fn area() -> StudyArea {
    static AREA: OnceLock<StudyArea> = OnceLock::new();
    AREA.get_or_init(|| StudyArea::new(&Region::parse_bbox("34.70,-0.15,34.80,-0.05").unwrap())).clone()
}

fn engine() -> Engine {
    Engine::with_area(area(), ScoringParams::default()).unwrap()
}

#[derive(Debug, Clone)]
struct Spec {
    lon: f64,
    lat: f64,
    hours: i64,
    late_hours: i64,
    category: usize,
    severity: i64,
    verification: usize,
}

fn spec() -> impl Strategy<Value = Spec> {
    // Clustered points so cells share reports and neighbours.
    (0u32..40, 0u32..40, 0i64..24 * 30, 0i64..48, 0..Category::ALL.len(), 1i64..=5, 0usize..4).prop_map(
        |(x, y, hours, late_hours, category, severity, verification)| Spec {
            lon: W.0 + 0.02 + f64::from(x) * 0.0012,
            lat: W.1 + 0.02 + f64::from(y) * 0.0012,
            hours,
            late_hours,
            category,
            severity,
            verification,
        },
    )
}

fn build(i: usize, s: &Spec) -> Report {
    let occurred = T0 + s.hours * HOUR_MS;
    Report::from_parts(ReportParts {
        id: Uuid::from_u128(i as u128 + 1),
        lon: s.lon,
        lat: s.lat,
        occurred_at: from_millis(occurred),
        received_at: from_millis(occurred + s.late_hours * HOUR_MS),
        category: Category::ALL[s.category],
        severity: Severity::new(s.severity).unwrap(),
        source: Source::Monitor,
        description: None,
        reporter: None,
        tags: vec![],
        verification: Verification::ALL[s.verification],
    })
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-12
}

fn same_score(a: &CellScore, b: &CellScore) -> Result<(), String> {
    let pairs = [
        ("score", a.score, b.score),
        ("intensity", a.intensity, b.intensity),
        ("expected", a.expected, b.expected),
        ("anomaly_z", a.anomaly_z, b.anomaly_z),
        ("peace", a.peace, b.peace),
        ("neighbour_intensity", a.neighbour_intensity, b.neighbour_intensity),
        ("gi_z", a.gi_z.unwrap_or(0.0), b.gi_z.unwrap_or(0.0)),
    ];
    for (name, x, y) in pairs {
        if !close(x, y) {
            return Err(format!("{name} differs in {}: {x} vs {y}", a.cell));
        }
    }
    if a.reports != b.reports || a.level != b.level || a.trend != b.trend || a.gi_z.is_some() != b.gi_z.is_some() {
        return Err(format!("{}: {a:?} vs {b:?}", a.cell));
    }
    Ok(())
}

/// Every cell (at every resolution) that either view holds, compared number by number.
fn same_views(a: &View<'_>, b: &View<'_>) -> Result<(), String> {
    for res in RESOLUTIONS {
        let (ca, cb) = (a.cells(res, None), b.cells(res, None));
        let cells: std::collections::BTreeSet<CellIndex> = ca.iter().chain(&cb).map(|c| c.cell).collect();
        for cell in cells {
            same_score(&a.cell(cell).unwrap(), &b.cell(cell).unwrap())?;
        }
    }
    Ok(())
}

fn end(specs: &[Spec]) -> Millis {
    T0 + (24 * 31 + 48) * HOUR_MS + specs.len() as i64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ingest_order_never_changes_scores(specs in prop::collection::vec(spec(), 1..60), seed in any::<u64>()) {
        let reports: Vec<Report> = specs.iter().enumerate().map(|(i, s)| build(i, s)).collect();
        let mut shuffled = reports.clone();
        // Deterministic Fisher–Yates from the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let (mut a, mut b) = (engine(), engine());
        for r in &reports { a.insert(r).unwrap(); }
        for r in &shuffled { b.insert(r).unwrap(); }
        let t = end(&specs);
        same_views(&a.at(t), &b.at(t)).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn incremental_equals_batch_recompute(
        specs in prop::collection::vec(spec(), 1..60),
        changes in prop::collection::vec((any::<prop::sample::Index>(), 0usize..5), 0..15),
    ) {
        let reports: Vec<Report> = specs.iter().enumerate().map(|(i, s)| build(i, s)).collect();
        let mut e = engine();
        for r in &reports { e.insert(r).unwrap(); }
        // Verification changes (0–3) and withdrawals (4) applied incrementally.
        for (idx, what) in changes {
            let id = reports[idx.index(reports.len())].id();
            if what == 4 { let _ = e.withdraw(id); } else { let _ = e.set_verification(id, Verification::ALL[what]); }
        }
        let t = end(&specs);
        same_views(&e.at(t), &e.recompute_at(t)).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn adding_a_report_never_lowers_its_own_cells_intensity(
        specs in prop::collection::vec(spec(), 0..40), extra in spec(),
    ) {
        let mut e = engine();
        for (i, s) in specs.iter().enumerate() { e.insert(&build(i, s)).unwrap(); }
        let t = end(&specs);
        let r = build(10_000, &extra);
        let cell9 = kinga::index::grid::base_cell(r.lon(), r.lat()).unwrap();
        let before: Vec<f64> = RESOLUTIONS.iter().map(|res| e.at(t).cell(cell9.parent(*res).unwrap()).unwrap().intensity).collect();
        e.insert(&r).unwrap();
        for (res, b) in RESOLUTIONS.iter().zip(before) {
            let after = e.at(t).cell(cell9.parent(*res).unwrap()).unwrap().intensity;
            prop_assert!(after >= b * (1.0 - 1e-12), "{res}: {after} < {b}");
        }
    }

    #[test]
    fn debunking_returns_every_cell_to_its_score_without_the_report(
        specs in prop::collection::vec(spec(), 1..40), pick in any::<prop::sample::Index>(),
    ) {
        let reports: Vec<Report> = specs.iter().enumerate().map(|(i, s)| build(i, s)).collect();
        let victim = pick.index(reports.len());
        let mut with = engine();
        for r in &reports { with.insert(r).unwrap(); }
        with.set_verification(reports[victim].id(), Verification::Debunked).unwrap();
        let mut without = engine();
        for (i, r) in reports.iter().enumerate() { if i != victim { without.insert(r).unwrap(); } }
        // Same received-by horizon for both (the debunked report still exists in `with`).
        let t = end(&specs);
        same_views(&with.at(t), &without.at(t)).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn scores_stay_finite_over_twenty_years(specs in prop::collection::vec(spec(), 1..30), spread in 1i64..20) {
        let mut e = engine();
        let span = spread * 365 * 24 * HOUR_MS;
        for (i, s) in specs.iter().enumerate() {
            let mut s = s.clone();
            s.hours = (i as i64 * span / specs.len() as i64) / HOUR_MS;
            e.insert(&build(i, &s)).unwrap();
        }
        let t = T0 + span + 100 * HOUR_MS;
        for res in RESOLUTIONS {
            for c in e.at(t).cells(res, None) {
                prop_assert!(c.score.is_finite() && c.intensity.is_finite() && c.anomaly_z.is_finite() && c.expected > 0.0);
                prop_assert!((0.0..=100.0).contains(&c.score));
            }
        }
        same_views(&e.at(t), &e.recompute_at(t)).map_err(TestCaseError::fail)?;
    }
}
