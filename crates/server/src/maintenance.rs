//! The archive's background work, off the sink thread so ingest never waits for it:
//! retention once a UTC day, compaction of the small files the sink flushes, and the
//! upload to the object store when one is configured.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use sluice_archive::ArchiveHandle;
use sluice_core::Config;
use tracing::error;

/// How often compaction looks for work (the sink flushes a file per partition a minute).
const COMPACT_EVERY: Duration = Duration::from_secs(60);

pub(crate) struct Maintenance {
    /// `true`: compact once more before stopping.
    stop: Sender<bool>,
    thread: JoinHandle<()>,
}

struct Settings {
    retention_days: u32,
    remote: bool,
    upload_every: Duration,
    keep_local_days: u32,
}

impl Maintenance {
    pub(crate) fn start(archive: ArchiveHandle, config: &Config) -> std::io::Result<Maintenance> {
        let settings = Settings {
            retention_days: config.archive_retention_days(),
            remote: config.archive.url.is_some(),
            upload_every: config.archive.upload_interval(),
            keep_local_days: config.archive.keep_local_days,
        };
        let (stop, stopped) = channel();
        let thread = std::thread::Builder::new()
            .name("archive-maintenance".into())
            .spawn(move || run(&archive, &settings, &stopped))?;
        Ok(Maintenance { stop, thread })
    }

    /// Waits for a merge or upload in progress (neither is ever left half done), merges
    /// once more if `compact` (`import`: the days it wrote are often finished ones), then
    /// uploads once more so nothing flushed stays only local.
    pub(crate) fn stop(self, compact: bool) {
        let _ = self.stop.send(compact);
        let _ = self.thread.join();
    }
}

fn run(archive: &ArchiveHandle, settings: &Settings, stopped: &Receiver<bool>) {
    let mut retention_day: Option<NaiveDate> = None;
    let (mut last_compact, mut last_upload) = (Instant::now(), Instant::now());
    let tick = settings.upload_every.min(COMPACT_EVERY);
    loop {
        let today = Utc::now().date_naive();
        if retention_day != Some(today) {
            retention_day = Some(today);
            if let Err(e) = archive.apply_retention(settings.retention_days, today) {
                error!(error = %e, "archive retention failed; will retry tomorrow");
            }
        }
        let (stopping, compact_now) = match stopped.recv_timeout(tick) {
            Err(RecvTimeoutError::Timeout) => (false, last_compact.elapsed() >= COMPACT_EVERY),
            Ok(compact) => (true, compact),
            Err(RecvTimeoutError::Disconnected) => (true, false),
        };
        if compact_now {
            last_compact = Instant::now();
            // The last pass of an import settles the finished days it wrote: nothing
            // more is coming for them.
            let result = if stopping { archive.settle(Utc::now()) } else { archive.compact(Utc::now()) };
            if let Err(e) = result {
                error!(error = %e, "archive compaction failed; will retry");
            }
        }
        if settings.remote && (stopping || last_upload.elapsed() >= settings.upload_every) {
            last_upload = Instant::now();
            if let Err(e) = archive.sync_remote(settings.keep_local_days, Utc::now().date_naive()) {
                error!(error = %e, "archive upload failed; will retry");
            }
        }
        if stopping {
            return;
        }
    }
}
