//! `kinga backtest`: the walk-forward backtest of [`crate::backtest`] on an import file, on the
//! configured store, or on the built-in demo scenario, printed as a table or as JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;

use super::CliResult;
use crate::backtest::{self, Backtest, BacktestConfig, Method};
use crate::config::{Config, region_from_text};
use crate::domain::{Region, Report, ValidationRules, Verification, parse_timestamp, to_millis};
use crate::index::{StudyArea, grid};
use crate::scenario::{KISUMU_REGION, ScenarioParams, generate};
use crate::store::{MAX_PAGE, ReportQuery};

/// The demo scenario's fixed end, so `kinga backtest` without input is reproducible.
pub const DEMO_END: &str = "2013-03-10T00:00:00Z";

/// `kinga backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// A GeoJSON, NDJSON or CSV file as `kinga import` reads it; each report counts as received
    /// when it occurred (as with `--backfill`). Without FILE or --store: the demo scenario.
    file: Option<PathBuf>,
    /// Backtest every report of the configured store (with its real `received_at`).
    #[arg(long, conflicts_with = "file")]
    store: bool,
    /// H3 resolution of the forecast cells (5–9).
    #[arg(long, default_value_t = 8)]
    res: u8,
    /// table or json.
    #[arg(long, default_value = "table")]
    format: String,
    /// Seed of the random baseline and the bootstrap.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// The data to backtest and where they came from.
struct Input {
    region: Region,
    reports: Vec<Report>,
    end: Option<DateTime<Utc>>,
    source: String,
}

fn demo_end() -> CliResult<DateTime<Utc>> {
    parse_timestamp(DEMO_END).map_err(|_| "bad demo end".to_string())
}

/// The region given in the configuration, if any.
fn configured_region(config: &Config) -> CliResult<Option<Region>> {
    config.region.as_ref().map(|spec| spec.to_stored().and_then(|text| region_from_text(&text))).transpose()
}

/// The region remembered by the configured store — only if that store exists already (an
/// embedded file that is not there is not created for this).
async fn stored_region(config: &Config) -> CliResult<Option<Region>> {
    let url = &config.database_url;
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//").split('?').next().unwrap_or("");
        if path.is_empty() || path.starts_with(':') || !Path::new(path).is_file() {
            return Ok(None);
        }
    }
    let store = super::open_store(config).await?;
    let text = store.setting("region").await.map_err(|e| e.to_string())?;
    text.map(|t| region_from_text(&t)).transpose()
}

/// Validates inputs as a backfill (`received_at = occurred_at`); returns the reports and how
/// many were rejected or repeated an id.
fn validate_all(
    inputs: impl IntoIterator<Item = (crate::domain::ReportInput, Verification)>,
    rules: &ValidationRules<'_>,
) -> (Vec<Report>, usize, usize) {
    let mut seen = std::collections::HashSet::new();
    let (mut reports, mut bad, mut repeated) = (Vec::new(), 0, 0);
    for (input, verification) in inputs {
        match input.validate(rules) {
            Ok(mut r) => {
                if seen.insert(r.id()) {
                    r.set_verification(verification);
                    reports.push(r);
                } else {
                    repeated += 1;
                }
            }
            Err(_) => bad += 1,
        }
    }
    (reports, bad, repeated)
}

async fn from_store(config: Config) -> CliResult<Input> {
    let service = super::start_service(config).await?;
    let mut reports = Vec::new();
    let mut after = None;
    loop {
        let page = service
            .store()
            .query_reports(&ReportQuery { after, limit: MAX_PAGE, ..ReportQuery::default() })
            .await
            .map_err(|e| format!("cannot read the store: {e}"))?;
        let Some(last) = page.last() else { break };
        after = Some((last.received_at(), last.id()));
        reports.extend(page);
    }
    let source = format!("the store {}", super::redact(&service.config().database_url));
    Ok(Input { region: service.region().clone(), reports, end: None, source })
}

async fn from_file(config: &Config, path: &Path) -> CliResult<Input> {
    let region = match configured_region(config)? {
        Some(r) => r,
        None => match stored_region(config).await? {
            Some(r) => r,
            None => region_from_text(KISUMU_REGION)?,
        },
    };
    let (items, _) = super::data::read_items(path)?;
    let total = items.len();
    let mut unreadable = 0;
    let inputs: Vec<_> = items
        .into_iter()
        .filter_map(|(_, item)| item.map_err(|_| unreadable += 1).ok())
        .map(|input| (input, Verification::Unverified))
        .collect();
    let rules =
        ValidationRules { region: &region, deployment_start: config.deployment_start, now: Utc::now(), backfill: true };
    let (reports, invalid, repeated) = validate_all(inputs, &rules);
    if unreadable + invalid + repeated > 0 {
        eprintln!(
            "kinga backtest: skipped {} of {total} rows ({unreadable} unreadable, {invalid} invalid, {repeated} repeated ids)",
            unreadable + invalid + repeated
        );
    }
    Ok(Input { region, reports, end: None, source: path.display().to_string() })
}

fn from_demo(config: &Config) -> CliResult<Input> {
    let region = match configured_region(config)? {
        Some(r) => r,
        None => region_from_text(KISUMU_REGION)?,
    };
    let end = demo_end()?;
    let p = ScenarioParams::demo(end);
    // Only the debunking is applied: it removes the report from the incidents and from every
    // method's input alike. A later "verified" would give kinga's weights knowledge of the future.
    let inputs = generate(&p).into_iter().map(|r| {
        let v =
            if r.verification == Verification::Debunked { Verification::Debunked } else { Verification::Unverified };
        (r.input, v)
    });
    let rules =
        ValidationRules { region: &region, deployment_start: config.deployment_start, now: end, backfill: true };
    let (reports, invalid, repeated) = validate_all(inputs, &rules);
    if invalid + repeated > 0 {
        eprintln!("kinga backtest: skipped {invalid} invalid and {repeated} repeated demo reports");
    }
    let source = format!(
        "the SYNTHETIC demo scenario (seed {}, {} days to {DEMO_END}, debunked reports applied)",
        p.seed, p.days
    );
    Ok(Input { region, reports, end: Some(end), source })
}

/// Runs `kinga backtest`.
pub async fn run(config: Config, args: BacktestArgs) -> CliResult {
    let res = grid::resolution(args.res).ok_or("--res must be 5–9")?;
    if !matches!(args.format.as_str(), "table" | "json") {
        return Err(format!("--format must be table or json, not {:?}", args.format));
    }
    let params = config.scoring.clone();
    let input = if args.store {
        from_store(config).await?
    } else if let Some(path) = &args.file {
        from_file(&config, path).await?
    } else {
        from_demo(&config)?
    };
    eprintln!("kinga backtest: {} reports from {}", input.reports.len(), input.source);
    let cfg = BacktestConfig { res, seed: args.seed, end: input.end.map(to_millis), ..BacktestConfig::default() };
    let reports = input.reports;
    let region = input.region;
    let result = tokio::task::spawn_blocking(move || backtest::run(StudyArea::new(&region), params, &reports, &cfg))
        .await
        .map_err(|e| format!("the backtest stopped: {e}"))?
        .map_err(|e| e.to_string())?;
    if args.format == "json" {
        let mut value = serde_json::to_value(&result).map_err(|e| e.to_string())?;
        value["source"] = serde_json::Value::String(input.source);
        println!("{}", serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?);
    } else {
        print!("{}", table(&result, &input.source));
    }
    Ok(())
}

fn percent(share: f64) -> String {
    let p = share * 100.0;
    if (p - p.round()).abs() < 1e-9 { format!("{p:.0} %") } else { format!("{p} %") }
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.decimals$}"))
}

/// The readable table: one block per horizon and budget, one row per method.
#[must_use]
pub fn table(bt: &Backtest, source: &str) -> String {
    let mut out = String::new();
    let params = &bt.params;
    let _ = writeln!(out, "kinga backtest on {source}");
    let _ = writeln!(
        out,
        "{} reports, {} incidents (risk categories, not debunked) in the study area; res {}, A = {} cells",
        bt.reports, bt.incidents, bt.res, bt.study_cells
    );
    let _ = writeln!(
        out,
        "{} origins every {} h from {} to {} (burn-in {} h; data {} … {})",
        bt.origins.len(),
        bt.step_h,
        bt.origins.first().map_or("–", String::as_str),
        bt.origins.last().map_or("–", String::as_str),
        bt.burn_in_h,
        bt.data_start,
        bt.data_end
    );
    let _ = writeln!(
        out,
        "kinga: short half-life {} h, baseline {} h, spill {} (k = {}), peace scale {}; KDE bandwidth {} m; \
         random: {} draws; bootstrap: {} resamples, seed {}",
        params.short_half_life_h,
        params.long_half_life_h,
        params.spill,
        params.k_ring,
        params.peace_scale,
        bt.kde_bandwidth_m,
        bt.random_draws,
        bt.resamples,
        bt.seed
    );
    for h in &bt.horizons_h {
        for budget in &bt.budgets {
            let _ = writeln!(out, "\nhorizon {h} h · budget {} ({} cells)", percent(budget.share), budget.cells);
            let _ = writeln!(
                out,
                "{:<16} {:>7} {:>9} {:>8} {:>6} {:>6}   Δ hit rate vs persistence-7d [95 % CI]",
                "method", "origins", "hit rate", "PAI", "PEI*", "filled"
            );
            for m in Method::ALL {
                let Some(s) = bt.score(m, *h, budget.share) else { continue };
                let delta = match bt.comparison(m, Method::Persistence7d, *h, budget.share) {
                    None => "–".to_string(),
                    Some(c) => {
                        let d = c.difference;
                        let mark = if c.independent_windows < 5.0 {
                            " ~"
                        } else if d.excludes_zero() {
                            " *"
                        } else {
                            ""
                        };
                        format!("{:+.3} [{:+.3}, {:+.3}]{mark}", d.mean, d.low, d.high)
                    }
                };
                let _ = writeln!(
                    out,
                    "{:<16} {:>7} {:>9} {:>8} {:>6} {:>5.0}%   {delta}",
                    m.slug(),
                    s.origins,
                    opt(s.hit_rate, 3),
                    opt(s.pai, 1),
                    opt(s.pei_star, 2),
                    s.filled * 100.0
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nhit rate = n/N, PAI = hit rate / (k/A), PEI* = n/n* (n* = the oracle's hits with k cells); means over \
         origins with incidents.\nfilled = share of the k cells the method had no ranking for (no reports / zero \
         density), filled in cell-id order.\n* the 95 % interval excludes 0. ~ fewer than 5 independent windows: the interval \
         is not to be trusted."
    );
    out
}
