//! A resolution's own memory (records, links, clusters, golden records)
//! counted against the session's memory pool, so that `--memory-limit`
//! bounds `oneview resolve` as it bounds a query. Resolution keeps its
//! records in memory and does not spill: each part is counted as it is
//! built, and past the limit the run stops before it writes anything, with
//! an error that names the part (later parts are not counted yet, so the
//! figure is what the run needs at least).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};

pub struct Budget {
    pool: Arc<dyn MemoryPool>,
    reservation: MemoryReservation,
    /// What is held, by part (records, links, ...), in bytes.
    parts: Vec<(String, usize)>,
    records: u32,
}

impl Budget {
    pub fn new(ctx: &SessionContext) -> Budget {
        let pool = Arc::clone(&ctx.runtime_env().memory_pool);
        Budget {
            reservation: MemoryConsumer::new("identity resolution").register(&pool),
            pool,
            parts: Vec::new(),
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
        Ok(())
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
             resolution holds its records in memory and does not spill, so raise --memory-limit or map fewer sources or columns",
            human(needed, Round::Up)
        ))
    }
}

#[derive(Clone, Copy)]
enum Round {
    Up,
    Down,
}

/// A size as people read it: `2 KB`, `310 MB`, `4.7 GB`. A limit is
/// rounded down and a need up, so that a need just past a limit never
/// reads as the limit itself.
fn human(bytes: usize, round: Round) -> String {
    const KB: usize = 1 << 10;
    const MB: usize = 1 << 20;
    const GB: usize = 1 << 30;
    let (unit, name) = match bytes {
        b if b >= GB => (GB as f64 / 10.0, "GB"),
        b if b >= MB => (MB as f64, "MB"),
        _ => (KB as f64, "KB"),
    };
    let units = bytes as f64 / unit;
    let units = match round {
        Round::Up => units.ceil(),
        Round::Down => units.floor(),
    } as u64;
    if name == "GB" {
        format!("{}.{} GB", units / 10, units % 10)
    } else {
        format!("{units} {name}")
    }
}

/// Bytes held by record batches (the golden records).
pub fn batches_size(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::get_array_memory_size).sum()
}

#[cfg(test)]
mod tests {
    use super::{Round, human};

    #[test]
    fn a_need_past_the_limit_never_reads_as_the_limit() {
        const GB: usize = 1 << 30;
        assert_eq!(human(4 * GB, Round::Up), "4.0 GB");
        assert_eq!(human(4 * GB + 1, Round::Up), "4.1 GB");
        // --memory-limit 4.25G against a need just above it.
        let limit = 4 * GB + GB / 4;
        assert_eq!(human(limit, Round::Down), "4.2 GB");
        assert_eq!(human(limit + 1, Round::Up), "4.3 GB");
        assert_eq!(human(310 << 20, Round::Up), "310 MB");
        assert_eq!(human((310 << 20) + 1, Round::Up), "311 MB");
        assert_eq!(human((310 << 20) + 1, Round::Down), "310 MB");
        assert_eq!(human(2048, Round::Up), "2 KB");
    }
}
