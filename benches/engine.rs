//! Engine benchmarks (issue 2, DESIGN.md §8): ingest throughput on one core, full recompute of
//! 1 M reports, top-50 hotspots over 1 M reports. Results go to `docs/perf.md`.
//!
//! Run: `cargo bench --bench engine`.

#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "benchmark fixtures"
)]

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use h3o::Resolution;
use kinga::domain::{
    Category, HOUR_MS, Region, Report, ReportInput, ValidationRules, default_deployment_start, to_millis,
};
use kinga::index::StudyArea;
use kinga::scoring::{Engine, ScoringParams};

const KISUMU: &str = "34.4,-0.45,35.4,0.05";

/// Deterministic clustered inputs over Kisumu County: 60 flashpoints, a year of reports.
fn inputs(n: usize) -> Vec<ReportInput> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let hubs: Vec<(f64, f64)> = (0..60).map(|_| (34.5 + next() * 0.8, -0.4 + next() * 0.4)).collect();
    let start = Utc.with_ymd_and_hms(2012, 3, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let (hx, hy) = hubs[i % hubs.len()];
            let spread = if i % 5 == 0 { 0.08 } else { 0.01 };
            let t =
                start + chrono::Duration::milliseconds((i as f64 / n as f64 * 365.0 * 24.0 * HOUR_MS as f64) as i64);
            ReportInput {
                lon: (hx + (next() - 0.5) * spread).clamp(34.41, 35.39),
                lat: (hy + (next() - 0.5) * spread).clamp(-0.44, 0.04),
                occurred_at: t.to_rfc3339(),
                category: Category::ALL[(next() * 30.0) as usize % 30].slug().to_string(),
                severity: 1 + (next() * 5.0) as i64 % 5,
                ..ReportInput::default()
            }
        })
        .collect()
}

fn validate_all(inputs: Vec<ReportInput>, region: &Region, now: DateTime<Utc>) -> Vec<Report> {
    let rules = ValidationRules { region, deployment_start: default_deployment_start(), now, backfill: true };
    inputs.into_iter().map(|i| i.validate(&rules).expect("generated input is valid")).collect()
}

fn bench(c: &mut Criterion) {
    let region = Region::parse_bbox(KISUMU).unwrap();
    let area = StudyArea::new(&region);
    let now = Utc.with_ymd_and_hms(2013, 3, 2, 0, 0, 0).unwrap();

    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let n = 200_000;
    let raw = inputs(n);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("validate+index+score 200k (one core)", |b| {
        b.iter_batched(
            || (raw.clone(), Engine::with_area(area.clone(), ScoringParams::default()).unwrap()),
            |(raw, mut engine)| {
                let reports = validate_all(raw, &region, now);
                engine.extend(&reports);
                black_box(engine.len())
            },
            BatchSize::LargeInput,
        );
    });
    let reports = validate_all(raw, &region, now);
    g.bench_function("insert one by one 200k (live path)", |b| {
        b.iter_batched(
            || Engine::with_area(area.clone(), ScoringParams::default()).unwrap(),
            |mut engine| {
                for r in &reports {
                    engine.insert(r).expect("unique ids");
                }
                black_box(engine.len())
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();

    let million = validate_all(inputs(1_000_000), &region, now);
    let mut engine = Engine::with_area(area.clone(), ScoringParams::default()).unwrap();
    engine.extend(&million);
    let t = to_millis(now);
    let mut g = c.benchmark_group("1M reports");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("full recompute (batch state + res-9 scores)", |b| {
        b.iter(|| {
            let view = engine.recompute_at(black_box(t));
            black_box(view.hotspots(Resolution::Nine, None, 1).len())
        });
    });
    g.bench_function("top-50 hotspots res 9, live view (warm cache)", |b| {
        b.iter(|| black_box(engine.at(t).hotspots(Resolution::Nine, None, 50).len()));
    });
    let extra = validate_all(inputs(100_000), &region, now);
    let mut next = extra.iter().cycle();
    g.bench_function("insert one report then top-50 hotspots res 9 (cold cache)", |b| {
        b.iter(|| {
            if let Some(r) = next.next() {
                let _ = engine.withdraw(r.id());
                let _ = engine.insert(r);
            }
            black_box(engine.at(t).hotspots(Resolution::Nine, None, 50).len())
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
