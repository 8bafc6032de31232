//! What a source's records share, found as its batches arrive: each text
//! column's distinct values (`Distinct`), and the distinct combinations of
//! them (`Classes`): records that nothing but their id and update time
//! tells apart — a device's 200 page views, a customer's twenty orders to
//! one address — are one class, and the run holds a class's values once
//! and a class number per record.

use std::hash::BuildHasher;

use datafusion::arrow::array::{Array, ArrayBuilder, StringArray, StringBuilder, UInt32Array};
use datafusion::arrow::buffer::NullBuffer;
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

/// A missing value's key in a class.
pub const MISSING: u32 = u32::MAX;

/// A column's values would pass the 2 GiB of text one array holds.
#[derive(Debug)]
pub struct TooMuchText;

/// A text column's distinct values in the order first seen, each known by
/// its position (its key).
pub struct Distinct {
    table: HashTable<u32>,
    values: StringBuilder,
    hasher: DefaultHashBuilder,
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct {
            table: HashTable::new(),
            values: StringBuilder::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl Distinct {
    /// The key of `value`, which is added if it is new.
    pub fn key(&mut self, value: &str) -> Result<u32, TooMuchText> {
        let hash = self.hasher.hash_one(value.as_bytes());
        let (values, hasher) = (&self.values, &self.hasher);
        match self.table.entry(
            hash,
            |&k| bytes(values, k) == value.as_bytes(),
            |&k| hasher.hash_one(bytes(values, k)),
        ) {
            Entry::Occupied(entry) => Ok(*entry.get()),
            Entry::Vacant(entry) => {
                if self.values.values_slice().len() + value.len() > i32::MAX as usize {
                    return Err(TooMuchText);
                }
                let key = self.values.len() as u32;
                self.values.append_value(value);
                entry.insert(key);
                Ok(key)
            }
        }
    }

    /// Bytes held: the table (a key and a control byte a slot) and the
    /// values.
    pub fn memory_size(&self) -> usize {
        buckets(&self.table) * (size_of::<u32>() + 1)
            + self.values.values_slice().len()
            + size_of_val(self.values.offsets_slice())
    }

    /// The values, a key's value at its position.
    pub fn finish(mut self) -> StringArray {
        self.values.finish()
    }
}

/// The slots a table holds: it fills seven in eight before it grows.
fn buckets(table: &HashTable<u32>) -> usize {
    table.capacity() / 7 * 8
}

/// The bytes of value `key` in `values`.
fn bytes(values: &StringBuilder, key: u32) -> &[u8] {
    let offsets = values.offsets_slice();
    let (start, end) = (offsets[key as usize] as usize, offsets[key as usize + 1] as usize);
    &values.values_slice()[start..end]
}

/// The distinct tuples of keys (one per text column, `MISSING` where a
/// record has no value) of a source's records, each known by its number.
pub struct Classes {
    width: usize,
    table: HashTable<u32>,
    /// Class `c`'s keys are `keys[c * width..(c + 1) * width]`.
    keys: Vec<u32>,
    /// The number of classes (`keys` cannot tell them when `width` is 0).
    len: u32,
    hasher: DefaultHashBuilder,
}

impl Classes {
    pub fn new(width: usize) -> Classes {
        Classes {
            width,
            table: HashTable::new(),
            keys: Vec::new(),
            len: 0,
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Bytes held: the table (a number and a control byte a slot) and
    /// every class's keys.
    pub fn memory_size(&self) -> usize {
        buckets(&self.table) * (size_of::<u32>() + 1) + self.keys.capacity() * size_of::<u32>()
    }

    /// The number of the class of `tuple` (`width` keys), added if new.
    pub fn class(&mut self, tuple: &[u32]) -> u32 {
        debug_assert_eq!(tuple.len(), self.width);
        let width = self.width;
        let hash = self.hasher.hash_one(tuple);
        let (keys, hasher) = (&self.keys, &self.hasher);
        let of = |c: u32| &keys[c as usize * width..(c as usize + 1) * width];
        match self.table.entry(hash, |&c| of(c) == tuple, |&c| hasher.hash_one(of(c))) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                let class = self.len;
                entry.insert(class);
                self.keys.extend_from_slice(tuple);
                self.len += 1;
                class
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len as usize
    }

    /// Per class, its key in column `column` (missing: null).
    pub fn column(&self, column: usize) -> UInt32Array {
        let keys: Vec<u32> = (0..self.len as usize)
            .map(|c| self.keys[c * self.width + column])
            .collect();
        let valid = NullBuffer::from_iter(keys.iter().map(|&k| k != MISSING));
        let keys = UInt32Array::new(keys.into(), Some(valid));
        match keys.null_count() {
            0 => UInt32Array::new(keys.values().clone(), None),
            _ => keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each distinct value gets one key, the first-seen order is kept, and
    /// the values come back at their keys.
    #[test]
    fn distinct_values_keep_their_first_keys() {
        let mut distinct = Distinct::default();
        let keys: Vec<u32> = ["b", "a", "b", "", "a", "c"]
            .iter()
            .map(|v| distinct.key(v).unwrap())
            .collect();
        assert_eq!(keys, [0, 1, 0, 2, 1, 3]);
        let values = distinct.finish();
        let values: Vec<&str> = values.iter().flatten().collect();
        assert_eq!(values, ["b", "a", "", "c"]);
    }

    /// Records with the same keys share a class; a missing value is a
    /// value of its own (null in the class's column); a source with no text
    /// columns is one class.
    #[test]
    fn equal_tuples_share_a_class() {
        let mut classes = Classes::new(2);
        let tuples = [[0, 1], [0, MISSING], [0, 1], [1, 1], [0, MISSING]];
        let numbers: Vec<u32> = tuples.iter().map(|t| classes.class(t)).collect();
        assert_eq!(numbers, [0, 1, 0, 2, 1]);
        assert_eq!(classes.len(), 3);
        let second = classes.column(1);
        assert_eq!(second.iter().collect::<Vec<_>>(), [Some(1), None, Some(1)]);
        assert_eq!(classes.column(0).null_count(), 0);
        let mut none = Classes::new(0);
        assert_eq!([none.class(&[]), none.class(&[])], [0, 0]);
        assert_eq!(none.len(), 1);
    }
}
