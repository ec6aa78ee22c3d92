//! `report.html`: one self-contained page a reviewer opens offline (no scripts, no
//! external assets): the window at a glance, events and errors per module over time as
//! inline SVG, the alerts, the top errors, the first and last error, the slow queries.
//! Every string from the logs is escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;
use sluice_core::Event;
use sluice_detect::alerts::Alert;
use sluice_digest::{Digest, HTML_STYLE, escape_html as escape, write_profile_html};

use super::summary::{Minute, Summary};

/// At most this many bars in a timeline.
const MAX_BUCKETS: i64 = 120;
const PALETTE: [(&str, &str); 7] = [
    ("product", "#4a7bd0"),
    ("order", "#2e9e6a"),
    ("payment", "#d08b2c"),
    ("inventory", "#8a5cc2"),
    ("user", "#3aa7b8"),
    ("logistics", "#9c6b3c"),
    ("other", "#9aa0a6"),
];
const EXTRA_COLOURS: [&str; 6] = ["#c2185b", "#5d4037", "#00897b", "#7cb342", "#5c6bc0", "#f4511e"];

pub(super) fn render(summary: &Summary, alerts: &[&Alert], digest: &Digest, tz: Tz) -> String {
    let local = |t: &DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string();
    let window = format!("{} – {} ({})", local(&summary.from), local(&summary.to), tz.name());
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Incident review {}</title><style>{HTML_STYLE}.err{{color:#c0392b}}.legend span{{margin-right:1em}}\
         .sw{{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}}</style></head><body>\
         <h1>Incident review</h1><p class=muted>{}",
        escape(&window),
        escape(&window)
    );
    if !summary.modules.is_empty() {
        let _ = write!(out, " · modules: {}", escape(&summary.modules.join(", ")));
    }
    if !summary.query.trim().is_empty() && summary.query.trim() != "*" {
        let _ = write!(out, " · query: <code>{}</code>", escape(&summary.query));
    }
    out.push_str("</p><div class=cards>");
    for (label, value) in [
        ("events", summary.events.to_string()),
        ("errors", summary.errors.to_string()),
        ("alerts", summary.alerts.to_string()),
        ("slow statements", summary.slow_queries.to_string()),
        ("modules", summary.by_module.len().to_string()),
    ] {
        let _ = write!(out, "<div class=card><b>{}</b>{}</div>", escape(&value), escape(label));
    }
    out.push_str("</div>");

    let modules: Vec<&str> = summary.by_module.keys().map(String::as_str).collect();
    let (step, buckets) = buckets(summary);
    out.push_str("<h2>Events per module</h2>");
    stacked_chart(&mut out, &buckets, &modules, step, tz, |m| &m.by_module);
    out.push_str("<h2>Errors per module</h2>");
    if summary.errors == 0 {
        out.push_str("<p class=muted>no errors in this window</p>");
    } else {
        stacked_chart(&mut out, &buckets, &modules, step, tz, |m| &m.errors_by_module);
    }
    out.push_str("<p class=legend>");
    for module in &modules {
        let _ = write!(out, "<span><i class=sw style=\"background:{}\"></i>{}</span>", colour(module), escape(module));
    }
    out.push_str("</p>");

    out.push_str("<h2>Alerts</h2>");
    if alerts.is_empty() {
        out.push_str("<p class=muted>none</p>");
    } else {
        out.push_str("<table><tr><th>Severity<th>Kind<th>Module<th>Start<th>End<th>Count<th>Summary</tr>");
        for alert in alerts {
            let _ = write!(
                out,
                "<tr><td>{}<td>{}<td>{}<td>{}<td>{}<td class=n>{}<td>{}</tr>",
                escape(&format!("{:?}", alert.severity)),
                escape(alert.kind.as_str()),
                escape(&alert.module),
                local(&alert.start),
                local(&alert.end),
                alert.count,
                escape(&alert.summary)
            );
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Top errors</h2>");
    if summary.top_errors.is_empty() {
        out.push_str("<p class=muted>none</p>");
    } else {
        out.push_str("<table><tr><th>Count<th>Module<th>Source<th>First<th>Last<th>Message</tr>");
        for group in &summary.top_errors {
            let _ = write!(
                out,
                "<tr><td class=n>{}<td>{}<td>{}<td>{}<td>{}<td><code>{}</code></tr>",
                group.count,
                escape(&group.module),
                escape(&group.source),
                local(&group.first),
                local(&group.last),
                escape(&group.message)
            );
        }
        out.push_str("</table>");
    }
    for (title, event) in [("First error", &summary.first_error), ("Last error", &summary.last_error)] {
        if let Some(event) = event {
            error_detail(&mut out, title, event, &local);
        }
    }

    out.push_str("<h2>Slow queries</h2>");
    if digest.queries.is_empty() {
        out.push_str("<p class=muted>none</p>");
    } else {
        let _ = write!(
            out,
            "<p class=muted>{} timed statements, {} over {} ms; top {} fingerprints by total time \
             (all of them in slow_queries.json)</p>",
            digest.total_queries,
            digest.slow_queries,
            digest.threshold_ms,
            digest.queries.len().min(20)
        );
        write_profile_html(&mut out, digest, 20);
    }
    let _ = writeln!(
        out,
        "<p class=muted>Generated by sluice at {} UTC · bundle version {}</p></body></html>",
        summary.generated_at.format("%Y-%m-%d %H:%M:%S"),
        summary.bundle_version
    );
    out
}

fn error_detail(out: &mut String, title: &str, event: &Event, local: &dyn Fn(&DateTime<Utc>) -> String) {
    let _ = write!(
        out,
        "<h2>{title}</h2><p>{} · {} · {} · <span class=err>{}</span></p><pre>{}</pre>",
        local(&event.timestamp),
        escape(&event.module),
        escape(&event.source),
        escape(event.level.as_str()),
        escape(&event.message)
    );
}

/// Merges the per-minute counts into at most [`MAX_BUCKETS`] equal buckets covering the
/// window; returns the bucket length and the buckets (empty ones included).
fn buckets(summary: &Summary) -> (TimeDelta, Vec<Minute>) {
    let span = (summary.to - summary.from).num_minutes().max(1);
    let minutes = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 10080]
        .into_iter()
        .find(|m| span / m <= MAX_BUCKETS)
        .unwrap_or_else(|| span / MAX_BUCKETS + 1);
    let step = TimeDelta::minutes(minutes);
    let start = summary.from.duration_trunc(step).unwrap_or(summary.from);
    let count = ((summary.to - start).num_minutes() / minutes + 1).clamp(1, MAX_BUCKETS + 1) as usize;
    let mut out: Vec<Minute> =
        (0..count).map(|i| Minute { minute: start + step * i as i32, ..Minute::default() }).collect();
    for minute in &summary.per_minute {
        let i = ((minute.minute - start).num_minutes() / minutes).clamp(0, count as i64 - 1) as usize;
        let bucket = &mut out[i];
        bucket.events += minute.events;
        bucket.errors += minute.errors;
        for (target, source) in
            [(&mut bucket.by_module, &minute.by_module), (&mut bucket.errors_by_module, &minute.errors_by_module)]
        {
            for (module, n) in source {
                *target.entry(module.clone()).or_default() += n;
            }
        }
    }
    (step, out)
}

fn stacked_chart(
    out: &mut String,
    buckets: &[Minute],
    modules: &[&str],
    step: TimeDelta,
    tz: Tz,
    counts: impl Fn(&Minute) -> &BTreeMap<String, u64>,
) {
    let (width, height, pad) = (1000.0, 200.0, 24.0);
    let total = |b: &Minute| counts(b).values().sum::<u64>();
    let max = buckets.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let slot = (width - 2.0 * pad) / buckets.len().max(1) as f64;
    let label_every = (buckets.len() / 8).max(1);
    let _ = write!(out, "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=img>");
    for (i, bucket) in buckets.iter().enumerate() {
        let x = pad + slot * i as f64;
        let mut y = height - pad;
        let when = bucket.minute.with_timezone(&tz).format("%m-%d %H:%M").to_string();
        for module in modules {
            let n = counts(bucket).get(*module).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = (height - 2.0 * pad) * n as f64 / max;
            y -= h;
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {n}</title></rect>",
                x + 0.5,
                (slot - 1.0).max(0.5),
                colour(module),
                escape(&when),
                escape(module)
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=start>{}</text>",
                x,
                height - 6.0,
                escape(&when)
            );
        }
    }
    let _ = write!(out, "<text x=\"{pad}\" y=\"14\">max {} per {} min</text></svg>", max as u64, step.num_minutes());
}

fn colour(module: &str) -> &'static str {
    if let Some((_, c)) = PALETTE.iter().find(|(m, _)| *m == module) {
        return c;
    }
    let hash = module.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    EXTRA_COLOURS[hash % EXTRA_COLOURS.len()]
}
