//! `sluice export`: the incident-review bundle for a window, as a zip (`--out x.zip`) or a
//! directory. Reads the data dir directly (index, archive, alerts), so it works while
//! `serve` runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use std::sync::Arc;

use sluice_archive::{ArchiveReader, RemoteArchive};
use sluice_core::Config;
use sluice_detect::alerts::{AlertFilter, AlertStore};
use sluice_index::{EventIndex, IndexError};
use sluice_server::export::{DirBundle, ExportRequest, ExportSources, ZipBundle, write_bundle};

use crate::UsageError;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Start of the window: RFC 3339 or relative (-15m, -2h, -7d)
    #[arg(long, value_name = "T")]
    from: String,
    /// End of the window (exclusive)
    #[arg(long, value_name = "T")]
    to: String,
    /// Only this module (repeat for several)
    #[arg(long, value_name = "M")]
    module: Vec<String>,
    /// Only events matching this search query
    #[arg(long, value_name = "Q", default_value = "*")]
    query: String,
    /// `NAME.zip` writes a zip; any other path a directory of the bundle's files
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
}

pub fn run(config: &Config, data_dir: &Path, args: ExportArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let tz = config.timezone();
    let from = crate::time_flag(Some(&args.from), "--from", now, tz)?.expect("given");
    let to = crate::time_flag(Some(&args.to), "--to", now, tz)?.expect("given");
    if from >= to {
        return Err(UsageError("--from must be before --to".into()).into());
    }
    let index = match EventIndex::open_existing(&data_dir.join("index")) {
        Ok(index) => Some(index),
        Err(IndexError::Missing(_)) => None,
        Err(e) => return Err(e).context("opening the index"),
    };
    let archive_dir = data_dir.join("archive");
    let archive = if archive_dir.exists() {
        let reader = ArchiveReader::open(&archive_dir)?;
        Some(match &config.archive.url {
            Some(url) => reader.with_remote(Arc::new(RemoteArchive::connect(url, &config.archive.options)?)),
            None => reader,
        })
    } else {
        None
    };
    if index.is_none() && archive.is_none() {
        anyhow::bail!("nothing has been ingested into {} yet", data_dir.display());
    }
    if let Some(index) = &index {
        index.check_query(&args.query).map_err(|e| UsageError(format!("--query: {e}")))?;
    }
    let alerts = AlertStore::read(&data_dir.join("alerts")).context("reading alerts")?.list(&AlertFilter {
        from: Some(from),
        to: Some(to),
        ..AlertFilter::default()
    });
    let sources = ExportSources { index, archive, alerts, slow_sql_ms: config.slow_sql_ms() as f64, timezone: tz };
    let request = ExportRequest { from, to, modules: args.module, query: args.query };

    let started = Instant::now();
    let zip = args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let stats = if zip {
        // Written beside the target and renamed, so a failed export leaves no half zip.
        let tmp = args.out.with_extension("zip.partial");
        let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let stats = write_bundle(&sources, &request, ZipBundle::new(out));
        let stats = stats.inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        std::fs::rename(&tmp, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
        stats
    } else {
        let dir = DirBundle::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        write_bundle(&sources, &request, dir)?
    };
    eprintln!(
        "exported {} events ({} from the index, {} from the archive), {} alerts, {} slow statements to {} in {:.1} s",
        stats.events,
        stats.from_index,
        stats.from_archive,
        stats.alerts,
        stats.slow_queries,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
