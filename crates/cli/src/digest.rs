//! `sluice digest`: the slow-query digest of a day or window from the data dir, or of log
//! files given on the command line (read on the spot, like pt-query-digest and pgBadger).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::{Args, ValueEnum};
use sluice_core::{Config, FormatName, SourceConfig};
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
    let time = |value: &Option<String>, flag: &str| crate::time_flag(value.as_deref(), flag, now, tz);
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

/// Events parsed before they are handed to the digest.
const BATCH: usize = 4096;

/// Digests the files, splitting each big plain slow log into one chunk per core at entry
/// boundaries; every chunk is parsed and aggregated on its own thread and the partial
/// digests are merged. (A chunk's first entries cannot inherit `use db` from the chunk
/// before it; counts, times and fingerprints do not depend on that.)
fn digest_files(config: &Config, args: &DigestArgs, options: DigestOptions) -> anyhow::Result<Digest> {
    let router = ModuleRouter::new(&config.modules)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut total = DigestBuilder::new(options.clone());
    for file in &args.files {
        let mut source = crate::import::resolve_source(config, args.source.as_deref(), args.input_format, None, file)?;
        let chunks = match split_points(file, &mut source, threads) {
            Ok(Some(chunks)) => chunks,
            Ok(None) => vec![(0, u64::MAX)],
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", file.display()))),
        };
        let partials = std::thread::scope(|scope| {
            let workers: Vec<_> = chunks
                .iter()
                .map(|&(start, end)| {
                    let (source, router, options) = (&source, &router, options.clone());
                    scope.spawn(move || digest_chunk(config, source, router, file, start, end, options))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a digest thread panicked"))))
                .collect::<anyhow::Result<Vec<_>>>()
        })?;
        for partial in partials {
            total.merge(partial);
        }
    }
    Ok(total.finish())
}

/// Parses `[start, end)` of `file` (a chunk runs past `end` to finish its last line).
fn digest_chunk(
    config: &Config,
    source: &SourceConfig,
    router: &ModuleRouter,
    file: &Path,
    start: u64,
    end: u64,
    options: DigestOptions,
) -> anyhow::Result<DigestBuilder> {
    let mut parser = Parser::for_source(config, source, router.clone(), "", Utc::now())?;
    let mut builder = DigestBuilder::new(options);
    let (mut reader, len): (Box<dyn Read>, Option<u64>) = if start == 0 && end == u64::MAX {
        crate::import::open_input(file).with_context(|| format!("reading {}", file.display()))?
    } else {
        let mut f = File::open(file).with_context(|| format!("reading {}", file.display()))?;
        f.seek(SeekFrom::Start(start))?;
        (Box::new(f), Some(end - start))
    };
    let progress = if start == 0 { crate::import::progress_bar(file, len) } else { indicatif::ProgressBar::hidden() };
    let mut reader = BufReader::with_capacity(1 << 20, &mut reader);
    let (mut line, mut events, mut offset) = (Vec::with_capacity(4096), Vec::with_capacity(BATCH), start);
    while offset < end {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            break;
        }
        parser.push_line(line.strip_suffix(b"\n").unwrap_or(&line), offset, &mut events);
        offset += n as u64;
        if events.len() >= BATCH {
            events.drain(..).for_each(|e| builder.add(&e));
            progress.set_position(offset - start);
        }
    }
    parser.flush(&mut events);
    events.drain(..).for_each(|e| builder.add(&e));
    progress.finish_and_clear();
    Ok(builder)
}

/// Below this a file is read by one thread.
const SPLIT_MIN_BYTES: u64 = 16 << 20;

/// Where to cut a plain MySQL slow log or PostgreSQL log into `parts` chunks, each
/// starting at a line that begins an entry. `None` when the file should be read whole
/// (compressed, stdin, small, or another format). Resolves `auto` by sniffing.
fn split_points(file: &Path, source: &mut SourceConfig, parts: usize) -> std::io::Result<Option<Vec<(u64, u64)>>> {
    if parts < 2 || file.as_os_str() == "-" || file.extension().is_some_and(|e| e == "gz") {
        return Ok(None);
    }
    let mut f = File::open(file)?;
    let len = f.metadata()?.len();
    if len < SPLIT_MIN_BYTES {
        return Ok(None);
    }
    if source.format == FormatName::Auto {
        let mut head = BufReader::new(&mut f);
        let mut first = Vec::new();
        while first.iter().all(u8::is_ascii_whitespace) {
            first.clear();
            if head.read_until(b'\n', &mut first)? == 0 {
                return Ok(None);
            }
        }
        source.format = sluice_parsers::sniff(&first, chrono_tz::Tz::UTC);
    }
    let starts_entry: fn(&[u8]) -> bool = match source.format {
        FormatName::MysqlSlow => |line| line.starts_with(b"# Time:"),
        // Continuation lines of a multi-line statement start with white space.
        FormatName::Postgres => |line| line.first().is_some_and(|b| !b.is_ascii_whitespace()),
        _ => return Ok(None),
    };
    let mut points = vec![0u64];
    let mut buf = Vec::with_capacity(1 << 16);
    for i in 1..parts as u64 {
        let nominal = len * i / parts as u64;
        f.seek(SeekFrom::Start(nominal))?;
        let mut reader = BufReader::new(&mut f);
        let mut at = nominal;
        // Skip the partial line, then find the next line that starts an entry.
        buf.clear();
        at += reader.read_until(b'\n', &mut buf)? as u64;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)? as u64;
            if n == 0 {
                at = len;
                break;
            }
            if starts_entry(&buf) {
                break;
            }
            at += n;
        }
        if at > *points.last().unwrap_or(&0) && at < len {
            points.push(at);
        }
    }
    let mut chunks: Vec<(u64, u64)> = points.windows(2).map(|w| (w[0], w[1])).collect();
    chunks.push((*points.last().unwrap_or(&0), len));
    Ok(Some(chunks))
}
