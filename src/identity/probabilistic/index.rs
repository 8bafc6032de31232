//! The profiles a run compared, kept past linking until their customers
//! are known, for the identity state (`kept_profiles`): a growing run with
//! attribute matching blocks new profiles against them.

use chrono::Datelike;

use super::super::records::Records;
use super::profiles::{self, FIELDS, Profiles};

/// A profile's fields as text (`profiles::texts`), and its customer.
pub type KeptProfile = (u64, [Option<String>; FIELDS]);

/// A run's profiles, kept past linking until the customers are known: a
/// record holding each, from which its values are read again when written
/// (the records are held until then; their profiles would be held twice).
pub struct Kept {
    pub records: Vec<u32>,
    /// The ends of the weak links refused.
    pub refused: Vec<(u32, u32)>,
    /// The year two-digit years of birth were read against.
    pub this_year: i32,
}

impl Kept {
    pub fn of(profiles: &Profiles, refused: Vec<(u32, u32)>) -> Kept {
        Kept {
            records: profiles.record.clone(),
            refused,
            this_year: chrono::Utc::now().year(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Each profile's fields as text, read again from its record.
    pub fn texts<'a>(&'a self, records: &'a Records) -> impl Iterator<Item = [Option<String>; FIELDS]> + 'a {
        self.records.iter().map(|&r| {
            let (source, row) = records.locate(r);
            profiles::texts(source, row, self.this_year)
        })
    }

    pub fn memory_size(&self) -> usize {
        self.records.capacity() * size_of::<u32>() + self.refused.capacity() * size_of::<(u32, u32)>()
    }
}
