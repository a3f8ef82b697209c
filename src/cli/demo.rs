//! `kinga demo`: a fresh embedded store with the synthetic Kisumu scenario, served.

use std::path::PathBuf;

use chrono::Utc;
use clap::Args;

use super::{CliResult, serve};
use crate::config::{Config, Overrides, RegionSpec};
use crate::domain::{Verification, parse_timestamp};
use crate::http::auth::{Role, create_token};
use crate::scenario::{KISUMU_REGION, ScenarioParams, generate};
use crate::service::Service;

/// `kinga demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scenario seed.
    #[arg(long, default_value_t = 2013)]
    seed: u64,
    /// Days of history.
    #[arg(long, default_value_t = 21)]
    days: u32,
    /// End of the scenario, RFC 3339 (default now, so the map is live).
    #[arg(long)]
    end: Option<String>,
    /// Background reports per day (the default gives ~1 200 reports over 21 days; 50 000 gives
    /// ~1 M, for load tests).
    #[arg(long, default_value_t = 45.0)]
    background_per_day: f64,
    /// Write the scenario as NDJSON (one Feature per line, the import format) and exit.
    #[arg(long)]
    write_scenario: Option<PathBuf>,
}

fn params(args: &DemoArgs) -> CliResult<ScenarioParams> {
    let end = match &args.end {
        None => Utc::now(),
        Some(s) => parse_timestamp(s).map_err(|_| "--end must be RFC 3339 with an offset")?,
    };
    if !(args.background_per_day.is_finite() && args.background_per_day >= 0.0) {
        return Err("--background-per-day must be a non-negative number".into());
    }
    Ok(ScenarioParams {
        seed: args.seed,
        days: args.days,
        background_per_day: args.background_per_day,
        ..ScenarioParams::demo(end)
    })
}

/// The scenario as NDJSON lines, the import format (verification is server-owned, so not included).
#[must_use]
pub fn scenario_ndjson(p: &ScenarioParams) -> String {
    let mut out = String::new();
    for r in generate(p) {
        let i = &r.input;
        let mut props = serde_json::json!({
            "id": i.id, "occurred_at": i.occurred_at, "category": i.category, "severity": i.severity,
            "source": i.source, "description": i.description, "tags": i.tags,
        });
        if let Some(rep) = &i.reporter {
            props["reporter"] = serde_json::json!(rep);
        }
        let feature = serde_json::json!({
            "type": "Feature",
            "geometry": { "type": "Point", "coordinates": [i.lon, i.lat] },
            "properties": props,
        });
        out.push_str(&feature.to_string());
        out.push('\n');
    }
    out
}

/// Runs the demo.
pub async fn run(mut config: Config, overrides: &Overrides, args: DemoArgs) -> CliResult {
    let p = params(&args)?;
    if let Some(path) = &args.write_scenario {
        std::fs::write(path, scenario_ndjson(&p)).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
        return Ok(());
    }
    if overrides.database_url.is_none() {
        config.database_url = "sqlite://data/demo.db".into();
    }
    let Some(path) = config.database_url.strip_prefix("sqlite://").map(str::to_string) else {
        return Err("the demo runs on the embedded store: give a sqlite:// URL or none".into());
    };
    // A fresh store every time: the demo's file only.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    config.region = Some(RegionSpec::BBox(KISUMU_REGION.into()));
    let store = super::open_store(&config).await?;
    let service = Service::start(store.clone(), config).await.map_err(|e| e.to_string())?;
    let scenario = generate(&p);
    let verifications: Vec<(String, Verification)> =
        scenario.iter().filter_map(|r| r.input.id.clone().map(|id| (id, r.verification))).collect();
    let inputs = scenario.into_iter().map(|r| r.input).collect();
    let outcomes = service.submit(inputs, true).await.map_err(|e| e.to_string())?;
    let loaded = outcomes.iter().filter(|o| matches!(o, crate::service::ItemOutcome::Created(_))).count();
    for (id, v) in verifications {
        if v != Verification::Unverified
            && let Ok(id) = uuid::Uuid::parse_str(&id)
        {
            service.verify(id, v, Some("demo verifier".into()), "demo-verifier").await.map_err(|e| e.to_string())?;
        }
    }
    let token = create_token(store.as_ref(), Role::Admin, "demo-admin").await.map_err(|e| e.to_string())?;
    eprintln!("kinga demo: {loaded} SYNTHETIC reports of an election period in Kisumu County loaded into {path}");
    eprintln!("map:         http://{}/", service.config().addr);
    eprintln!("admin token: {token}");
    println!("{token}");
    serve(service).await
}
