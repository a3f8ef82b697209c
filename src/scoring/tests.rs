//! Exact-value tests of the scorer: decay, weights, Gi*, a cell and its neighbour.

#![allow(clippy::float_cmp, clippy::cast_precision_loss, reason = "exact expected values")]

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::domain::{
    Category, HOUR_MS, Millis, Region, Report, ReportParts, Severity, Source, Verification, from_millis,
};
use crate::index::grid;

const T0: Millis = 1_362_355_200_000; // 2013-03-04T00:00:00Z, the Kenyan general election

fn region() -> Region {
    Region::parse_bbox("34.70,-0.15,34.80,-0.05").unwrap()
}

fn report(n: u128, lon: f64, lat: f64, at: Millis, category: Category, severity: i64) -> Report {
    Report::from_parts(ReportParts {
        id: Uuid::from_u128(n),
        lon,
        lat,
        occurred_at: from_millis(at),
        received_at: from_millis(at),
        category,
        severity: Severity::new(severity).unwrap(),
        source: Source::Monitor,
        description: None,
        reporter: None,
        tags: Vec::new(),
        verification: Verification::Unverified,
    })
    .unwrap()
}

fn engine() -> Engine {
    Engine::new(&region(), ScoringParams::default()).unwrap()
}

const LON: f64 = 34.7617;
const LAT: f64 = -0.0917;

#[test]
fn intensity_halves_each_half_life() {
    let mut e = engine();
    e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 4)).unwrap();
    let cell = grid::base_cell(LON, LAT).unwrap();
    let at = |hours: i64| e.at(T0 + hours * HOUR_MS).cell(cell).unwrap().intensity;
    assert_eq!(at(0), 6.0);
    assert_eq!(at(72), 3.0);
    assert_eq!(at(144), 1.5);
    assert_eq!(at(720), 6.0 / 1024.0);
}

#[test]
fn a_cell_and_its_neighbour_after_one_report() {
    let mut e = engine();
    e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 4)).unwrap();
    let cell = grid::base_cell(LON, LAT).unwrap();
    let view = e.at(T0);
    let own = view.cell(cell).unwrap();
    // λ = 3.0 × 2.0 = 6; expected = 6 × 72/720 + 0.05 = 0.65.
    assert_eq!(own.intensity, 6.0);
    assert!((own.expected - 0.65).abs() < 1e-12);
    assert!((own.anomaly_z - 5.35 / 0.65f64.sqrt()).abs() < 1e-12);
    // No neighbour has reports: context = 6 = R0 → 100 (1 − 1/e).
    assert!((own.score - 100.0 * (1.0 - (-1.0f64).exp())).abs() < 1e-9, "{}", own.score);
    assert_eq!(own.level, RiskLevel::High);
    assert_eq!(own.reports, 1);
    assert_eq!(own.trend, Trend::Rising);

    let neighbour = cell.grid_disk::<Vec<_>>(1).into_iter().find(|c| *c != cell).unwrap();
    let n = view.cell(neighbour).unwrap();
    assert_eq!(n.intensity, 0.0);
    assert_eq!(n.reports, 0);
    // Spill: 0.5 × (6 / 6 neighbours) = 0.5.
    assert!((n.neighbour_intensity - 1.0).abs() < 1e-12);
    assert!((n.score - 100.0 * (1.0 - (-0.5f64 / 6.0).exp())).abs() < 1e-9);
    assert_eq!(n.level, RiskLevel::Low);

    // Gi* over the study area: one non-zero cell of value 6 among n, both neighbourhoods of 7.
    let nf = e.area().len(cell.resolution()) as f64;
    let mean = 6.0 / nf;
    let sd = (36.0 / nf - mean * mean).sqrt();
    let z = |local: f64| (local - mean * 7.0) / (sd * ((nf * 7.0 - 49.0) / (nf - 1.0)).sqrt());
    assert!((own.gi_z.unwrap() - z(6.0)).abs() < 1e-9);
    assert!((n.gi_z.unwrap() - z(6.0)).abs() < 1e-9);
    assert!(own.hot);
}

#[test]
fn parents_sum_their_children() {
    let mut e = engine();
    e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 4)).unwrap();
    e.insert(&report(2, LON + 0.002, LAT, T0, Category::Rumour, 2)).unwrap();
    let view = e.at(T0);
    let c5 = grid::base_cell(LON, LAT).unwrap().parent(h3o::Resolution::Five).unwrap();
    assert_eq!(grid::base_cell(LON + 0.002, LAT).unwrap().parent(h3o::Resolution::Five), Some(c5));
    assert_ne!(grid::base_cell(LON + 0.002, LAT), grid::base_cell(LON, LAT));
    let parent = view.cell(c5).unwrap();
    assert_eq!(parent.intensity, 6.5);
    assert_eq!(parent.reports, 2);
}

#[test]
fn verification_changes_and_withdrawal_adjust_the_scores() {
    let mut e = engine();
    let r = report(1, LON, LAT, T0, Category::ArmedClash, 4);
    e.insert(&r).unwrap();
    let cell = grid::base_cell(LON, LAT).unwrap();
    e.set_verification(r.id(), Verification::Verified).unwrap();
    assert_eq!(e.at(T0).cell(cell).unwrap().intensity, 9.0);
    e.set_verification(r.id(), Verification::Debunked).unwrap();
    let s = e.at(T0).cell(cell).unwrap();
    assert_eq!((s.intensity, s.reports, s.score), (0.0, 0, 0.0));
    e.set_verification(r.id(), Verification::Disputed).unwrap();
    assert_eq!(e.at(T0).cell(cell).unwrap().intensity, 3.0);
    e.withdraw(r.id()).unwrap();
    assert!(e.is_empty());
    assert!(e.live_cell(cell).is_none());
    assert_eq!(e.withdraw(r.id()), Err(ScoringError::NotFound(r.id())));
}

#[test]
fn duplicates_change_nothing() {
    let mut e = engine();
    let r = report(1, LON, LAT, T0, Category::Killing, 5);
    e.insert(&r).unwrap();
    let v = e.version();
    assert_eq!(e.insert(&r), Err(ScoringError::Duplicate(r.id())));
    assert_eq!((e.len(), e.version()), (1, v));
}

#[test]
fn peace_indicators_dampen_but_never_go_negative() {
    let mut e = engine();
    e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 4)).unwrap();
    let cell = grid::base_cell(LON, LAT).unwrap();
    let before = e.at(T0).cell(cell).unwrap();
    // Peace meeting severity 5: weight 4 → damping 4 / (4 + 4) = 0.5.
    e.insert(&report(2, LON, LAT, T0, Category::PeaceMeeting, 5)).unwrap();
    let after = e.at(T0).cell(cell).unwrap();
    assert_eq!(after.intensity, before.intensity);
    assert!((after.score - 100.0 * (1.0 - (-0.5f64).exp())).abs() < 1e-9);
    let mut only_peace = engine();
    only_peace.insert(&report(3, LON, LAT, T0, Category::Dialogue, 5)).unwrap();
    let s = only_peace.at(T0).cell(cell).unwrap();
    assert_eq!((s.intensity, s.score), (0.0, 0.0));
}

#[test]
fn replay_sees_only_reports_received_by_then() {
    let mut e = engine();
    e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 4)).unwrap();
    // Occurred at T0 but received a day later: invisible to a replay at T0 + 1 h.
    let mut late = report(2, LON, LAT, T0, Category::Killing, 5);
    late.set_received_at(from_millis(T0 + 24 * HOUR_MS));
    e.insert(&late).unwrap();
    let cell = grid::base_cell(LON, LAT).unwrap();
    let replay = e.at(T0 + HOUR_MS);
    assert!(replay.is_replay());
    assert_eq!(replay.cell(cell).unwrap().reports, 1);
    assert_eq!(e.at(T0 + 24 * HOUR_MS).cell(cell).unwrap().reports, 2);
}

#[test]
fn trend_falls_when_nothing_new_arrives() {
    let mut e = engine();
    e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 4)).unwrap();
    let cell = grid::base_cell(LON, LAT).unwrap();
    assert_eq!(e.at(T0 + 48 * HOUR_MS).cell(cell).unwrap().trend, Trend::Falling);
    e.insert(&report(2, LON, LAT, T0 + 47 * HOUR_MS, Category::ArmedClash, 4)).unwrap();
    assert_eq!(e.at(T0 + 48 * HOUR_MS).cell(cell).unwrap().trend, Trend::Rising);
}

#[test]
fn hotspots_rank_by_score_with_drivers() {
    let mut e = engine();
    let far = (34.72, -0.12);
    e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 4)).unwrap();
    e.insert(&report(2, LON, LAT, T0 + HOUR_MS, Category::Mobilisation, 3)).unwrap();
    e.insert(&report(3, far.0, far.1, T0, Category::Rumour, 1)).unwrap();
    let view = e.at(T0 + 2 * HOUR_MS);
    let top = view.hotspots(h3o::Resolution::Nine, None, 10);
    assert_eq!(top.len(), 2);
    assert_eq!(top[0].rank, 1);
    assert_eq!(top[0].score.cell, grid::base_cell(LON, LAT).unwrap());
    assert_eq!(top[0].drivers.top_categories[0].0, Category::ArmedClash);
    assert_eq!(top[0].drivers.top_reports[0].0, Uuid::from_u128(1));
    assert_eq!(top[0].drivers.last_report, Some(T0 + HOUR_MS));
    assert!(top[0].score.score > top[1].score.score);
    assert_eq!(view.hotspots(h3o::Resolution::Nine, None, 1).len(), 1);
    let bbox = crate::domain::BBox::new(34.71, -0.13, 34.73, -0.11).unwrap();
    let boxed = view.hotspots(h3o::Resolution::Nine, Some(&bbox), 10);
    assert_eq!(boxed.len(), 1);
    assert_eq!(boxed[0].drivers.top_categories, vec![(Category::Rumour, 1.0)]);
}

#[test]
fn twenty_years_of_data_stay_finite_and_rebase() {
    let mut e = engine();
    let step = 30 * 24 * HOUR_MS;
    for i in 0..240 {
        e.insert(&report(i, LON, LAT, T0 + i64::try_from(i).unwrap() * step, Category::Assault, 3)).unwrap();
    }
    let t = T0 + 240 * step;
    let cell = grid::base_cell(LON, LAT).unwrap();
    let live = e.at(t).cell(cell).unwrap();
    let batch = e.recompute_at(t).cell(cell).unwrap();
    assert!(live.score.is_finite() && live.intensity.is_finite() && live.anomaly_z.is_finite());
    assert!((live.intensity - batch.intensity).abs() <= 1e-9 * batch.intensity);
    let _ = Utc.timestamp_millis_opt(t);
}

mod alert_rules {
    use super::*;
    use crate::scoring::alerts::{AlertKind, AlertRules, Change, Monitor};

    fn kinds(changes: &[Change]) -> Vec<(String, AlertKind)> {
        changes
            .iter()
            .map(|c| match c {
                Change::Opened(c) => ("open".to_string(), c.kind),
                Change::Cleared(k, _) => ("clear".to_string(), *k),
            })
            .collect()
    }

    fn high_only() -> Monitor {
        // Only the HighRisk rule can fire: the others' thresholds are out of reach.
        let rules = AlertRules {
            spike_open_z: f64::INFINITY,
            hot_open_z: f64::INFINITY,
            trigger_categories: vec![],
            cluster_count: usize::MAX,
            ..AlertRules::default()
        };
        Monitor::new(rules, [])
    }

    #[test]
    fn high_risk_opens_once_does_not_flap_and_clears_as_scores_decay() {
        let mut e = engine();
        let mut m = high_only();
        let cell9 = grid::base_cell(LON, LAT).unwrap();
        // Two killings (weight 16 each) put the res-8 cell at score ≈ 87.
        e.insert(&report(1, LON, LAT, T0, Category::Killing, 5)).unwrap();
        e.insert(&report(2, LON, LAT, T0, Category::Killing, 5)).unwrap();
        let opened = m.evaluate(&e.at(T0), &[cell9]);
        assert_eq!(kinds(&opened), [("open".to_string(), AlertKind::HighRisk)]);
        // Hovering: the score falls under the opening threshold (50) but stays above the clearing
        // one (40), then a small report lifts it back over 50: no change at all.
        let mut t = T0;
        let score = |e: &Engine, t| e.at(t).cell(cell9.parent(h3o::Resolution::Eight).unwrap()).unwrap().score;
        while score(&e, t) >= 48.0 {
            t += HOUR_MS;
        }
        assert!(score(&e, t) > 40.0);
        assert!(m.evaluate(&e.at(t), &[]).is_empty());
        e.insert(&report(3, LON, LAT, t, Category::Assault, 4)).unwrap();
        assert!(score(&e, t) >= 50.0);
        assert!(m.evaluate(&e.at(t), &[cell9]).is_empty(), "no second alert while one is open");
        // Decay alone, evaluated on a timer, closes it exactly once.
        let mut cleared = Vec::new();
        for day in 1..=30 {
            cleared.extend(m.evaluate(&e.at(t + day * 24 * HOUR_MS), &[]));
        }
        assert_eq!(kinds(&cleared), [("clear".to_string(), AlertKind::HighRisk)]);
    }

    /// After a change only the touched cells are re-checked (cheap with thousands of open
    /// alerts); the timer's evaluation is what closes an untouched alert as it decays.
    #[test]
    fn a_change_rechecks_its_cells_and_the_timer_the_open_alerts() {
        let mut e = engine();
        let mut m = high_only();
        let cell9 = grid::base_cell(LON, LAT).unwrap();
        e.insert(&report(1, LON, LAT, T0, Category::Killing, 5)).unwrap();
        e.insert(&report(2, LON, LAT, T0, Category::Killing, 5)).unwrap();
        assert_eq!(kinds(&m.evaluate_touched(&e.at(T0), &[cell9])), [("open".to_string(), AlertKind::HighRisk)]);
        let later = T0 + 30 * 24 * HOUR_MS;
        let far = (LON + 0.04, LAT - 0.04);
        e.insert(&report(3, far.0, far.1, later, Category::Rumour, 1)).unwrap();
        let far9 = grid::base_cell(far.0, far.1).unwrap();
        assert!(m.evaluate_touched(&e.at(later), &[far9]).is_empty(), "the decayed alert is not touched");
        assert_eq!(kinds(&m.evaluate(&e.at(later), &[])), [("clear".to_string(), AlertKind::HighRisk)]);
    }

    #[test]
    fn verified_trigger_categories_and_close_clusters_raise_alerts() {
        let mut e = engine();
        let rules = AlertRules {
            open_score: 101.0,
            spike_open_z: f64::INFINITY,
            hot_open_z: f64::INFINITY,
            ..AlertRules::default()
        };
        let mut m = Monitor::new(rules, []);
        let cell9 = grid::base_cell(LON, LAT).unwrap();
        let killing = report(1, LON, LAT, T0, Category::Killing, 3);
        e.insert(&killing).unwrap();
        assert!(m.evaluate(&e.at(T0), &[cell9]).is_empty(), "an unverified killing is not a trigger yet");
        e.set_verification(killing.id(), Verification::Verified).unwrap();
        assert_eq!(kinds(&m.evaluate(&e.at(T0), &[cell9])), [("open".to_string(), AlertKind::Trigger)]);
        // Two mobilisation reports 400 m apart: no cluster; a third within 1 km: a cluster.
        let east = LON + 0.0036;
        e.insert(&report(10, LON, LAT, T0 + HOUR_MS, Category::Mobilisation, 2)).unwrap();
        e.insert(&report(11, east, LAT, T0 + 2 * HOUR_MS, Category::Mobilisation, 2)).unwrap();
        let two = m.evaluate(&e.at(T0 + 2 * HOUR_MS), &[cell9]);
        assert!(!kinds(&two).contains(&("open".to_string(), AlertKind::Cluster)));
        e.insert(&report(12, LON, LAT + 0.002, T0 + 3 * HOUR_MS, Category::Mobilisation, 2)).unwrap();
        let three = kinds(&m.evaluate(&e.at(T0 + 3 * HOUR_MS), &[cell9]));
        // The cluster spans the two neighbourhoods holding its reports: each gets an alert.
        assert!(!three.is_empty() && three.len() <= 2, "{three:?}");
        assert!(three.iter().all(|k| *k == ("open".to_string(), AlertKind::Cluster)), "{three:?}");
        // A day later the cluster is stale; three days later the trigger too.
        let later = kinds(&m.evaluate(&e.at(T0 + 4 * 24 * HOUR_MS), &[]));
        assert_eq!(later.len(), 1 + three.len(), "{later:?}");
        assert!(later.contains(&("clear".to_string(), AlertKind::Trigger)));
        assert!(later.iter().all(|(what, _)| what == "clear"));
    }

    #[test]
    fn a_spike_needs_more_than_one_report_and_a_hotspot_needs_gi() {
        let mut e = engine();
        let rules = AlertRules {
            open_score: 101.0,
            trigger_categories: vec![],
            cluster_count: usize::MAX,
            ..AlertRules::default()
        };
        let mut m = Monitor::new(rules, []);
        let cell9 = grid::base_cell(LON, LAT).unwrap();
        e.insert(&report(1, LON, LAT, T0, Category::ArmedClash, 5)).unwrap();
        let one = kinds(&m.evaluate(&e.at(T0), &[cell9]));
        assert!(!one.contains(&("open".to_string(), AlertKind::Spike)), "{one:?}");
        assert!(one.contains(&("open".to_string(), AlertKind::Hotspot)), "{one:?}");
        e.insert(&report(2, LON, LAT, T0, Category::ArmedClash, 5)).unwrap();
        let two = kinds(&m.evaluate(&e.at(T0), &[cell9]));
        assert_eq!(two, [("open".to_string(), AlertKind::Spike)]);
    }
}

/// One cell scored alone (no whole-resolution table built: the path after each change) equals
/// the same cell in the full table, at every resolution.
#[test]
fn one_cell_alone_equals_the_full_table() {
    let t0 = Utc.with_ymd_and_hms(2013, 3, 4, 0, 0, 0).unwrap().timestamp_millis();
    let build = || {
        let mut e = engine();
        for n in 0..400u32 {
            let lon = 34.70 + f64::from(n * 37 % 100) * 0.001;
            let lat = -0.15 + f64::from(n * 61 % 100) * 0.001;
            let category = Category::ALL[n as usize % Category::ALL.len()];
            let r = report(u128::from(n) + 1, lon, lat, t0 + i64::from(n) * 600_000, category, 1 + i64::from(n % 5));
            e.insert(&r).unwrap();
        }
        e
    };
    let t = t0 + 400 * 600_000;
    for res in [h3o::Resolution::Nine, h3o::Resolution::Eight, h3o::Resolution::Seven] {
        let table = build().at(t).cells(res, None);
        assert!(!table.is_empty());
        let fresh = build();
        let alone: Vec<CellScore> = table.iter().map(|s| fresh.at(t).cell(s.cell).unwrap()).collect();
        assert_eq!(alone, table, "{res:?}");
    }
}
