//! The object store registry handed to DataFusion: one store per bucket (or
//! host), built lazily from the environment plus a table's own options.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

/// Fail fast on an unreachable endpoint: a data engineer would rather see the
/// error in seconds than after the library's default three minutes of retries.
const CONNECT_TIMEOUT: &str = "5s";

fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    }
}

#[derive(Debug, Default)]
pub struct StoreRegistry {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl StoreRegistry {
    pub fn new() -> Self {
        Self::default()
    }
}

/// `scheme://host[:port]`: one store serves one bucket or host.
fn store_key(url: &Url) -> String {
    let mut key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        key.push_str(&format!(":{port}"));
    }
    key
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores
            .write()
            .expect("store registry lock")
            .insert(store_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.stores
            .write()
            .expect("store registry lock")
            .remove(&store_key(url))
            .ok_or_else(|| DataFusionError::Execution(format!("no object store registered for {url}")))
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self.stores.read().expect("store registry lock").get(&key) {
            return Ok(Arc::clone(store));
        }
        let store = build_store(url, &BTreeMap::new()).map_err(DataFusionError::Execution)?;
        let mut stores = self.stores.write().expect("store registry lock");
        Ok(Arc::clone(stores.entry(key).or_insert(store)))
    }
}

/// Builds the store for `url` from the environment (`AWS_*`, `GOOGLE_*`,
/// `AZURE_*`) with `options` (same names, lower case, prefix optional) on top.
pub fn build_store(url: &Url, options: &BTreeMap<String, String>) -> Result<Arc<dyn ObjectStore>, String> {
    let unknown = |key: &str, scheme: &str| format!("unknown storage option `{key}` for {scheme}:// locations");
    let failed = |e: object_store::Error| format!("cannot configure storage for {url}: {e}");
    match url.scheme() {
        "file" => Ok(Arc::new(LocalFileSystem::new())),
        "s3" | "s3a" => {
            let mut builder = AmazonS3Builder::from_env().with_url(url.as_str()).with_retry(retry());
            let connect = AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout);
            if builder.get_config_value(&connect).is_none() {
                builder = builder.with_config(connect, CONNECT_TIMEOUT);
            }
            for (key, value) in options {
                let key: AmazonS3ConfigKey = key.to_ascii_lowercase().parse().map_err(|_| unknown(key, "s3"))?;
                builder = builder.with_config(key, value);
            }
            Ok(Arc::new(builder.build().map_err(failed)?))
        }
        "gs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry());
            let connect = GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout);
            if builder.get_config_value(&connect).is_none() {
                builder = builder.with_config(connect, CONNECT_TIMEOUT);
            }
            for (key, value) in options {
                let key: GoogleConfigKey = key.to_ascii_lowercase().parse().map_err(|_| unknown(key, "gs"))?;
                builder = builder.with_config(key, value);
            }
            Ok(Arc::new(builder.build().map_err(failed)?))
        }
        "az" | "abfs" | "abfss" | "azure" | "adl" => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry());
            let connect = AzureConfigKey::Client(ClientConfigKey::ConnectTimeout);
            if builder.get_config_value(&connect).is_none() {
                builder = builder.with_config(connect, CONNECT_TIMEOUT);
            }
            for (key, value) in options {
                let key: AzureConfigKey = key.to_ascii_lowercase().parse().map_err(|_| unknown(key, "az"))?;
                builder = builder.with_config(key, value);
            }
            Ok(Arc::new(builder.build().map_err(failed)?))
        }
        "http" | "https" => {
            let origin = &url[..url::Position::BeforePath];
            let mut builder = HttpBuilder::new()
                .with_url(origin)
                .with_retry(retry())
                .with_config(ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT);
            for (key, value) in options {
                let key: ClientConfigKey = key.to_ascii_lowercase().parse().map_err(|_| unknown(key, "http"))?;
                builder = builder.with_config(key, value);
            }
            Ok(Arc::new(builder.build().map_err(failed)?))
        }
        other => Err(format!("no object store for {other}:// URLs")),
    }
}
