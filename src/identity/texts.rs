//! Columns a run addresses by position but rarely touches, written to a
//! temporary file and mapped rather than held: every record's id (read to
//! place the previous run's ids and to write the tables), the distinct
//! identifier values (read to block junk, split a value's records by name
//! and write the edges), and every record's update time (read for the
//! golden records, `Times`). They grow with the records (an order's id is
//! an identifier value): at 1M people 0.9 GB a run would otherwise hold
//! from reading to writing.
//!
//! The file is one of DataFusion's temporary files (its disk manager: the
//! folders and quota its operators spill to), removed when the column is
//! dropped. Its pages are the system's file cache, which it can drop and
//! read again under memory pressure; they are not counted against
//! `--memory-limit`. Where no local temporary file can be made, the column
//! is held in memory and counted, with a warning; a file that cannot be
//! written (a full disk, the quota) fails the run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::buffer::{Buffer, OffsetBuffer};
use datafusion::execution::SpillFile;
use datafusion::execution::disk_manager::DiskManager;
use memmap2::Mmap;

use crate::error::{Error, Result};

/// A column of text values without missing ones, by position.
pub struct Texts {
    inner: Inner,
}

enum Inner {
    Held(StringArray),
    Mapped(Mapped),
}

/// The file: `len + 1` little-endian u64 offsets, then the values' bytes.
struct Mapped {
    map: Mmap,
    len: usize,
    /// Keeps the file alive (it is removed when dropped).
    _file: Arc<dyn SpillFile>,
}

impl Mapped {
    fn offset(&self, i: usize) -> usize {
        let at = i * 8;
        let bytes: [u8; 8] = self.map[at..at + 8].try_into().expect("eight bytes");
        (self.len + 1) * 8 + u64::from_le_bytes(bytes) as usize
    }

    fn value(&self, i: usize) -> &str {
        // Past the last value the offsets would be read from the text.
        assert!(i < self.len, "value {i} of {}", self.len);
        let bytes = &self.map[self.offset(i)..self.offset(i + 1)];
        // SAFETY: `check` found the bytes UTF-8 and every offset on a
        // character boundary when the file was mapped, and the map does not
        // change (see `Texts::spill`). Checking again on every read was a
        // tenth of a large run's time.
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(bytes)
        }
    }

    /// Values `start..start + rows` copied into an array at once: their
    /// bytes are one stretch of the file.
    fn slice(&self, start: usize, rows: usize) -> StringArray {
        let base = self.offset(start);
        let end = self.offset(start + rows);
        if end - base > i32::MAX as usize {
            return (start..start + rows).map(|i| Some(self.value(i))).collect();
        }
        let offsets: Vec<i32> = (start..=start + rows).map(|i| (self.offset(i) - base) as i32).collect();
        StringArray::new(
            OffsetBuffer::new(offsets.into()),
            Buffer::from(&self.map[base..end]),
            None,
        )
    }

    /// Whether the file is what `write` wrote: offsets that rise within the
    /// data, on character boundaries of UTF-8 bytes.
    fn check(&self) -> bool {
        let data_start = (self.len + 1) * 8;
        if self.map.len() < data_start {
            return false;
        }
        let Ok(data) = std::str::from_utf8(&self.map[data_start..]) else {
            return false;
        };
        let mut last = data_start;
        (0..=self.len).all(|i| {
            let at = self.offset(i);
            let fine = at >= last && at <= self.map.len() && data.is_char_boundary(at - data_start);
            last = at;
            fine
        })
    }
}

impl Texts {
    /// A column held in memory.
    pub fn held(values: StringArray) -> Texts {
        debug_assert_eq!(values.null_count(), 0, "texts have no missing values");
        Texts {
            inner: Inner::Held(values),
        }
    }

    /// The column written to a temporary file of `disk` and mapped; held
    /// (with a warning naming `what`) when no local file can be made, and
    /// an error when the file made cannot be written or mapped.
    pub fn spill(values: StringArray, disk: &Arc<DiskManager>, what: &str) -> Result<Texts> {
        if values.is_empty() {
            return Ok(Texts::held(values));
        }
        let Some((map, file)) = map_file(disk, what, |out| write(&values, out))? else {
            return Ok(Texts::held(values));
        };
        let mapped = Mapped {
            map,
            len: values.len(),
            _file: file,
        };
        if !mapped.check() {
            return Err(unlike_written(what, &mapped._file));
        }
        Ok(Texts {
            inner: Inner::Mapped(mapped),
        })
    }

    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::Held(values) => values.len(),
            Inner::Mapped(mapped) => mapped.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn value(&self, i: usize) -> &str {
        match &self.inner {
            Inner::Held(values) => values.value(i),
            Inner::Mapped(mapped) => mapped.value(i),
        }
    }

    /// The values `start..start + rows` as an array (for writing).
    pub fn slice(&self, start: usize, rows: usize) -> StringArray {
        match &self.inner {
            Inner::Held(values) => values.slice(start, rows),
            Inner::Mapped(mapped) => mapped.slice(start, rows),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.value(i))
    }

    /// Bytes held in memory: none when mapped.
    pub fn memory_size(&self) -> usize {
        match &self.inner {
            Inner::Held(values) => values.get_array_memory_size(),
            Inner::Mapped(_) => 0,
        }
    }

    /// Whether the values are in a mapped file rather than held.
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped(_))
    }
}

/// Update times (microseconds; `i64::MIN`: none), one a record, written to
/// a temporary file and mapped like `Texts` (8 bytes a record, 0.2 GB at
/// 1M people): golden records read a record's own, since records alike
/// may end up in different customers (a size cap refuses some of them).
pub struct Times {
    inner: TimesInner,
}

enum TimesInner {
    Held(Vec<i64>),
    Mapped {
        map: Mmap,
        len: usize,
        _file: Arc<dyn SpillFile>,
    },
}

impl Times {
    /// The times `as_read[order[i]]` (a source's times in record-id
    /// order), written to a temporary file of `disk` as they are put in
    /// order and mapped, or held (with a warning naming `what`), as
    /// `Texts::spill`: no second copy of them is made in memory.
    pub fn spill(as_read: Vec<i64>, order: &[u32], disk: &Arc<DiskManager>, what: &str) -> Result<Times> {
        let ordered = |as_read: &[i64]| order.iter().map(|&i| as_read[i as usize]).collect::<Vec<i64>>();
        if as_read.is_empty() {
            return Ok(Times {
                inner: TimesInner::Held(as_read),
            });
        }
        let fill = |out: &mut dyn Write| {
            for &i in order {
                out.write_all(&as_read[i as usize].to_le_bytes())?;
            }
            out.flush()
        };
        let Some((map, file)) = map_file(disk, what, fill)? else {
            return Ok(Times {
                inner: TimesInner::Held(ordered(&as_read)),
            });
        };
        if map.len() != order.len() * 8 {
            return Err(unlike_written(what, &file));
        }
        Ok(Times {
            inner: TimesInner::Mapped {
                map,
                len: order.len(),
                _file: file,
            },
        })
    }

    pub fn get(&self, i: usize) -> i64 {
        match &self.inner {
            TimesInner::Held(times) => times[i],
            TimesInner::Mapped { map, len, .. } => {
                assert!(i < *len, "time {i} of {len}");
                i64::from_le_bytes(map[i * 8..i * 8 + 8].try_into().expect("eight bytes"))
            }
        }
    }

    /// Bytes held in memory: none when mapped.
    pub fn memory_size(&self) -> usize {
        match &self.inner {
            TimesInner::Held(times) => times.capacity() * size_of::<i64>(),
            TimesInner::Mapped { .. } => 0,
        }
    }
}

/// A temporary file of `disk` that `fill` writes, mapped; `None` (with a
/// warning naming `what`) when no local temporary file can be made, an
/// error when the file made cannot be written or mapped.
fn map_file(
    disk: &Arc<DiskManager>,
    what: &str,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<Option<(Mmap, Arc<dyn SpillFile>)>> {
    if !disk.tmp_files_enabled() {
        log::warn!("{what} are held in memory: the runtime has no temporary folder");
        return Ok(None);
    }
    let file = match disk.create_tmp_file(what) {
        Ok(file) => file,
        Err(e) => {
            log::warn!("{what} are held in memory: no temporary file ({e})");
            return Ok(None);
        }
    };
    let Some(path) = file.path().map(std::path::Path::to_path_buf) else {
        log::warn!("{what} are held in memory: the temporary files are not local files");
        return Ok(None);
    };
    let io = |source: std::io::Error| Error::Io {
        context: format!("could not keep {what} in the temporary file {}", path.display()),
        source,
    };
    let mut writer = BufWriter::with_capacity(1 << 20, file.open_writer()?);
    fill(&mut writer).map_err(io)?;
    let mut inner = writer.into_inner().map_err(|e| io(e.into_error()))?;
    inner.finish()?;
    drop(inner);
    let opened = File::open(&path).map_err(io)?;
    // SAFETY: the file is this column's own temporary file, written above
    // and never written again; DataFusion's disk manager made it in its own
    // folder and removes it only when the returned handle is dropped, which
    // its holders do after the map. Nothing else writes or truncates it
    // while mapped.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&opened) }.map_err(io)?;
    Ok(Some((map, file)))
}

/// The error for a mapped file that is not what was written to it.
fn unlike_written(what: &str, file: &Arc<dyn SpillFile>) -> Error {
    let path = file.path().map_or(String::new(), |p| p.display().to_string());
    Error::Io {
        context: format!("{what} read back from {path} are not what was written"),
        source: std::io::Error::from(std::io::ErrorKind::InvalidData),
    }
}

/// The offsets, then the bytes (see `Mapped`).
fn write(values: &StringArray, out: &mut dyn Write) -> std::io::Result<()> {
    let offsets = values.value_offsets();
    let first = offsets[0];
    for &offset in offsets {
        out.write_all(&((offset - first) as u64).to_le_bytes())?;
    }
    out.write_all(&values.value_data()[first as usize..offsets[offsets.len() - 1] as usize])?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};

    fn values() -> StringArray {
        StringArray::from(vec!["", "a@x.org", "Kelly Neal ✓", "", "+15550102000"])
    }

    /// Mapped values read back as they were written, the empty ones and a
    /// slice (whose offsets do not start at zero) included, and hold no
    /// memory; the file goes with the column.
    #[test]
    fn mapped_values_read_back_as_written() {
        let disk = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let whole = values();
        let sliced = whole.slice(1, 3);
        for array in [whole, sliced] {
            let texts = Texts::spill(array.clone(), &disk, "test values").unwrap();
            assert!(texts.is_mapped());
            assert_eq!(texts.memory_size(), 0);
            assert_eq!(texts.len(), array.len());
            let back: Vec<&str> = texts.iter().collect();
            let given: Vec<&str> = array.iter().flatten().collect();
            assert_eq!(back, given);
            assert_eq!(texts.slice(1, 2), array.slice(1, 2));
            assert_eq!(texts.slice(0, array.len()), array);
        }
        assert_eq!(disk.used_disk_space(), 0, "the files are removed with their columns");
    }

    /// Times go to the file in the order given and read back by position,
    /// mapped or (without a temporary folder) held.
    #[test]
    fn times_are_kept_in_the_order_given() {
        let as_read = vec![30, i64::MIN, 10, 20];
        let order = [2, 3, 0, 1];
        let mapped = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let none = Arc::new(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Disabled)
                .build()
                .unwrap(),
        );
        for (disk, held) in [(mapped, 0), (none, 32)] {
            let times = Times::spill(as_read.clone(), &order, &disk, "test times").unwrap();
            assert_eq!((0..4).map(|i| times.get(i)).collect::<Vec<_>>(), [10, 20, 30, i64::MIN]);
            assert_eq!(times.memory_size(), held);
        }
    }

    /// Without a temporary folder the values are held, and counted.
    #[test]
    fn without_a_temporary_folder_values_are_held() {
        let disk = Arc::new(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Disabled)
                .build()
                .unwrap(),
        );
        let texts = Texts::spill(values(), &disk, "test values").unwrap();
        assert!(!texts.is_mapped());
        assert!(texts.memory_size() > 0);
        assert_eq!(texts.value(2), "Kelly Neal ✓");
    }
}
