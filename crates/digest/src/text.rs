//! The text report, laid out like pt-query-digest's: an overall header, the profile
//! table (rank, id, response time and share, calls, time per call), then one detail block
//! per query with its attributes and an example.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::{Digest, QueryRow};

/// Renders the digest; `limit` caps the profile and detail blocks (0 = all).
pub fn render_text(digest: &Digest, limit: usize) -> String {
    let tz: Tz = digest.timezone.parse().unwrap_or(Tz::UTC);
    let local = |t: &DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string();
    let mut out = String::new();
    let total_ms: f64 = digest.queries.iter().map(|q| q.total_ms).sum();
    let shown = if limit == 0 { digest.queries.len() } else { limit.min(digest.queries.len()) };

    let _ = writeln!(out, "# Slow-query digest");
    if let (Some(from), Some(to)) = (&digest.from, &digest.to) {
        let _ = writeln!(out, "# Window:      {} .. {} ({})", local(from), local(to), tz.name());
    }
    let _ = writeln!(
        out,
        "# Statements:  {} timed, {} over {} ms, {} fingerprints, {} total",
        digest.total_queries,
        digest.slow_queries,
        digest.threshold_ms,
        digest.queries.len(),
        duration(total_ms)
    );
    if digest.queries.is_empty() {
        let _ = writeln!(out, "\n# No statements over the threshold in this window.");
        return out;
    }

    let _ = writeln!(out, "\n# Profile");
    let _ = writeln!(
        out,
        "# Rank Query ID                           Response time   Calls  R/Call     p95  Module     Item"
    );
    let _ = writeln!(
        out,
        "# ==== ================================== ============= ======= ======= ======= ========== ===================="
    );
    for (rank, q) in digest.queries.iter().take(shown).enumerate() {
        let _ = writeln!(
            out,
            "# {:>4} 0x{:<32} {:>7} {:>4.1}% {:>7} {:>7} {:>7} {:<10} {}",
            rank + 1,
            q.id,
            duration(q.total_ms),
            share(q.total_ms, total_ms),
            q.count,
            duration(q.avg_ms),
            duration(q.p95_ms),
            q.module,
            item(&q.example)
        );
    }
    if shown < digest.queries.len() {
        let rest = &digest.queries[shown..];
        let rest_ms: f64 = rest.iter().map(|q| q.total_ms).sum();
        let calls: u64 = rest.iter().map(|q| q.count).sum();
        let _ = writeln!(
            out,
            "# MISC 0xMISC                             {:>7} {:>4.1}% {:>7}         <{} ITEMS>",
            duration(rest_ms),
            share(rest_ms, total_ms),
            calls,
            rest.len()
        );
    }

    if !digest.regressions.is_empty() {
        let _ = writeln!(out, "\n# Regressions against the previous period");
        for r in &digest.regressions {
            let change = match r.previous_p95_ms {
                Some(before) => format!("p95 {} -> {}", duration(before), duration(r.p95_ms)),
                None => format!("new, p95 {}", duration(r.p95_ms)),
            };
            let _ = writeln!(out, "#   0x{} {:<24} {}", r.id, change, item(&r.fingerprint));
        }
    }

    for (rank, q) in digest.queries.iter().take(shown).enumerate() {
        detail(&mut out, rank + 1, q, total_ms, &local);
    }
    out
}

fn detail(out: &mut String, rank: usize, q: &QueryRow, total_ms: f64, local: &dyn Fn(&DateTime<Utc>) -> String) {
    let _ = writeln!(out, "\n# Query {rank}: ID 0x{} ({})", q.id, q.dbms);
    if q.first_seen == q.last_seen {
        let _ = writeln!(out, "# Time range: all events occurred at {}", local(&q.first_seen));
    } else {
        let _ = writeln!(out, "# Time range: {} to {}", local(&q.first_seen), local(&q.last_seen));
    }
    let _ = writeln!(out, "# Attribute    pct   total     avg     95%     max");
    let _ = writeln!(out, "# ============ === ======= ======= ======= =======");
    let _ = writeln!(out, "# Count        {:>3} {:>7}", "", q.count);
    let _ = writeln!(
        out,
        "# Exec time    {:>3.0} {:>7} {:>7} {:>7} {:>7}",
        share(q.total_ms, total_ms),
        duration(q.total_ms),
        duration(q.avg_ms),
        duration(q.p95_ms),
        duration(q.max_ms)
    );
    let _ = writeln!(out, "# Lock time    {:>3} {:>7}", "", duration(q.lock_ms));
    let _ = writeln!(out, "# Rows sent    {:>3} {:>7}", "", q.rows_sent);
    let _ = writeln!(out, "# Rows examine {:>3} {:>7}", "", q.rows_examined);
    let _ = writeln!(out, "# String:");
    let _ = writeln!(out, "# Databases    {}", q.db.as_deref().unwrap_or(""));
    let _ = writeln!(out, "# Hosts        {}", q.host.as_deref().unwrap_or(""));
    let _ = writeln!(out, "# Users        {}", q.user.as_deref().unwrap_or(""));
    let _ = writeln!(out, "# Module       {}", q.module);
    let _ = writeln!(out, "# Fingerprint  {}", q.fingerprint);
    let _ = writeln!(out, "{}\\G", q.example.trim_end());
}

/// pt-query-digest's compact durations: `726ms`, `91us`, `1.23s`, `2m`.
pub(crate) fn duration(ms: f64) -> String {
    if ms <= 0.0 {
        "0".into()
    } else if ms < 1.0 {
        format!("{:.0}us", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 100_000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else if ms < 6_000_000.0 {
        format!("{:.0}s", ms / 1000.0)
    } else {
        format!("{:.1}h", ms / 3_600_000.0)
    }
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { 100.0 * part / whole } else { 0.0 }
}

/// The profile's "Item": the statement kind and its first table, as pt-query-digest's
/// distillation shows (`SELECT orders`), read from a statement or a fingerprint.
pub(crate) fn item(statement: &str) -> String {
    let words: Vec<&str> = statement.split_whitespace().take(64).collect();
    let verb = words.first().map(|w| w.to_uppercase()).unwrap_or_default();
    let after = match verb.as_str() {
        "SELECT" | "DELETE" => "from",
        "INSERT" | "REPLACE" => "into",
        "UPDATE" => "update",
        _ => return statement.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(40).collect(),
    };
    let table = words.iter().position(|w| w.eq_ignore_ascii_case(after)).and_then(|i| words.get(i + 1));
    match table {
        Some(t) => format!("{verb} {}", t.trim_matches(|c: char| matches!(c, '`' | '"' | '(' | ')' | ';' | ','))),
        None => verb,
    }
}
