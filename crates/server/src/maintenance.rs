//! The archive's background work, off the sink thread so ingest never waits for it:
//! retention once a UTC day, and compaction of the small files the sink flushes.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use sluice_archive::ArchiveHandle;
use tracing::error;

/// How often compaction looks for work (the sink flushes a file per partition a minute).
const INTERVAL: Duration = Duration::from_secs(60);

pub(crate) struct Maintenance {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Maintenance {
    pub(crate) fn start(archive: ArchiveHandle, retention_days: u32) -> std::io::Result<Maintenance> {
        let (stop, stopped) = channel();
        let thread = std::thread::Builder::new()
            .name("archive-maintenance".into())
            .spawn(move || run(&archive, retention_days, &stopped))?;
        Ok(Maintenance { stop, thread })
    }

    /// Waits for a merge in progress to finish (it is never left half done either way).
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn run(archive: &ArchiveHandle, retention_days: u32, stopped: &Receiver<()>) {
    let mut retention_day: Option<NaiveDate> = None;
    loop {
        let today = Utc::now().date_naive();
        if retention_day != Some(today) {
            retention_day = Some(today);
            if let Err(e) = archive.apply_retention(retention_days, today) {
                error!(error = %e, "archive retention failed; will retry tomorrow");
            }
        }
        match stopped.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(e) = archive.compact(Utc::now()) {
            error!(error = %e, "archive compaction failed; will retry");
        }
    }
}
