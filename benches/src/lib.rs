//! Shared by the benches and `sluice-gen`: the simulated shop that writes realistic logs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

pub mod regex_baseline;
pub mod shop;

pub use shop::Incidents;
use shop::{Rng, Shop};

/// Share of the total size each format gets, and its file name.
pub const OUTPUTS: [(&str, &str, u64); 5] = [
    ("nginx", "access.log", 40),
    ("logback", "app.log", 25),
    ("json", "service.log", 15),
    ("mysql-slow", "slow.log", 10),
    ("postgres", "postgresql.log", 10),
];

/// The generated formats and the parser each is read with, for the benches.
pub const FORMATS: [(&str, sluice_core::FormatName); 5] = [
    ("nginx", sluice_core::FormatName::Nginx),
    ("logback", sluice_core::FormatName::Logback),
    ("json", sluice_core::FormatName::Json),
    ("mysql-slow", sluice_core::FormatName::MysqlSlow),
    ("postgres", sluice_core::FormatName::Postgres),
];

#[derive(Clone, Copy, Debug)]
pub enum Budget {
    Bytes(u64),
    Events(u64),
}

/// Writes one format's log to `path`.
pub fn write_one(
    format: &str,
    path: &Path,
    budget: Budget,
    seed: u64,
    start: DateTime<Utc>,
    incidents: Incidents,
) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    generate_with(format, budget, seed, start, incidents, &mut out)?;
    out.flush()
}

/// Generates one format's log into `out`, deterministically for a given seed, with the
/// incidents at their default times.
pub fn generate(
    format: &str,
    budget: Budget,
    seed: u64,
    start: DateTime<Utc>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    generate_with(format, budget, seed, start, Incidents::default(), out)
}

pub fn generate_with(
    format: &str,
    budget: Budget,
    seed: u64,
    start: DateTime<Utc>,
    incidents: Incidents,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut shop = Shop::new(Rng::new(seed), start, incidents);
    let mut written = 0u64;
    let mut events = 0u64;
    let mut line = Vec::with_capacity(4096);
    // Average gap chosen so the sample spans about a day and a big run several days.
    let gap_ms = match budget {
        Budget::Events(n) => (86_400_000 / n.max(1)).max(1),
        Budget::Bytes(_) => 40,
    };
    if format == "mysql-slow" {
        shop::mysql_banner(&mut line);
    }
    loop {
        match budget {
            Budget::Bytes(b) if written >= b => break,
            Budget::Events(n) if events >= n => break,
            _ => {}
        }
        let step = shop.rng.below(gap_ms * 2 / shop.pace());
        shop.advance(step);
        match format {
            "nginx" => shop.nginx(&mut line),
            "logback" => shop.logback(&mut line),
            "json" => shop.json(&mut line),
            "mysql-slow" => shop.mysql(&mut line),
            _ => shop.postgres(&mut line),
        }
        out.write_all(&line)?;
        written += line.len() as u64;
        events += 1;
        line.clear();
    }
    Ok(())
}
