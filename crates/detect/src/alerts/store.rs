//! Alerts on disk: `alerts.jsonl`, one line per version of an alert (the last line for an
//! id wins). Appends are small and rare, so each is written and synced; the file is
//! rewritten without superseded versions when it opens.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sluice_core::Severity;

use super::{Alert, AlertKind, AlertStatus};

const FILE_NAME: &str = "alerts.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alert store {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Which alerts to list. Time bounds select alerts whose episode overlaps `[from, to)`.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<AlertKind>,
    /// At least this severe (P2 lists P1 and P2).
    pub severity: Option<Severity>,
    pub module: Option<String>,
    pub status: Option<AlertStatus>,
    /// Case-insensitive words that must all appear in the summary, module, rule or top messages.
    pub text: Option<String>,
    pub limit: Option<usize>,
}

pub struct AlertStore {
    path: PathBuf,
    alerts: BTreeMap<String, Alert>,
    file: Option<File>,
}

impl AlertStore {
    /// Opens (creating) the store in `dir` for writing. Alerts left open by a previous
    /// run are closed: the state that would have updated them is gone.
    pub fn open(dir: &Path) -> Result<AlertStore, StoreError> {
        let path = dir.join(FILE_NAME);
        let io = |source| StoreError::Io { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let (mut alerts, lines) = load(&path).map_err(io)?;
        let mut stale = false;
        for alert in alerts.values_mut().filter(|a| a.status == AlertStatus::Open) {
            alert.status = AlertStatus::Closed;
            stale = true;
        }
        if stale || lines > alerts.len() {
            let tmp = path.with_extension("jsonl.tmp");
            let io_tmp = |source| StoreError::Io { path: tmp.clone(), source };
            let mut out = File::create(&tmp).map_err(io_tmp)?;
            for alert in alerts.values() {
                write_line(&mut out, alert).map_err(io_tmp)?;
            }
            out.sync_all().map_err(io_tmp)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        Ok(AlertStore { path, alerts, file: Some(file) })
    }

    /// Reads the store without taking it over (the CLI, while `serve` runs).
    pub fn read(dir: &Path) -> Result<AlertStore, StoreError> {
        let path = dir.join(FILE_NAME);
        let (alerts, _) = load(&path).map_err(|source| StoreError::Io { path: path.clone(), source })?;
        Ok(AlertStore { path, alerts, file: None })
    }

    /// Records a new version of an alert.
    pub fn upsert(&mut self, alert: &Alert) -> Result<(), StoreError> {
        if let Some(file) = &mut self.file {
            let io = |source| StoreError::Io { path: self.path.clone(), source };
            write_line(file, alert).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        self.alerts.insert(alert.id.clone(), alert.clone());
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Alert> {
        self.alerts.get(id)
    }

    /// Matching alerts, newest start first.
    pub fn list(&self, filter: &AlertFilter) -> Vec<Alert> {
        let words: Vec<String> =
            filter.text.as_deref().unwrap_or("").split_whitespace().map(str::to_lowercase).collect();
        let mut out: Vec<Alert> = self
            .alerts
            .values()
            .filter(|a| filter.from.is_none_or(|from| a.end >= from))
            .filter(|a| filter.to.is_none_or(|to| a.start < to))
            .filter(|a| filter.kind.is_none_or(|k| a.kind == k))
            .filter(|a| filter.severity.is_none_or(|s| a.severity <= s))
            .filter(|a| filter.module.as_deref().is_none_or(|m| a.module == m))
            .filter(|a| filter.status.is_none_or(|s| a.status == s))
            .filter(|a| {
                words.is_empty() || {
                    let mut hay = format!("{} {} {}", a.summary, a.module, a.rule);
                    for m in &a.top_messages {
                        hay.push(' ');
                        hay.push_str(&m.message);
                    }
                    let hay = hay.to_lowercase();
                    words.iter().all(|w| hay.contains(w.as_str()))
                }
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| a.id.cmp(&b.id)));
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        out
    }

    pub fn open_count(&self) -> usize {
        self.alerts.values().filter(|a| a.status == AlertStatus::Open).count()
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// The latest version of each alert, and how many lines held them. A torn last line (a
/// crash mid-append) is skipped.
fn load(path: &Path) -> std::io::Result<(BTreeMap<String, Alert>, usize)> {
    let mut alerts = BTreeMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((alerts, 0)),
        Err(e) => return Err(e),
    };
    let mut lines = 0;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        match serde_json::from_str::<Alert>(&line) {
            Ok(alert) => {
                alerts.insert(alert.id.clone(), alert);
            }
            Err(error) => tracing::warn!(%error, path = %path.display(), "skipping unreadable alert line"),
        }
    }
    Ok((alerts, lines))
}

fn write_line(out: &mut File, alert: &Alert) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(alert).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}
