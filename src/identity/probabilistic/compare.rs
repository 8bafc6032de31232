//! Comparison levels: how two profiles agree on each comparison, from exact
//! agreement down to disagreement, with level 0 for "one side missing"
//! (which the model treats as no evidence). Postcode, address, city and
//! region are one comparison, `location`: they are not independent (a
//! household shares them all), and counting each would multiply the
//! evidence. A
//! pair's levels are packed into one `Pattern`, four bits per comparison,
//! so training and scoring work on the few distinct patterns, not on pairs.

use oneview_udfs::similarity::{jaro_winkler, jaro_winkler_at_least};

use super::super::given_names::first_name_within;
use super::profiles::{ADDRESS, CITY, DOB, FIRST, LAST, POSTCODE, Profiles, REGION};

pub type Pattern = u32;

pub const NULL: u8 = 0;

/// Comparisons, in pattern order (`config::COMPARISONS`).
pub const COMPARISONS: usize = 4;

/// The levels of each comparison after the null level, strongest first.
pub fn labels(comparison: usize) -> &'static [&'static str] {
    match comparison {
        0 => &[
            "exact",
            "nickname",
            "jaro_winkler>=0.92",
            "one_edit",
            "sounds_alike",
            "initial",
            "different",
        ],
        1 => &[
            "exact",
            "jaro_winkler>=0.92",
            "one_edit",
            "sounds_alike",
            "jaro_winkler>=0.80",
            "different",
        ],
        2 => &[
            "exact",
            "day_month_swapped",
            "one_digit_differs",
            "same_year_and_month",
            "one_part_differs",
            "within_a_year",
            "different",
        ],
        _ => &[
            "same_address",
            "same_street",
            "similar_address",
            "same_postcode_no_address",
            "same_postcode",
            "same_city",
            "same_area",
            "similar_city",
            "same_region",
            "different",
        ],
    }
}

/// Levels of a comparison, the null level included.
pub fn level_count(comparison: usize) -> usize {
    labels(comparison).len() + 1
}

/// Bits of a comparison's level in a pattern: up to 15 levels and null.
const LEVEL_BITS: usize = 4;

pub fn level(pattern: Pattern, comparison: usize) -> u8 {
    ((pattern >> (LEVEL_BITS * comparison)) & ((1 << LEVEL_BITS) - 1)) as u8
}

/// The pattern of one comparison at `level` (the others null); patterns are
/// the bitwise or of these.
pub fn at_level(comparison: usize, level: u8) -> Pattern {
    Pattern::from(level) << (LEVEL_BITS * comparison)
}

/// The location level of two places in one city (and no closer): the level
/// weighted by how common the city is, where term frequencies are on.
pub const SAME_CITY: u8 = 6;

/// The first-name level of a close spelling (Jaro-Winkler ≥ 0.92).
const CLOSE_FIRST: u8 = 3;
/// The last-name level of a close spelling (Jaro-Winkler ≥ 0.92).
const CLOSE_LAST: u8 = 2;

#[cfg(test)]
fn last_name(a: &str, b: &str) -> u8 {
    last_name_within(a, b, oneview_udfs::similarity::jaro_winkler_bound(a, b))
}

/// `last_name`, given an upper bound of the names' Jaro-Winkler similarity:
/// the measure is skipped below the lowest level's.
fn last_name_within(a: &str, b: &str, bound: f64) -> u8 {
    if a == b {
        return 1;
    }
    if bound < 0.80 {
        return 4;
    }
    let s = jaro_winkler(a, b);
    if s >= 0.92 {
        2
    } else if s >= 0.80 {
        3
    } else {
        4
    }
}

/// Dates as eight digits, `YYYYMMDD` (`profiles::date_digits`): exact; day
/// and month swapped; one digit typed wrong or two neighbours swapped
/// (`19850314`, `19850341`), which is how dates are mistyped; the same year
/// and month (another day); one of year and month different, the other two
/// parts equal; within a year (twelve months apart at most, the days aside);
/// different.
fn date(a: &str, b: &str) -> u8 {
    if a == b {
        return 1;
    }
    if a.len() != 8 || b.len() != 8 || !a.is_ascii() || !b.is_ascii() {
        return 7;
    }
    let (ya, ma, da) = (&a[0..4], &a[4..6], &a[6..8]);
    let (yb, mb, db) = (&b[0..4], &b[4..6], &b[6..8]);
    let months = |y: &str, m: &str| Some(digits(y)? * 12 + digits(m)?);
    if ya == yb && ma == db && da == mb {
        2
    } else if one_digit_apart(a.as_bytes(), b.as_bytes()) {
        3
    } else if ya == yb && ma == mb {
        4
    } else if da == db && (ya == yb || ma == mb) {
        5
    } else if matches!((months(ya, ma), months(yb, mb)), (Some(x), Some(y)) if (x - y).abs() <= 12) {
        6
    } else {
        7
    }
}

/// The number ASCII digits spell (a date's part), None for any other character.
fn digits(text: &str) -> Option<i32> {
    text.bytes()
        .try_fold(0i32, |n, c| c.is_ascii_digit().then(|| n * 10 + i32::from(c - b'0')))
}

/// Whether two strings of equal length differ in one place, or by two
/// neighbouring characters swapped (Damerau-Levenshtein distance 1 without
/// insertions, which a fixed-width date cannot have).
fn one_digit_apart(a: &[u8], b: &[u8]) -> bool {
    // Scored for every candidate pair: the first three differences, no allocation.
    let mut differ = (0..a.len().min(b.len())).filter(|&i| a[i] != b[i]);
    match (differ.next(), differ.next(), differ.next()) {
        (Some(_), None, _) => true,
        (Some(i), Some(j), None) => j == i + 1 && a[i] == b[j] && a[j] == b[i],
        _ => false,
    }
}

/// The part before the space of a GB postcode, the first three characters of others.
fn area(p: &str) -> &str {
    match p.bytes().position(|c| c == b' ') {
        Some(space) => &p[..space],
        None if p.is_ascii() => &p[..p.len().min(3)],
        None => &p[..p.char_indices().nth(3).map_or(p.len(), |(i, _)| i)],
    }
}

/// 1 equal, 2 the same area (the part before the space of a GB postcode,
/// the first three digits of a US ZIP) or one character typed wrong or two
/// neighbours swapped (`2260`, `2206`), 3 different.
fn postcode(a: &str, b: &str) -> u8 {
    if a == b {
        return 1;
    }
    if area(a) == area(b) || (a.len() == b.len() && one_digit_apart(a.as_bytes(), b.as_bytes())) {
        2
    } else {
        3
    }
}

/// How two address lines agree: 1 one address — equal, close as a whole,
/// or nearly every word of the shorter (four in five) found in the other,
/// spelt alike or split or joined differently (`de lungra`, `delungra`) —
/// with house numbers that agree where both have one; 2 the same street,
/// other house numbers (12 and 14 Everard Street are neighbours: the words
/// so found, or the lines without their numbers close as a whole); 3 alike:
/// house numbers that agree where both have one and at least half the words
/// of the shorter line, two or more, found in the other (a second line
/// replaced, or words mistyped past recognition); 4 different.
fn address(a: &str, b: &str) -> u8 {
    if a == b {
        return 1;
    }
    // Each line split into words once: this runs for every candidate pair.
    let (wa, wb) = (Words::of(a), Words::of(b));
    let numbers_differ = matches!((wa.number(), wb.number()), (Some(x), Some(y)) if x != y);
    if !numbers_differ && jaro_winkler_at_least(a, b, 0.90) {
        return 1;
    }
    // Ties broken by the text, so that the pair's order does not matter.
    let (short, long) = if (a.len(), a) <= (b.len(), b) {
        (&wa, &wb)
    } else {
        (&wb, &wa)
    };
    // With other house numbers, the street is what is left to compare, and
    // only the same street counts; with the same, half the words will do.
    let (words, found) = words_found(short.words(), long.words(), numbers_differ, (4, 5));
    if words >= 2 && found * 5 >= words * 4 {
        return if numbers_differ { 2 } else { 1 };
    }
    if numbers_differ {
        // Lines of numbers alone name no street.
        let (sa, sb) = (wa.without_numbers(), wb.without_numbers());
        return if !sa.is_empty() && !sb.is_empty() && jaro_winkler_at_least(&sa, &sb, 0.90) {
            2
        } else {
            4
        };
    }
    // Alike: counted without the house number, which alone is no street.
    let (words, found) = words_found(short.words(), long.words(), true, (1, 2));
    if found >= 2 && found * 2 >= words { 3 } else { 4 }
}

fn is_number(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|c| c.is_ascii_digit())
}

/// The words of an address line (its first `MAX_WORDS`), on the stack.
struct Words<'a> {
    buffer: [&'a str; MAX_WORDS],
    len: usize,
}

impl<'a> Words<'a> {
    fn of(line: &'a str) -> Self {
        let mut words = Words {
            buffer: [""; MAX_WORDS],
            len: 0,
        };
        for w in line.split(' ').filter(|w| !w.is_empty()).take(MAX_WORDS) {
            words.buffer[words.len] = w;
            words.len += 1;
        }
        words
    }

    fn words(&self) -> &[&'a str] {
        &self.buffer[..self.len]
    }

    /// The line without its words of digits.
    fn without_numbers(&self) -> String {
        let kept: Vec<&str> = self.words().iter().copied().filter(|w| !is_number(w)).collect();
        kept.join(" ")
    }

    /// The house number: the first word of digits.
    fn number(&self) -> Option<&'a str> {
        self.words().iter().copied().find(|w| is_number(w))
    }
}

/// The words of `short` (numbers left out with `skip_numbers`) and how many
/// of them are in `long`: equal, spelt alike (Jaro-Winkler ≥ 0.90 for words
/// of four letters or more), or two neighbours of one side written as one
/// word on the other. Stops early, with the count so far, once the share
/// `need` (numerator, denominator) of the words is out of reach.
fn words_found(short: &[&str], long: &[&str], skip_numbers: bool, need: (usize, usize)) -> (usize, usize) {
    let kept = |w: &&&str| !(skip_numbers && is_number(w));
    let in_long = |w: &str| {
        long.iter()
            .any(|&v| v == w || (w.len() > 3 && jaro_winkler_at_least(w, v, 0.90)))
    };
    // `w` written as two neighbouring words of `long`.
    let split_in_long = |w: &str| {
        let kept_long = long.iter().filter(kept);
        kept_long.clone().zip(kept_long.skip(1)).any(|(&first, &second)| {
            first.len() + second.len() == w.len() && w.starts_with(first) && w.ends_with(second)
        })
    };
    let total = short.iter().filter(kept).count();
    let (mut words, mut found) = (0usize, 0usize);
    let mut rest = short.iter().filter(kept).copied().peekable();
    while let Some(w) = rest.next() {
        // Most pairs are different streets: stop once the share is out of reach.
        if (total - (words - found)) * need.1 < total * need.0 {
            return (total, found);
        }
        words += 1;
        if in_long(w) || split_in_long(w) {
            found += 1;
            continue;
        }
        // `w` and the next word written as one word of `long`.
        if let Some(next) = rest.peek().copied()
            && long
                .iter()
                .any(|v| v.len() == w.len() + next.len() && v.starts_with(w) && v.ends_with(next))
        {
            rest.next();
            words += 1;
            found += 2;
        }
    }
    (words, found)
}

/// The words of an address line compared, at most.
const MAX_WORDS: usize = 24;

/// Location: the same address line (and not a different postcode area,
/// unless the city agrees: a mistyped postcode does not move a house); else
/// the same street on those terms (another house number); else alike
/// address lines on those terms (`address`); else the same postcode, split
/// by whether both sides had an address line to compare (a guest order with
/// only a postcode against a CRM contact is not a household member at
/// another address); else the same city (`SAME_CITY`); else the same
/// postcode area; else a city spelt alike (a typo in a suburb's name, or a
/// neighbour with a similar name); else the same region (state); else
/// different.
fn location(profiles: &Profiles, x: u32, y: u32) -> u8 {
    let pair = |f: usize| (profiles.text(f, x), profiles.text(f, y));
    let (lines, code, city, region) = (pair(ADDRESS), pair(POSTCODE), pair(CITY), pair(REGION));
    let code_level = match code {
        _ if code.0.is_some() && profiles.same(POSTCODE, x, y) => 1,
        (Some(a), Some(b)) => postcode(a, b),
        _ => NULL,
    };
    let same_city = city.0.is_some() && profiles.same(CITY, x, y);
    // Only an equal city vouches for a house at another postcode: cities
    // spelt alike are often neighbours (`north ryde`, `north rocks`).
    let same_place = code_level != 3 || same_city;
    // Address lines decide nothing in another place (most pairs): not compared there.
    let address_level = match lines {
        (Some(a), Some(b)) if same_place => address(a, b),
        _ => NULL,
    };
    let compared = [lines, code, city, region]
        .iter()
        .any(|p| p.0.is_some() && p.1.is_some());
    if !compared {
        NULL
    } else if address_level == 1 && same_place {
        1
    } else if address_level == 2 && same_place {
        2
    } else if address_level == 3 && same_place {
        3
    } else if code_level == 1 && address_level == NULL {
        4
    } else if code_level == 1 {
        5
    } else if same_city {
        SAME_CITY
    } else if code_level == 2 {
        7
    } else if profiles.similar(CITY, x, y, 0.92) {
        8
    } else if region.0.is_some() && profiles.same(REGION, x, y) {
        9
    } else {
        10
    }
}

/// The first- and last-name levels of two (first, last) names; with
/// `same_nickname`, one first name can be a nickname of the other. Names
/// swapped ("Neal Kelly" against "Kelly Neal"), with or without a typo, are
/// compared across when one then agrees at least closely and the two agree
/// better than straight: the closer agreement across is the given name's
/// (exact stays exact, a typo is the close level), the other the surname's
/// level. So one name found in the other's other place ("Blake Green"
/// against "Gloufssis Blake": a given name swapped in and the surname
/// replaced) is a name agreeing, as it is where nothing was swapped.
///
/// `bound(i, j)` bounds the Jaro-Winkler similarity of x's name `i` and y's
/// name `j` from above (0 the given name, 1 the surname), so that most pairs
/// skip the measure.
///
/// Returns the levels of `given_names::first_name` and `last_name_within`,
/// and whether they were read across.
fn name_levels(
    x: (Option<&str>, Option<&str>),
    y: (Option<&str>, Option<&str>),
    same_nickname: bool,
    bound: impl Fn(usize, usize) -> f64,
) -> (u8, u8, bool) {
    let first = match (x.0, y.0) {
        (Some(a), Some(b)) => first_name_within(a, b, same_nickname, bound(0, 0)),
        _ => NULL,
    };
    let last = match (x.1, y.1) {
        (Some(a), Some(b)) => last_name_within(a, b, bound(1, 1)),
        _ => NULL,
    };
    let (Some(fx), Some(lx), Some(fy), Some(ly)) = (x.0, x.1, y.0, y.1) else {
        return (first, last, false);
    };
    if (first, last) == (1, 1) {
        return (first, last, false);
    }
    // Both across, each cheap where its bound rules it out (most pairs).
    let across = (
        last_name_within(fx, ly, bound(0, 1)),
        last_name_within(lx, fy, bound(1, 0)),
    );
    if across.0.min(across.1) <= CLOSE_LAST && across.0 + across.1 < first + last {
        // Which name is the given one is unknown once swapped: the closer
        // agreement counts as the given name's, whichever record is first.
        let (better, worse) = (across.0.min(across.1), across.0.max(across.1));
        (if better == 1 { 1 } else { CLOSE_FIRST }, worse, true)
    } else {
        (first, last, false)
    }
}

/// Whether two names are one edit apart (Damerau-Levenshtein distance 1: a
/// letter typed wrong, added or dropped, or two neighbours swapped), which
/// Jaro-Winkler misses in short names (`ho`, `oh`). An initial is not a name
/// here: `j` and `k` are two initials, `j` and `jo` an initial of a name.
fn one_edit_apart(a: &str, b: &str) -> bool {
    if a.chars().nth(1).is_none() || b.chars().nth(1).is_none() {
        return false;
    }
    if !(a.is_ascii() && b.is_ascii()) {
        return oneview_udfs::similarity::damerau_levenshtein(a, b) == 1;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let (short, long) = (short.as_bytes(), long.as_bytes());
    match long.len() - short.len() {
        0 => short != long && one_digit_apart(short, long),
        1 => {
            // One letter added: past the first difference, the rest agrees.
            let at = (0..short.len()).find(|&i| short[i] != long[i]).unwrap_or(short.len());
            short[at..] == long[at + 1..]
        }
        _ => false,
    }
}

/// A given-name level (`given_names::first_name`'s: exact, nickname, close,
/// initial, different) with levels for names one edit apart and for names
/// that sound alike (Double Metaphone) before the initial, for the pairs not
/// closer already.
fn first_level(level: u8, one_edit: impl FnOnce() -> bool, sound_alike: impl FnOnce() -> bool) -> u8 {
    match level {
        NULL | 1..=3 => level,
        _ if one_edit() => 4,
        _ if sound_alike() => 5,
        4 => 6,
        _ => 7,
    }
}

/// A last-name level (`last_name_within`'s: exact, close, near, different)
/// with levels for names one edit apart and for names that sound alike
/// between close and near.
fn last_level(level: u8, one_edit: impl FnOnce() -> bool, sound_alike: impl FnOnce() -> bool) -> u8 {
    match level {
        NULL | 1 | 2 => level,
        _ if one_edit() => 3,
        _ if sound_alike() => 4,
        3 => 5,
        _ => 6,
    }
}

/// The pattern of two profiles over the active comparisons (a bit each).
pub fn compare(profiles: &Profiles, x: u32, y: u32, active: u8) -> Pattern {
    let text = |field: usize, profile: u32| profiles.text(field, profile);
    let (first, last, across) = name_levels(
        (text(FIRST, x), text(LAST, x)),
        (text(FIRST, y), text(LAST, y)),
        profiles.same_nickname(x, y),
        |i, j| profiles.name_bound([FIRST, LAST][i], x, [FIRST, LAST][j], y),
    );
    // Edits and sounds are of the names as they stand; across, not looked for.
    let edit = |field: usize| {
        !across && matches!((text(field, x), text(field, y)), (Some(a), Some(b)) if one_edit_apart(a, b))
    };
    let sound = |field: usize| !across && profiles.sound_alike(field, x, y);
    let first = first_level(first, || edit(FIRST), || sound(FIRST));
    let last = last_level(last, || edit(LAST), || sound(LAST));
    let mut pattern = 0;
    for comparison in 0..COMPARISONS {
        if active & (1 << comparison) == 0 {
            continue;
        }
        let level = match comparison {
            0 => first,
            1 => last,
            2 => match (text(DOB, x), text(DOB, y)) {
                (Some(_), Some(_)) if profiles.same(DOB, x, y) => 1,
                (Some(a), Some(b)) => date(a, b),
                _ => NULL,
            },
            _ => location(profiles, x, y),
        };
        pattern |= at_level(comparison, level);
    }
    pattern
}

/// The comparisons that tell a household member from a duplicate: given
/// name and date of birth (in pattern order).
pub const PERSON: [usize; 2] = [0, 2];

/// Whether a pattern's given name and date of birth both say two people:
/// each different, where `active` compares it (vacuously true when it
/// compares neither). A household member differs so from a duplicate, whose
/// given name or date of birth rarely both change, even where one of them
/// is often replaced (a nickname, a typo, another given name).
pub fn differs_on_person(pattern: Pattern, active: u8) -> bool {
    PERSON
        .into_iter()
        .filter(|c| active & (1 << c) != 0)
        .all(|c| level(pattern, c) as usize == labels(c).len())
}

/// Whether `differs_on_person` can say anything of a pattern: every one of
/// its comparisons that `active` compares has a value on both sides.
pub fn judgeable_on_person(pattern: Pattern, active: u8) -> bool {
    PERSON
        .into_iter()
        .filter(|c| active & (1 << c) != 0)
        .all(|c| level(pattern, c) != NULL)
}

/// A pattern as text: `first_name:exact last_name:jaro_winkler>=0.92 …`.
pub fn describe(pattern: Pattern, names: &[&str]) -> String {
    let mut parts = Vec::new();
    for (comparison, name) in names.iter().enumerate() {
        let l = level(pattern, comparison);
        if l != NULL {
            parts.push(format!("{name}:{}", labels(comparison)[l as usize - 1]));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use oneview_udfs::normalize::nicknames;
    use oneview_udfs::similarity::jaro_winkler_bound;

    use super::super::super::given_names::first_name;
    use super::*;

    fn first(a: &str, b: &str) -> u8 {
        first_name(a, b, nicknames::same_given_name(a, b))
    }

    /// Location levels from address, postcode, city and region together.
    #[test]
    fn location_levels() {
        use super::super::profiles::{FIELDS, of_texts};
        let place = |address: Option<&'static str>, code: &'static str, city: &'static str, region: &'static str| {
            let mut texts = [None; FIELDS];
            texts[ADDRESS] = address;
            texts[POSTCODE] = Some(code);
            texts[CITY] = Some(city);
            texts[REGION] = Some(region);
            texts
        };
        let profiles = of_texts(&[
            place(Some("12 everard st"), "2612", "braddon", "act"),
            place(Some("12 everard street"), "2612", "braddon", "act"),
            place(Some("14 everard st"), "2612", "braddon", "act"),
            place(Some("9 hale cr"), "2612", "braddon", "act"),
            place(Some("12 everard st"), "4000", "brisbane", "qld"),
            place(Some("3 kent rd"), "2613", "turner", "act"),
            place(Some("3 kent rd"), "5000", "braddonn", "sa"),
            place(Some("3 kent rd"), "5000", "adelaide", "act"),
            place(Some("3 kent rd"), "5000", "adelaide", "sa"),
            place(None, "2612", "braddon", "act"),
            place(Some("12 everard st"), "2621", "braddon", "act"),
            place(Some("40 limestone av"), "2699", "braddon", "act"),
        ]);
        let level = |x: u32, y: u32| {
            let level = location(&profiles, x, y);
            assert_eq!(level, location(&profiles, y, x), "{x} {y} both ways");
            labels(3)[usize::from(level) - 1]
        };
        assert_eq!(level(0, 1), "same_address");
        assert_eq!(level(0, 2), "same_street");
        assert_eq!(level(0, 3), "same_postcode");
        assert_eq!(level(0, 9), "same_postcode_no_address");
        assert_eq!(
            level(0, 4),
            "different",
            "the same line in another city is another house"
        );
        assert_eq!(level(0, 10), "same_address", "a mistyped postcode in the same city");
        assert_eq!(level(0, 5), "same_area", "the postcode's first three digits");
        assert_eq!(level(3, 11), "same_city", "another postcode in the same city");
        assert_eq!(level(0, 6), "similar_city", "a typo in the suburb");
        assert_eq!(level(0, 7), "same_region");
        assert_eq!(level(0, 8), "different");
    }

    #[test]
    fn levels_of_each_comparison() {
        assert_eq!(first("william", "bill"), 2);
        assert_eq!(first("katherine", "katherina"), 3);
        let no = || false;
        assert_eq!(
            first_level(NULL, || true, || true),
            NULL,
            "a missing name stays missing"
        );
        assert_eq!(last_level(NULL, || true, || true), NULL, "a missing name stays missing");
        assert_eq!(
            first_level(first("j", "k"), || one_edit_apart("j", "k"), no),
            7,
            "two initials"
        );
        assert_eq!(
            first_level(first("j", "jo"), || one_edit_apart("j", "jo"), no),
            6,
            "an initial"
        );
        assert_eq!(first_level(first("k", "kelly"), no, no), 6, "initial");
        assert_eq!(first_level(first("kelly", "sam"), no, no), 7, "different");
        assert_eq!(first_level(first("kelly", "sam"), no, || true), 5, "sounds alike");
        assert_eq!(
            first_level(first("jo", "jon"), || one_edit_apart("jo", "jon"), no),
            4,
            "one edit"
        );
        assert_eq!(
            first_level(first("kelly", "kelly"), || true, || true),
            1,
            "closer stays"
        );
        assert_eq!(
            last_level(last_name("neal", "neale"), || true, || true),
            2,
            "close stays"
        );
        assert_eq!(last_level(last_name("neal", "smith"), no, || true), 4, "sounds alike");
        assert_eq!(
            last_level(last_name("ho", "oh"), || one_edit_apart("ho", "oh"), no),
            3,
            "one edit"
        );
        assert_eq!(last_level(last_name("neal", "smith"), no, no), 6, "different");
        assert_eq!(last_level(last_name("neal", "nell"), no, no), 5, "near");
        assert_eq!(last_name("neal", "neale"), 2);
        for (a, b, one) in [
            ("ho", "oh", true),
            ("hxo", "ho", true),
            ("ho", "hxo", true),
            ("amner", "amber", true),
            ("lily", "lilly", true),
            ("jo", "al", false),
            ("ho", "ho", false),
            ("smith", "smyth", true),
            ("smith", "smythe", false),
            ("zoë", "zoe", true),
            ("j", "k", false),
            ("j", "jo", false),
        ] {
            assert_eq!(one_edit_apart(a, b), one, "{a} {b}");
        }
        assert_eq!(date("19850304", "19850403"), 2);
        assert_eq!(date("19850314", "19850341"), 3, "two neighbours swapped");
        assert_eq!(date("19850304", "19850904"), 3, "one digit");
        assert_eq!(date("19729518", "19720518"), 3, "an impossible date still compares");
        assert_eq!(date("19850304", "19850328"), 4, "same year and month");
        assert_eq!(date("19850304", "19960304"), 5, "the year differs");
        assert_eq!(date("19850304", "19851204"), 5, "the month differs");
        assert_eq!(date("19850304", "19860212"), 6, "within a year");
        assert_eq!(date("19851230", "19860112"), 6, "within a year, over new year");
        assert_eq!(date("19850304", "19900712"), 7);
        assert_eq!(postcode("SW1A 1AA", "SW1A 2BB"), 2);
        assert_eq!(postcode("02139", "02142"), 2);
        assert_eq!(postcode("02139", "94105"), 3);
        assert_eq!(postcode("2260", "2206"), 2, "two neighbours swapped");
        let names = |x: (&str, &str), y: (&str, &str)| {
            let bound = |i: usize, j: usize| jaro_winkler_bound([x.0, x.1][i], [y.0, y.1][j]);
            let (first, last, _) = name_levels((Some(x.0), Some(x.1)), (Some(y.0), Some(y.1)), false, bound);
            (first, last)
        };
        assert_eq!(names(("kelly", "neal"), ("neal", "kelly")), (1, 1), "swapped");
        assert_eq!(
            names(("harriet", "white"), ("whiite", "harriet")),
            (1, CLOSE_LAST),
            "a typo across"
        );
        assert_eq!(
            names(("whiite", "harriet"), ("harriet", "white")),
            (1, CLOSE_LAST),
            "either way round"
        );
        assert_eq!(
            names(("emiily", "wynne"), ("wynne", "emiild")),
            (1, CLOSE_LAST),
            "the closer is the given name's"
        );
        assert_eq!(date("19850314", "1985031"), 7, "not eight digits");
        assert_eq!(
            names(("kelly", "neal"), ("kelly", "neale")),
            (1, 2),
            "straight is better"
        );
        assert_eq!(
            names(("blake", "green"), ("gloufssis", "blake")),
            (1, 4),
            "one name found in the other place"
        );
        assert_eq!(
            names(("coulason", "charlotte"), ("charlotte", "mazurek")),
            (1, 4),
            "the other way round"
        );
        assert_eq!(
            names(("timothy", "coffey"), ("timothy", "dominey")),
            (1, 4),
            "straight stays straight"
        );
        assert_eq!(
            address("52 florey drive north stirling downs", "52 north stirilng downs"),
            1
        );
        assert_eq!(address("23 ramsay place mirani", "23 ramsay place mirani"), 1);
        assert_eq!(address("12 everard street", "14 everard street"), 2, "neighbours");
        assert_eq!(address("1 main street", "1 high street"), 4);
        assert_eq!(
            address("11 cochrane crescent the rookery", "11 cochrane crescent spyla w farm"),
            3,
            "a second line replaced"
        );
        assert_eq!(
            address("21 launcestonrstreet carav n park", "40 launceston street caravn park"),
            2,
            "the same street, mistyped past its words"
        );
        assert_eq!(
            address("144 hall street karoola delungra", "144 karoola de lungra"),
            1,
            "a word split in two, a line missing"
        );
        assert_eq!(
            address("53 discover ystreet rockview", "53 discovery street rockview"),
            1,
            "a space moved"
        );
        assert_eq!(
            address("2 wittenoom gcrescent nerrgia", "7 wittenoom crescent nerriga"),
            2
        );
        assert_eq!(
            address("12 everard street", "everard street"),
            1,
            "one side without a number"
        );
        assert_eq!(address("12 everard street", "14 kent road"), 4);
        assert_eq!(address("12", "14"), 4, "numbers alone are no street");
        for (a, b) in [
            ("foo foo zzz", "foo bar qux"),
            ("11 cochrane crescent the rookery", "11 cochrane crescent spyla w farm"),
            ("12 everard street", "14 everard streat"),
        ] {
            assert_eq!(address(a, b), address(b, a), "{a} | {b}");
        }
    }
}
