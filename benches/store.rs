//! Store benchmarks (issue 3, DESIGN.md §8): durable bulk ingest through `insert_reports` on the
//! embedded `SQLite` store (target ≥ 50 k reports/s), `PostGIS` bulk ingest against a raw `COPY`
//! of the same rows in the same run (target ≥ 0.8 × `COPY`), and the engine rebuild read
//! (1 M reports back from `SQLite` in keyset pages of 10 000). Results go to `docs/perf.md`.
//!
//! Run: `cargo bench --bench store`. The `PostGIS` part runs when `KINGA_BENCH_DATABASE_URL` or
//! `KINGA_TEST_DATABASE_URL` names a database with the `postgis` extension (each measurement
//! gets a fresh schema, dropped afterwards), e.g.
//! `source scripts/pg-test-cluster.sh; pg_test_start target/pg-bench; cargo bench --bench store;
//! pg_test_stop target/pg-bench`. The rebuild read runs only when `KINGA_BENCH_REBUILD_N` gives
//! its size (e.g. `1000000`; filling the store alone takes about a minute).

#![allow(missing_docs, reason = "a bench binary has no public API")]

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, SamplingMode, Throughput};
use kinga::domain::{Category, Report, ReportParts, Reporter, Severity, Source, Verification};
use kinga::index::grid;
use kinga::store::postgis::PostgisStore;
use kinga::store::sqlite::SqliteStore;
use kinga::store::{InsertOutcome, ReportQuery, Store};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::runtime::Runtime;
use uuid::Uuid;

/// Reports per `insert_reports` call in the bulk-ingest benches (one HTTP bulk request).
const BATCH: usize = 1_000;
/// Reports per `SQLite` ingest measurement.
const SQLITE_N: usize = 50_000;
/// Reports per `PostGIS` ingest measurement.
const PG_N: usize = 100_000;
/// `PostGIS` rounds (each measures every method once; medians are reported).
const PG_ROUNDS: usize = 5;
/// Keyset page size of the rebuild read.
const PAGE: usize = 10_000;

/// `n` deterministic reports over Kisumu County (lon 34.4–35.4, lat −0.45–0.05): UUIDv7-style
/// ids in arrival order, a year of history, some free text, reporters and tags.
fn reports(n: usize, seed: u64) -> Vec<Report> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let unit = |v: u64| f64::from(u32::try_from(v >> 32).unwrap_or(0)) / f64::from(u32::MAX);
    let start = Utc.with_ymd_and_hms(2012, 3, 1, 0, 0, 0).single().expect("valid start");
    let step_ms = 365 * 24 * 3_600_000 / i64::try_from(n.max(1)).unwrap_or(1);
    (0..n)
        .map(|i| {
            let i64_i = i64::try_from(i).unwrap_or(0);
            let occurred_at = start + chrono::Duration::milliseconds(i64_i * step_ms);
            let received_at =
                occurred_at + chrono::Duration::microseconds(i64::try_from(next() % 600_000_000).unwrap_or(0));
            let ms = u64::try_from(received_at.timestamp_millis()).unwrap_or(0);
            let mut random = [0u8; 10];
            random[..8].copy_from_slice(&next().to_le_bytes());
            random[8..].copy_from_slice(&next().to_le_bytes()[..2]);
            let id = uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid();
            let r = next();
            let category = Category::ALL[usize::try_from(r % 1_000).unwrap_or(0) % Category::ALL.len()];
            Report::from_parts(ReportParts {
                id,
                lon: 34.4 + unit(next()),
                lat: -0.45 + unit(next()) * 0.5,
                occurred_at,
                received_at,
                category,
                severity: Severity::new(1 + i64::try_from(r % 5).unwrap_or(0)).expect("1..=5"),
                source: Source::ALL[usize::try_from(r % 7).unwrap_or(0)],
                description: (r % 3 == 0).then(|| format!("crowd of youths gathering near market {i}, stones thrown")),
                reporter: (r % 10 == 0).then(|| Reporter {
                    name: Some(format!("Monitor {i}")),
                    phone: Some("+254 700 000000".into()),
                    contact: None,
                }),
                tags: if r % 4 == 0 { vec!["kondele".into(), format!("ward-{}", r % 35)] } else { vec![] },
                verification: Verification::Unverified,
            })
            .expect("generated coordinates are valid")
        })
        .collect()
}

async fn fresh_sqlite(dir: &tempfile::TempDir) -> SqliteStore {
    let url = format!("sqlite://{}", dir.path().join("kinga.db").display());
    let store = SqliteStore::open(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    store
}

/// Inserts `rs` in calls of `batch`; returns the time the calls took.
async fn ingest(store: &dyn Store, rs: &[Report], batch: usize) -> Duration {
    let t = Instant::now();
    for chunk in rs.chunks(batch) {
        let out = store.insert_reports(chunk).await.expect("insert");
        assert!(out.iter().all(|o| *o == InsertOutcome::Created), "fresh store, unique ids");
    }
    t.elapsed()
}

/// (a) Durable bulk ingest into a fresh `SQLite` file, through criterion.
fn bench_sqlite_ingest(c: &mut Criterion, rt: &Runtime) {
    // KINGA_BENCH_SQLITE_N overrides the size, e.g. to include several WAL checkpoints.
    let n = std::env::var("KINGA_BENCH_SQLITE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(SQLITE_N);
    let rs = reports(n, 0x9E37_79B9_7F4A_7C15);
    let mut g = c.benchmark_group("sqlite");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(format!("insert_reports {n} in batches of {BATCH} (durable, fresh file)"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = fresh_sqlite(&dir).await;
                    total += ingest(&store, &rs, BATCH).await;
                    store.pool().close().await;
                }
                total
            })
        });
    });
    g.finish();
}

/// A fresh, migrated `PostGIS` store in a schema of its own, and the schema's name.
async fn fresh_postgis(url: &str) -> (PostgisStore, String) {
    let options = PgConnectOptions::from_str(url).expect("a PostgreSQL URL");
    let schema = format!("bench_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&options).await.expect("connect");
    // The name is generated above (hex digits only); DDL cannot take a bind parameter.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    admin.close().await.expect("close");
    let store = PostgisStore::open_with(options.options([("search_path", format!("{schema},public"))]))
        .await
        .expect("open postgis");
    store.migrate().await.expect("migrate postgis");
    (store, schema)
}

async fn drop_postgis(store: PostgisStore, schema: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(store.pool())
        .await
        .expect("drop schema");
    store.pool().close().await;
}

/// Appends `text` escaped for `COPY … FROM STDIN` text format.
fn copy_text(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

fn copy_time(out: &mut String, t: DateTime<Utc>) {
    let _ = write!(out, "{}+00", t.format("%Y-%m-%d %H:%M:%S%.6f"));
}

/// The rows of `rs` as `COPY` text, the same values `insert_reports` writes; `geom` as hex EWKB.
fn copy_payload(rs: &[Report]) -> String {
    let mut out = String::with_capacity(rs.len() * 300);
    for r in rs {
        let _ = write!(out, "{}\t0101000020E6100000", r.id());
        for b in r.lon().to_le_bytes().into_iter().chain(r.lat().to_le_bytes()) {
            let _ = write!(out, "{b:02X}");
        }
        let cell = grid::base_cell(r.lon(), r.lat()).map_or(0, |c| i64::try_from(u64::from(c)).unwrap_or(0));
        let _ = write!(out, "\t{}\t{}\t{cell}\t", r.lon(), r.lat());
        copy_time(&mut out, r.occurred_at());
        out.push('\t');
        copy_time(&mut out, r.received_at());
        let _ = write!(out, "\t{}\t{}\t{}\t", r.category().slug(), r.severity().get(), r.source().slug());
        match r.description() {
            Some(d) => copy_text(&mut out, d),
            None => out.push_str("\\N"),
        }
        out.push('\t');
        match r.reporter() {
            Some(p) => copy_text(&mut out, &serde_json::to_string(p).expect("json")),
            None => out.push_str("\\N"),
        }
        out.push('\t');
        if r.tags().is_empty() {
            out.push_str("\\N");
        } else {
            copy_text(&mut out, &serde_json::to_string(r.tags()).expect("json"));
        }
        let _ = writeln!(out, "\t{}", r.verification().slug());
    }
    out
}

/// `COPY`s each payload (one statement, one transaction each); returns the time they took.
async fn copy_in(store: &PostgisStore, payloads: &[String]) -> Duration {
    let mut conn = store.pool().acquire().await.expect("acquire");
    let t = Instant::now();
    for payload in payloads {
        let mut copy = conn
            .copy_in_raw(
                "COPY reports (id, geom, lon, lat, cell, occurred_at, received_at, category, severity, source, \
                 description, reporter, tags, verification) FROM STDIN",
            )
            .await
            .expect("COPY");
        for chunk in payload.as_bytes().chunks(1 << 20) {
            copy.send(chunk).await.expect("COPY data");
        }
        let rows = copy.finish().await.expect("COPY finish");
        assert_eq!(usize::try_from(rows).unwrap_or(0), payload.lines().count());
    }
    t.elapsed()
}

fn per_sec(n: usize, d: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "report counts are far below 2^52")]
    let n = n as f64;
    n / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// (b) `PostGIS` bulk ingest through `insert_reports` against a raw `COPY` of the same rows, both
/// as one transaction and as transactions of [`BATCH`] rows (one durable commit each). The `COPY`
/// text is encoded before the clock starts, so the baseline is the server side alone.
async fn bench_postgis_ingest(url: &str) {
    let rs = reports(PG_N, 0xD1B5_4A32_D192_ED03);
    let t = Instant::now();
    let whole = vec![copy_payload(&rs)];
    let encode = t.elapsed();
    let per_batch: Vec<String> = rs.chunks(BATCH).map(copy_payload).collect();
    // insert_reports x BATCH, insert_reports in one call, COPY x BATCH, one COPY.
    let mut times: [Vec<Duration>; 4] = Default::default();
    for round in 0..PG_ROUNDS {
        for (method, samples) in times.iter_mut().enumerate() {
            let (store, schema) = fresh_postgis(url).await;
            samples.push(match method {
                0 => ingest(&store, &rs, BATCH).await,
                1 => ingest(&store, &rs, rs.len()).await,
                2 => copy_in(&store, &per_batch).await,
                _ => copy_in(&store, &whole).await,
            });
            if round == 0 && method == 3 {
                // COPY stored exactly what insert_reports stores.
                for r in rs.iter().step_by(997) {
                    let got = store.get_report(r.id()).await.expect("get").expect("copied");
                    assert!(got.same_content(r) && got.received_at() == r.received_at(), "{got:?} != {r:?}");
                }
            }
            drop_postgis(store, &schema).await;
        }
        let rate = |m: usize| per_sec(PG_N, times[m][round]);
        println!(
            "postgis round {round}: insert_reports x{BATCH} {:.0}/s, COPY x{BATCH} {:.0}/s, insert_reports x1 {:.0}/s, \
             COPY x1 {:.0}/s",
            rate(0),
            rate(2),
            rate(1),
            rate(3)
        );
    }
    let [batched, single, copy_batched, copy_single] = times.map(median);
    let ratio = |ours: Duration, copy: Duration| copy.as_secs_f64() / ours.as_secs_f64();
    println!(
        "postgis bulk ingest, {PG_N} reports, median of {PG_ROUNDS} rounds, fresh schema each:\n  \
         insert_reports, calls of {BATCH}:      {:>7.0} reports/s ({batched:.2?})  ratio to COPY x{BATCH}: {:.2}\n  \
         COPY … FROM STDIN, {BATCH} rows per tx: {:>7.0} reports/s ({copy_batched:.2?})\n  \
         insert_reports, one call:           {:>7.0} reports/s ({single:.2?})  ratio to one COPY: {:.2}\n  \
         COPY … FROM STDIN, one tx:          {:>7.0} reports/s ({copy_single:.2?})\n  \
         (COPY text encoded beforehand, untimed: {encode:.2?} for {PG_N} rows)",
        per_sec(PG_N, batched),
        ratio(batched, copy_batched),
        per_sec(PG_N, copy_batched),
        per_sec(PG_N, single),
        ratio(single, copy_single),
        per_sec(PG_N, copy_single),
    );
}

/// (c) Engine rebuild read: every report back from `SQLite` in keyset pages.
async fn bench_rebuild_read(n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh_sqlite(&dir).await;
    let fill = Instant::now();
    for part in 0..n.div_ceil(100_000) {
        let count = (n - part * 100_000).min(100_000);
        let rs = reports(count, 0xA076_1D64_78BD_642F_u64.wrapping_mul(2 * part as u64 + 1));
        let out = store.insert_reports(&rs).await.expect("fill");
        assert!(out.iter().all(|o| *o == InsertOutcome::Created), "unique ids");
    }
    let filled = fill.elapsed();
    let t = Instant::now();
    let mut after = None;
    let mut read = 0;
    loop {
        let page =
            store.query_reports(&ReportQuery { after, limit: PAGE, ..ReportQuery::default() }).await.expect("page");
        let Some(last) = page.last() else { break };
        after = Some((last.received_at(), last.id()));
        read += page.len();
    }
    let paged = t.elapsed();
    assert_eq!(read, n);
    let t = Instant::now();
    let mut cursor = kinga::store::ScanCursor::default();
    let mut read = 0;
    loop {
        let (page, next) = store.scan_cores(cursor, 20_000).await.expect("scan");
        if page.is_empty() {
            break;
        }
        cursor = next;
        read += page.len();
    }
    let scanned = t.elapsed();
    assert_eq!(read, n);
    // What start-up does: the scan, scored while read, and one R-tree bulk load.
    let overrides = kinga::config::Overrides { region: Some("34.40,-0.45,35.40,0.05".into()), ..Default::default() };
    let config = kinga::config::Config::from_layers(kinga::config::FileConfig::default(), &overrides).expect("config");
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
    let t = Instant::now();
    let service = kinga::service::Service::start(store.clone(), config).await.expect("start");
    let started = t.elapsed();
    assert_eq!(service.engine().len(), n);
    println!(
        "sqlite rebuild, {n} reports (filled in {filled:.1?}): full rows in (received_at, id) keyset pages of {PAGE} \
         {paged:.2?}; engine columns in storage order {scanned:.2?} ({:.0} reports/s); Service::start (read + score + \
         R-tree) {started:.2?}",
        per_sec(n, scanned)
    );
}

fn main() {
    let rt = Runtime::new().expect("tokio runtime");
    let mut c = Criterion::default().configure_from_args();
    bench_sqlite_ingest(&mut c, &rt);
    c.final_summary();

    let url = ["KINGA_BENCH_DATABASE_URL", "KINGA_TEST_DATABASE_URL"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
    match url {
        Some(url) => rt.block_on(bench_postgis_ingest(&url)),
        None => println!("postgis: skipped (set KINGA_BENCH_DATABASE_URL or KINGA_TEST_DATABASE_URL)"),
    }

    match std::env::var("KINGA_BENCH_REBUILD_N").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(n) if n > 0 => rt.block_on(bench_rebuild_read(n)),
        _ => println!("sqlite rebuild read: skipped (set KINGA_BENCH_REBUILD_N=1000000; takes minutes)"),
    }
}
