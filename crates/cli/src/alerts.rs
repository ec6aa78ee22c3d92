//! `sluice alerts`: reads the alert store directly, so it works while `serve` runs.

use std::io::Write;
use std::path::Path;

use clap::Args;
use sluice_core::Config;
use sluice_detect::alerts::{AlertFilter, AlertKind, AlertStatus, AlertStore};

use crate::UsageError;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Alerts active at or after this time: RFC 3339 or relative (-15m, -2h, -7d)
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// Alerts that started before this time
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// slow_sql or error_burst
    #[arg(long, value_name = "K")]
    kind: Option<AlertKind>,
    /// At least this severe: P1, P2 or P3
    #[arg(long, value_name = "S")]
    severity: Option<String>,
    /// Only this module
    #[arg(long, value_name = "M")]
    module: Option<String>,
    /// Only open alerts
    #[arg(long)]
    open: bool,
    /// Words that must appear in the summary or top messages
    #[arg(long, value_name = "TEXT")]
    query: Option<String>,
    /// Most alerts to print, newest first
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: usize,
    /// One JSON alert per line
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, data_dir: &Path, args: AlertsArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let tz = config.timezone();
    let time = |value: &Option<String>, flag: &str| crate::time_flag(value.as_deref(), flag, now, tz);
    let severity = args
        .severity
        .as_deref()
        .map(|s| s.parse::<sluice_core::Severity>().map_err(|e| UsageError(format!("--severity: {e}"))))
        .transpose()?;
    let filter = AlertFilter {
        from: time(&args.from, "--from")?,
        to: time(&args.to, "--to")?,
        kind: args.kind,
        severity,
        module: args.module.clone(),
        status: args.open.then_some(AlertStatus::Open),
        text: args.query.clone(),
        limit: Some(args.limit),
    };
    let store = AlertStore::read(&data_dir.join("alerts"))?;
    let alerts = store.list(&filter);
    let mut out = std::io::stdout().lock();
    if args.json {
        for alert in &alerts {
            serde_json::to_writer(&mut out, alert)?;
            out.write_all(b"\n")?;
        }
    } else if alerts.is_empty() {
        eprintln!("no alerts");
    } else {
        writeln!(
            out,
            "{:<19}  {:<3} {:<11} {:<10} {:<6} {:>7}  SUMMARY",
            "START", "SEV", "KIND", "MODULE", "STATUS", "EVENTS"
        )?;
        for a in &alerts {
            let status = match a.status {
                AlertStatus::Open => "open",
                AlertStatus::Closed => "closed",
            };
            writeln!(
                out,
                "{:<19}  {:<3} {:<11} {:<10} {:<6} {:>7}  {}",
                a.start.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S"),
                a.severity.as_str(),
                a.kind.as_str(),
                a.module,
                status,
                a.count,
                a.summary
            )?;
        }
    }
    Ok(())
}
