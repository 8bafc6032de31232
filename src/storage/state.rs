//! A folder of oneview's own small files on any object store: the project's
//! state location (`[project] state`: segment membership history, report
//! runs, locks) and the identity tables' commit file in the output location.
//!
//! Every file is written whole with one `put`, which object_store makes
//! atomic (a rename of a staged file on local disk, a single PUT on a cloud
//! store): a crash leaves the previous version, never half of a new one.
//! A state on an object store uses the environment's credentials (as
//! `-o URL` does); tables' `options` do not apply to it.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use url::Url;

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct StateStore {
    url: Url,
    store: Arc<dyn ObjectStore>,
}

impl StateStore {
    /// Small-file access below a folder URL (with a trailing `/`), through
    /// the runtime's object store for it.
    pub fn at(url: Url, runtime: &RuntimeEnv) -> Result<StateStore> {
        let store = runtime.object_store_registry.get_store(&url).map_err(Error::Query)?;
        Ok(StateStore { url, store })
    }

    /// The URL of a file or folder below the state location.
    pub fn url(&self, relative: &str) -> Url {
        self.url
            .join(relative)
            .expect("relative state paths are valid URL paths")
    }

    fn path(&self, relative: &str) -> Result<ObjectPath> {
        let url = self.url(relative);
        if url.scheme() == "file" {
            let file = url
                .to_file_path()
                .map_err(|_| self.error(relative, "not a local path"))?;
            ObjectPath::from_absolute_path(&file).map_err(|e| self.error(relative, &e.to_string()))
        } else {
            ObjectPath::from_url_path(url.path()).map_err(|e| self.error(relative, &e.to_string()))
        }
    }

    fn error(&self, relative: &str, message: &str) -> Error {
        Error::Output {
            target: self.url(relative).to_string(),
            message: message.to_string(),
        }
    }

    /// The file's bytes, or None when it does not exist.
    pub async fn get(&self, relative: &str) -> Result<Option<Bytes>> {
        let path = self.path(relative)?;
        match self.store.get(&path).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the file atomically.
    pub async fn put(&self, relative: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(relative)?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| self.error(relative, &e.to_string()))?;
        Ok(())
    }

    /// Removes the file; one already gone is no error.
    pub async fn delete(&self, relative: &str) -> Result<()> {
        let path = self.path(relative)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(relative, &e.to_string())),
        }
    }

    /// When the file was last written, if it exists.
    pub async fn modified(&self, relative: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let path = self.path(relative)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.last_modified)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Names of the files directly below a folder of the state location.
    pub async fn list(&self, folder: &str) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let prefix = self.path(folder)?;
        let metas: Vec<_> = match self.store.list(Some(&prefix)).try_collect().await {
            Ok(metas) => metas,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_string))
            .collect())
    }

    /// Takes the lock `locks/NAME.lock`. On local disk it is an OS file lock,
    /// which the system releases when the holder exits, even by `kill -9`. On
    /// an object store it is an object created only if absent; one left by a
    /// process of this host that no longer runs is taken over.
    pub async fn lock(&self, name: &str, what: &str) -> Result<StateLock> {
        let relative = format!("locks/{name}.lock");
        let holder = format!(
            "{}\n{}\n{}\n",
            std::process::id(),
            hostname(),
            chrono::Utc::now().to_rfc3339()
        );
        if self.url.scheme() == "file" {
            return self.lock_local(&relative, what, &holder);
        }
        let path = self.path(&relative)?;
        for _ in 0..3 {
            let options = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match self
                .store
                .put_opts(&path, PutPayload::from(holder.clone()), options)
                .await
            {
                Ok(_) => {
                    return Ok(StateLock::Object {
                        store: Arc::clone(&self.store),
                        path: Some(path),
                    });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    // Gone in between: try again.
                    let Some(held) = self.get(&relative).await? else {
                        continue;
                    };
                    let held = String::from_utf8_lossy(&held).to_string();
                    let mut lines = held.lines();
                    let pid: Option<u32> = lines.next().and_then(|p| p.parse().ok());
                    let host = lines.next().unwrap_or("");
                    let since = lines.next().unwrap_or("?");
                    let stale =
                        host == hostname() && pid.is_some_and(|pid| pid != std::process::id() && !process_alive(pid));
                    if stale {
                        log::info!("taking over the stale lock {relative} of process {pid:?}");
                        let _ = self.store.delete(&path).await;
                        continue;
                    }
                    return Err(Error::Busy(format!(
                        "{what} is already running (process {} on {host} since {since}); if it is not, delete {}",
                        pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                        self.url(&relative)
                    )));
                }
                Err(e) => return Err(self.error(&relative, &e.to_string())),
            }
        }
        Err(Error::Busy(format!("{what} is already running; wait for it to finish")))
    }

    /// Runs `work` holding the lock `name` (see `lock`), and releases the
    /// lock whatever the work returns: one run of a report, a resolution or
    /// a segment snapshot at a time.
    pub async fn with_lock<T, F, Fut>(&self, name: &str, what: &str, work: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let lock = self.lock(name, what).await?;
        let result = work().await;
        lock.release().await;
        result
    }

    fn lock_local(&self, relative: &str, what: &str, holder: &str) -> Result<StateLock> {
        use std::io::{Read, Seek, Write};
        let file = self
            .url(relative)
            .to_file_path()
            .map_err(|_| self.error(relative, "not a local path"))?;
        let io = |e: std::io::Error| Error::io(format!("cannot take the lock {}", file.display()), e);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut handle = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&file)
            .map_err(io)?;
        match handle.try_lock() {
            Ok(()) => {
                // Who holds it, for the message another process prints.
                handle.set_len(0).map_err(io)?;
                handle.rewind().map_err(io)?;
                handle.write_all(holder.as_bytes()).map_err(io)?;
                Ok(StateLock::File(handle))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut held = String::new();
                let _ = handle.read_to_string(&mut held);
                let mut lines = held.lines();
                let pid = lines.next().unwrap_or("?");
                let host = lines.next().unwrap_or("?");
                let since = lines.next().unwrap_or("?");
                Err(Error::Busy(format!(
                    "{what} is already running (process {pid} on {host} since {since}); wait for it to finish"
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// Held while a report runs or a segment is materialized; released on drop.
pub enum StateLock {
    /// An OS lock on a local file, released when the file is closed.
    File(std::fs::File),
    Object {
        store: Arc<dyn ObjectStore>,
        path: Option<ObjectPath>,
    },
}

impl StateLock {
    pub async fn release(mut self) {
        if let StateLock::Object { store, path } = &mut self
            && let Some(path) = path.take()
        {
            let _ = store.delete(&path).await;
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // An early return: remove the lock object without waiting for it.
        if let StateLock::Object { store, path } = self
            && let Some(path) = path.take()
        {
            let store = Arc::clone(store);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = store.delete(&path).await;
                });
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without /proc, never take over: a stale lock is removed by hand.
        true
    }
}
