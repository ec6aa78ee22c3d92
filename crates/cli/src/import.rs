//! `sluice import`: files through the same pipeline as `serve`, then flush and exit.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_core::{Config, FormatName, SourceConfig};
use sluice_ingest::WalRecord;
use sluice_server::{Pipeline, PipelineOptions};

use crate::UsageError;

const BATCH_EVENTS: usize = 4096;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Log format [default: auto, or the matching source's format]
    #[arg(long, value_name = "F")]
    format: Option<FormatName>,
    /// Put every event in this module instead of routing
    #[arg(long, value_name = "M")]
    module: Option<String>,
    /// Apply this configured source's settings (format, log_format, pattern, timezone, module)
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    /// Files to import; `-` reads stdin; `.gz` files are decompressed
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(config: Config, data_dir: &Path, args: ImportArgs) -> anyhow::Result<()> {
    let sources = args
        .files
        .iter()
        .map(|file| resolve_source(&config, args.source.as_deref(), args.format, args.module.as_deref(), file))
        .collect::<Result<Vec<_>, _>>()?;
    let config = Arc::new(config);
    let runtime = crate::runtime()?;
    // The input ends with the last file, so alerts still open then are closed.
    let options =
        PipelineOptions { close_alerts_on_shutdown: true, compact_on_shutdown: true, ..PipelineOptions::default() };
    let pipeline = runtime
        .block_on(async { Pipeline::start(config.clone(), data_dir, options) })
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let started = Instant::now();
    let (mut events, mut errors) = (0u64, 0u64);
    for (file, source) in args.files.iter().zip(&sources) {
        let (n, e) = import_file(&pipeline, file, source).with_context(|| format!("importing {}", file.display()))?;
        events += n;
        errors += e;
    }
    runtime.block_on(pipeline.shutdown())?;
    eprintln!(
        "imported {events} events from {} file(s) in {:.2}s ({errors} kept raw with parse_error) into {}",
        args.files.len(),
        started.elapsed().as_secs_f64(),
        data_dir.display()
    );
    Ok(())
}

/// `--source` names a configured source; otherwise a source whose glob matches the file
/// lends its settings; otherwise the file's stem names an ad-hoc source.
pub(crate) fn resolve_source(
    config: &Config,
    source: Option<&str>,
    format: Option<FormatName>,
    module: Option<&str>,
    file: &Path,
) -> Result<SourceConfig, UsageError> {
    let mut resolved = match source {
        Some(name) => config.source(name).cloned().ok_or_else(|| {
            let known: Vec<_> = config.sources.iter().map(|s| s.name.as_str()).collect();
            UsageError(format!("--source: no source named `{name}` in the config (known: {})", known.join(", ")))
        })?,
        None => matching_source(config, file).unwrap_or_else(|| {
            let stem = file.file_name().and_then(|n| n.to_str()).unwrap_or("stdin");
            let stem = stem.split('.').next().filter(|s| !s.is_empty() && *s != "-").unwrap_or("stdin");
            SourceConfig::adhoc(stem, FormatName::Auto)
        }),
    };
    if let Some(format) = format {
        if format != resolved.format {
            resolved.log_format = None;
            resolved.pattern = None;
            resolved.log_line_prefix = None;
        }
        resolved.format = format;
    }
    if let Some(module) = module {
        resolved.module = Some(module.to_owned());
    }
    Ok(resolved)
}

fn matching_source(config: &Config, file: &Path) -> Option<SourceConfig> {
    let relative = file.strip_prefix("./").unwrap_or(file);
    config
        .sources
        .iter()
        .find(|s| {
            s.path
                .as_deref()
                .and_then(|p| glob::Pattern::new(p.trim_start_matches("./")).ok())
                .is_some_and(|p| p.matches_path(relative))
        })
        .cloned()
}

/// A file (`-` for stdin, `.gz` inflated) and its length when known.
pub(crate) fn open_input(file: &Path) -> std::io::Result<(Box<dyn Read>, Option<u64>)> {
    if file.as_os_str() == "-" {
        return Ok((Box::new(std::io::stdin().lock()), None));
    }
    let f = File::open(file)?;
    let len = f.metadata()?.len();
    Ok(if file.extension().is_some_and(|e| e == "gz") {
        (Box::new(flate2::read::MultiGzDecoder::new(f)), None)
    } else {
        (Box::new(f), Some(len))
    })
}

fn import_file(pipeline: &Pipeline, file: &Path, source: &SourceConfig) -> anyhow::Result<(u64, u64)> {
    let (reader, len) = open_input(file)?;
    let progress = progress_bar(file, len);
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut parser = pipeline.parser(source)?;
    let mut events = Vec::with_capacity(BATCH_EVENTS);
    let mut line = Vec::with_capacity(4096);
    let (mut offset, mut total) = (0u64, 0u64);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        parser.push_line(text, offset, &mut events);
        offset += n as u64;
        if events.len() >= BATCH_EVENTS {
            total += events.len() as u64;
            pipeline.wal().submit_blocking(WalRecord { events: std::mem::take(&mut events), checkpoints: vec![] })?;
            progress.set_position(offset);
        }
    }
    parser.flush(&mut events);
    total += events.len() as u64;
    if !events.is_empty() {
        pipeline.wal().submit_blocking(WalRecord { events, checkpoints: vec![] })?;
    }
    progress.finish_and_clear();
    Ok((total, parser.parse_errors()))
}

pub(crate) fn progress_bar(file: &Path, len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_message(file.display().to_string());
    bar
}
