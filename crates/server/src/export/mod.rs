//! The incident-review bundle: every event of a window (optionally one module, one
//! query) with what a reviewer needs around them, as a zip or a directory:
//!
//! | entry | what |
//! |---|---|
//! | `events.ndjson` | the events, one JSON object per line (the search API's shape) |
//! | `events.parquet` | the same events, archive schema plus a `module` column |
//! | `alerts.json` | alerts whose episode overlaps the window |
//! | `slow_queries.json` | the slow-query digest of the exported statements |
//! | `summary.json` | counts per minute by module/level/source, top errors, first and last error |
//! | `report.html` | a self-contained page: timeline, alerts, top errors, slow queries |
//!
//! Events come from the index where it still holds the window and from the Parquet
//! archive before that (older than the index's oldest event), so a window years back
//! exports the same way as the last hour. Memory stays bounded: events stream through
//! in batches; the Parquet copy is spooled to a temporary file while the NDJSON entry
//! is written, then copied into the bundle.

mod http;
mod report;
mod summary;

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sluice_archive::{ArchiveReader, EventsParquetWriter, ScanRequest};
use sluice_core::Event;
use sluice_detect::alerts::Alert;
use sluice_digest::{Digest, DigestBuilder, DigestOptions};
use sluice_index::{EventIndex, SearchRequest};
use zip::write::{SimpleFileOptions, StreamWriter};

pub(crate) use http::export as http_export;
pub use summary::Summary;

/// Version of the bundle's layout, recorded in `summary.json`.
pub const BUNDLE_VERSION: u32 = 1;
/// Events visited per batch (and filtered per batch for archived events).
const BATCH: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing the export: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Index(#[from] sluice_index::IndexError),
    #[error(transparent)]
    Archive(#[from] sluice_archive::ArchiveError),
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// Which events to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Empty: every module.
    pub modules: Vec<String>,
    /// Search syntax; `*` or empty: everything.
    pub query: String,
}

/// Where the events and the alerts come from.
pub struct ExportSources {
    pub index: Option<EventIndex>,
    pub archive: Option<ArchiveReader>,
    /// Every alert; the export keeps those overlapping the window (and module).
    pub alerts: Vec<Alert>,
    pub slow_sql_ms: f64,
    pub timezone: Tz,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportStats {
    pub events: u64,
    pub from_index: u64,
    pub from_archive: u64,
    pub errors: u64,
    pub alerts: usize,
    pub slow_queries: u64,
}

/// The bundle's container: entries are written one after another.
pub trait BundleWriter: Write {
    fn start_entry(&mut self, name: &str) -> Result<(), ExportError>;
    fn finish(self) -> Result<(), ExportError>;
}

/// A zip written front to back (data descriptors, zip64 for big entries), so it can go
/// straight to a socket.
pub struct ZipBundle<W: Write> {
    zip: zip::ZipWriter<StreamWriter<W>>,
}

impl<W: Write> ZipBundle<W> {
    pub fn new(out: W) -> Self {
        ZipBundle { zip: zip::ZipWriter::new_stream(out) }
    }
}

impl<W: Write> Write for ZipBundle<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.zip.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.zip.flush()
    }
}

impl<W: Write> BundleWriter for ZipBundle<W> {
    fn start_entry(&mut self, name: &str) -> Result<(), ExportError> {
        // Parquet is compressed already; deflate's fastest level keeps the NDJSON entry
        // from dominating the export's time.
        let (method, level) = match name.ends_with(".parquet") {
            true => (zip::CompressionMethod::Stored, None),
            false => (zip::CompressionMethod::Deflated, Some(1)),
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .compression_level(level)
            .large_file(name.starts_with("events."))
            .last_modified_time(zip_time(Utc::now()));
        Ok(self.zip.start_file(name, options)?)
    }
    fn finish(self) -> Result<(), ExportError> {
        let mut out = self.zip.finish()?;
        out.flush()?;
        Ok(())
    }
}

/// Zip stores local time without a zone; the bundle's times are UTC throughout.
fn zip_time(now: DateTime<Utc>) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    zip::DateTime::from_date_and_time(
        now.year().clamp(1980, 2107) as u16,
        now.month() as u8,
        now.day() as u8,
        now.hour() as u8,
        now.minute() as u8,
        now.second().min(58) as u8,
    )
    .unwrap_or_default()
}

/// The bundle as plain files in a directory.
pub struct DirBundle {
    dir: PathBuf,
    current: Option<BufWriter<File>>,
}

impl DirBundle {
    pub fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(DirBundle { dir: dir.to_owned(), current: None })
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.current.take() {
            file.flush()?;
            file.get_ref().sync_all()?;
        }
        Ok(())
    }
}

impl Write for DirBundle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.current {
            Some(file) => file.write(buf),
            None => Err(io::Error::other("no bundle entry started")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.current.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl BundleWriter for DirBundle {
    fn start_entry(&mut self, name: &str) -> Result<(), ExportError> {
        self.close_current()?;
        self.current = Some(BufWriter::with_capacity(256 << 10, File::create(self.dir.join(name))?));
        Ok(())
    }
    fn finish(mut self) -> Result<(), ExportError> {
        Ok(self.close_current()?)
    }
}

/// Writes the whole bundle for `request` into `out`.
pub fn write_bundle<B: BundleWriter>(
    sources: &ExportSources,
    request: &ExportRequest,
    mut out: B,
) -> Result<ExportStats, ExportError> {
    let mut stats = ExportStats::default();
    let mut summary = summary::SummaryBuilder::new(request);
    let mut digest = DigestBuilder::new(DigestOptions {
        from: Some(request.from),
        to: Some(request.to),
        min_ms: sources.slow_sql_ms,
        timezone: sources.timezone.name().to_owned(),
    });
    let spool = tempfile::tempfile()?;
    let mut parquet = EventsParquetWriter::new(BufWriter::with_capacity(1 << 20, spool))?;

    out.start_entry("events.ndjson")?;
    let mut line = Vec::with_capacity(1024);
    let mut write_events = |events: Vec<Event>, out: &mut B| -> Result<(), ExportError> {
        for event in events {
            line.clear();
            serde_json::to_writer(&mut line, &event).map_err(io::Error::from)?;
            line.push(b'\n');
            out.write_all(&line)?;
            summary.observe(&event);
            digest.add(&event);
            parquet.write(event)?;
        }
        Ok(())
    };
    // Reading (doc store, Parquet, JSON) on one core, writing (JSON, deflate, Parquet) on
    // another, with a few batches in between.
    let (archived, indexed) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(4);
        let reader = scope.spawn(move || {
            each_event(sources, request, |events| {
                tx.send(events).map_err(|_| ExportError::Io(io::Error::other("the export writer stopped")))
            })
        });
        let mut written = Ok(());
        for events in rx {
            written = write_events(events, &mut out);
            if written.is_err() {
                break; // drops the receiver, which stops the reader
            }
        }
        let read = reader.join().unwrap_or_else(|_| Err(ExportError::Io(io::Error::other("export reader panicked"))));
        written.and(read)
    })?;
    (stats.from_archive, stats.from_index) = (archived, indexed);
    stats.events = archived + indexed;

    out.start_entry("events.parquet")?;
    let mut spool = parquet.finish()?.into_inner().map_err(|e| e.into_error())?;
    spool.rewind()?;
    io::copy(&mut spool, &mut out)?;
    drop(spool);

    let alerts: Vec<&Alert> = sources
        .alerts
        .iter()
        .filter(|a| a.start < request.to && a.end >= request.from)
        .filter(|a| request.modules.is_empty() || request.modules.contains(&a.module))
        .collect();
    out.start_entry("alerts.json")?;
    serde_json::to_writer_pretty(&mut out, &alerts).map_err(io::Error::from)?;

    let digest: Digest = digest.finish();
    out.start_entry("slow_queries.json")?;
    serde_json::to_writer_pretty(&mut out, &digest).map_err(io::Error::from)?;

    let summary = summary.finish(&stats, alerts.len(), &digest);
    stats.errors = summary.errors;
    stats.alerts = alerts.len();
    stats.slow_queries = digest.slow_queries;
    out.start_entry("summary.json")?;
    serde_json::to_writer_pretty(&mut out, &summary).map_err(io::Error::from)?;

    out.start_entry("report.html")?;
    out.write_all(report::render(&summary, &alerts, &digest, sources.timezone).as_bytes())?;
    out.finish()?;
    Ok(stats)
}

/// Visits every event of the request in batches: first what only the archive still
/// holds (older than the index's oldest event), then the index. Returns the counts
/// from each.
fn each_event(
    sources: &ExportSources,
    request: &ExportRequest,
    mut visit: impl FnMut(Vec<Event>) -> Result<(), ExportError>,
) -> Result<(u64, u64), ExportError> {
    let oldest_indexed = match &sources.index {
        Some(index) => index.oldest()?,
        None => None,
    };
    let archive_to = oldest_indexed.map_or(request.to, |oldest| oldest.min(request.to));
    let mut failure = None;
    let mut archived = 0;
    if let Some(archive) = &sources.archive
        && request.from < archive_to
    {
        let scan = ScanRequest { from: Some(request.from), to: Some(archive_to), modules: request.modules.clone() };
        archive.scan(&scan, |events| {
            let sent =
                sluice_index::filter_events(&request.query, events).map_err(ExportError::from).and_then(|matched| {
                    archived += matched.len() as u64;
                    visit(matched)
                });
            continue_or_stop(sent, &mut failure)
        })?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let mut indexed = 0;
    if let (Some(index), Some(oldest)) = (&sources.index, oldest_indexed)
        && oldest < request.to
    {
        let search = SearchRequest {
            query: request.query.clone(),
            from: Some(request.from.max(oldest)),
            to: Some(request.to),
            modules: request.modules.clone(),
            ..SearchRequest::default()
        };
        let mut batch = Vec::with_capacity(BATCH);
        index.scan(&search, |event| {
            batch.push(event);
            if batch.len() < BATCH {
                return ControlFlow::Continue(());
            }
            indexed += batch.len() as u64;
            continue_or_stop(visit(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))), &mut failure)
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        indexed += batch.len() as u64;
        visit(batch)?;
    }
    Ok((archived, indexed))
}

/// Lets a scan go on while `result` is fine; otherwise keeps the error for after the scan
/// and stops it.
fn continue_or_stop(result: Result<(), ExportError>, failure: &mut Option<ExportError>) -> ControlFlow<()> {
    match result {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            *failure = Some(e);
            ControlFlow::Break(())
        }
    }
}
