//! `kinga import`, `kinga export`, `kinga hotspots`: moving data in and out in bulk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde_json::{Value, json};

use super::CliResult;
use crate::domain::{BBox, from_millis};
use crate::http::auth::Role;
use crate::http::intake::{self, BulkItem, csv_column};
use crate::http::views::{self, Viewer};
use crate::index::grid;
use crate::service::{ItemOutcome, Service};
use crate::store::ReportQuery;

/// Reports submitted per store transaction during an import.
const IMPORT_CHUNK: usize = 5_000;

/// `kinga import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A GeoJSON FeatureCollection (.geojson/.json), NDJSON (.ndjson/.jsonl) or CSV (.csv) file.
    file: PathBuf,
    /// Historical data: `received_at = occurred_at`, so replays see it as it happened.
    #[arg(long)]
    backfill: bool,
    /// Where to write rejected rows (default: FILE.rejects.csv).
    #[arg(long)]
    rejects: Option<PathBuf>,
}

/// Reads any file `kinga import` accepts into items (index = 0-based record number).
///
/// # Errors
/// A message when the file cannot be read or is malformed as a whole.
pub fn read_items(path: &Path) -> CliResult<(Vec<BulkItem>, bool)> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let describe = |e: intake::IntakeError| {
        let first = e.errors().first().map(|f| format!("{} {}", f.field, f.message)).unwrap_or_default();
        format!("{}: {first}", path.display())
    };
    match ext.as_str() {
        "csv" => Ok((intake::parse_csv(&text).map_err(describe)?, true)),
        "ndjson" | "jsonl" | "geojsonl" => Ok((intake::parse_ndjson(&text), false)),
        _ => Ok((intake::parse_collection(&text).map_err(describe)?, false)),
    }
}

/// `kinga import FILE`.
pub async fn import(service: Arc<Service>, args: ImportArgs) -> CliResult {
    let (items, csv) = read_items(&args.file)?;
    let total = items.len();
    let rejects_path = args.rejects.unwrap_or_else(|| {
        let mut p = args.file.clone().into_os_string();
        p.push(".rejects.csv");
        PathBuf::from(p)
    });
    let mut rejects: Vec<(usize, String, String)> = Vec::new();
    let (mut accepted, mut duplicates, mut done) = (0usize, 0usize, 0usize);
    let mut chunk: Vec<(usize, crate::domain::ReportInput)> = Vec::new();
    let mut items = items.into_iter().peekable();
    // Line numbers as a person counts them: CSV has a header line.
    let line = |index: usize| if csv { index + 2 } else { index + 1 };
    while items.peek().is_some() || !chunk.is_empty() {
        while chunk.len() < IMPORT_CHUNK {
            let Some((index, item)) = items.next() else { break };
            match item {
                Ok(input) => chunk.push((index, input)),
                Err(e) => {
                    for f in e.errors() {
                        rejects.push((
                            line(index),
                            if csv { csv_column(&f.field) } else { f.field.clone() },
                            f.message.clone(),
                        ));
                    }
                    done += 1;
                }
            }
        }
        if chunk.is_empty() {
            continue;
        }
        let (indices, inputs): (Vec<usize>, Vec<_>) = chunk.drain(..).unzip();
        let outcomes =
            service.submit(inputs, args.backfill).await.map_err(|e| format!("import stopped, store failed: {e}"))?;
        for (index, outcome) in indices.into_iter().zip(outcomes) {
            match outcome {
                ItemOutcome::Created(_) => accepted += 1,
                ItemOutcome::Duplicate(_) => duplicates += 1,
                ItemOutcome::Rejected(e) => {
                    for f in e.0 {
                        rejects.push((line(index), if csv { csv_column(&f.field) } else { f.field }, f.message));
                    }
                }
            }
            done += 1;
        }
        eprint!("\rimporting {done}/{total} ({}%)", done * 100 / total.max(1));
    }
    eprintln!();
    if !rejects.is_empty() {
        let mut w = csv::Writer::from_path(&rejects_path)
            .map_err(|e| format!("cannot write {}: {e}", rejects_path.display()))?;
        w.write_record(["line", "field", "message"]).map_err(|e| e.to_string())?;
        for (line, field, message) in &rejects {
            w.write_record([line.to_string(), field.clone(), message.clone()]).map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())?;
    }
    let rejected_rows: std::collections::BTreeSet<usize> = rejects.iter().map(|r| r.0).collect();
    println!(
        "{accepted} imported, {duplicates} already present, {} rejected{}",
        rejected_rows.len(),
        if rejects.is_empty() { String::new() } else { format!(" (see {})", rejects_path.display()) }
    );
    Ok(())
}

/// `kinga export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// reports, cells or hotspots.
    #[arg(long, default_value = "reports")]
    layer: String,
    /// geojson or csv.
    #[arg(long, default_value = "geojson")]
    format: String,
    /// H3 resolution for cells and hotspots (5–9).
    #[arg(long, default_value_t = 9)]
    res: u8,
    /// Only inside minLon,minLat,maxLon,maxLat.
    #[arg(long)]
    bbox: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

fn write_out(out: Option<&PathBuf>, bytes: &[u8]) -> CliResult {
    match out {
        Some(p) => std::fs::write(p, bytes).map_err(|e| format!("cannot write {}: {e}", p.display())),
        None => std::io::stdout().write_all(bytes).map_err(|e| e.to_string()),
    }
}

/// The operator's view (the CLI has the store itself): the case-handling role.
fn operator(service: &Service) -> Viewer {
    Viewer {
        role: Role::Admin,
        k: service.config().suppression_k,
        publication_res: h3o::Resolution::try_from(service.config().publication_res).unwrap_or(h3o::Resolution::Seven),
    }
}

/// `kinga export`.
pub async fn export(service: Arc<Service>, args: ExportArgs) -> CliResult {
    let bbox = args.bbox.as_deref().map(BBox::parse).transpose().map_err(|e| format!("--bbox: {e:?}"))?;
    let res = grid::resolution(args.res).ok_or("--res must be 5–9")?;
    let viewer = operator(&service);
    let t = Service::now_ms();
    let features: Vec<Value> = match args.layer.as_str() {
        "reports" => {
            let mut out = Vec::new();
            let mut after = None;
            loop {
                let page = service
                    .query(&ReportQuery { bbox, after, limit: 10_000, ..ReportQuery::default() })
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                after = Some((last.received_at(), last.id()));
                out.extend(page.iter().filter_map(|r| views::report_feature(r, &viewer)));
            }
            out
        }
        "cells" => {
            let engine = service.engine();
            let view = engine.at(t);
            view.cells(res, bbox.as_ref())
                .iter()
                .filter_map(|s| views::cell_feature(s, Some(&view.drivers(s.cell)), &viewer))
                .collect()
        }
        "hotspots" => {
            let engine = service.engine();
            engine
                .at(t)
                .hotspots(res, bbox.as_ref(), 500)
                .iter()
                .filter_map(|h| views::hotspot_json(h, &viewer))
                .map(|p| json!({ "type": "Feature", "geometry": { "type": "Point", "coordinates": p["centroid"].clone() }, "properties": p }))
                .collect()
        }
        other => return Err(format!("--layer must be reports, cells or hotspots, not {other:?}")),
    };
    service
        .audit("cli", "export", vec![format!("{}:{}", args.layer, args.format)], String::new(), features.len())
        .await
        .map_err(|e| e.to_string())?;
    match args.format.as_str() {
        "geojson" => write_out(args.out.as_ref(), views::collection(features).to_string().as_bytes()),
        "csv" => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let keys: Vec<String> = features
                .first()
                .and_then(|f| f["properties"].as_object())
                .map(|p| p.iter().filter(|(_, v)| !v.is_object() && !v.is_array()).map(|(k, _)| k.clone()).collect())
                .unwrap_or_default();
            let mut header = vec!["lon".to_string(), "lat".to_string()];
            header.extend(keys.iter().cloned());
            w.write_record(&header).map_err(|e| e.to_string())?;
            for f in &features {
                let g = &f["geometry"];
                let (lon, lat) = if g["type"] == "Point" {
                    (g["coordinates"][0].to_string(), g["coordinates"][1].to_string())
                } else {
                    (String::new(), String::new())
                };
                let mut row = vec![lon, lat];
                for k in &keys {
                    row.push(match &f["properties"][k] {
                        Value::String(s) => crate::http::csv_text(s),
                        Value::Null => String::new(),
                        v => v.to_string(),
                    });
                }
                w.write_record(&row).map_err(|e| e.to_string())?;
            }
            write_out(args.out.as_ref(), &w.into_inner().map_err(|e| e.to_string())?)
        }
        other => Err(format!("--format must be geojson or csv, not {other:?}")),
    }
}

/// `kinga hotspots`.
#[derive(Debug, Args)]
pub struct HotspotArgs {
    /// H3 resolution 5–9.
    #[arg(long, default_value_t = 9)]
    res: u8,
    /// How many.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// As of this RFC 3339 time (default now).
    #[arg(long)]
    at: Option<String>,
    /// table or json.
    #[arg(long, default_value = "table")]
    format: String,
}

/// `kinga hotspots`.
pub fn hotspots(service: &Service, args: &HotspotArgs) -> CliResult {
    let res = grid::resolution(args.res).ok_or("--res must be 5–9")?;
    let t = match &args.at {
        None => Service::now_ms(),
        Some(s) => {
            crate::domain::parse_timestamp(s).map_err(|_| "--at must be RFC 3339 with an offset")?.timestamp_millis()
        }
    };
    let engine = service.engine();
    let list = engine.at(t).hotspots(res, None, args.limit);
    match args.format.as_str() {
        "json" => {
            let viewer = operator(service);
            let items: Vec<Value> =
                list.iter().filter_map(|h| views::hotspot_json(h, &viewer)).map(Value::Object).collect();
            println!("{}", json!({ "at": from_millis(t).to_rfc3339(), "res": args.res, "hotspots": items }));
        }
        "table" => {
            println!(
                "{:>4}  {:<16} {:>10} {:>9} {:>6}  {:<9} {:>6}  {:<8} {:>7}  drivers",
                "rank", "cell", "lon", "lat", "score", "level", "gi_z", "trend", "reports"
            );
            for h in &list {
                let s = &h.score;
                let drivers: Vec<String> =
                    h.drivers.top_categories.iter().map(|(c, share)| format!("{c} {:.0}%", share * 100.0)).collect();
                println!(
                    "{:>4}  {:<16} {:>10.5} {:>9.5} {:>6.1}  {:<9} {:>6}  {:<8} {:>7}  {}",
                    h.rank,
                    s.cell.to_string(),
                    s.centre.0,
                    s.centre.1,
                    s.score,
                    s.level.slug(),
                    s.gi_z.map_or("–".to_string(), |z| format!("{z:.2}")),
                    s.trend.slug(),
                    s.reports,
                    drivers.join(", ")
                );
            }
        }
        other => return Err(format!("--format must be table or json, not {other:?}")),
    }
    Ok(())
}
