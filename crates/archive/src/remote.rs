//! The archive's copy in an object store (S3 or S3-compatible, or a mounted directory),
//! through the `object_store` crate, so the archive can live where a cluster reads it.
//!
//! The data dir stays the write stage: files are written, fsynced and listed locally
//! first, then [`ArchiveHandle::sync_remote`] mirrors the manifest's files to the store
//! (a PUT makes an object appear whole, so readers never see half a file), uploads the
//! manifest, deletes objects the manifest no longer lists (compaction inputs, expired
//! days), and drops local copies of days older than `keep_local_days` once they are
//! uploaded. Readers fall back to the store for files no longer kept locally.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tracing::{info, warn};

use crate::manifest::MANIFEST_FILE;
use crate::{ArchiveError, ArchiveHandle, io_err, partition_day};

/// Files larger than this are uploaded in parts.
const MULTIPART_BYTES: u64 = 32 << 20;

pub struct RemoteArchive {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    /// The store is async; its own small runtime lets blocking threads (maintenance,
    /// exports, the CLI) call it. Taken on drop.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for RemoteArchive {
    fn drop(&mut self) {
        // May run inside another runtime (serve's shutdown): never block there.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub uploaded: usize,
    pub deleted_remote: usize,
    pub dropped_local: usize,
}

fn remote_err(url: &str) -> impl FnOnce(object_store::Error) -> ArchiveError + '_ {
    move |e| ArchiveError::Remote { url: url.to_owned(), message: e.to_string() }
}

impl RemoteArchive {
    /// `s3://bucket[/prefix]` (with `options` such as `endpoint`, `region`, `allow_http`,
    /// `access_key_id`; `AWS_*` environment variables are read too) or
    /// `file:///absolute/path`.
    pub fn connect(url: &str, options: &BTreeMap<String, String>) -> Result<RemoteArchive, ArchiveError> {
        let bad = |message: String| ArchiveError::Remote { url: url.to_owned(), message };
        // reqwest is built without its own TLS provider; use ring, as the webhook client
        // does. Fails harmlessly when a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if let Some(path) = url.strip_prefix("file://") {
            std::fs::create_dir_all(path).map_err(|e| bad(e.to_string()))?;
            (Arc::new(LocalFileSystem::new_with_prefix(path).map_err(|e| bad(e.to_string()))?), String::new())
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name".into()));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (key, value) in options {
                let parsed = key
                    .parse::<AmazonS3ConfigKey>()
                    .or_else(|_| format!("aws_{key}").parse::<AmazonS3ConfigKey>())
                    .map_err(|_| bad(format!("unknown option `{key}` in archive.options")))?;
                builder = builder.with_config(parsed, value);
            }
            (Arc::new(builder.build().map_err(|e| bad(e.to_string()))?), prefix.trim_matches('/').to_owned())
        } else {
            return Err(bad("expected s3://bucket[/prefix] or file:///path".into()));
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the upload runtime: {e}")))?;
        Ok(RemoteArchive { store, prefix, url: url.to_owned(), runtime: Some(runtime) })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.as_ref().expect("the runtime lives until drop").block_on(future)
    }

    fn location(&self, relative: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(relative)
        } else {
            StorePath::from(format!("{}/{relative}", self.prefix))
        }
    }

    /// Every object under the prefix, relative to it.
    pub fn list(&self) -> Result<HashSet<String>, ArchiveError> {
        let prefix = (!self.prefix.is_empty()).then(|| StorePath::from(self.prefix.as_str()));
        self.block_on(async {
            let mut listing = self.store.list(prefix.as_ref());
            let mut out = HashSet::new();
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(remote_err(&self.url))?;
                let full = meta.location.to_string();
                let relative = match self.prefix.is_empty() {
                    true => full,
                    false => full.strip_prefix(&format!("{}/", self.prefix)).unwrap_or(&full).to_owned(),
                };
                out.insert(relative);
            }
            Ok(out)
        })
    }

    pub fn upload_file(&self, local: &Path, relative: &str) -> Result<(), ArchiveError> {
        let mut file = File::open(local).map_err(io_err(local))?;
        let size = file.metadata().map_err(io_err(local))?.len();
        let location = self.location(relative);
        self.block_on(async {
            if size <= MULTIPART_BYTES {
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes).map_err(io_err(local))?;
                self.store.put(&location, PutPayload::from(bytes)).await.map_err(remote_err(&self.url))?;
                return Ok(());
            }
            let upload = self.store.put_multipart(&location).await.map_err(remote_err(&self.url))?;
            let mut writer = WriteMultipart::new(upload);
            let mut chunk = vec![0; 8 << 20];
            loop {
                let n = file.read(&mut chunk).map_err(io_err(local))?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(4).await.map_err(remote_err(&self.url))?;
                writer.write(&chunk[..n]);
            }
            writer.finish().await.map_err(remote_err(&self.url))?;
            Ok(())
        })
    }

    pub fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<(), ArchiveError> {
        let location = self.location(relative);
        self.block_on(self.store.put(&location, PutPayload::from(bytes))).map(drop).map_err(remote_err(&self.url))
    }

    pub fn delete(&self, relative: &str) -> Result<(), ArchiveError> {
        let location = self.location(relative);
        match self.block_on(self.store.delete(&location)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote_err(&self.url)(e)),
        }
    }

    /// Streams an object into `out` (a temporary file), in bounded memory.
    pub fn download(&self, relative: &str, out: &mut File) -> Result<(), ArchiveError> {
        let location = self.location(relative);
        self.block_on(async {
            let got = self.store.get(&location).await.map_err(remote_err(&self.url))?;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(remote_err(&self.url))?;
                out.write_all(&chunk)
                    .map_err(|e| ArchiveError::Remote { url: self.url.clone(), message: e.to_string() })?;
            }
            Ok(())
        })
    }
}

impl ArchiveHandle {
    /// Mirrors the archive to `remote` (see the module docs). Local copies of days before
    /// `today - keep_local_days` are removed once the store has them.
    pub fn sync_remote(&self, keep_local_days: u32, today: NaiveDate) -> Result<SyncReport, ArchiveError> {
        let Some(remote) = self.shared.remote.get() else { return Ok(SyncReport::default()) };
        let manifest = self.shared.snapshot();
        let mut present = remote.list()?;
        let mut report = SyncReport::default();
        let root = &self.shared.root;
        for file in &manifest.files {
            if present.contains(&file.path) {
                continue;
            }
            let local = root.join(&file.path);
            if !local.exists() {
                warn!(path = %file.path, "archive file is neither local nor uploaded; skipped");
                continue;
            }
            remote.upload_file(&local, &file.path)?;
            present.insert(file.path.clone());
            report.uploaded += 1;
        }
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArchiveError::Manifest { path: root.join(MANIFEST_FILE), message: e.to_string() })?;
        remote.put(MANIFEST_FILE, bytes)?;
        let listed: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        for object in &present {
            if object.ends_with(".parquet") && !listed.contains(object.as_str()) {
                remote.delete(object)?;
                report.deleted_remote += 1;
            }
        }
        let keep_from = today - chrono::Days::new(u64::from(keep_local_days));
        for file in &manifest.files {
            let old = partition_day(&file.path).is_some_and(|day| day < keep_from);
            let local = root.join(&file.path);
            if old && present.contains(&file.path) && local.exists() {
                crate::remove_if_present(&local)?;
                report.dropped_local += 1;
            }
        }
        if report != SyncReport::default() {
            info!(
                url = remote.url(),
                uploaded = report.uploaded,
                deleted = report.deleted_remote,
                dropped_local = report.dropped_local,
                "archive synced to the object store"
            );
        }
        Ok(report)
    }
}
