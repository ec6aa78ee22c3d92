//! `sluice digest`: the slow-query digest of a day or window from the data dir, or of log
//! files given on the command line (read on the spot, like pt-query-digest and pgBadger).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::{Args, ValueEnum};
use sluice_core::{Config, FormatName};
use sluice_digest::{Digest, DigestBuilder, DigestOptions};
use sluice_index::EventIndex;
use sluice_parsers::{ModuleRouter, Parser};

use crate::UsageError;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Html,
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// A day in the configured time zone [default: yesterday]
    #[arg(long, value_name = "D", conflicts_with_all = ["from", "to"])]
    date: Option<String>,
    /// Start of a window instead of a day: RFC 3339 or relative (-2h)
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// End of the window (exclusive) [default: now]
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// List statements slower than this; 0 lists every statement [default: slow_sql_ms]
    #[arg(long, value_name = "MS")]
    min_ms: Option<f64>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Queries in the text report's profile and details (0 = all)
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Log format of FILEs [default: auto, or the matching source's format]
    #[arg(long, value_name = "F")]
    input_format: Option<FormatName>,
    /// Apply this configured source's settings to FILEs (e.g. its log_line_prefix)
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    /// Slow logs to digest directly instead of the data dir (`.gz` inflated; without
    /// --date/--from every statement in them counts)
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(config: &Config, data_dir: &Path, args: DigestArgs) -> anyhow::Result<()> {
    let tz = config.timezone();
    let now = Utc::now();
    let min_ms = args.min_ms.unwrap_or(config.slow_sql_ms() as f64);
    if !(min_ms.is_finite() && min_ms >= 0.0) {
        return Err(UsageError("--min-ms: must be 0 or more".into()).into());
    }
    let time = |value: &Option<String>, flag: &str| -> Result<_, UsageError> {
        value
            .as_deref()
            .map(|v| sluice_core::time::parse_time(v, now, tz).map_err(|e| UsageError(format!("{flag}: {e}"))))
            .transpose()
    };
    let date = args
        .date
        .as_deref()
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| UsageError(format!("--date: `{d}` is not a date like 2026-11-20")))
        })
        .transpose()?;
    let (from, to) = match (date, time(&args.from, "--from")?, time(&args.to, "--to")?) {
        (Some(date), _, _) => {
            let (f, t) = sluice_server::digest::day_window(date, tz);
            (Some(f), Some(t))
        }
        (None, None, None) if args.files.is_empty() => {
            let (f, t) = sluice_server::digest::day_window(sluice_server::digest::yesterday(tz, now), tz);
            (Some(f), Some(t))
        }
        (None, from, to) if args.files.is_empty() => (from, Some(to.unwrap_or(now))),
        (None, from, to) => (from, to),
    };
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(UsageError("--from must be before --to".into()).into());
    }
    let options = DigestOptions { from, to, min_ms, timezone: tz.name().to_owned() };

    let digest = if args.files.is_empty() {
        let index = EventIndex::open_existing(&data_dir.join("index"))?;
        sluice_server::digest::from_index(&index, options, true)?
    } else {
        digest_files(config, &args, options)?
    };

    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Text => out.write_all(sluice_digest::render_text(&digest, args.limit).as_bytes())?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &digest)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Html => out.write_all(sluice_digest::render_html(&digest).as_bytes())?,
    }
    Ok(())
}

/// Events per parse batch handed to the digest.
const BATCH: usize = 4096;

fn digest_files(config: &Config, args: &DigestArgs, options: DigestOptions) -> anyhow::Result<Digest> {
    let router = ModuleRouter::new(&config.modules)?;
    let mut builder = DigestBuilder::new(options);
    for file in &args.files {
        let source = crate::import::resolve_source(config, args.source.as_deref(), args.input_format, None, file)?;
        let mut parser = Parser::for_source(config, &source, router.clone(), "", Utc::now())?;
        let (reader, len) = crate::import::open_input(file).with_context(|| format!("reading {}", file.display()))?;
        let progress = crate::import::progress_bar(file, len);
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let (mut line, mut events, mut offset) = (Vec::with_capacity(4096), Vec::with_capacity(BATCH), 0u64);
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).with_context(|| format!("reading {}", file.display()))?;
            if n == 0 {
                break;
            }
            parser.push_line(line.strip_suffix(b"\n").unwrap_or(&line), offset, &mut events);
            offset += n as u64;
            if events.len() >= BATCH {
                events.drain(..).for_each(|e| builder.add(&e));
                progress.set_position(offset);
            }
        }
        parser.flush(&mut events);
        events.drain(..).for_each(|e| builder.add(&e));
        progress.finish_and_clear();
    }
    Ok(builder.finish())
}
