//! Digests over what has been ingested: read the timed statements of a window back from
//! the index, compare with the previous window of the same length, and write each day's
//! digest into the data dir after midnight.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use sluice_core::time::local_to_utc;
use sluice_digest::{Digest, DigestBuilder, DigestOptions};
use sluice_index::{EventIndex, IndexError, SearchRequest};
use tracing::{error, info};

use crate::Pipeline;

/// Every event with a duration: the digest decides which are statements.
const TIMED_EVENTS: &str = "query_time_ms:>=0";
/// Daily digests are written this long after local midnight, so late lines are in.
const DAILY_DELAY: Duration = Duration::from_secs(5 * 60);

/// The digest of `[from, to)` from the index; with `compare`, regressions against the
/// window of the same length just before it.
pub fn from_index(index: &EventIndex, options: DigestOptions, compare: bool) -> Result<Digest, IndexError> {
    let mut digest = scan(index, options.clone())?;
    if compare && let (Some(from), Some(to)) = (options.from, options.to) {
        let previous = scan(index, DigestOptions { from: Some(from - (to - from)), to: Some(from), ..options })?;
        if !previous.queries.is_empty() {
            digest.compare_with(&previous);
        }
    }
    Ok(digest)
}

fn scan(index: &EventIndex, options: DigestOptions) -> Result<Digest, IndexError> {
    let request =
        SearchRequest { query: TIMED_EVENTS.into(), from: options.from, to: options.to, ..SearchRequest::default() };
    let mut builder = DigestBuilder::new(options);
    index.scan(&request, |event| {
        builder.add(&event);
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(builder.finish())
}

/// Local midnight to midnight of `date` in `tz`, as UTC instants.
pub fn day_window(date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| {
        local_to_utc(d.and_hms_opt(0, 0, 0).expect("midnight exists"), tz)
            .unwrap_or_else(|| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
    };
    (start(date), start(date + Days::new(1)))
}

/// Yesterday's date in `tz`.
pub fn yesterday(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive() - Days::new(1)
}

pub fn daily_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("digests")
}

/// Writes `digests/DATE.json` and `DATE.html` (atomically) for one day with statements.
pub fn write_daily(
    index: &EventIndex,
    data_dir: &Path,
    date: NaiveDate,
    tz: Tz,
    min_ms: f64,
) -> Result<Option<PathBuf>, String> {
    let (from, to) = day_window(date, tz);
    let options = DigestOptions { from: Some(from), to: Some(to), min_ms, timezone: tz.name().to_owned() };
    let digest = from_index(index, options, true).map_err(|e| e.to_string())?;
    if digest.total_queries == 0 {
        return Ok(None);
    }
    let dir = daily_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = serde_json::to_vec_pretty(&digest).map_err(|e| e.to_string())?;
    let base = dir.join(date.to_string());
    for (ext, bytes) in [("json", json), ("html", sluice_digest::render_html(&digest).into_bytes())] {
        let path = base.with_extension(ext);
        let tmp = base.with_extension(format!("{ext}.tmp"));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Some(base.with_extension("html")))
}

/// Writes yesterday's digest now if it is missing, then each day's shortly after local
/// midnight, for as long as `serve` runs.
pub fn spawn_daily(pipeline: Arc<Pipeline>, data_dir: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let config = pipeline.config().clone();
        let tz = config.timezone();
        let min_ms = config.slow_sql_ms() as f64;
        loop {
            let date = yesterday(tz, Utc::now());
            if !daily_dir(&data_dir).join(format!("{date}.json")).exists() {
                let (index, dir) = (pipeline.index().clone(), data_dir.clone());
                match tokio::task::spawn_blocking(move || write_daily(&index, &dir, date, tz, min_ms)).await {
                    Ok(Ok(Some(path))) => info!(path = %path.display(), "wrote the daily slow-query digest"),
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => error!(error = %e, %date, "cannot write the daily digest"),
                    Err(e) => error!(error = %e, "daily digest task failed"),
                }
            }
            let (_, next_midnight) = day_window(yesterday(tz, Utc::now()) + Days::new(1), tz);
            let wait = (next_midnight - Utc::now()).to_std().unwrap_or_default() + DAILY_DELAY;
            tokio::time::sleep(wait).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn days_follow_the_configured_zone() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let (from, to) = day_window(date, tz);
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 11, 19, 16, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2026, 11, 20, 16, 0, 0).unwrap());
        // 2026-11-21 01:00 in Shanghai is still the 20th in UTC; yesterday is the 20th there.
        assert_eq!(yesterday(tz, Utc.with_ymd_and_hms(2026, 11, 20, 17, 0, 0).unwrap()), date);
    }
}
