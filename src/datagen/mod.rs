//! `oneview gen`: a deterministic synthetic multi-source customer dataset
//! with ground truth.
//!
//! People are simulated one household pair at a time, each from its own
//! random stream, so the output depends only on the seed and the number of
//! people — never on threads or chunking. Chunks of people are written to
//! their own Parquet part files by a pool of threads; memory stays flat.
//! Everything is written to a temporary directory renamed into place at the
//! end, so an interrupted run never leaves a half dataset behind.

mod ids;
mod lifetime;
mod noise;
mod person;
mod sources;
mod table;
mod vocab;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Serialize;

pub use lifetime::LifetimeParams;
use person::World;
use sources::{Counts, Sources, TABLES};

use crate::error::{Error, Result};

/// Written next to the data: what was generated, and the true parameters.
pub const MANIFEST: &str = "generator.json";

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub customers: u64,
    pub seed: u64,
    pub row_group_rows: usize,
    /// People per chunk (one part file per table per chunk).
    pub chunk_people: u64,
    pub threads: usize,
    pub start: NaiveDate,
    pub as_of: NaiveDate,
    pub params: LifetimeParams,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            customers: 1000,
            seed: 42,
            row_group_rows: 262_144,
            chunk_people: 250_000,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            start: NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date"),
            as_of: NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date"),
            params: LifetimeParams::default(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub generator: String,
    pub seed: u64,
    pub people: u64,
    pub observation_start: String,
    pub as_of: String,
    pub time_unit: &'static str,
    pub lifetime: LifetimeParams,
    pub tables: Vec<TableCount>,
}

#[derive(Debug, Serialize)]
pub struct TableCount {
    pub name: &'static str,
    pub rows: u64,
}

pub struct GenSummary {
    pub out: PathBuf,
    pub manifest: Manifest,
    pub elapsed: Duration,
}

impl fmt::Display for GenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: u64 = self.manifest.tables.iter().map(|t| t.rows).sum();
        writeln!(
            f,
            "generated {} people, {total} rows in {:.1}s into {}",
            self.manifest.people,
            self.elapsed.as_secs_f64(),
            self.out.display()
        )?;
        for t in &self.manifest.tables {
            writeln!(f, "  {:<18} {:>12}", t.name, t.rows)?;
        }
        Ok(())
    }
}

pub fn generate(options: &GenOptions, out: &Path) -> Result<GenSummary> {
    let started = Instant::now();
    let out = std::path::absolute(out).map_err(|e| Error::io(out.display().to_string(), e))?;
    check_target(&out)?;
    let parent = out.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Staging directories of runs that were killed are removed first.
    remove_stale(parent, &format!(".{name}.tmp-"));
    let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));

    let result = write_all(options, &staging);
    let counts = match result {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let manifest = Manifest {
        generator: format!("oneview gen {}", env!("CARGO_PKG_VERSION")),
        seed: options.seed,
        people: options.customers,
        observation_start: options.start.to_string(),
        as_of: options.as_of.to_string(),
        time_unit: "week",
        lifetime: options.params,
        tables: TABLES
            .iter()
            .zip(counts)
            .map(|(name, rows)| TableCount { name, rows })
            .collect(),
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    std::fs::write(staging.join(MANIFEST), json + "\n")
        .map_err(|e| Error::io(format!("cannot write {}", staging.display()), e))?;
    // A previous output is moved aside, the new one renamed in, and only
    // then the old one deleted: at every moment one complete dataset exists.
    let previous = parent.join(format!(".{name}.tmp-{}-previous", std::process::id()));
    let replacing = out.exists();
    if replacing {
        std::fs::rename(&out, &previous).map_err(|e| Error::io(format!("cannot replace {}", out.display()), e))?;
    }
    if let Err(e) = std::fs::rename(&staging, &out) {
        if replacing {
            let _ = std::fs::rename(&previous, &out);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(Error::io(format!("cannot move the output to {}", out.display()), e));
    }
    if replacing {
        let _ = std::fs::remove_dir_all(&previous);
    }
    Ok(GenSummary {
        out,
        manifest,
        elapsed: started.elapsed(),
    })
}

fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Refuses to overwrite anything but an empty directory or an earlier output.
fn check_target(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(Error::Usage(format!(
            "--out {} is a file; expected a directory",
            out.display()
        )));
    }
    let empty = std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
    if empty || out.join(MANIFEST).exists() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--out {} is a non-empty directory that oneview gen did not make; choose a new or empty directory",
        out.display()
    )))
}

fn write_all(options: &GenOptions, dir: &Path) -> Result<Counts> {
    let world = World::new(
        options.seed,
        options.customers,
        options.start,
        options.as_of,
        options.params,
    );
    let pairs = options.customers.div_ceil(2);
    let pairs_per_chunk = options.chunk_people.div_ceil(2).max(1);
    let chunks = pairs.div_ceil(pairs_per_chunk);
    let next = AtomicU64::new(0);
    let totals = Mutex::new([0u64; 9]);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let bar = crate::util::progress::bar(options.customers, "generating people");
    let threads = options.threads.clamp(1, chunks.max(1) as usize);

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let chunk = next.fetch_add(1, Ordering::Relaxed);
                    if chunk >= chunks || first_error.lock().expect("lock").is_some() {
                        break;
                    }
                    let range = chunk * pairs_per_chunk..((chunk + 1) * pairs_per_chunk).min(pairs);
                    match write_chunk(&world, dir, chunk as usize, range, options.row_group_rows, &bar) {
                        Ok(counts) => {
                            let mut totals = totals.lock().expect("lock");
                            for (t, c) in totals.iter_mut().zip(counts) {
                                *t += c;
                            }
                        }
                        Err(e) => {
                            first_error.lock().expect("lock").get_or_insert(e);
                            break;
                        }
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().expect("lock") {
        return Err(e);
    }
    Ok(totals.into_inner().expect("lock"))
}

fn write_chunk(
    world: &World,
    dir: &Path,
    chunk: usize,
    pairs: std::ops::Range<u64>,
    row_group_rows: usize,
    bar: &indicatif::ProgressBar,
) -> Result<Counts> {
    let mut sources = Sources::create(dir, chunk, row_group_rows)?;
    for j in pairs {
        let people = person::pair(world, j);
        for p in &people {
            sources.emit(world, p)?;
        }
        bar.inc(people.len() as u64);
    }
    sources.close()
}
