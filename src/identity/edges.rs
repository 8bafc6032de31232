//! The links a run keeps, written to a temporary file as they are made
//! rather than held: a run makes more links than it has records (a record
//! linked on several identifiers has one for each: 35M at 1M people, 0.6
//! GB), and what reads them (the reasons for merges, each record's
//! strongest link, the `identity_edges` table) reads them in order, in
//! chunks, after linking. Only a buffer is in memory.
//!
//! The file is one of DataFusion's temporary files (its disk manager: the
//! folders and quota its operators spill to), removed when the log is
//! dropped; a write that fails (a full disk, the quota) fails the run when
//! linking ends. Where the runtime has no temporary folder, the links are
//! held in memory, counted like the rest of the run, with a warning.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::{SpillFile, SpillWriter};

use crate::error::{Error, Result};

/// A link between two records: its rule (an index into `Graph::rules`: an
/// identifier kind, or the probabilistic model), for a probabilistic link
/// the comparison levels that matched (`Graph::descriptions`), and its
/// match probability. Records linked on an identifier share its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    pub rule: u16,
    pub value: u32,
    pub probability: f32,
}

/// Bytes of one edge in the file: a, b, rule, value, probability, little-endian.
const ENCODED: usize = 4 + 4 + 2 + 4 + 4;

/// Edges buffered before they are written.
const BUFFERED: usize = 1 << 16;

/// Bytes the file's writer buffers.
const WRITE_BUFFER: usize = 1 << 20;

/// The links of a run, in the order they were made.
pub struct EdgeLog {
    /// Edges not yet written; all of them when there is no file.
    held: Vec<Edge>,
    /// Where the file is made, until it is.
    disk: Option<Arc<DiskManager>>,
    file: Option<Spill>,
    len: u64,
    /// Per rule, how many links it made.
    per_rule: Vec<u64>,
}

struct Spill {
    /// Keeps the file alive (it is removed when dropped).
    file: Arc<dyn SpillFile>,
    /// In a mutex only so that a finished log can be read from several
    /// threads; writing takes it by `&mut`, without locking.
    writer: Mutex<BufWriter<Box<dyn SpillWriter>>>,
    /// The first write that failed: reported by `finish`, so that making
    /// a link stays infallible.
    failed: Option<std::io::Error>,
}

impl EdgeLog {
    /// A log that writes to a temporary file of `disk` once it holds more
    /// than a buffer's worth (a small run never touches the disk).
    pub fn new(disk: &Arc<DiskManager>) -> EdgeLog {
        EdgeLog {
            disk: disk.tmp_files_enabled().then(|| Arc::clone(disk)),
            ..EdgeLog::in_memory()
        }
    }

    /// A log held in memory.
    pub fn in_memory() -> EdgeLog {
        EdgeLog {
            held: Vec::new(),
            disk: None,
            file: None,
            len: 0,
            per_rule: Vec::new(),
        }
    }

    /// The temporary file, made on first use; `None` (and the edges held)
    /// when none can be made.
    fn spill(&mut self) -> Option<&mut Spill> {
        if self.file.is_none() {
            let disk = self.disk.take()?;
            let made = disk.create_tmp_file("keeping identity links").and_then(|file| {
                let writer = file.open_writer()?;
                Ok((file, writer))
            });
            match made {
                Ok((file, writer)) if file.path().is_some() => {
                    self.file = Some(Spill {
                        writer: Mutex::new(BufWriter::with_capacity(WRITE_BUFFER, writer)),
                        file,
                        failed: None,
                    })
                }
                Ok(_) => log::warn!("identity links are held in memory: the temporary files are not local files"),
                Err(e) => log::warn!("identity links are held in memory: no temporary file ({e})"),
            }
        }
        self.file.as_mut()
    }

    pub fn push(&mut self, edge: Edge) {
        self.held.push(edge);
        self.len += 1;
        let rule = edge.rule as usize;
        if self.per_rule.len() <= rule {
            self.per_rule.resize(rule + 1, 0);
        }
        self.per_rule[rule] += 1;
        if self.held.len() >= BUFFERED && (self.file.is_some() || self.disk.is_some()) {
            self.write_held();
        }
    }

    /// Writes the buffered edges to the file, if there is one.
    fn write_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        let Some(spill) = self.spill() else {
            self.held = held;
            return;
        };
        if spill.failed.is_none() {
            let writer = spill.writer.get_mut().unwrap_or_else(PoisonError::into_inner);
            let mut bytes = [0u8; ENCODED];
            for edge in &held {
                encode(edge, &mut bytes);
                if let Err(e) = writer.write_all(&bytes) {
                    spill.failed = Some(e);
                    break;
                }
            }
        }
        self.held = held;
        self.held.clear();
    }

    /// Writes what is buffered; after it, `read` sees every edge. The error
    /// is the first failed write (a full disk, say).
    pub fn finish(&mut self) -> Result<()> {
        if self.file.is_some() {
            self.write_held();
        }
        let Some(spill) = &mut self.file else {
            return Ok(());
        };
        let writer = spill.writer.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(source) = spill.failed.take().or_else(|| writer.flush().err()) {
            return Err(Error::Io {
                context: format!(
                    "could not write the identity links to the temporary file {}",
                    spill.file.path().map_or(String::new(), |p| p.display().to_string())
                ),
                source,
            });
        }
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many links rule `rule` made.
    pub fn made_by(&self, rule: usize) -> u64 {
        self.per_rule.get(rule).copied().unwrap_or(0)
    }

    /// The most bytes the buffer comes to while links go to the file (a
    /// full buffer of edges and the file's write buffer).
    pub fn buffer_size() -> usize {
        BUFFERED * size_of::<Edge>() + WRITE_BUFFER
    }

    /// Bytes held in memory (the buffer, or every edge without a file).
    pub fn memory_size(&self) -> usize {
        self.held.capacity() * size_of::<Edge>() + self.file.as_ref().map_or(0, |_| WRITE_BUFFER)
    }

    /// The edges in the order they were made, in chunks of at most `chunk`
    /// (call `finish` first). Each call reads the file anew, so two readers
    /// may go side by side.
    pub fn read(&self, chunk: usize) -> Result<EdgeChunks<'_>> {
        let file = match &self.file {
            Some(spill) => {
                debug_assert!(self.held.is_empty(), "finish before read");
                let path = spill.file.path().expect("spill files are local");
                let file = File::open(path).map_err(|source| Error::Io {
                    context: format!("could not read the identity links back from {}", path.display()),
                    source,
                })?;
                Some(BufReader::with_capacity(1 << 20, file))
            }
            None => None,
        };
        Ok(EdgeChunks {
            file,
            held: &self.held,
            left: self.len,
            chunk: chunk.max(1),
        })
    }
}

fn encode(edge: &Edge, bytes: &mut [u8; ENCODED]) {
    bytes[0..4].copy_from_slice(&edge.a.to_le_bytes());
    bytes[4..8].copy_from_slice(&edge.b.to_le_bytes());
    bytes[8..10].copy_from_slice(&edge.rule.to_le_bytes());
    bytes[10..14].copy_from_slice(&edge.value.to_le_bytes());
    bytes[14..18].copy_from_slice(&edge.probability.to_le_bytes());
}

fn decode(bytes: &[u8]) -> Edge {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("four bytes"));
    Edge {
        a: u32_at(0),
        b: u32_at(4),
        rule: u16::from_le_bytes([bytes[8], bytes[9]]),
        value: u32_at(10),
        probability: f32::from_bits(u32_at(14)),
    }
}

/// The edges of a log, chunk by chunk.
pub struct EdgeChunks<'a> {
    file: Option<BufReader<File>>,
    held: &'a [Edge],
    left: u64,
    chunk: usize,
}

impl Iterator for EdgeChunks<'_> {
    type Item = Result<Vec<Edge>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let n = (self.left as usize).min(self.chunk);
        self.left -= n as u64;
        let Some(file) = &mut self.file else {
            let (these, rest) = self.held.split_at(n);
            self.held = rest;
            return Some(Ok(these.to_vec()));
        };
        let mut bytes = vec![0u8; n * ENCODED];
        if let Err(source) = file.read_exact(&mut bytes) {
            self.left = 0;
            return Some(Err(Error::Io {
                context: "could not read the identity links back from their temporary file".into(),
                source,
            }));
        }
        Some(Ok(bytes.chunks_exact(ENCODED).map(decode).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::disk_manager::DiskManagerBuilder;

    fn edges(n: u32) -> Vec<Edge> {
        (0..n)
            .map(|i| Edge {
                a: i,
                b: i.wrapping_mul(2_654_435_761),
                rule: (i % 7) as u16,
                value: i ^ 0xdead_beef,
                probability: i as f32 / 3.0,
            })
            .collect()
    }

    fn read_all(log: &EdgeLog, chunk: usize) -> Vec<Edge> {
        log.read(chunk).unwrap().flat_map(|c| c.unwrap()).collect()
    }

    #[test]
    fn edges_come_back_as_they_went_in_through_the_file_and_in_memory() {
        let disk = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let made = edges(BUFFERED as u32 * 2 + 17);
        for mut log in [EdgeLog::new(&disk), EdgeLog::in_memory()] {
            for edge in &made {
                log.push(*edge);
            }
            log.finish().unwrap();
            assert_eq!(log.len(), made.len() as u64);
            assert_eq!(read_all(&log, 1000), made);
            // Two readers side by side each see everything.
            assert_eq!(read_all(&log, 7), made);
            assert_eq!(log.made_by(3), made.iter().filter(|e| e.rule == 3).count() as u64);
        }
    }

    #[test]
    fn a_log_with_a_file_holds_only_its_buffer() {
        let disk = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let mut log = EdgeLog::new(&disk);
        for edge in edges(BUFFERED as u32 * 8) {
            log.push(edge);
        }
        assert!(log.memory_size() <= BUFFERED * size_of::<Edge>() + (1 << 20));
        let mut held = EdgeLog::in_memory();
        for edge in edges(BUFFERED as u32 * 8) {
            held.push(edge);
        }
        assert!(held.memory_size() >= BUFFERED * 8 * size_of::<Edge>());
    }

    #[test]
    fn a_small_log_stays_in_memory() {
        let disk = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let mut log = EdgeLog::new(&disk);
        for edge in edges(100) {
            log.push(edge);
        }
        log.finish().unwrap();
        assert!(log.file.is_none());
        assert_eq!(read_all(&log, 30), edges(100));
    }
}
