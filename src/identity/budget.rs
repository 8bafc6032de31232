//! A resolution's own memory (records, identifier values, the union-find,
//! clusters, golden records as they are written) counted against the
//! session's memory pool, so that `--memory-limit` bounds `oneview resolve`
//! as it bounds a query. The links go to a temporary file as they are made
//! (`edges`) and the golden records are written as they are built; a
//! source's record ids and times go to files as it is read (`texts`); what
//! stays in memory (a few words a record, each column's distinct values) is
//! counted as it is built — a source as it is read, batch by batch. The
//! words a record (`words`) spill to mapped temporary files where the limit
//! has no room for them; past the limit anything else stops the run before
//! it commits anything, with an error that names the part (later parts are
//! not counted yet, so the figure is what the run needs at least).

use std::sync::Arc;

use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::prelude::SessionContext;

use super::words::Words;
use crate::error::{Error, Result};
use crate::util::{Round, human};

/// Words a record are held while the limit has room for them this many
/// times over: the steps after them need room too (a wave of golden
/// records, the links' buffer), and a word a record held early would
/// otherwise leave none, stopping a run that spilling would have finished.
/// Room goes first come, first served: the union-find, made while the
/// sources' records are all held, tends to spill before colder words
/// made later, though it is the one read most at random.
const HELD_WHILE: usize = 2;

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
    /// Bytes of words a record spilled to temporary files.
    spilled: usize,
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
            spilled: 0,
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

    /// Whether `part` could hold `bytes` within the limit (nothing is
    /// claimed).
    pub fn has_room(&mut self, part: &str, bytes: usize) -> bool {
        let held = self.parts.iter().find(|(p, _)| p == part).map_or(0, |(_, b)| *b);
        let more = bytes.saturating_sub(held);
        if self.reservation.try_grow(more).is_err() {
            return false;
        }
        self.reservation.shrink(more);
        true
    }

    /// The most `part` could hold within the limit (what it holds and what
    /// the pool has left); `None` without a limit.
    pub fn room_for(&self, part: &str) -> Option<usize> {
        let MemoryLimit::Finite(limit) = self.pool.memory_limit() else {
            return None;
        };
        let held = self.parts.iter().find(|(p, _)| p == part).map_or(0, |(_, b)| *b);
        Some(limit.saturating_sub(self.pool.reserved()) + held)
    }

    /// `words` for `part`, beside `other` bytes the part holds: held where
    /// the limit has room for both (the words `HELD_WHILE` times over), else
    /// spilled to a temporary file (named by `what`; words spilled already
    /// stay so); the part is set to what stays in memory. Where nothing can
    /// be spilled (no local temporary folder) the limit's error.
    pub fn keep_words(&mut self, part: &str, other: usize, words: Words, what: &str) -> Result<Words> {
        let bytes = words.memory_size();
        let words = match self.has_room(part, other + HELD_WHILE * bytes) {
            true => words,
            false => self.spill(words, what)?,
        };
        self.set(part, other + words.memory_size())?;
        Ok(words)
    }

    /// `words` spilled to a temporary file (named by `what`), unless they
    /// are already or no local temporary file can be made.
    pub fn spill(&mut self, words: Words, what: &str) -> Result<Words> {
        if words.is_spilled() {
            return Ok(words);
        }
        Ok(match Words::spill(&words, &self.disk, what)? {
            Some(spilled) => self.spilled_now(spilled, what),
            None => words,
        })
    }

    /// Counts and logs words spilled to a temporary file.
    pub fn spilled_now(&mut self, words: Words, what: &str) -> Words {
        self.note_spilled(words.len() * size_of::<u32>(), what);
        words
    }

    /// Counts and logs `bytes` of `what` spilled to a temporary file.
    pub fn note_spilled(&mut self, bytes: usize, what: &str) {
        self.spilled += bytes;
        log::info!(
            "{what} spilled to a temporary file ({} MB): --memory-limit has no room for them",
            bytes >> 20
        );
    }

    /// `len` words of `fill` for `part`, as `keep_words` keeps words.
    pub fn filled_words(&mut self, part: &str, other: usize, (len, fill): (usize, u32), what: &str) -> Result<Words> {
        self.filled_words_beside(part, (other, 0), (len, fill), what)
    }

    /// As `filled_words`, held only with room for `reserve` bytes more,
    /// which the part will come to hold (not counted yet).
    pub fn filled_words_beside(
        &mut self,
        part: &str,
        (other, reserve): (usize, usize),
        (len, fill): (usize, u32),
        what: &str,
    ) -> Result<Words> {
        let bytes = len * size_of::<u32>();
        let words = match self.has_room(part, other + reserve + HELD_WHILE * bytes) {
            true => Words::held(vec![fill; len]),
            false => match Words::spilled_filled(len, fill, &self.disk, what)? {
                Some(spilled) => self.spilled_now(spilled, what),
                None => Words::held(vec![fill; len]),
            },
        };
        self.set(part, other + words.memory_size())?;
        Ok(words)
    }

    /// Bytes of words a record spilled to temporary files so far.
    pub fn spilled(&self) -> usize {
        self.spilled
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
             what does not spill to disk (each column's distinct values, each class of records alike, the links' buffers) must fit, so raise --memory-limit or map fewer sources or columns",
            human(needed, Round::Up)
        ))
    }
}
