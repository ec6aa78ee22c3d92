//! `sluice search`: reads the index directly, so it works while `serve` is running.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::Args;
use sluice_core::{Config, Level, event::format_timestamp};
use sluice_index::{EventIndex, IndexError, SearchRequest};

use crate::UsageError;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Query: terms, "phrases", AND/OR/NOT, field:value (status:502, module:payment); `*` matches everything
    query: String,
    /// Start of the time range: RFC 3339 or relative (-15m, -2h, -7d)
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// End of the time range (exclusive)
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// Only these modules (comma-separated)
    #[arg(long, value_name = "M")]
    module: Option<String>,
    /// Only these levels (comma-separated: trace, debug, info, warn, error, fatal)
    #[arg(long, value_name = "L")]
    level: Option<String>,
    /// Most events to print
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: usize,
    /// One JSON event per line (NDJSON)
    #[arg(long)]
    json: bool,
    /// Print only the exact number of matches
    #[arg(long, conflicts_with = "json")]
    count: bool,
}

pub fn run(config: &Config, data_dir: &Path, args: SearchArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let tz = config.timezone();
    let time = |value: &Option<String>, flag: &str| crate::time_flag(value.as_deref(), flag, now, tz);
    let split = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .map(|s| s.split(',').map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()).collect())
            .unwrap_or_default()
    };
    let levels = split(&args.level)
        .iter()
        .map(|l| l.parse::<Level>().map_err(|e| UsageError(format!("--level: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let request = SearchRequest {
        query: args.query.clone(),
        from: time(&args.from, "--from")?,
        to: time(&args.to, "--to")?,
        modules: split(&args.module),
        levels,
        limit: if args.count { 0 } else { args.limit },
        aggregate: false,
        search_after: None,
    };
    let index_dir = data_dir.join("index");
    let index = EventIndex::open_existing(&index_dir)?;
    let response = index.search(&request).map_err(|e| match e {
        IndexError::BadQuery(message) => anyhow::Error::new(UsageError(message)),
        other => anyhow::Error::new(other),
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.count {
        writeln!(out, "{}", response.total)?;
        return Ok(out.flush()?);
    }
    for event in response.hits.iter().map(|hit| &hit.event) {
        if args.json {
            serde_json::to_writer(&mut out, event)?;
            writeln!(out)?;
        } else {
            let first_line = event.message.lines().next().unwrap_or("");
            writeln!(
                out,
                "{} {:<5} {:<9} {:<8} {first_line}",
                format_timestamp(&event.timestamp),
                event.level.as_str(),
                event.module,
                event.source
            )?;
        }
    }
    out.flush().context("writing results")?;
    if response.total > response.hits.len() && !args.json {
        eprintln!("(showing the newest {} of {} matches; use --limit for more)", response.hits.len(), response.total);
    }
    Ok(())
}
