//! `sluice-gen`: writes realistic, deterministic shop logs for samples and benches.
//!
//! ```text
//! cargo run --release -p sluice-benches --bin sluice-gen -- --out /tmp/shop --size 1GB
//! cargo run -p sluice-benches --bin sluice-gen -- --out sample-logs --events 40
//! ```
//! One file per format (nginx, mysql-slow, postgres, logback, json) under `--out`, with two
//! injected incidents: a slow-SQL storm on the orders table and a payment error burst.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use sluice_benches::{Budget, Incidents, OUTPUTS, write_one};

struct Args {
    out: PathBuf,
    size: Option<u64>,
    events: u64,
    seed: u64,
    start: DateTime<Utc>,
    incidents: Incidents,
    /// Only this format, with the whole size budget.
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        out: PathBuf::from("generated-logs"),
        size: None,
        events: 1000,
        seed: 42,
        start: DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").map_err(|e| e.to_string())?.to_utc(),
        incidents: Incidents::default(),
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => args.out = PathBuf::from(value()?),
            "--size" => args.size = Some(parse_size(&value()?)?),
            "--events" => args.events = value()?.parse().map_err(|e| format!("--events: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--start" => {
                args.start = DateTime::parse_from_rfc3339(&value()?).map_err(|e| format!("--start: {e}"))?.to_utc()
            }
            "--only" => {
                let format = value()?;
                if !OUTPUTS.iter().any(|(f, _, _)| *f == format) {
                    return Err(format!("--only: unknown format `{format}`"));
                }
                args.only = Some(format);
            }
            "--storm-at" => {
                args.incidents.storm_at_minute = value()?.parse().map_err(|e| format!("--storm-at: {e}"))?
            }
            "--burst-at" => {
                args.incidents.burst_at_minute = value()?.parse().map_err(|e| format!("--burst-at: {e}"))?
            }
            "-h" | "--help" => {
                return Err("usage: sluice-gen [--out DIR] [--size 1GB | --events N] [--seed N] [--start RFC3339] \
                            [--storm-at MINUTE] [--burst-at MINUTE] [--only FORMAT]"
                    .into());
            }
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    Ok(args)
}

fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.to_ascii_uppercase();
    let (digits, unit) = upper.split_at(upper.find(|c: char| !c.is_ascii_digit()).unwrap_or(upper.len()));
    let n: u64 = digits.parse().map_err(|_| format!("bad size `{text}`"))?;
    let mult = match unit.trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("bad size unit in `{text}` (use KB, MB or GB)")),
    };
    Ok(n * mult)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sluice-gen: {e}");
            return ExitCode::from(2);
        }
    };
    for (i, (format, file, share)) in OUTPUTS.iter().enumerate() {
        if args.only.as_deref().is_some_and(|only| only != *format) {
            continue;
        }
        let share = if args.only.is_some() { 100 } else { *share };
        let budget = match args.size {
            Some(total) => Budget::Bytes(total * share / 100),
            None => Budget::Events(args.events),
        };
        let path = args.out.join(format).join(file);
        if let Err(e) = write_one(format, &path, budget, args.seed.wrapping_add(i as u64), args.start, args.incidents) {
            eprintln!("sluice-gen: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
