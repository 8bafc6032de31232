//! A DataFusion session wired for a project: its tables, oneview's SQL
//! functions, the object store registry and the memory limit.

use std::sync::Arc;

use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::catalog::{ProjectSchema, SessionHandle};
use crate::error::{Error, Result};
use crate::project::Project;
use crate::storage::StoreRegistry;

pub const CATALOG: &str = "oneview";
pub const SCHEMA: &str = "public";

#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Cap on the memory of query operators; beyond it they spill to disk.
    pub memory_limit: Option<usize>,
}

pub struct Session {
    pub ctx: SessionContext,
    pub schema: Arc<ProjectSchema>,
    pub project: Project,
}

impl Session {
    pub fn open(project: Project, options: &SessionOptions) -> Result<Session> {
        // No list-files cache: DataFusion keeps listings forever by default, so
        // a long-running server would never see new files in a table's folder,
        // nor the report runs and snapshots oneview writes itself.
        let caches = CacheManagerConfig::default().with_list_files_cache_limit(0);
        let mut runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(StoreRegistry::new()))
            .with_cache_manager(caches);
        if let Some(limit) = options.memory_limit {
            runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
        }
        let runtime = runtime.build_arc().map_err(Error::Query)?;
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(true)
            .with_information_schema(true);
        // Spans let planning errors in segment files name their line.
        config.options_mut().sql_parser.collect_spans = true;
        let ctx = SessionContext::new_with_config_rt(config.clone(), Arc::clone(&runtime));
        oneview_udfs::register_all(&ctx);
        let schema = Arc::new(ProjectSchema::new(&project, runtime, config)?);
        ctx.catalog(CATALOG)
            .expect("the default catalog exists")
            .register_schema(SCHEMA, Arc::clone(&schema) as _)
            .map_err(Error::Query)?;
        let state = ctx.state_weak_ref();
        schema.attach(SessionHandle(Arc::new(move || {
            state.upgrade().map(|s| s.read().clone())
        })));
        Ok(Session { ctx, schema, project })
    }
}

/// Parses sizes such as `512M`, `2G`, `1.5GB` or a plain number of bytes.
pub fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; expected a number with an optional unit such as 512M or 2G"))?;
    let factor: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TB" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!("`{other}` is not a size unit; expected K, M, G or T"));
        }
    };
    let bytes = number * factor;
    if bytes < 1.0 {
        return Err(format!("`{text}` is too small for a memory limit"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3X").is_err());
    }
}
