//! `sluice`: the command line. Thin glue: parse arguments, load config, start the pipeline.

mod alerts;
mod digest;
mod export;
mod import;
mod search;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sluice_core::Config;

#[derive(Debug, Parser)]
#[command(name = "sluice", version, about = "Log ingestion, search, slow-SQL detection and archiving in one binary")]
struct Cli {
    /// Where indexes, the archive and the write-ahead log live [default: ./data, or `data_dir` from the config]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML config file [default: ./sluice.toml if present, else built-in defaults]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline: tail configured files, HTTP ingest, index, archive, search API
    Serve(serve::ServeArgs),
    /// Push files (or `-` for stdin) through the pipeline, then flush and exit
    Import(import::ImportArgs),
    /// Full-text search, newest first
    Search(search::SearchArgs),
    /// Slow-SQL and error-burst alerts, newest first
    Alerts(alerts::AlertsArgs),
    /// Slow-query digest of a day, a window, or slow log files (like pt-query-digest)
    Digest(digest::DigestArgs),
    /// Incident-review bundle for a time window: events (NDJSON + Parquet), alerts, slow
    /// queries, a summary and an offline HTML report
    Export(export::ExportArgs),
}

// glibc's allocator spends a third of parse time in malloc/free on many small strings;
// mimalloc halves that (see benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Errors that mean the user asked for something malformed: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sluice: {error:#}");
            let usage = error.downcast_ref::<UsageError>().is_some()
                || error.downcast_ref::<sluice_core::CoreError>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(cli.config.as_deref())?;
    validate_parsers(&config)?;
    let data_dir = cli.data_dir.clone().unwrap_or_else(|| config.data_dir());
    match cli.command {
        Command::Serve(args) => serve::run(config, &data_dir, args),
        Command::Import(args) => import::run(config, &data_dir, args),
        Command::Search(args) => search::run(&config, &data_dir, args),
        Command::Alerts(args) => alerts::run(&config, &data_dir, args),
        Command::Digest(args) => digest::run(&config, &data_dir, args),
        Command::Export(args) => export::run(&config, &data_dir, args),
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    if let Some(path) = path {
        return Ok(Config::load(path)?);
    }
    let default = Path::new("sluice.toml");
    if default.exists() {
        return Config::load(default).context("loading ./sluice.toml");
    }
    Ok(Config::builtin())
}

/// Format options and routing rules compile before anything starts, so a typo is a usage
/// error naming the key, not a surprise on the first line read.
fn validate_parsers(config: &Config) -> Result<(), UsageError> {
    for (i, source) in config.sources.iter().enumerate() {
        sluice_parsers::validate_source(source)
            .map_err(|e| UsageError(format!("invalid config: `sources[{i}]` ({}): {e}", source.name)))?;
    }
    sluice_parsers::ModuleRouter::new(&config.modules)
        .map_err(|e| UsageError(format!("invalid config: `modules`: {e}")))?;
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// A time flag (`--from`, `--to`): RFC 3339 or relative, zone-less times in `tz`.
fn time_flag(
    value: Option<&str>,
    flag: &str,
    now: chrono::DateTime<chrono::Utc>,
    tz: chrono_tz::Tz,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, UsageError> {
    value.map(|v| sluice_core::time::parse_time(v, now, tz).map_err(|e| UsageError(format!("{flag}: {e}")))).transpose()
}

/// Threads for blocking work (decoding and parsing request bodies, searches): enough to
/// keep every core busy while some wait on I/O. Tokio's default of 512 lets a burst of
/// thousands of requests start hundreds of threads, each with its own allocator heap:
/// hundreds of MB of memory for no extra throughput on a small machine.
const MAX_BLOCKING_THREADS: usize = 16;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
