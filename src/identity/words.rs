//! A word a record (each record's class, its place in the union-find, its
//! cluster, its previous id, the records in cluster order), held in memory
//! while `--memory-limit` has room for it and otherwise spilled: written to
//! a temporary file of DataFusion's disk manager and mapped, so that the
//! system pages it between memory and disk as it does the record ids
//! (`texts`). These words are most of what a large run holds (at 10M people
//! each is 1 GB); past the limit a run keeps them on disk and goes on,
//! slower where their pages must be read again, rather than stopping.
//!
//! A spilled file is written whole (zeros, or the words it takes over)
//! before it is mapped, so its blocks are on disk: a full disk or the
//! disk manager's quota fails that write with an error naming the file,
//! never a store into the map.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use datafusion::execution::SpillFile;
use datafusion::execution::disk_manager::DiskManager;
use memmap2::MmapMut;

use super::temp_file::{WRITE_BUFFER, Writing};
use crate::error::Result;

pub struct Words {
    inner: Inner,
}

enum Inner {
    Held(Vec<u32>),
    Mapped {
        map: MmapMut,
        len: usize,
        _file: Arc<dyn SpillFile>,
    },
}

/// Words written to a spilled file at a time (1 MiB).
const CHUNK: usize = 1 << 18;

impl Words {
    pub fn held(words: Vec<u32>) -> Words {
        Words {
            inner: Inner::Held(words),
        }
    }

    /// `words` copied to a temporary file of `disk` (named by `what`) and
    /// mapped; `None` where no local temporary file can be made.
    pub fn spill(words: &[u32], disk: &Arc<DiskManager>, what: &str) -> Result<Option<Words>> {
        Self::spill_with(words.len(), disk, what, |start, chunk| {
            chunk.copy_from_slice(&words[start..start + chunk.len()])
        })
    }

    /// `len` words of `fill` in a temporary file of `disk`, mapped; `None`
    /// where no local temporary file can be made.
    pub fn spilled_filled(len: usize, fill: u32, disk: &Arc<DiskManager>, what: &str) -> Result<Option<Words>> {
        Self::spill_with(len, disk, what, |_, chunk| chunk.fill(fill))
    }

    /// A file of `len` words, chunk by chunk as `fill` gives them (the
    /// chunk's first position, the chunk to fill), in order; `None` where
    /// no local temporary file can be made.
    pub fn spill_with(
        len: usize,
        disk: &Arc<DiskManager>,
        what: &str,
        mut fill: impl FnMut(usize, &mut [u32]),
    ) -> Result<Option<Words>> {
        if len == 0 {
            return Ok(Some(Words::held(Vec::new())));
        }
        let Some(mut file) = Writing::create(disk, what, false)? else {
            return Ok(None);
        };
        let mut chunk = vec![0u32; CHUNK.min(len)];
        let mut bytes = Vec::with_capacity(chunk.len() * size_of::<u32>());
        for start in (0..len).step_by(CHUNK) {
            let chunk = &mut chunk[..CHUNK.min(len - start)];
            fill(start, chunk);
            bytes.clear();
            bytes.extend(chunk.iter().flat_map(|w| w.to_ne_bytes()));
            file.put(&bytes)?;
        }
        let (map, file) = file.map_mut()?;
        assert_eq!(
            map.len(),
            len * size_of::<u32>(),
            "a spilled file holds what was written"
        );
        Ok(Some(Words {
            inner: Inner::Mapped { map, len, _file: file },
        }))
    }

    /// Bytes held in memory: none when spilled.
    pub fn memory_size(&self) -> usize {
        match &self.inner {
            Inner::Held(words) => words.capacity() * size_of::<u32>(),
            Inner::Mapped { .. } => 0,
        }
    }

    pub fn is_spilled(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }
}

/// Words made one by one (a source's classes as it is read): held until
/// `spill` moves them to a temporary file, which later words go to.
pub struct WordsBuilder {
    inner: Building,
}

enum Building {
    Held(Vec<u32>),
    Filed { file: Writing, len: usize },
}

impl WordsBuilder {
    pub fn held() -> WordsBuilder {
        WordsBuilder {
            inner: Building::Held(Vec::new()),
        }
    }

    pub fn push(&mut self, word: u32) -> Result<()> {
        match &mut self.inner {
            Building::Held(words) => words.push(word),
            Building::Filed { file, len } => {
                file.put(&word.to_ne_bytes())?;
                *len += 1;
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        match &self.inner {
            Building::Held(words) => words.len(),
            Building::Filed { len, .. } => *len,
        }
    }

    /// Bytes held in memory: the words when held, else the write buffer.
    pub fn memory_size(&self) -> usize {
        match &self.inner {
            Building::Held(words) => words.capacity() * size_of::<u32>(),
            Building::Filed { .. } => WRITE_BUFFER,
        }
    }

    /// Moves the words so far to a temporary file of `disk` (named by
    /// `what`), where the later ones follow; false where they are there
    /// already or no local temporary file can be made.
    pub fn spill(&mut self, disk: &Arc<DiskManager>, what: &str) -> Result<bool> {
        let Building::Held(words) = &self.inner else {
            return Ok(false);
        };
        let Some(mut file) = Writing::create(disk, what, false)? else {
            return Ok(false);
        };
        for chunk in words.chunks(CHUNK) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|w| w.to_ne_bytes()).collect();
            file.put(&bytes)?;
        }
        let len = words.len();
        self.inner = Building::Filed { file, len };
        Ok(true)
    }

    pub fn finish(self) -> Result<Words> {
        Ok(match self.inner {
            Building::Held(words) => Words::held(words),
            Building::Filed { file, len } => {
                let (map, file) = file.map_mut()?;
                assert_eq!(
                    map.len(),
                    len * size_of::<u32>(),
                    "a spilled file holds what was written"
                );
                Words {
                    inner: Inner::Mapped { map, len, _file: file },
                }
            }
        })
    }
}

impl Deref for Words {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match &self.inner {
            Inner::Held(words) => words,
            Inner::Mapped { map, len, .. } => {
                // SAFETY: the map is page-aligned (so aligned for u32),
                // holds `len` words (checked when it was made) and lives as
                // long as the borrow of `self`; any bit pattern is a u32.
                #[allow(unsafe_code)]
                unsafe {
                    std::slice::from_raw_parts(map.as_ptr().cast::<u32>(), *len)
                }
            }
        }
    }
}

impl DerefMut for Words {
    fn deref_mut(&mut self) -> &mut [u32] {
        match &mut self.inner {
            Inner::Held(words) => words,
            Inner::Mapped { map, len, .. } => {
                // SAFETY: as for `deref`, with the map borrowed mutably
                // through `self`, so no other reference to it exists.
                #[allow(unsafe_code)]
                unsafe {
                    std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<u32>(), *len)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};

    /// Spilled words read back as given, take writes in place, hold no
    /// memory, and their file goes with them; without a temporary folder
    /// there is nothing to spill to.
    #[test]
    fn spilled_words_read_and_write_in_place() {
        let disk = Arc::new(DiskManagerBuilder::default().build().unwrap());
        // More than a chunk, so that the file is written in several.
        let given: Vec<u32> = (0..CHUNK as u32 + 5).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let mut words = Words::spill(&given, &disk, "test words").unwrap().unwrap();
        assert!(words.is_spilled());
        assert_eq!(words.memory_size(), 0);
        assert_eq!(&words[..], &given[..]);
        assert_eq!(disk.used_disk_space(), (given.len() * 4) as u64);
        words[CHUNK + 1] = 7;
        assert_eq!(words[CHUNK + 1], 7);
        assert_eq!(words[CHUNK], given[CHUNK]);
        drop(words);
        assert_eq!(disk.used_disk_space(), 0, "the file goes with the words");

        let filled = Words::spilled_filled(3, 9, &disk, "test words").unwrap().unwrap();
        assert_eq!(&filled[..], [9, 9, 9]);
        let held = Words::held(vec![1, 2]);
        assert!(!held.is_spilled());
        assert_eq!(held.memory_size(), 8);

        let none = Arc::new(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Disabled)
                .build()
                .unwrap(),
        );
        assert!(Words::spill(&given, &none, "test words").unwrap().is_none());
    }

    /// Words made one by one come back in order, those before a spill and
    /// those after alike; held ones stay held.
    #[test]
    fn words_built_one_by_one_spill_midway() {
        let disk = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let mut built = WordsBuilder::held();
        for i in 0..10 {
            built.push(i).unwrap();
        }
        assert!(built.spill(&disk, "test words").unwrap());
        assert!(!built.spill(&disk, "test words").unwrap(), "spilled once");
        for i in 10..25 {
            built.push(i).unwrap();
        }
        assert_eq!(built.len(), 25);
        let words = built.finish().unwrap();
        assert!(words.is_spilled());
        assert_eq!(&words[..], (0..25).collect::<Vec<u32>>());
        let mut held = WordsBuilder::held();
        held.push(7).unwrap();
        let held = held.finish().unwrap();
        assert!(!held.is_spilled());
        assert_eq!(&held[..], [7]);
    }
}
