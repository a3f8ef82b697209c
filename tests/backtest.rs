//! The walk-forward backtest (issue 7): exact metrics on a hand-made case, no look-ahead,
//! the random baseline's expectation, determinism.

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "tests compare exact, hand-computed values"
)]

use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use h3o::{CellIndex, Resolution};
use kinga::backtest::{self, BacktestConfig, Forecast, Method, Walk};
use kinga::domain::{
    Category, HOUR_MS, Region, Report, ReportParts, Severity, Source, ValidationRules, Verification,
    default_deployment_start, to_millis,
};
use kinga::index::{StudyArea, grid};
use kinga::scenario::{KISUMU_REGION, Rng, ScenarioParams, generate};
use kinga::scoring::{Engine, ScoringParams};
use uuid::Uuid;

/// A 0.1° × 0.1° box in Kisumu: about 170 resolution-8 cells.
const SMALL_REGION: &str = "34.70,-0.12,34.80,-0.02";

fn small_area() -> StudyArea {
    static AREA: OnceLock<StudyArea> = OnceLock::new();
    AREA.get_or_init(|| StudyArea::new(&Region::parse_bbox(SMALL_REGION).unwrap())).clone()
}

fn kisumu_area() -> StudyArea {
    static AREA: OnceLock<StudyArea> = OnceLock::new();
    AREA.get_or_init(|| StudyArea::new(&Region::parse_bbox(KISUMU_REGION).unwrap())).clone()
}

fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

/// The centre of the resolution-8 cell holding a point, and that cell.
fn centre8(lon: f64, lat: f64) -> ((f64, f64), CellIndex) {
    let cell = grid::base_cell(lon, lat).unwrap().parent(Resolution::Eight).unwrap();
    (grid::centre(cell), cell)
}

struct R {
    at: (f64, f64),
    occurred: DateTime<Utc>,
    received: DateTime<Utc>,
    category: Category,
    severity: i64,
    verification: Verification,
}

fn report(r: &R) -> Report {
    Report::from_parts(ReportParts {
        id: Uuid::new_v4(),
        lon: r.at.0,
        lat: r.at.1,
        occurred_at: r.occurred,
        received_at: r.received,
        category: r.category,
        severity: Severity::new(r.severity).unwrap(),
        source: Source::Monitor,
        description: None,
        reporter: None,
        tags: Vec::new(),
        verification: r.verification,
    })
    .unwrap()
}

/// Reports at a point, received when they occurred.
fn at_point(
    n: usize,
    point: (f64, f64),
    when: DateTime<Utc>,
    category: Category,
    severity: i64,
    verification: Verification,
) -> Vec<Report> {
    (0..n).map(|_| report(&R { at: point, occurred: when, received: when, category, severity, verification })).collect()
}

/// The demo scenario over `days`, validated as a backfill, with the debunking applied.
fn scenario(days: u32) -> Vec<Report> {
    let region = Region::parse_bbox(KISUMU_REGION).unwrap();
    let end = at(2013, 3, 10, 0);
    let rules =
        ValidationRules { region: &region, deployment_start: default_deployment_start(), now: end, backfill: true };
    generate(&ScenarioParams { days, ..ScenarioParams::demo(end) })
        .into_iter()
        .map(|s| {
            let mut r = s.input.validate(&rules).unwrap();
            if s.verification == Verification::Debunked {
                r.set_verification(Verification::Debunked);
            }
            r
        })
        .collect()
}

/// Four cells 4 km apart. Before the one origin T: A holds 3 assaults (severity 2), B 2 (severity
/// 2), C 1 (severity 5), D a peace meeting. After it, in (T, T + 24 h]: A 1, C 2, D 1 incidents,
/// plus a debunked rumour in C that must not count. So N = 4 and, with k = 2 cells:
/// - persistence and KDE pick A, B (most past incidents): n = 1, hit rate 1/4, n* = 3 (C + A),
///   PEI* = 1/3, PAI = (1/4)/(2/A);
/// - kinga weighs severity: C (weight 4·2) > A (3 · 0.5·2) > B, so it picks C, A: n = 3, hit
///   rate 3/4, PEI* = 1 — as good as the oracle.
#[test]
fn hand_made_case_gives_the_hand_computed_metrics() {
    let area = small_area();
    let a_cells = area.len(Resolution::Eight);
    let (pa, cell_a) = centre8(34.72, -0.05);
    let (pb, cell_b) = centre8(34.76, -0.05);
    let (pc, cell_c) = centre8(34.74, -0.09);
    let (pd, cell_d) = centre8(34.78, -0.09);
    assert!([cell_a, cell_b, cell_c, cell_d].iter().all(|x| area.contains(*x)));
    let past = at(2024, 5, 6, 12);
    let t = at(2024, 5, 7, 0);
    let future = at(2024, 5, 7, 10);
    let mut reports = Vec::new();
    reports.extend(at_point(3, pa, past, Category::Assault, 2, Verification::Unverified));
    reports.extend(at_point(2, pb, past, Category::Assault, 2, Verification::Unverified));
    reports.extend(at_point(1, pc, past, Category::Assault, 5, Verification::Unverified));
    reports.extend(at_point(1, pd, past, Category::PeaceMeeting, 3, Verification::Verified));
    reports.extend(at_point(1, pa, future, Category::Assault, 1, Verification::Unverified));
    reports.extend(at_point(2, pc, future, Category::Threat, 1, Verification::Unverified));
    reports.extend(at_point(1, pd, future, Category::Assault, 1, Verification::Unverified));
    reports.extend(at_point(1, pc, future, Category::Rumour, 1, Verification::Debunked));
    let share = 2.0 / a_cells as f64;
    let cfg = BacktestConfig {
        step_h: 24,
        burn_in_h: 0,
        horizons_h: vec![24],
        budgets: vec![share],
        end: Some(to_millis(t + Duration::hours(24))),
        ..BacktestConfig::default()
    };
    let result = backtest::run(area, ScoringParams::default(), &reports, &cfg).unwrap();
    assert_eq!(result.origins, ["2024-05-07T00:00:00Z"]);
    assert_eq!(result.budgets[0].cells, 2);
    assert_eq!(result.incidents, 3 + 2 + 1 + 1 + 2 + 1, "peace meeting and debunked rumour excluded");
    let score = |m| result.score(m, 24, share).unwrap();
    for m in [Method::Persistence7d, Method::Persistence28d, Method::Kde] {
        let s = score(m);
        assert_eq!(s.per_origin[0].incidents, 4);
        assert_eq!(s.per_origin[0].best, 3);
        assert_eq!(s.per_origin[0].hits, 1.0, "{m:?}");
        assert_eq!(s.hit_rate, Some(0.25), "{m:?}");
        assert_eq!(s.pei_star, Some(1.0 / 3.0), "{m:?}");
        assert_eq!(s.pai, Some(0.25 / (2.0 / a_cells as f64)), "{m:?}");
    }
    let k = score(Method::Kinga);
    assert_eq!((k.hit_rate, k.pei_star), (Some(0.75), Some(1.0)));
    let o = score(Method::Oracle);
    assert_eq!((o.hit_rate, o.pei_star), (Some(0.75), Some(1.0)));
    // One origin: the paired difference kinga − persistence-7d is exactly 0.75 − 0.25.
    let diff = result.comparison(Method::Kinga, Method::Persistence7d, 24, share).unwrap().difference;
    assert_eq!((diff.mean, diff.low, diff.high), (0.5, 0.5, 0.5));
}

#[test]
fn the_oracle_has_pei_star_one_everywhere() {
    let result =
        backtest::run(kisumu_area(), ScoringParams::default(), &scenario(8), &BacktestConfig::default()).unwrap();
    // Eight days leave no room for a 7-day window after the burn-in: those rows are empty.
    assert_eq!(result.score(Method::Oracle, 168, 0.01).unwrap().origins, 0);
    let scored: Vec<_> = result.scores.iter().filter(|s| s.origins > 0).collect();
    assert_eq!(scored.len(), Method::ALL.len() * 2 * 4);
    for s in scored.iter().filter(|s| s.method == Method::Oracle) {
        assert_eq!(s.pei_star, Some(1.0), "{} h {}", s.horizon_h, s.budget);
    }
    // Every other method is bounded by it.
    for s in &scored {
        assert!(s.pei_star.unwrap() <= 1.0 + 1e-12, "{:?} {:?}", s.method, s.pei_star);
    }
}

fn forecasts(reports: &[Report], cfg: &BacktestConfig) -> Vec<Forecast> {
    Walk::new(kisumu_area(), ScoringParams::default(), reports, cfg).unwrap().collect()
}

/// A severity-5 killing that occurred two days before an origin t but was received one hour
/// after it changes no forecast at or before t; it does show from the next origin on.
#[test]
fn a_report_received_after_the_origin_never_changes_its_forecast() {
    let reports = scenario(9);
    let cfg = BacktestConfig::default();
    let plain = forecasts(&reports, &cfg);
    let t = plain[3].t;
    let lone = (35.30, -0.30); // far from every scenario place
    let (_, cell) = centre8(lone.0, lone.1);
    let late = report(&R {
        at: lone,
        occurred: kinga::domain::from_millis(t - 48 * HOUR_MS),
        received: kinga::domain::from_millis(t + HOUR_MS),
        category: Category::Killing,
        severity: 5,
        verification: Verification::Unverified,
    });
    let mut with_late = reports.clone();
    with_late.push(late);
    let injected = forecasts(&with_late, &cfg);
    assert_eq!(plain.len(), injected.len());
    for (p, q) in plain.iter().zip(&injected).filter(|(p, _)| p.t <= t) {
        assert_eq!(p, q, "forecast at {} changed", p.t);
    }
    let ranked = |f: &Forecast, m: Method| {
        let r = f.rankings.iter().find(|r| r.method == m).unwrap();
        r.cells[..r.candidates].contains(&cell)
    };
    for m in [Method::Kinga, Method::Persistence7d, Method::Kde] {
        assert!(!ranked(&injected[3], m), "{m:?} saw the late report at t");
        assert!(ranked(&injected[4], m), "{m:?} ignores the report once received");
    }
}

/// The walk feeds the engine incrementally; a single engine holding every report (future ones
/// included) replayed at each origin gives the same kinga ranking.
#[test]
fn incremental_forecasts_equal_a_replay_of_the_full_engine() {
    let reports = scenario(8);
    let cfg = BacktestConfig::default();
    let mut full = Engine::with_area(kisumu_area(), ScoringParams::default()).unwrap();
    full.extend(&reports);
    let area = kisumu_area();
    for f in forecasts(&reports, &cfg) {
        let mine = f.rankings.iter().find(|r| r.method == Method::Kinga).unwrap();
        let replay: Vec<CellIndex> = full
            .recompute_at(f.t)
            .hotspots(Resolution::Eight, None, mine.candidates + 20)
            .iter()
            .map(|h| h.score.cell)
            .filter(|c| area.contains(*c))
            .take(mine.candidates)
            .collect();
        assert_eq!(replay, mine.cells[..mine.candidates], "at {}", f.t);
    }
}

/// Incidents spread uniformly over the small box: the random baseline's mean hit rate is the
/// area share (10 %), its PAI ≈ 1.
#[test]
fn uniform_random_hit_rate_is_the_budget_share() {
    let mut rng = Rng::new(99);
    let start = at(2024, 1, 1, 0);
    let reports: Vec<Report> = (0..6000)
        .map(|_| {
            let when = start + Duration::seconds((rng.unit() * 20.0 * 86_400.0) as i64);
            let at = (34.70 + rng.unit() * 0.1, -0.12 + rng.unit() * 0.1);
            report(&R {
                at,
                occurred: when,
                received: when,
                category: Category::Assault,
                severity: 2,
                verification: Verification::Unverified,
            })
        })
        .collect();
    let cfg = BacktestConfig { horizons_h: vec![24], budgets: vec![0.1], resamples: 200, ..BacktestConfig::default() };
    let result = backtest::run(small_area(), ScoringParams::default(), &reports, &cfg).unwrap();
    let s = result.score(Method::Random, 24, 0.1).unwrap();
    let share = s.cells as f64 / result.study_cells as f64;
    let hit = s.hit_rate.unwrap();
    assert!((hit - share).abs() < 0.01, "random hit rate {hit} vs area share {share}");
    assert!((s.pai.unwrap() - 1.0).abs() < 0.1);
}

#[test]
fn same_seed_same_result_other_seed_other_draws() {
    let reports = scenario(8);
    let cfg = BacktestConfig { resamples: 300, ..BacktestConfig::default() };
    let run = |seed| {
        backtest::run(kisumu_area(), ScoringParams::default(), &reports, &BacktestConfig { seed, ..cfg.clone() })
            .unwrap()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b);
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    let random = |r: &backtest::Backtest| r.score(Method::Random, 24, 0.01).unwrap().per_origin.clone();
    assert_ne!(random(&a), random(&c), "the seed drives the random baseline");
    let kinga = |r: &backtest::Backtest| r.score(Method::Kinga, 24, 0.01).unwrap().clone();
    assert_eq!(kinga(&a), kinga(&c), "the seed does not touch the deterministic methods");
}
