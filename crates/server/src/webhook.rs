//! Alert notifications over HTTP: the alert JSON for generic receivers, or the robot
//! message formats of DingTalk and WeCom (企业微信). One sender thread delivers in order,
//! retrying failures with backoff; the queue is bounded, so a dead receiver cannot make
//! the pipeline wait or grow memory.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use chrono_tz::Tz;
use serde_json::{Value, json};
use sluice_core::{WebhookConfig, WebhookFormat};
use sluice_detect::alerts::{AlertUpdate, Change};
use tracing::{info, warn};

use crate::metrics::Metrics;

const QUEUE: usize = 1024;
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Webhooks {
    hooks: Arc<Vec<WebhookConfig>>,
    queue: SyncSender<(usize, AlertUpdate)>,
    metrics: Arc<Metrics>,
}

impl Webhooks {
    /// Starts the sender thread; `ui_base` makes links back to the search (e.g. `http://host:7080`).
    pub(crate) fn start(hooks: Vec<WebhookConfig>, ui_base: String, tz: Tz, metrics: Arc<Metrics>) -> Option<Webhooks> {
        if hooks.is_empty() {
            return None;
        }
        let hooks = Arc::new(hooks);
        let (queue, rx) = sync_channel(QUEUE);
        let (thread_hooks, thread_metrics) = (hooks.clone(), metrics.clone());
        let spawned = std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || deliver_all(rx, &thread_hooks, &ui_base, tz, &thread_metrics));
        if let Err(error) = spawned {
            warn!(%error, "cannot start the webhook sender; alerts will not be sent");
            return None;
        }
        Some(Webhooks { hooks, queue, metrics })
    }

    /// Queues an alert change for every hook that wants it. Updates in between are not
    /// sent: receivers get opened, escalated and closed.
    pub(crate) fn send(&self, update: &AlertUpdate) {
        if update.change == Change::Updated {
            return;
        }
        for (i, hook) in self.hooks.iter().enumerate() {
            if update.alert.severity > hook.min_severity {
                continue;
            }
            match self.queue.try_send((i, update.clone())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.metrics.count_webhook("dropped");
                    warn!(url = %hook.url, alert = %update.alert.id, "webhook queue full; alert not sent");
                }
                Err(TrySendError::Disconnected(_)) => self.metrics.count_webhook("dropped"),
            }
        }
    }
}

fn deliver_all(rx: Receiver<(usize, AlertUpdate)>, hooks: &[WebhookConfig], ui_base: &str, tz: Tz, metrics: &Metrics) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(TIMEOUT)).http_status_as_error(false).build().into();
    for (i, update) in rx {
        let hook = &hooks[i];
        let body = body(hook.format, &update, ui_base, tz);
        let mut delay = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            match post(&agent, &hook.url, &body) {
                Ok(()) => {
                    metrics.count_webhook("ok");
                    info!(url = %hook.url, alert = %update.alert.id, change = ?update.change, "alert sent");
                    break;
                }
                Err(error) if attempt == ATTEMPTS => {
                    metrics.count_webhook("failed");
                    warn!(url = %hook.url, alert = %update.alert.id, %error, "giving up on webhook after {ATTEMPTS} attempts");
                }
                Err(error) => {
                    warn!(url = %hook.url, %error, attempt, "webhook failed; retrying in {delay:?}");
                    std::thread::sleep(delay);
                    delay *= 2;
                }
            }
        }
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> Result<(), String> {
    let mut response =
        agent.post(url).header("Content-Type", "application/json").send(body.to_string()).map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    // DingTalk and WeCom answer 200 with `{"errcode": N}`; non-zero means refused.
    if let Ok(answer) = serde_json::from_str::<Value>(&text)
        && let Some(code) = answer.get("errcode").and_then(Value::as_i64)
        && code != 0
    {
        return Err(format!("errcode {code}: {}", answer["errmsg"].as_str().unwrap_or("")));
    }
    Ok(())
}

/// The request body a receiver of `format` expects.
pub(crate) fn body(format: WebhookFormat, update: &AlertUpdate, ui_base: &str, tz: Tz) -> Value {
    let alert = &update.alert;
    let change = match update.change {
        Change::Opened => "opened",
        Change::Updated => "updated",
        Change::Escalated => "escalated",
        Change::Closed => "closed",
    };
    let link = search_link(ui_base, &alert.search, alert.start, alert.end);
    if format == WebhookFormat::Generic {
        return json!({ "change": change, "alert": alert, "link": link });
    }
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string();
    let title = format!("[{}] {} {} ({change})", alert.severity.as_str(), alert.module, alert.kind.as_str());
    let mut text = format!("### {title}\n\n{}\n\n", alert.summary);
    text.push_str(&format!("- Start: {} ({})\n", local(alert.start), tz.name()));
    text.push_str(&format!("- Last event: {}\n", local(alert.end)));
    text.push_str(&format!("- Events: {} (peak {} in {}s)\n", alert.count, alert.peak, alert.window_secs));
    for m in alert.top_messages.iter().take(3) {
        text.push_str(&format!("- {} × {}\n", m.count, m.message));
    }
    text.push_str(&format!("\n[Search these events]({link})\n"));
    match format {
        WebhookFormat::Dingtalk => json!({ "msgtype": "markdown", "markdown": { "title": title, "text": text } }),
        _ => json!({ "msgtype": "markdown", "markdown": { "content": text } }),
    }
}

fn search_link(
    base: &str,
    query: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> String {
    let to = to + chrono::TimeDelta::seconds(1);
    format!(
        "{base}/?q={}&from={}&to={}",
        percent_encode(query),
        percent_encode(&from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        percent_encode(&to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
