//! The ways real customer data goes wrong: typos, transpositions, nicknames,
//! case and whitespace, phone and date formats, junk values.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use rand::seq::IndexedRandom;

/// Neighbouring keys on a QWERTY keyboard: the typo a person actually makes.
fn neighbour(c: char) -> char {
    const ROWS: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];
    let lower = c.to_ascii_lowercase();
    for row in ROWS {
        if let Some(i) = row.find(lower) {
            let bytes = row.as_bytes();
            let j = if i + 1 < bytes.len() && (i == 0 || (i as u32).is_multiple_of(2)) {
                i + 1
            } else {
                i - 1
            };
            let n = bytes[j] as char;
            return if c.is_ascii_uppercase() {
                n.to_ascii_uppercase()
            } else {
                n
            };
        }
    }
    c
}

/// One keyboard slip: a substitution, a transposition, a dropped or a
/// doubled letter.
pub fn typo(rng: &mut impl Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let letters: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_alphabetic()).collect();
    if letters.len() < 3 {
        return s.to_string();
    }
    // Real typos rarely hit the first letter.
    let i = letters[rng.random_range(1..letters.len())];
    match rng.random_range(0..4) {
        0 => chars[i] = neighbour(chars[i]),
        1 if i + 1 < chars.len() && chars[i + 1].is_alphabetic() => chars.swap(i, i + 1),
        1 => chars.swap(i - 1, i),
        2 => {
            chars.remove(i);
        }
        _ => chars.insert(i, chars[i]),
    }
    chars.into_iter().collect()
}

/// How a name's capitalisation varies between systems.
pub fn name_case(rng: &mut impl Rng, s: &str) -> String {
    match rng.random_range(0..100) {
        0..4 => s.to_uppercase(),
        4..8 => s.to_lowercase(),
        _ => s.to_string(),
    }
}

/// Leading/trailing spaces and doubled inner spaces from copy-paste.
pub fn whitespace(rng: &mut impl Rng, s: &str) -> String {
    match rng.random_range(0..3) {
        0 => format!("{s} "),
        1 => format!(" {s}"),
        _ => s.replacen(' ', "  ", 1),
    }
}

/// An email as typed into a form: case, spaces, `+tags`, Gmail dots.
pub fn email(rng: &mut impl Rng, email: &str) -> String {
    let mut out = email.to_string();
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let roll = rng.random_range(0..100);
    if roll < 12 {
        // `K.Neal@Mail.com`: capitalised parts.
        out = capitalise_parts(&out);
    } else if roll < 15 {
        out = out.to_uppercase();
    } else if roll < 20 && matches!(domain, "gmail.com" | "outlook.com" | "protonmail.com") {
        let tag = ["shop", "news", "promo", "orders"].choose(rng).expect("non-empty");
        out = format!("{local}+{tag}@{domain}");
    } else if roll < 23 && domain == "gmail.com" && local.contains('.') {
        out = format!("{}@{domain}", local.replace('.', ""));
    } else if roll < 24 && domain == "gmail.com" {
        out = format!("{local}@googlemail.com");
    }
    if rng.random_bool(0.06) {
        out = whitespace(rng, &out);
    }
    out
}

/// `k.neal@mail.com` -> `K.Neal@Mail.com`: each part of the local name and
/// the domain's first letter, as autocorrecting keyboards and people do.
fn capitalise_parts(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    let mut in_domain = false;
    for c in s.chars() {
        out.push(if start { c.to_ascii_uppercase() } else { c });
        start = c == '@' || (!in_domain && matches!(c, '.' | '_' | '-'));
        in_domain |= c == '@';
    }
    out
}

/// A US number (area code, exchange, line) in one of the formats people
/// and systems write.
pub fn us_phone(rng: &mut impl Rng, area: &str, exchange: u16, line: u16) -> String {
    match rng.random_range(0..100) {
        0..20 => format!("+1 ({area}) {exchange}-{line:04}"),
        20..35 => format!("{area}.{exchange}.{line:04}"),
        35..55 => format!("({area}) {exchange}-{line:04}"),
        55..70 => format!("{area}{exchange}{line:04}"),
        70..82 => format!("+1{area}{exchange}{line:04}"),
        82..92 => format!("{area}-{exchange}-{line:04}"),
        _ => format!("1-{area}-{exchange}-{line:04}"),
    }
}

/// A UK mobile (`7` + nine digits) in the formats of UK forms and exports.
pub fn uk_phone(rng: &mut impl Rng, national: &str) -> String {
    // national = "7xxxxxxxxx" (10 digits)
    let (a, b) = national.split_at(4);
    match rng.random_range(0..100) {
        0..30 => format!("0{a} {b}"),
        30..50 => format!("+44 {a} {b}"),
        50..65 => format!("0044 {a} {b}"),
        65..80 => format!("+44{national}"),
        80..90 => format!("0{national}"),
        _ => format!("(0{a}) {b}"),
    }
}

/// A date of birth as different systems export it: ISO next to m/d/yy.
pub fn date(rng: &mut impl Rng, d: NaiveDate, us: bool) -> String {
    match rng.random_range(0..100) {
        0..55 => d.format("%Y-%m-%d").to_string(),
        55..75 if us => format!("{}/{}/{:02}", d.month(), d.day(), d.year() % 100),
        55..75 => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        75..90 if us => format!("{:02}/{:02}/{}", d.month(), d.day(), d.year()),
        75..90 => d.format("%d.%m.%Y").to_string(),
        _ => d.format("%Y%m%d").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn typos_change_the_string_a_little() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let t = typo(&mut rng, "Katherine");
            assert_ne!(t, "", "typo emptied the name");
            assert!(t.len().abs_diff("Katherine".len()) <= 1, "{t}");
            assert!(t.starts_with('K'), "{t}");
        }
    }

    #[test]
    fn capitalised_email_parts() {
        assert_eq!(capitalise_parts("k.neal@mail.com"), "K.Neal@Mail.com");
    }
}
