//! Given names and their nicknames, from a kept data set
//! (`data/nicknames.csv`: Carlton Northern and Nick Crews' *nicknames*,
//! Apache-2.0; see `data/README.md`).
//!
//! The list relates a name to its nicknames (Samuel: Sam, Sammy). Matching
//! follows the relation, never its closure: a nickname matches each name it
//! belongs to (Sam is Samuel's and Samantha's), but two names are not the
//! same name because they share a nickname — Samuel and Samantha share Sam,
//! Henry and Harold share Harry, Alexander and Alexandra share Alex, yet
//! each pair is two people. Closing the groups over shared nicknames (as a
//! key per group would) merges exactly those.

use std::sync::LazyLock;

use datafusion::common::HashMap;

const DATA: &str = include_str!("../../data/nicknames.csv");

struct Table {
    ids: HashMap<&'static str, u32>,
    names: Vec<&'static str>,
    /// Per name, the names it is a nickname of (sorted ids).
    nickname_of: Vec<Vec<u32>>,
    /// Per name, whether it has nicknames of its own (Samuel, but also Bill:
    /// the list gives Bill nicknames too).
    has_nicknames: Vec<bool>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut table = Table {
        ids: HashMap::default(),
        names: Vec::new(),
        nickname_of: Vec::new(),
        has_nicknames: Vec::new(),
    };
    for line in DATA.lines().skip(1) {
        let mut fields = line.split(',');
        let (Some(name), Some("has_nickname"), Some(nickname)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let (name, nickname) = (table.id(name.trim()), table.id(nickname.trim()));
        table.has_nicknames[name as usize] = true;
        table.nickname_of[nickname as usize].push(name);
    }
    for names in &mut table.nickname_of {
        names.sort_unstable();
        names.dedup();
    }
    table
});

impl Table {
    fn id(&mut self, name: &'static str) -> u32 {
        let next = self.names.len() as u32;
        let id = *self.ids.entry(name).or_insert(next);
        if id == next {
            self.names.push(name);
            self.nickname_of.push(Vec::new());
            self.has_nicknames.push(false);
        }
        id
    }
}

/// A given name the list knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GivenName(u32);

/// The list's entry for a normalized (lower-case) given name, if any.
pub fn lookup(name: &str) -> Option<GivenName> {
    TABLE.ids.get(name).copied().map(GivenName)
}

impl GivenName {
    /// Whether two given names can be one person's: the same name; one a
    /// nickname of the other (Sam and Samuel); or two short forms of one
    /// longer name (Jim and Jimmy, both James's; Kate and Kathy, both
    /// Katherine's). Names related only through a shorter name are not:
    /// the list also gives Henry and Harold as "nicknames" of Harry, and
    /// Samuel and Samantha share only their nickname Sam.
    pub fn can_match(self, other: GivenName) -> bool {
        let table = &*TABLE;
        let (a, b) = (self.0, other.0);
        let of = |x: u32| &table.nickname_of[x as usize];
        if a == b || of(a).binary_search(&b).is_ok() || of(b).binary_search(&a).is_ok() {
            return true;
        }
        let longest = table.names[a as usize].len().max(table.names[b as usize].len());
        of(a)
            .iter()
            .any(|name| of(b).binary_search(name).is_ok() && table.names[*name as usize].len() >= longest)
    }
}

/// Whether two normalized given names can be one person's by the list
/// (equal names always can).
pub fn same_given_name(a: &str, b: &str) -> bool {
    a == b || matches!((lookup(a), lookup(b)), (Some(x), Some(y)) if x.can_match(y))
}

/// `name_key`'s word: the one name a nickname belongs to (Peggy belongs to
/// Margaret, Margaretta and Marguerite, Fritz only to Frederick), else the
/// word itself. A name with
/// nicknames of its own, and a nickname of several names (Sam: Samuel or
/// Samantha), keep their own spelling: one key per group would have to
/// join names that are not one name.
pub fn key(name: &str) -> &str {
    let table = &*TABLE;
    match table.ids.get(name) {
        Some(&id) if !table.has_nicknames[id as usize] => match table.nickname_of[id as usize].as_slice() {
            [only] => table.names[*only as usize],
            _ => name,
        },
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::{TABLE, key, same_given_name};

    #[test]
    fn a_nickname_matches_each_name_it_belongs_to() {
        for (nickname, name) in [
            ("sam", "samuel"),
            ("sam", "samantha"),
            ("harry", "henry"),
            ("harry", "harold"),
            ("alex", "alexander"),
            ("alex", "alexandra"),
            ("fred", "frederick"),
            ("fred", "alfred"),
            ("bill", "william"),
            ("liz", "elizabeth"),
            ("peggy", "margaret"),
        ] {
            assert!(same_given_name(nickname, name), "{nickname} ~ {name}");
            assert!(same_given_name(name, nickname), "{name} ~ {nickname}");
        }
        for (a, b) in [
            ("jim", "jimmy"),
            ("kate", "kathy"),
            ("liz", "beth"),
            ("mike", "mickey"),
            ("ed", "ted"),
        ] {
            assert!(same_given_name(a, b), "{a} ~ {b}: two short forms of one longer name");
        }
    }

    #[test]
    fn two_names_never_match_through_a_nickname_they_share() {
        for (a, b) in [
            ("samuel", "samantha"),
            ("henry", "harold"),
            ("alexander", "alexandra"),
            ("frederick", "alfred"),
            ("william", "robert"),
            ("samuel", "alexander"),
        ] {
            assert!(!same_given_name(a, b), "{a} !~ {b}");
            assert_ne!(key(a), key(b), "{a} and {b} keep keys of their own");
        }
        assert!(!same_given_name("kelly", "zebulon"));
    }

    #[test]
    fn the_key_is_the_one_name_of_an_unambiguous_nickname() {
        assert_eq!(key("samuel"), "samuel");
        assert_eq!(key("sam"), "sam", "Sam may be Samuel or Samantha");
        assert_eq!(key("zebulon"), "zebulon");
        // Every nickname of exactly one name (and no nicknames of its own) keys to it.
        let table = &*TABLE;
        let unambiguous = (0..table.names.len())
            .filter(|&i| !table.has_nicknames[i] && table.nickname_of[i].len() == 1)
            .count();
        assert!(unambiguous > 100, "{unambiguous}");
        for i in 0..table.names.len() {
            if !table.has_nicknames[i]
                && let [only] = table.nickname_of[i].as_slice()
            {
                assert_eq!(key(table.names[i]), table.names[*only as usize]);
            }
        }
    }

    #[test]
    fn the_whole_list_is_read() {
        let table = &*TABLE;
        let relations: usize = table.nickname_of.iter().map(Vec::len).sum();
        assert_eq!(relations, 2691);
        assert_eq!(table.has_nicknames.iter().filter(|f| **f).count(), 1151);
    }
}
