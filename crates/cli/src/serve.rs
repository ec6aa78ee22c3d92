//! `sluice serve`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use sluice_core::Config;
use sluice_ingest::tail::{TailOptions, Tailer};
use sluice_server::{AppState, Pipeline, PipelineOptions, app};
use tracing::{info, warn};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7080, or `listen` from the config]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

pub fn run(config: Config, data_dir: &Path, args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen.clone().unwrap_or_else(|| config.listen().to_owned());
    let config = Arc::new(config);
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        let pipeline = Pipeline::start(config.clone(), data_dir, PipelineOptions::default())
            .with_context(|| format!("opening data dir {}", data_dir.display()))?;
        let listener = bind(&listen).await.map_err(|e| crate::UsageError(format!("cannot listen on {listen}: {e}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let tailer = Tailer::new(
            config.sources.clone(),
            pipeline.parser_factory(),
            pipeline.wal().clone(),
            TailOptions::default(),
            pipeline.restored_checkpoints(),
        );
        pipeline.metrics().watch_tailer(tailer.stats());
        let tailer_stop = stop.clone();
        let tailer_thread = std::thread::Builder::new().name("tailer".into()).spawn(move || tailer.run(tailer_stop))?;

        let pipeline = Arc::new(pipeline);
        let daily_digests = sluice_server::digest::spawn_daily(pipeline.clone(), data_dir.to_owned());
        let state = AppState::new(pipeline.clone());
        info!(address = %listener.local_addr()?, data_dir = %data_dir.display(), "sluice is serving");
        let hub = pipeline.alerts().clone();
        let stopping = async move {
            shutdown_signal().await;
            // Live alert streams would hold graceful shutdown open for ever.
            hub.close_streams();
        };
        axum::serve(listener, app(state)).with_graceful_shutdown(stopping).await?;

        info!("shutting down: stopping the tailer and flushing");
        daily_digests.abort();
        let _ = daily_digests.await;
        stop.store(true, Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(move || tailer_thread.join()).await;
        match Arc::try_unwrap(pipeline) {
            Ok(pipeline) => pipeline.shutdown().await?,
            Err(pipeline) => {
                warn!("requests still in flight at shutdown; flushing without stopping them");
                pipeline.flush().await?;
            }
        }
        info!("stopped cleanly");
        Ok(())
    })
}

/// Connections the kernel queues before `accept`: a burst of shippers reconnecting at
/// once (the 10,000-connection drill) must not overflow it (std's default is 128).
const LISTEN_BACKLOG: u32 = 4096;

async fn bind(listen: &str) -> std::io::Result<tokio::net::TcpListener> {
    let addr = tokio::net::lookup_host(listen)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolves to nothing"))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
