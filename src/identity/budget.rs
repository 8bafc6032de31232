//! A resolution's own memory (records, identifier values, the union-find,
//! clusters, golden records as they are written) counted against the
//! session's memory pool, so that `--memory-limit` bounds `oneview resolve`
//! as it bounds a query. The links go to a temporary file as they are made
//! (`edges`) and the golden records are written as they are built; a
//! source's record ids and times go to files as it is read (`texts`); what
//! stays in memory (a few words a record, each column's distinct values) is
//! counted as it is built — a source as it is read, batch by batch — and
//! past the limit the run stops before it commits anything, with
//! an error that names the part (later parts are not counted yet, so the
//! figure is what the run needs at least).

use std::sync::Arc;

use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::util::{Round, human};

pub struct Budget {
    pool: Arc<dyn MemoryPool>,
    /// Where what need not stay in memory goes (DataFusion's temporary files).
    disk: Arc<DiskManager>,
    reservation: MemoryReservation,
    /// What is held, by part (records, links, ...), in bytes.
    parts: Vec<(String, usize)>,
    /// The most held at once, in bytes, and what it was made of.
    peak: usize,
    at_peak: Vec<(String, usize)>,
    records: u32,
}

impl Budget {
    pub fn new(ctx: &SessionContext) -> Budget {
        let pool = Arc::clone(&ctx.runtime_env().memory_pool);
        Budget {
            disk: Arc::clone(&ctx.runtime_env().disk_manager),
            reservation: MemoryConsumer::new("identity resolution").register(&pool),
            pool,
            parts: Vec::new(),
            peak: 0,
            at_peak: Vec::new(),
            records: 0,
        }
    }

    /// Sets what `part` holds to `bytes`, claiming the difference from the
    /// pool or giving it back; the error names the part and the total.
    pub fn set(&mut self, part: &str, bytes: usize) -> Result<()> {
        let index = match self.parts.iter().position(|(p, _)| p == part) {
            Some(i) => i,
            None => {
                self.parts.push((part.to_string(), 0));
                self.parts.len() - 1
            }
        };
        let held = self.parts[index].1;
        if bytes <= held {
            self.reservation.shrink(held - bytes);
        } else if self.reservation.try_grow(bytes - held).is_err() {
            return Err(self.refusal(part, self.reservation.size() + bytes - held));
        }
        self.parts[index].1 = bytes;
        if self.reservation.size() > self.peak {
            // The peak's growth, for -vv: which step raises it, and how.
            if self.reservation.size() >> 26 > self.peak >> 26 {
                log::debug!(
                    "counted: {} MB, {part} now {} MB",
                    self.reservation.size() >> 20,
                    bytes >> 20
                );
            }
            self.peak = self.reservation.size();
            self.at_peak = self.parts.iter().filter(|(_, b)| *b > 0).cloned().collect();
        }
        Ok(())
    }

    /// The most the run held at once, in bytes: its high-water mark
    /// against `--memory-limit`.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The runtime's temporary files, for what a run keeps on disk.
    pub fn disk(&self) -> &Arc<DiskManager> {
        &self.disk
    }

    /// The parts held when the most was held, largest first.
    pub fn at_peak(&self) -> Vec<(String, usize)> {
        let mut parts = self.at_peak.clone();
        parts.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
        parts
    }

    pub fn set_records(&mut self, records: u32) {
        self.records = records;
    }

    fn refusal(&self, part: &str, needed: usize) -> Error {
        let limit = match self.pool.memory_limit() {
            MemoryLimit::Finite(limit) => format!(" ({})", human(limit, Round::Down)),
            _ => String::new(),
        };
        let records = if self.records > 0 {
            format!(" for {} records", self.records)
        } else {
            String::new()
        };
        Error::OutOfMemory(format!(
            "resolving needs more memory than --memory-limit{limit} allows: {part} would bring it to at least {}{records}; \
             resolution holds a few words a record and each column's distinct values in memory (about 30 bytes a record at its peak), so raise --memory-limit or map fewer sources or columns",
            human(needed, Round::Up)
        ))
    }
}
