//! A self-contained HTML page (no scripts, no external assets): summary, the query-time
//! histogram and slow statements per hour as inline SVG, regressions, and the profile
//! with each query's details. Every string from the logs is escaped.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::text::{duration, item};
use crate::{Digest, QueryRow};

pub const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}table{border-collapse:collapse;width:100%}\
th,td{padding:4px 8px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}code,pre{font:12px ui-monospace,monospace}\
pre{white-space:pre-wrap;background:#f6f8fa;padding:8px;border-radius:4px}.muted{color:#777}\
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #e3e3e3;border-radius:6px;padding:8px 14px}\
.card b{display:block;font-size:1.4em}svg text{font:11px system-ui,sans-serif;fill:#444}\
.new{color:#b35900}.worse{color:#c0392b}";

pub fn render_html(digest: &Digest) -> String {
    let tz: Tz = digest.timezone.parse().unwrap_or(Tz::UTC);
    let local = |t: &DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let window = match (&digest.from, &digest.to) {
        (Some(from), Some(to)) => format!("{} – {} ({})", local(from), local(to), tz.name()),
        _ => "all statements".into(),
    };
    let total_ms: f64 = digest.queries.iter().map(|q| q.total_ms).sum();
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Slow-query digest {}</title><style>{STYLE}</style></head><body>",
        escape(&window)
    );
    let _ = write!(out, "<h1>Slow-query digest</h1><p class=muted>{}</p><div class=cards>", escape(&window));
    for (label, value) in [
        ("timed statements", digest.total_queries.to_string()),
        (&*format!("over {} ms", digest.threshold_ms), digest.slow_queries.to_string()),
        ("fingerprints", digest.queries.len().to_string()),
        ("total time", duration(total_ms)),
    ] {
        let _ = write!(out, "<div class=card><b>{}</b>{}</div>", escape(&value), escape(label));
    }
    out.push_str("</div>");

    out.push_str("<h2>Query time distribution</h2>");
    let labels = ["<1ms", "<10ms", "<100ms", "<500ms", "<1s", "<5s", "<10s", "≥10s"];
    let bars: Vec<(String, u64)> =
        digest.histogram.iter().enumerate().map(|(i, b)| (labels.get(i).unwrap_or(&"").to_string(), b.count)).collect();
    bar_chart(&mut out, &bars);

    out.push_str("<h2>Slow statements per hour</h2>");
    let hours: Vec<(String, u64)> = digest
        .per_hour
        .iter()
        .map(|h| (h.hour.with_timezone(&tz).format("%m-%d %H:00").to_string(), h.count))
        .collect();
    if hours.is_empty() {
        out.push_str("<p class=muted>none</p>");
    } else {
        bar_chart(&mut out, &hours);
    }

    if !digest.regressions.is_empty() {
        out.push_str(
            "<h2>Regressions against the previous period</h2><table><tr><th>Query ID<th>Change<th>Calls<th>Item</tr>",
        );
        for r in &digest.regressions {
            let change = match r.previous_p95_ms {
                Some(before) => {
                    format!("<span class=worse>p95 {} → {}</span>", duration(before), duration(r.p95_ms))
                }
                None => format!("<span class=new>new</span>, p95 {}", duration(r.p95_ms)),
            };
            let _ = write!(
                out,
                "<tr><td><code>0x{}</code><td>{change}<td class=n>{}<td>{}</tr>",
                escape(&r.id),
                r.count,
                escape(&item(&r.fingerprint))
            );
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Profile</h2>");
    write_profile(&mut out, digest, usize::MAX);
    for (rank, q) in digest.queries.iter().enumerate() {
        detail(&mut out, rank + 1, q, &local);
    }
    out.push_str("</body></html>\n");
    out
}

/// The profile table (rank, id, total, share, calls, avg, p95, max, module, example) of
/// the top `limit` fingerprints; ids link to `#qN` detail sections.
pub fn write_profile(out: &mut String, digest: &Digest, limit: usize) {
    let total_ms: f64 = digest.queries.iter().map(|q| q.total_ms).sum();
    out.push_str("<table><tr><th>#<th>Query ID<th>Total<th>%<th>Calls<th>Avg<th>p95<th>Max<th>Module<th>Item</tr>");
    for (rank, q) in digest.queries.iter().take(limit).enumerate() {
        let share = if total_ms > 0.0 { 100.0 * q.total_ms / total_ms } else { 0.0 };
        let _ = write!(
            out,
            "<tr><td class=n>{}<td><a href=\"#q{}\"><code>0x{}</code></a><td class=n>{}<td class=n>{share:.1}\
             <td class=n>{}<td class=n>{}<td class=n>{}<td class=n>{}<td>{}<td>{}</tr>",
            rank + 1,
            rank + 1,
            escape(&q.id),
            duration(q.total_ms),
            q.count,
            duration(q.avg_ms),
            duration(q.p95_ms),
            duration(q.max_ms),
            escape(&q.module),
            escape(&item(&q.example))
        );
    }
    out.push_str("</table>");
}

fn detail(out: &mut String, rank: usize, q: &QueryRow, local: &dyn Fn(&DateTime<Utc>) -> String) {
    let _ = write!(
        out,
        "<h2 id=q{rank}>Query {rank} <code>0x{}</code> <span class=muted>{}</span></h2>\
         <table><tr><th>First seen<td>{}<th>Last seen<td>{}</tr>\
         <tr><th>Lock time<td>{}<th>Rows examined / sent<td>{} / {}</tr>\
         <tr><th>Database<td>{}<th>User @ host<td>{} @ {}</tr></table>\
         <p>Fingerprint</p><pre>{}</pre><p>Slowest example ({})</p><pre>{}</pre>",
        escape(&q.id),
        escape(&q.dbms),
        local(&q.first_seen),
        local(&q.last_seen),
        duration(q.lock_ms),
        q.rows_examined,
        q.rows_sent,
        escape(q.db.as_deref().unwrap_or("")),
        escape(q.user.as_deref().unwrap_or("")),
        escape(q.host.as_deref().unwrap_or("")),
        escape(&q.fingerprint),
        duration(q.max_ms),
        escape(&q.example)
    );
}

/// A horizontal-axis bar chart as inline SVG.
fn bar_chart(out: &mut String, bars: &[(String, u64)]) {
    let (width, height, pad) = (1000.0, 180.0, 24.0);
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let slot = (width - 2.0 * pad) / bars.len().max(1) as f64;
    let label_every = (bars.len() / 16).max(1);
    let _ = write!(out, "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=img>");
    for (i, (label, n)) in bars.iter().enumerate() {
        let h = (height - 2.0 * pad) * (*n as f64) / max;
        let x = pad + slot * i as f64;
        let y = height - pad - h;
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a7bd0\"><title>{}: {n}</title></rect>",
            x + 1.0,
            (slot - 2.0).max(1.0),
            escape(label)
        );
        if *n > 0 && bars.len() <= 24 {
            let _ = write!(out, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=middle>{n}</text>", x + slot / 2.0, y - 3.0);
        }
        if i % label_every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=middle>{}</text>",
                x + slot / 2.0,
                height - 6.0,
                escape(label)
            );
        }
    }
    out.push_str("</svg>");
}

/// Text as HTML content or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
