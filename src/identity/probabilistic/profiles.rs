//! The units the model compares: distinct attribute profiles per
//! deterministic cluster. Twenty orders of one customer with the same ship
//! name and postcode are one profile, so the model scores each distinct
//! combination once, and never pairs records already linked.

use datafusion::common::HashMap;
use datafusion::common::hash_map::Entry;

use chrono::{Datelike, NaiveDate};
use oneview_udfs::normalize::nicknames::{self, GivenName};
use oneview_udfs::similarity::{Code, Letters, double_metaphone, jaro_winkler, jaro_winkler_bound_of};

use super::super::graph::Graph;
use super::super::records::{Records, SourceRecords, attribute_index, value};
use crate::project::identity::LinkType;

/// The profile fields' values, interned: `values[f][id]` is the text of
/// value `id` of field `f` (`BLOCKING_KEYS` order); id 0 means missing.
pub struct Profiles {
    /// Per profile, its cluster root and a record holding it.
    pub root: Vec<u32>,
    pub record: Vec<u32>,
    /// Per profile, a record of another source than `record` when several
    /// sources hold it, else `record`: a link across sources ends there.
    pub second: Vec<u32>,
    /// Per profile, the value id of each field.
    pub fields: Vec<[u32; FIELDS]>,
    pub values: Vec<Vec<String>>,
    /// Per field and value id, the number of profiles holding it.
    pub counts: Vec<Vec<u32>>,
    /// Per first-name value id, its entry in the nickname list, if any.
    pub nicknames: Vec<Option<GivenName>>,
    /// Per value id of the first and the last name, its Double Metaphone
    /// codes (primary, alternate), worked out once per distinct name.
    pub sounds: [Vec<(Code, Code)>; 2],
    /// Per value id of the first name, the last name and the city
    /// (`LETTERED` order), what bounds its Jaro-Winkler similarity to
    /// another value cheaply.
    pub letters: [Vec<Letters>; 3],
    /// Per profile, the source of its records, or `MIXED` when several
    /// sources hold it; with the link type, which pairs may be compared.
    pub source: Vec<u32>,
    pub link_type: LinkType,
}

/// A name's Double Metaphone codes (the encoder reads upper-case ASCII; other
/// letters are skipped).
fn sound(name: &str) -> (Code, Code) {
    double_metaphone(name.to_ascii_uppercase().as_bytes())
}

/// Whether two names' codes (`sound`) match: a primary code equal to the
/// other's primary or alternate (an empty code, of a name without letters,
/// matches nothing).
fn codes_match(a: (Code, Code), b: (Code, Code)) -> bool {
    let empty = Code::default();
    a.0 != empty && b.0 != empty && (a.0 == b.0 || a.0 == b.1 || a.1 == b.0)
}

/// The source of a profile that records of several sources hold.
pub const MIXED: u32 = u32::MAX;

/// The profile fields, in `BLOCKING_KEYS` order.
pub const FIELDS: usize = 9;
pub const FIRST: usize = 0;
pub const LAST: usize = 1;
pub const DOB: usize = 2;
pub const POSTCODE: usize = 3;
pub const ADDRESS: usize = 4;
pub const CITY: usize = 5;
/// First and last name in either order (`kelly|neal`), for blocking only:
/// a pair with its names swapped shares it.
pub const NAMES: usize = 6;
pub const REGION: usize = 7;
/// The sounds of the first and last name in either order (`JN|SM0`), for
/// blocking only: a pair whose names were both mistyped alike shares it.
/// Worked out from the names' codes once the profiles are read.
pub const NAME_SOUNDS: usize = 8;

/// The fields compared by Jaro-Winkler, whose `Letters` profiles keep.
const LETTERED: [usize; 3] = [FIRST, LAST, CITY];

/// A date of birth as `YYYY-MM-DD`, from the forms sources write: ISO,
/// `YYYYMMDD`, `DD.MM.YYYY` (European), and slashed dates read as US
/// month-first unless the first part cannot be a month. Two-digit years
/// are in the last hundred years before `this_year`.
pub fn parse_date(text: &str, this_year: i32) -> Option<String> {
    let t = text.trim();
    let date = if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        NaiveDate::parse_from_str(t, "%Y%m%d").ok()
    } else if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        Some(d)
    } else {
        let (sep, european) = if t.contains('.') {
            ('.', true)
        } else if t.contains('/') {
            ('/', false)
        } else if t.contains('-') {
            ('-', false)
        } else {
            return None;
        };
        let parts: Vec<&str> = t.split(sep).collect();
        let [a, b, y] = parts.as_slice() else {
            return None;
        };
        let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        let mut year: i32 = y.trim().parse().ok()?;
        if y.trim().len() <= 2 {
            let century = this_year - this_year % 100;
            year += if century + year > this_year {
                century - 100
            } else {
                century
            };
        }
        let (month, day) = if european || a > 12 { (b, a) } else { (a, b) };
        NaiveDate::from_ymd_opt(year, month, day)
    }?;
    Some(format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day()))
}

/// A date of birth as the model compares it, eight digits `YYYYMMDD`: a
/// date `parse_date` reads, or eight digits as written that are no date but
/// have a year of the last two centuries (`19729518`: a mistyped digit is
/// still evidence; `00000000` and `99999999` are placeholders, not dates).
pub fn date_digits(text: &str, this_year: i32) -> Option<String> {
    let eight = |t: &str| t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(date) = parse_date(text, this_year) {
        // A year before 1 or after 9999 is no date of birth.
        let digits = date.replace('-', "");
        return eight(&digits).then_some(digits);
    }
    let t = text.trim();
    let year: i32 = t.get(..4)?.parse().ok()?;
    (eight(t) && (this_year - 200..=this_year).contains(&year)).then(|| t.to_string())
}

/// The profiles of `records`: per cluster of `graph`, each distinct
/// combination of field values once.
pub fn build(records: &Records, graph: &mut Graph, link_type: LinkType) -> Profiles {
    let mut builder = Builder::new(link_type);
    for_each_profiled(records, |s, record, texts| {
        let fields = builder.intern(texts);
        let root = graph.find(record);
        builder.add(root, record, s as u32, fields);
    });
    builder.finish()
}

/// Calls `f` on each record of `records` worth a profile: its source
/// (index), its number and its fields as text (`texts`).
pub fn for_each_profiled(records: &Records, mut f: impl FnMut(usize, u32, [Option<String>; FIELDS])) {
    let this_year = chrono::Utc::now().year();
    for (s, source) in records.sources.iter().enumerate() {
        if source.normalized.iter().all(Option::is_none) {
            continue;
        }
        for row in 0..source.len {
            let texts = texts(source, row, this_year);
            if worth_a_profile(&texts) {
                f(s, source.offset + row as u32, texts);
            }
        }
    }
}

/// Whether a record's fields (`texts`) make a profile: a region alone
/// compares nothing worth one.
fn worth_a_profile(texts: &[Option<String>; FIELDS]) -> bool {
    texts.iter().enumerate().any(|(f, t)| f != REGION && t.is_some())
}

/// Profiles of texts as `texts` gives them (the names in either order
/// worked out here), one a row, each its own cluster and record (its
/// position), all of one source, under `link_and_dedupe`: how a growing
/// run reads the profiles kept in the state.
pub fn of_rows(rows: impl IntoIterator<Item = [Option<String>; FIELDS]>) -> Profiles {
    let mut builder = Builder::new(LinkType::LinkAndDedupe);
    for (i, mut texts) in rows.into_iter().enumerate() {
        texts[NAMES] = names(&texts);
        let fields = builder.intern(texts);
        builder.add(i as u32, i as u32, 0, fields);
    }
    builder.finish()
}

/// The first and last name in either order (`NAMES`).
fn names(texts: &[Option<String>; FIELDS]) -> Option<String> {
    match (&texts[FIRST], &texts[LAST]) {
        (Some(a), Some(b)) => Some(if a <= b { format!("{a}|{b}") } else { format!("{b}|{a}") }),
        _ => None,
    }
}

/// A record's profile fields as text, in `FIELDS` order: the last name
/// falls back to the last word of the full name, and the date of birth is
/// read as `date_digits` reads it.
pub(crate) fn texts(source: &SourceRecords, row: usize, this_year: i32) -> [Option<String>; FIELDS] {
    const LAST_NAME_COLUMN: usize = attribute_index("last_name");
    const FULL_NAME_COLUMN: usize = attribute_index("full_name");
    const DOB_COLUMN: usize = attribute_index("date_of_birth");
    const POSTCODE_COLUMN: usize = attribute_index("postcode");
    const ADDRESS_COLUMN: usize = attribute_index("address");
    const CITY_COLUMN: usize = attribute_index("city");
    const REGION_COLUMN: usize = attribute_index("region");
    let n = &source.normalized;
    let full_name = value(&n[FULL_NAME_COLUMN], row);
    let mut texts: [Option<String>; FIELDS] = Default::default();
    texts[FIRST] = source.first_name(row).map(str::to_string);
    texts[LAST] = value(&n[LAST_NAME_COLUMN], row)
        .or(full_name.and_then(|f| f.rsplit_once(' ')).map(|(_, last)| last))
        .map(str::to_string);
    texts[DOB] = value(&n[DOB_COLUMN], row).and_then(|d| date_digits(d, this_year));
    texts[POSTCODE] = value(&n[POSTCODE_COLUMN], row).map(str::to_string);
    texts[ADDRESS] = value(&n[ADDRESS_COLUMN], row).map(str::to_string);
    texts[CITY] = value(&n[CITY_COLUMN], row).map(str::to_string);
    texts[REGION] = value(&n[REGION_COLUMN], row).map(str::to_string);
    texts[NAMES] = names(&texts);
    texts
}

/// Profiles as they are read: each distinct combination of a cluster and
/// its field values once, the values interned as they come.
struct Builder {
    profiles: Profiles,
    /// Per field, the id of each value's text.
    ids: Vec<HashMap<String, u32>>,
    /// Per field, the text of each value id; id 0 means missing.
    values: Vec<Vec<String>>,
    /// The profile of each cluster root and value ids.
    index: HashMap<(u32, [u32; FIELDS]), u32>,
}

impl Builder {
    fn new(link_type: LinkType) -> Builder {
        Builder {
            profiles: Profiles {
                root: Vec::new(),
                record: Vec::new(),
                second: Vec::new(),
                fields: Vec::new(),
                values: Vec::new(),
                counts: Vec::new(),
                nicknames: Vec::new(),
                sounds: [Vec::new(), Vec::new()],
                letters: [Vec::new(), Vec::new(), Vec::new()],
                source: Vec::new(),
                link_type,
            },
            ids: (0..FIELDS).map(|_| HashMap::new()).collect(),
            values: (0..FIELDS).map(|_| vec![String::new()]).collect(),
            index: HashMap::new(),
        }
    }

    /// The value ids of a record's field texts, interning the new ones.
    fn intern(&mut self, texts: [Option<String>; FIELDS]) -> [u32; FIELDS] {
        let mut fields = [0u32; FIELDS];
        for (f, text) in texts.into_iter().enumerate() {
            if let Some(text) = text {
                // Looked up before it is kept: most values are seen before,
                // and an entry would copy the text for every record.
                fields[f] = match self.ids[f].get(&text) {
                    Some(&id) => id,
                    None => {
                        let id = self.values[f].len() as u32;
                        self.ids[f].insert(text.clone(), id);
                        self.values[f].push(text);
                        id
                    }
                };
            }
        }
        fields
    }

    /// Adds `record`, of source `source` and the cluster of `root`, with
    /// value ids `fields`: a new profile, or one more record of the profile
    /// holding them, which becomes `MIXED` (keeping this record as its
    /// `second`) when the record is of another source.
    fn add(&mut self, root: u32, record: u32, source: u32, fields: [u32; FIELDS]) {
        let profiles = &mut self.profiles;
        match self.index.entry((root, fields)) {
            Entry::Vacant(slot) => {
                slot.insert(profiles.root.len() as u32);
                profiles.root.push(root);
                profiles.record.push(record);
                profiles.second.push(record);
                profiles.fields.push(fields);
                profiles.source.push(source);
            }
            Entry::Occupied(slot) => {
                let p = *slot.get() as usize;
                if profiles.source[p] != source && profiles.source[p] != MIXED {
                    profiles.source[p] = MIXED;
                    profiles.second[p] = record;
                }
            }
        }
    }

    /// The profiles, with the number of profiles holding each value and
    /// the nickname list's entry of each first name.
    fn finish(self) -> Profiles {
        let Builder {
            mut profiles,
            mut values,
            ..
        } = self;
        profiles.sounds = [FIRST, LAST].map(|f| values[f].iter().map(|name| sound(name)).collect());
        values[NAME_SOUNDS] = name_sounds(&mut profiles);
        profiles.counts = (0..FIELDS)
            .map(|f| {
                let mut counts = vec![0u32; values[f].len()];
                for fields in &profiles.fields {
                    counts[fields[f] as usize] += 1;
                }
                counts
            })
            .collect();
        profiles.nicknames = values[FIRST].iter().map(|name| nicknames::lookup(name)).collect();
        profiles.letters = LETTERED.map(|f| values[f].iter().map(|text| Letters::of(text)).collect());
        profiles.values = values;
        profiles
    }
}

/// Sets each profile's `NAME_SOUNDS` value id (the primary codes of its
/// names, in either order; none where a name is missing or has no code)
/// and returns the values' texts, id 0 missing.
fn name_sounds(profiles: &mut Profiles) -> Vec<String> {
    let mut ids: HashMap<(Code, Code), u32> = HashMap::new();
    let mut texts = vec![String::new()];
    let empty = Code::default();
    for fields in &mut profiles.fields {
        let first = profiles.sounds[0][fields[FIRST] as usize].0;
        let last = profiles.sounds[1][fields[LAST] as usize].0;
        fields[NAME_SOUNDS] = if fields[FIRST] == 0 || fields[LAST] == 0 || first == empty || last == empty {
            0
        } else {
            let key = if first.as_str() <= last.as_str() {
                (first, last)
            } else {
                (last, first)
            };
            *ids.entry(key).or_insert_with(|| {
                texts.push(format!("{}|{}", key.0.as_str(), key.1.as_str()));
                texts.len() as u32 - 1
            })
        };
    }
    texts
}

impl Profiles {
    pub fn len(&self) -> usize {
        self.root.len()
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// Whether the link type lets profiles `x` and `y` be compared: a
    /// profile of several sources has a record of another source than any
    /// single-source profile, and one of the same source as itself. (Under
    /// `dedupe_only` no profile has several sources: no link crosses one.)
    pub fn comparable(&self, x: u32, y: u32) -> bool {
        let (sx, sy) = (self.source[x as usize], self.source[y as usize]);
        match self.link_type {
            LinkType::LinkAndDedupe => true,
            LinkType::LinkOnly => sx != sy || sx == MIXED,
            LinkType::DedupeOnly => sx == sy,
        }
    }

    /// Calls `f` on every comparable pair of `block`, and on no other pair:
    /// a link type's work is the pairs it allows, not the block's.
    pub fn for_each_comparable_pair(&self, block: &[u32], mut f: impl FnMut(u32, u32)) {
        if self.link_type == LinkType::LinkAndDedupe {
            return pairs_within(block, &mut f);
        }
        let mut sorted: Vec<u32> = block.to_vec();
        sorted.sort_unstable_by_key(|p| self.source[*p as usize]);
        let groups: Vec<&[u32]> = sorted
            .chunk_by(|a, b| self.source[*a as usize] == self.source[*b as usize])
            .collect();
        for (i, group) in groups.iter().enumerate() {
            let source = self.source[group[0] as usize];
            if self.link_type == LinkType::DedupeOnly || source == MIXED {
                pairs_within(group, &mut f);
            }
            if self.link_type == LinkType::LinkOnly {
                for other in &groups[i + 1..] {
                    for &x in *group {
                        for &y in *other {
                            f(x, y);
                        }
                    }
                }
            }
        }
    }

    /// The records a link between profiles `x` and `y` joins: under
    /// `link_only`, of two sources (one side holds records of several).
    pub fn link_ends(&self, x: u32, y: u32, source_of: impl Fn(u32) -> usize) -> (u32, u32) {
        let (x, y) = (x as usize, y as usize);
        let (a, b) = (self.record[x], self.record[y]);
        if self.link_type != LinkType::LinkOnly || source_of(a) != source_of(b) {
            (a, b)
        } else if self.second[x] != a {
            (self.second[x], b)
        } else {
            (a, self.second[y])
        }
    }

    /// The comparable pairs among `profiles`.
    pub fn comparable_pairs(&self, profiles: impl Iterator<Item = u32>) -> u64 {
        let pairs = |n: u64| n * n.saturating_sub(1) / 2;
        if self.link_type == LinkType::LinkAndDedupe {
            return pairs(profiles.count() as u64);
        }
        let mut sources: Vec<u32> = profiles.map(|p| self.source[p as usize]).collect();
        sources.sort_unstable();
        let total = pairs(sources.len() as u64);
        let runs = sources.chunk_by(|a, b| a == b);
        match self.link_type {
            LinkType::LinkOnly => {
                total
                    - runs
                        .filter(|r| r[0] != MIXED)
                        .map(|r| pairs(r.len() as u64))
                        .sum::<u64>()
            }
            _ => runs.map(|r| pairs(r.len() as u64)).sum(),
        }
    }

    /// Whether one profile's first name can be a nickname of the other's.
    pub fn same_nickname(&self, x: u32, y: u32) -> bool {
        let first = |p: u32| self.nicknames[self.fields[p as usize][FIRST] as usize];
        matches!((first(x), first(y)), (Some(a), Some(b)) if a.can_match(b))
    }

    /// Whether the first (`field` FIRST) or last names of two profiles sound
    /// alike: a Double Metaphone code of one is a code of the other.
    pub fn sound_alike(&self, field: usize, x: u32, y: u32) -> bool {
        let codes = &self.sounds[usize::from(field == LAST)];
        let of = |p: u32| codes.get(self.fields[p as usize][field] as usize).copied();
        let (Some(a), Some(b)) = (of(x), of(y)) else {
            return false;
        };
        codes_match(a, b)
    }

    /// An upper bound of the Jaro-Winkler similarity of field `a` (FIRST,
    /// LAST or CITY) of profile `x` and field `b` of profile `y`; 1 where
    /// one is missing or the values were not read (unit tests).
    pub fn name_bound(&self, a: usize, x: u32, b: usize, y: u32) -> f64 {
        let of = |field: usize, p: u32| {
            // `LETTERED` order, without a search: this runs for every pair.
            debug_assert!(LETTERED.contains(&field), "field {field} keeps no letters");
            let slot = match field {
                FIRST => 0,
                LAST => 1,
                _ => 2,
            };
            self.letters[slot].get(self.fields[p as usize][field] as usize)
        };
        match (of(a, x), of(b, y)) {
            (Some(l), Some(r)) => jaro_winkler_bound_of(*l, *r),
            _ => 1.0,
        }
    }

    /// Whether two profiles' values of `field` (FIRST, LAST or CITY) are
    /// both there and spelt alike: Jaro-Winkler at least `threshold`.
    pub fn similar(&self, field: usize, x: u32, y: u32, threshold: f64) -> bool {
        match (self.text(field, x), self.text(field, y)) {
            (Some(a), Some(b)) => self.name_bound(field, x, field, y) >= threshold && jaro_winkler(a, b) >= threshold,
            _ => false,
        }
    }

    /// Whether two profiles hold the same value of `field` (both missing included).
    pub fn same(&self, field: usize, x: u32, y: u32) -> bool {
        self.fields[x as usize][field] == self.fields[y as usize][field]
    }

    /// Whether some profile has a value of `field`.
    pub fn has(&self, field: usize) -> bool {
        self.counts[field][1..].iter().any(|c| *c > 0)
    }

    pub fn text(&self, field: usize, profile: u32) -> Option<&str> {
        match self.fields[profile as usize][field] {
            0 => None,
            id => Some(&self.values[field][id as usize]),
        }
    }
}

/// Profiles of the given field texts, one per row (each its own cluster,
/// all of one source), read as `build` reads records: for unit tests.
#[cfg(test)]
pub fn of_texts(rows: &[[Option<&str>; FIELDS]]) -> Profiles {
    let mut builder = Builder::new(LinkType::LinkAndDedupe);
    for (i, row) in rows.iter().enumerate() {
        let fields = builder.intern(row.map(|t| t.map(str::to_string)));
        builder.add(i as u32, i as u32, 0, fields);
    }
    builder.finish()
}

fn pairs_within(part: &[u32], f: &mut impl FnMut(u32, u32)) {
    for (i, &x) in part.iter().enumerate() {
        for &y in &part[i + 1..] {
            f(x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names spelt differently that sound alike match; names that do not,
    /// and names without letters, do not.
    #[test]
    fn names_that_sound_alike() {
        let alike = |a: &str, b: &str| codes_match(sound(a), sound(b));
        for (a, b) in [
            ("smith", "smyth"),
            ("catherine", "kathryn"),
            ("stephen", "steven"),
            ("schmidt", "smith"),
        ] {
            assert!(alike(a, b), "{a} {b}");
            assert!(alike(b, a), "{b} {a}");
        }
        for (a, b) in [("neal", "smith"), ("kelly", "sam"), ("mark", "mike")] {
            assert!(!alike(a, b), "{a} {b}");
        }
        assert!(!alike("", ""), "no letters, no sound");
    }

    /// The pair count each link type blocks with equals the pairs
    /// `comparable` admits, counted one by one.
    #[test]
    fn comparable_pairs_counts_what_comparable_admits() {
        let source = vec![0, 0, 1, MIXED, 2, 1, MIXED, 0, 2, 2];
        let n = source.len() as u32;
        for link_type in [LinkType::LinkAndDedupe, LinkType::LinkOnly, LinkType::DedupeOnly] {
            let profiles = Profiles {
                root: (0..n).collect(),
                record: (0..n).collect(),
                second: (0..n).collect(),
                fields: vec![[0; FIELDS]; n as usize],
                values: Vec::new(),
                counts: Vec::new(),
                nicknames: Vec::new(),
                sounds: [Vec::new(), Vec::new()],
                letters: [Vec::new(), Vec::new(), Vec::new()],
                source: source.clone(),
                link_type,
            };
            let one_by_one = (0..n)
                .flat_map(|x| (x + 1..n).map(move |y| (x, y)))
                .filter(|&(x, y)| profiles.comparable(x, y))
                .count() as u64;
            assert_eq!(profiles.comparable_pairs(0..n), one_by_one, "{link_type:?}");
            let mut visited = Vec::new();
            let block: Vec<u32> = (0..n).rev().collect();
            profiles.for_each_comparable_pair(&block, |x, y| {
                assert!(profiles.comparable(x, y), "{link_type:?}: {x} {y}");
                visited.push((x.min(y), x.max(y)));
            });
            visited.sort_unstable();
            visited.dedup();
            assert_eq!(visited.len() as u64, one_by_one, "{link_type:?}");
        }
        let only = |link_type| Profiles {
            root: vec![0, 1],
            record: vec![0, 1],
            second: vec![0, 1],
            fields: vec![[0; FIELDS]; 2],
            values: Vec::new(),
            counts: Vec::new(),
            nicknames: Vec::new(),
            sounds: [Vec::new(), Vec::new()],
            letters: [Vec::new(), Vec::new(), Vec::new()],
            source: vec![3, 3],
            link_type,
        };
        // Two profiles of one source: only deduplication compares them.
        assert!(!only(LinkType::LinkOnly).comparable(0, 1));
        assert!(only(LinkType::DedupeOnly).comparable(0, 1));
        assert!(only(LinkType::LinkAndDedupe).comparable(0, 1));
    }

    /// The sounds of the names, in either order, are one blocking key: a
    /// pair with both names mistyped alike shares it; a missing name, or
    /// one without a sound, gives none.
    #[test]
    fn names_that_sound_alike_share_a_key() {
        let row = |first: Option<&'static str>, last: Option<&'static str>| {
            let mut texts = [None; FIELDS];
            texts[FIRST] = first;
            texts[LAST] = last;
            texts
        };
        let profiles = of_texts(&[
            row(Some("catherine"), Some("smith")),
            row(Some("kathryn"), Some("smyth")),
            row(Some("smyth"), Some("katherine")),
            row(Some("catherine"), Some("jones")),
            row(Some("catherine"), None),
            row(Some("123"), Some("smith")),
        ]);
        let key = |p: u32| profiles.fields[p as usize][NAME_SOUNDS];
        assert_ne!(key(0), 0);
        assert_eq!(key(0), key(1), "{:?}", profiles.text(NAME_SOUNDS, 1));
        assert_eq!(key(0), key(2), "swapped");
        assert_ne!(key(0), key(3));
        assert_eq!(key(4), 0, "a missing name");
        assert_eq!(key(5), 0, "a name without a sound");
        assert_eq!(profiles.counts[NAME_SOUNDS][key(0) as usize], 3);
    }

    #[test]
    fn dates_of_birth_in_the_forms_sources_write() {
        for text in [
            "1985-03-14",
            "3/14/85",
            "03/14/1985",
            "14/03/1985",
            "14.03.1985",
            "19850314",
        ] {
            assert_eq!(parse_date(text, 2026).as_deref(), Some("1985-03-14"), "{text}");
        }
        // Ambiguous slashed dates are read month-first; two-digit years
        // are never in the future.
        assert_eq!(parse_date("05/06/07", 2026).as_deref(), Some("2007-05-06"));
        assert_eq!(parse_date("05/06/30", 2026).as_deref(), Some("1930-05-06"));
        assert_eq!(parse_date("31/31/1985", 2026), None);
        assert_eq!(parse_date("soon", 2026), None);
        assert_eq!(date_digits("14/03/1985", 2026).as_deref(), Some("19850314"));
        assert_eq!(date_digits("19729518", 2026).as_deref(), Some("19729518"));
        assert_eq!(date_digits("31/31/1985", 2026), None);
        assert_eq!(date_digits("00000000", 2026), None, "a placeholder");
        assert_eq!(date_digits("99999999", 2026), None, "a placeholder");
        assert_eq!(date_digits("1/2/-100", 2026), None, "a negative year");
    }
}
