//! Where alerts go once a rule fires: the store on disk (for `/api/v1/alerts` and
//! `sluice alerts`), live subscribers (SSE), webhooks, and `/metrics`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use sluice_core::Config;
use sluice_detect::alerts::store::StoreError;
use sluice_detect::alerts::{Alert, AlertFilter, AlertStore, AlertUpdate, Change};
use tokio::sync::broadcast;
use tracing::{error, warn};

use crate::PipelineError;
use crate::metrics::Metrics;
use crate::webhook::Webhooks;

/// Live subscribers that fall this far behind skip ahead.
const SUBSCRIBER_BUFFER: usize = 256;

pub struct AlertHub {
    store: Mutex<AlertStore>,
    live: broadcast::Sender<AlertUpdate>,
    /// Set when the server shuts down, so live streams end and graceful shutdown is not
    /// held up by subscribers that would otherwise stay connected for ever.
    closing: tokio::sync::watch::Sender<bool>,
    webhooks: Option<Webhooks>,
    metrics: Arc<Metrics>,
}

impl AlertHub {
    pub(crate) fn open(data_dir: &Path, config: &Config, metrics: Arc<Metrics>) -> Result<AlertHub, PipelineError> {
        let store = AlertStore::open(&data_dir.join("alerts")).map_err(|e| match e {
            StoreError::Io { path, source } => PipelineError::Io { path, source },
        })?;
        metrics.set_open_alerts(0);
        let ui_base = format!("http://{}", config.listen());
        let webhooks = Webhooks::start(config.alerts.webhooks.clone(), ui_base, config.timezone(), metrics.clone());
        let (live, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let (closing, _) = tokio::sync::watch::channel(false);
        Ok(AlertHub { store: Mutex::new(store), live, closing, webhooks, metrics })
    }

    /// Stores, broadcasts, sends and counts alert changes, in order.
    pub(crate) fn publish(&self, updates: Vec<AlertUpdate>) {
        if updates.is_empty() {
            return;
        }
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        for update in updates {
            if let Err(e) = store.upsert(&update.alert) {
                error!(error = %e, alert = %update.alert.id, "cannot store alert");
            }
            if update.change == Change::Opened {
                self.metrics.count_alert(update.alert.kind.as_str(), update.alert.severity.as_str());
                warn!(
                    id = %update.alert.id,
                    severity = update.alert.severity.as_str(),
                    "alert: {}",
                    update.alert.summary
                );
            }
            if let Some(webhooks) = &self.webhooks {
                webhooks.send(&update);
            }
            let _ = self.live.send(update);
        }
        self.metrics.set_open_alerts(store.open_count() as u64);
    }

    pub fn list(&self, filter: &AlertFilter) -> Vec<Alert> {
        self.store.lock().unwrap_or_else(|p| p.into_inner()).list(filter)
    }

    pub fn get(&self, id: &str) -> Option<Alert> {
        self.store.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    /// Alert changes from now on, and a flag that turns true when streams should end.
    pub fn subscribe(&self) -> (broadcast::Receiver<AlertUpdate>, tokio::sync::watch::Receiver<bool>) {
        (self.live.subscribe(), self.closing.subscribe())
    }

    /// Becomes true when live streams should end (shutdown).
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every live stream (on shutdown).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }
}
