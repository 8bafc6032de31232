//! Columns a run addresses by position but rarely touches, written to
//! temporary files as they are made and mapped rather than held: every
//! record's id (read to place the previous run's ids and to write the
//! tables), the distinct identifier values (read to block junk, split a
//! value's records by name and write the edges), a source's distinct values
//! between reading and interning, and every record's update time (read for
//! the golden records, `Times`). They grow with the records (an order's id
//! is an identifier value): at 1M people 0.9 GB a run would otherwise hold
//! from reading to writing, and a source's record ids are never in memory
//! at once, not even while it is read (`TextsBuilder`): they are put in
//! order from their file (`Texts::order`, `Texts::in_order`).
//!
//! The files are DataFusion's temporary files (its disk manager: the
//! folders and quota its operators spill to), removed when the column is
//! dropped. Their pages are the system's file cache, which it can drop and
//! read again under memory pressure; they are not counted against
//! `--memory-limit`. Where no local temporary file can be made, the column
//! is held in memory and counted, with a warning; a file that cannot be
//! written (a full disk, the quota) fails the run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayBuilder, StringArray, StringBuilder};
use datafusion::arrow::buffer::{Buffer, OffsetBuffer};
use datafusion::execution::SpillFile;
use datafusion::execution::disk_manager::DiskManager;
use memmap2::Mmap;

use super::temp_file::{WRITE_BUFFER, Writing};
use super::words::Words;
use crate::error::{Error, Result};

/// A column of text values without missing ones, by position.
pub struct Texts {
    inner: Inner,
}

enum Inner {
    Held(StringArray),
    Mapped(Mapped),
}

/// Two files: `len + 1` little-endian u64 offsets (the first 0), and the
/// values' bytes, written as the values came (`TextsBuilder`).
struct Mapped {
    offsets: Mmap,
    data: Mmap,
    len: usize,
    /// Keep the files alive (each is removed when dropped).
    _files: [Arc<dyn SpillFile>; 2],
}

impl Mapped {
    fn offset(&self, i: usize) -> usize {
        let at = i * 8;
        let bytes: [u8; 8] = self.offsets[at..at + 8].try_into().expect("eight bytes");
        u64::from_le_bytes(bytes) as usize
    }

    fn value(&self, i: usize) -> &str {
        // Past the last value the offset would be read from beyond the file.
        assert!(i < self.len, "value {i} of {}", self.len);
        let bytes = &self.data[self.offset(i)..self.offset(i + 1)];
        // SAFETY: `check` found the bytes UTF-8 and every offset on a
        // character boundary when the files were mapped, and the maps do
        // not change (see `Writing::map`). Checking again on every read was
        // a tenth of a large run's time.
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
            Buffer::from(&self.data[base..end]),
            None,
        )
    }

    /// Whether the files are what the builder wrote: `len + 1` offsets
    /// that rise within the data, on character boundaries of UTF-8 bytes.
    fn check(&self) -> bool {
        if self.offsets.len() != (self.len + 1) * 8 || self.offset(0) != 0 {
            return false;
        }
        let Ok(data) = std::str::from_utf8(&self.data) else {
            return false;
        };
        if self.offset(self.len) != data.len() {
            return false;
        }
        let mut last = 0;
        (0..=self.len).all(|i| {
            let at = self.offset(i);
            let fine = at >= last && at <= data.len() && data.is_char_boundary(at);
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

    /// The column written to temporary files of `disk` and mapped; held
    /// when no local file can be made (without a warning: its callers keep
    /// such a column only until the values are interned, and count it), and
    /// an error when the file made cannot be written or mapped.
    pub fn spill(values: StringArray, disk: &Arc<DiskManager>, what: &str) -> Result<Texts> {
        if values.is_empty() {
            return Ok(Texts::held(values));
        }
        let mut builder = TextsBuilder::into_files(disk, what, false)?;
        if !builder.is_filed() {
            return Ok(Texts::held(values));
        }
        builder.append_array(&values)?;
        builder.finish()
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

    /// Bytes of text the values hold (in memory or in their file).
    pub fn bytes(&self) -> usize {
        match &self.inner {
            Inner::Held(values) => {
                let offsets = values.value_offsets();
                (offsets[offsets.len() - 1] - offsets[0]) as usize
            }
            Inner::Mapped(mapped) => mapped.data.len(),
        }
    }

    /// Whether the values are in a mapped file rather than held.
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped(_))
    }

    /// The positions of the values in value order (ties by position).
    /// Sorted by eight bytes of each value (after what all values share:
    /// "order-" or "E") and position, packed in three words, then each run
    /// of equal bytes by whole value: most comparisons are of words side by
    /// side in memory rather than of text at two random places in a file.
    pub fn order(&self) -> Vec<u32> {
        self.sorted_positions(0..self.len(), self.shared_prefix())
    }

    /// The order, as `order` gives it, with the sort keys of at most `keys`
    /// positions in memory at once (16 bytes each with their run): runs of
    /// `keys` positions sorted and written to temporary files of `disk`,
    /// then merged (a heap of the runs' next positions) into a further
    /// one, mapped (`words`). `None` where the
    /// values fit, or where no local temporary file can be made.
    pub fn order_within(&self, keys: usize, disk: &Arc<DiskManager>, what: &str) -> Result<Option<Words>> {
        let (len, keys) = (self.len(), keys.max(1));
        if len <= keys {
            return Ok(None);
        }
        let shared = self.shared_prefix();
        let mut runs = Vec::with_capacity(len.div_ceil(keys));
        for start in (0..len).step_by(keys) {
            let run = self.sorted_positions(start..(start + keys).min(len), shared);
            match Words::spill(&run, disk, what)? {
                Some(run) => runs.push(run),
                None => return Ok(None),
            }
        }
        let key = |p: u32| eight_bytes(&self.value(p as usize).as_bytes()[shared..]);
        // Each run's next position, the least on top.
        let mut heads: BinaryHeap<Reverse<Head<'_>>> = runs
            .iter()
            .enumerate()
            .map(|(r, run)| {
                Reverse(Head {
                    key: key(run[0]),
                    position: run[0],
                    run: r,
                    index: 0,
                    texts: self,
                })
            })
            .collect();
        Words::spill_with(len, disk, what, |_, chunk| {
            for slot in chunk {
                let mut top = heads.peek_mut().expect("a run has positions left while the order has");
                let Head {
                    position, run, index, ..
                } = top.0;
                *slot = position;
                match runs[run].get(index + 1) {
                    Some(&p) => {
                        top.0.key = key(p);
                        top.0.position = p;
                        top.0.index = index + 1;
                    }
                    None => {
                        std::collections::binary_heap::PeekMut::pop(top);
                    }
                }
            }
        })
    }

    /// The bytes every value begins with.
    fn shared_prefix(&self) -> usize {
        self.iter()
            .skip(1)
            .fold(self.len().min(1) * self.bytes(), |shared, value| {
                let first = self.value(0).as_bytes();
                common_prefix(&first[..shared.min(first.len())], value.as_bytes())
            })
    }

    /// The positions `range` in value order (ties by position), as `order`
    /// sorts them, the first `shared` bytes of every value skipped.
    fn sorted_positions(&self, range: std::ops::Range<usize>, shared: usize) -> Vec<u32> {
        let mut keyed: Vec<[u32; 3]> = range
            .map(|i| {
                let key = eight_bytes(&self.value(i).as_bytes()[shared..]);
                [(key >> 32) as u32, key as u32, i as u32]
            })
            .collect();
        keyed.sort_unstable();
        let mut start = 0;
        while start < keyed.len() {
            let same = |k: &[u32; 3]| k[..2] == keyed[start][..2];
            let end = start + keyed[start..].iter().take_while(|k| same(k)).count();
            if end - start > 1 {
                keyed[start..end].sort_unstable_by(|a, b| {
                    let (a, b) = (a[2] as usize, b[2] as usize);
                    self.value(a).cmp(self.value(b)).then(a.cmp(&b))
                });
            }
            start = end;
        }
        // Not `into_iter().collect()`: that would keep the keys' allocation,
        // three times the order's size, for as long as the order lives.
        let mut order = Vec::with_capacity(keyed.len());
        order.extend(keyed.iter().map(|k| k[2]));
        order
    }

    /// The values at `order`'s positions, in that order, into files of
    /// `disk` if these are mapped (held if these are held).
    pub fn in_order(&self, order: &[u32], disk: &Arc<DiskManager>, what: &str) -> Result<Texts> {
        let mut out = match self.is_mapped() {
            true => TextsBuilder::spilling(disk, what)?,
            false => TextsBuilder::held(what),
        };
        for &i in order {
            out.append(self.value(i as usize))?;
        }
        out.finish()
    }
}

/// A sorted run's next position in a merge (`Texts::order_within`),
/// ordered as `order` orders positions: by the eight bytes of its value
/// past the shared prefix, which order as the value does, then by whole
/// value, then by position.
struct Head<'a> {
    key: u64,
    position: u32,
    run: usize,
    index: usize,
    texts: &'a Texts,
}

impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| {
                let (a, b) = (self.position as usize, other.position as usize);
                self.texts.value(a).cmp(other.texts.value(b))
            })
            .then(self.position.cmp(&other.position))
    }
}

impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head<'_> {}

/// The length of the bytes `a` and `b` begin with alike.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The first eight bytes of `bytes` as a number that orders as they do
/// (shorter ones padded with zeros: ties are ordered by the whole value).
fn eight_bytes(bytes: &[u8]) -> u64 {
    let mut eight = [0u8; 8];
    let n = bytes.len().min(8);
    eight[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(eight)
}

/// A text column made value by value (a source's record ids as its batches
/// arrive, a kind's distinct values as they are merged), into temporary
/// files as it is made, or held where no file can be made or the column is
/// read too often to be mapped (attributes).
pub struct TextsBuilder {
    what: String,
    inner: Building,
}

enum Building {
    Held(StringBuilder),
    Filed {
        offsets: Writing,
        data: Writing,
        len: usize,
        bytes: u64,
    },
}

impl TextsBuilder {
    /// A column written to temporary files of `disk`, or held (with a
    /// warning naming `what`) when no local file can be made.
    pub fn spilling(disk: &Arc<DiskManager>, what: &str) -> Result<TextsBuilder> {
        Self::into_files(disk, what, true)
    }

    fn into_files(disk: &Arc<DiskManager>, what: &str, warn: bool) -> Result<TextsBuilder> {
        let files = match Writing::create(disk, what, warn)? {
            Some(offsets) => Writing::create(disk, what, warn)?.map(|data| (offsets, data)),
            None => None,
        };
        let inner = match files {
            Some((mut offsets, data)) => {
                offsets.put(&0u64.to_le_bytes())?;
                Building::Filed {
                    offsets,
                    data,
                    len: 0,
                    bytes: 0,
                }
            }
            None => Building::Held(StringBuilder::new()),
        };
        Ok(TextsBuilder {
            what: what.to_string(),
            inner,
        })
    }

    /// A column held in memory.
    pub fn held(what: &str) -> TextsBuilder {
        TextsBuilder {
            what: what.to_string(),
            inner: Building::Held(StringBuilder::new()),
        }
    }

    fn is_filed(&self) -> bool {
        matches!(self.inner, Building::Filed { .. })
    }

    pub fn append(&mut self, value: &str) -> Result<()> {
        match &mut self.inner {
            Building::Held(values) => {
                // An array's offsets are 32 bits: 2 GiB of text at most.
                if values.values_slice().len() + value.len() > i32::MAX as usize {
                    return Err(Error::Usage(format!(
                        "{} pass the 2 GiB of text a run holds in memory; point TMPDIR at a local disk folder so that they go to a file",
                        self.what
                    )));
                }
                values.append_value(value);
            }
            Building::Filed {
                offsets,
                data,
                len,
                bytes,
            } => {
                data.put(value.as_bytes())?;
                *bytes += value.len() as u64;
                offsets.put(&bytes.to_le_bytes())?;
                *len += 1;
            }
        }
        Ok(())
    }

    /// Appends every value of `values`; a missing one as empty (a caller
    /// that must have none counts them itself).
    pub fn append_array(&mut self, values: &StringArray) -> Result<()> {
        for value in values {
            self.append(value.unwrap_or_default())?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        match &self.inner {
            Building::Held(values) => values.len(),
            Building::Filed { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in memory: the values when held, else the write buffers.
    pub fn memory_size(&self) -> usize {
        match &self.inner {
            Building::Held(values) => values.values_slice().len() + size_of_val(values.offsets_slice()),
            Building::Filed { .. } => 2 * WRITE_BUFFER,
        }
    }

    pub fn finish(self) -> Result<Texts> {
        match self.inner {
            Building::Held(mut values) => Ok(Texts::held(values.finish())),
            Building::Filed { offsets, data, len, .. } => {
                let (offsets, offsets_file) = offsets.map()?;
                let (data, data_file) = data.map()?;
                let mapped = Mapped {
                    offsets,
                    data,
                    len,
                    _files: [offsets_file, data_file],
                };
                if !mapped.check() {
                    return Err(unlike_written(&self.what, &mapped._files));
                }
                Ok(Texts {
                    inner: Inner::Mapped(mapped),
                })
            }
        }
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
    pub fn len(&self) -> usize {
        match &self.inner {
            TimesInner::Held(times) => times.len(),
            TimesInner::Mapped { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    /// The times at `order`'s positions, in that order (a source's times
    /// in record-id order), into a file of `disk` if these are mapped.
    pub fn in_order(&self, order: &[u32], disk: &Arc<DiskManager>, what: &str) -> Result<Times> {
        let mut out = match matches!(self.inner, TimesInner::Mapped { .. }) {
            true => TimesBuilder::spilling(disk, what)?,
            false => TimesBuilder::held(),
        };
        for &i in order {
            out.append(self.get(i as usize))?;
        }
        out.finish()
    }

    /// Bytes held in memory: none when mapped.
    pub fn memory_size(&self) -> usize {
        match &self.inner {
            TimesInner::Held(times) => times.capacity() * size_of::<i64>(),
            TimesInner::Mapped { .. } => 0,
        }
    }
}

/// Update times made one by one, as `TextsBuilder` makes texts.
pub struct TimesBuilder {
    inner: TimesBuilding,
}

enum TimesBuilding {
    Held(Vec<i64>),
    Filed { file: Writing, len: usize },
}

impl TimesBuilder {
    /// Times written to a temporary file of `disk`, or held (with a warning
    /// naming `what`) when no local file can be made.
    pub fn spilling(disk: &Arc<DiskManager>, what: &str) -> Result<TimesBuilder> {
        Ok(match Writing::create(disk, what, true)? {
            Some(file) => TimesBuilder {
                inner: TimesBuilding::Filed { file, len: 0 },
            },
            None => TimesBuilder::held(),
        })
    }

    pub fn held() -> TimesBuilder {
        TimesBuilder {
            inner: TimesBuilding::Held(Vec::new()),
        }
    }

    pub fn append(&mut self, time: i64) -> Result<()> {
        match &mut self.inner {
            TimesBuilding::Held(times) => times.push(time),
            TimesBuilding::Filed { file, len } => {
                file.put(&time.to_le_bytes())?;
                *len += 1;
            }
        }
        Ok(())
    }

    /// Bytes held in memory: the times when held, else the write buffer.
    pub fn memory_size(&self) -> usize {
        match &self.inner {
            TimesBuilding::Held(times) => times.capacity() * size_of::<i64>(),
            TimesBuilding::Filed { .. } => WRITE_BUFFER,
        }
    }

    pub fn finish(self) -> Result<Times> {
        let inner = match self.inner {
            TimesBuilding::Held(times) => TimesInner::Held(times),
            TimesBuilding::Filed { file, len } => {
                let what = file.what.clone();
                let (map, file) = file.map()?;
                if map.len() != len * 8 {
                    return Err(unlike_written(&what, std::slice::from_ref(&file)));
                }
                TimesInner::Mapped { map, len, _file: file }
            }
        };
        Ok(Times { inner })
    }
}

/// The error for mapped files that are not what was written to them.
fn unlike_written(what: &str, files: &[Arc<dyn SpillFile>]) -> Error {
    let paths: Vec<String> = files
        .iter()
        .filter_map(|file| Some(file.path()?.display().to_string()))
        .collect();
    Error::Io {
        context: format!("{what} read back from {} are not what was written", paths.join(" and ")),
        source: std::io::Error::from(std::io::ErrorKind::InvalidData),
    }
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

    /// Values appended one by one come back by position, put in value
    /// order from the file (ties by position), mapped or held alike.
    #[test]
    fn values_built_one_by_one_are_put_in_order() {
        let given = ["k", "", "b✓", "a", "b✓"];
        let mapped = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let none = Arc::new(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Disabled)
                .build()
                .unwrap(),
        );
        for (disk, filed) in [(mapped, true), (none, false)] {
            let mut builder = TextsBuilder::spilling(&disk, "test values").unwrap();
            builder.append_array(&StringArray::from(vec![Some("k"), None])).unwrap();
            for value in &given[2..] {
                builder.append(value).unwrap();
            }
            assert_eq!(builder.len(), 5);
            let texts = builder.finish().unwrap();
            assert_eq!(texts.is_mapped(), filed);
            assert_eq!(texts.iter().collect::<Vec<_>>(), given);
            let order = texts.order();
            assert_eq!(order, [1, 3, 2, 4, 0]);
            let sorted = texts.in_order(&order, &disk, "test values").unwrap();
            assert_eq!(sorted.is_mapped(), filed);
            assert_eq!(sorted.iter().collect::<Vec<_>>(), ["", "a", "b✓", "b✓", "k"]);
        }
    }

    /// The order is the values' byte order wherever they differ: past a
    /// prefix all share, beyond the eight bytes compared first, where one
    /// is the other's beginning, or where a value holds a zero byte.
    #[test]
    fn values_are_ordered_as_their_bytes() {
        let given = [
            "order-000000000012",
            "order-000000000011",
            "order-00000000001",
            "order-",
            "order-000000000011\0",
            "order-1",
            "order-000000000011",
            "order-00000000\0",
            "order-00000000",
        ];
        let texts = Texts::held(StringArray::from(given.to_vec()));
        let order = texts.order();
        assert_eq!(order.capacity(), given.len(), "no room for more is kept");
        let sorted: Vec<&str> = order.iter().map(|&i| given[i as usize]).collect();
        let mut expected = given.to_vec();
        expected.sort();
        assert_eq!(sorted, expected);
        // Equal values by position.
        let twins: Vec<u32> = order
            .iter()
            .copied()
            .filter(|&i| given[i as usize] == "order-000000000011")
            .collect();
        assert_eq!(twins, [1, 6]);
        assert_eq!(Texts::held(StringArray::from(vec!["x"])).order(), [0]);
        assert!(Texts::held(StringArray::from(Vec::<&str>::new())).order().is_empty());
    }

    /// Sorted in runs that fit and merged, the order is the one sorted at
    /// once, however many runs; where the values fit there are no runs.
    #[test]
    fn values_sorted_in_runs_are_merged_in_order() {
        let disk = Arc::new(DiskManagerBuilder::default().build().unwrap());
        let given: Vec<String> = (0..1000u32)
            .map(|i| match i % 5 {
                0 => format!("order-{:012}", i.wrapping_mul(7919) % 300),
                1 => format!("order-{:08}", i % 17),
                2 => format!("order-{:08}\0{}", i % 13, i % 3),
                3 => "order-".to_string(),
                _ => format!("order-1{}", i % 11),
            })
            .collect();
        let texts = Texts::held(StringArray::from(given.clone()));
        let at_once = texts.order();
        for keys in [1, 7, 64, 333, 999] {
            let runs = texts.order_within(keys, &disk, "test order").unwrap().unwrap();
            assert!(runs.is_spilled());
            assert_eq!(&runs[..], &at_once[..], "runs of {keys}");
        }
        assert!(texts.order_within(1000, &disk, "test order").unwrap().is_none());
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
            let mut builder = TimesBuilder::spilling(&disk, "test times").unwrap();
            for &time in &as_read {
                builder.append(time).unwrap();
            }
            let times = builder.finish().unwrap().in_order(&order, &disk, "test times").unwrap();
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
