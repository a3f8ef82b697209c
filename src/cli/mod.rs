//! The `kinga` command line: `serve`, `demo`, `import`, `export`, `hotspots`, `backtest`,
//! `token`, `migrate`. Each subcommand reads the one [`Config`] and calls the library.

mod backtest;
mod data;
mod demo;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::http::auth::{Role, create_token};
use crate::service::Service;
use crate::store::{self, Store};

/// kinga — early warning and risk mapping for community-security work.
#[derive(Debug, Parser)]
#[command(name = "kinga", version, about)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Settings shared by every subcommand (flag, or environment variable, or `kinga.toml`).
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Configuration file (default: ./kinga.toml when present).
    #[arg(long, global = true, env = "KINGA_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "KINGA_ADDR")]
    addr: Option<String>,
    /// <sqlite://PATH> (embedded, default <sqlite://data/kinga.db>) or postgres://… (PostGIS).
    #[arg(long, global = true, env = "KINGA_DATABASE_URL")]
    database_url: Option<String>,
    /// Deployment region: minLon,minLat,maxLon,maxLat or a GeoJSON Polygon file (needed the first time).
    #[arg(long, global = true, env = "KINGA_REGION")]
    region: Option<String>,
    /// Reports that occurred before this RFC 3339 time are rejected [default: 2000-01-01T00:00:00Z].
    #[arg(long, global = true, env = "KINGA_DEPLOYMENT_START")]
    deployment_start: Option<String>,
    /// Allow reads without a token (public role) [default: true].
    #[arg(long, global = true, env = "KINGA_PUBLIC_READ")]
    public_read: Option<bool>,
    /// Small-cell suppression threshold k (≥ 3) [default: 5].
    #[arg(long, global = true, env = "KINGA_SUPPRESSION_K")]
    suppression_k: Option<u32>,
    /// Short half-life in hours [default: 72].
    #[arg(long, global = true, env = "KINGA_SHORT_HALF_LIFE_H")]
    short_half_life_h: Option<f64>,
    /// Baseline half-life in hours [default: 720].
    #[arg(long, global = true, env = "KINGA_LONG_HALF_LIFE_H")]
    long_half_life_h: Option<f64>,
    /// Directory holding web-map/node_modules (default: the source tree's web-map).
    #[arg(long, global = true, env = "KINGA_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// Basemap tile URL template for the map ("" for none).
    #[arg(long, global = true, env = "KINGA_BASEMAP_URL")]
    basemap_url: Option<String>,
}

impl GlobalArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            addr: self.addr.clone(),
            database_url: self.database_url.clone(),
            region: self.region.clone(),
            deployment_start: self.deployment_start.clone(),
            public_read: self.public_read,
            suppression_k: self.suppression_k,
            short_half_life_h: self.short_half_life_h,
            long_half_life_h: self.long_half_life_h,
            web_dir: self.web_dir.clone(),
            basemap_url: self.basemap_url.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service and the map.
    Serve,
    /// Load the synthetic Kisumu election scenario into a fresh embedded store and serve it.
    Demo(demo::DemoArgs),
    /// Import reports from a GeoJSON, NDJSON or CSV file (idempotent; bad rows to a reject file).
    Import(data::ImportArgs),
    /// Export reports, cells or hotspots as GeoJSON or CSV.
    Export(data::ExportArgs),
    /// Print the ranked hotspots.
    Hotspots(data::HotspotArgs),
    /// Walk-forward backtest of the risk scores against simple baselines.
    Backtest(backtest::BacktestArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Apply database migrations and exit.
    Migrate,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints only the token.
    Create {
        /// public, reporter, verifier, planner, analyst or admin.
        #[arg(long)]
        role: String,
        /// A name for audit records.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Errors of the command line (printed by `main`).
pub type CliResult<T = ()> = Result<T, String>;

async fn open_store(config: &Config) -> CliResult<Arc<dyn Store>> {
    store::connect(&config.database_url)
        .await
        .map_err(|e| format!("cannot open the store {}: {e}", redact(&config.database_url)))
}

/// A database URL without its password.
#[must_use]
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

async fn start_service(config: Config) -> CliResult<Arc<Service>> {
    let store = open_store(&config).await?;
    Service::start(store, config).await.map_err(|e| e.to_string())
}

/// Serves until Ctrl-C.
async fn serve(service: Arc<Service>) -> CliResult {
    let addr = service.config().addr;
    let header_timeout = std::time::Duration::from_secs(service.config().limits.header_timeout_s);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("kinga listening on http://{local}/");
    let app = crate::http::router(crate::http::AppState::start(service).await.map_err(|e| e.to_string())?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    crate::http::serve(listener, app, header_timeout, shutdown).await.map_err(|e| e.to_string())
}

/// Runs the command line.
///
/// # Errors
/// A message for the user.
pub async fn run(cli: Cli) -> CliResult {
    let config = Config::load(&cli.global.overrides())?;
    match cli.command {
        Command::Serve => serve(start_service(config).await?).await,
        Command::Demo(args) => demo::run(config, &cli.global.overrides(), args).await,
        Command::Import(args) => data::import(start_service(config).await?, args).await,
        Command::Export(args) => data::export(start_service(config).await?, args).await,
        Command::Hotspots(args) => data::hotspots(start_service(config).await?.as_ref(), &args),
        Command::Backtest(args) => backtest::run(config, args).await,
        Command::Token(TokenCommand::Create { role, name }) => {
            let role = Role::from_slug(&role).ok_or_else(|| {
                format!("unknown role {role:?}: public, reporter, verifier, planner, analyst or admin")
            })?;
            let store = open_store(&config).await?;
            let token = create_token(store.as_ref(), role, name.as_deref().unwrap_or(role.slug()))
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            eprintln!("migrations applied ({})", store.backend());
            Ok(())
        }
    }
}
