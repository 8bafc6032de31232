//! `normalize_postcode(text [, country])` and `normalize_address(text)`:
//! postal codes in their canonical form and address lines as comparable
//! tokens ("12 Oak Street, Apt 4" and "12 oak st #4" agree).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::args::{Arg, Strings, text_result};
use crate::function::{NORMALIZATION, ScalarFn, doc};

pub fn postcode_udf() -> ScalarUDF {
    ScalarFn::udf(
        "normalize_postcode",
        &[Arg::Text, Arg::Text],
        1,
        DataType::Utf8,
        postcode_kernel,
        doc(
            NORMALIZATION,
            "Canonical postal code. US: the five-digit ZIP (ZIP+4 and spaces dropped). GB: upper \
             case with one space before the inward code ('sw1a1aa' → 'SW1A 1AA'). Other or \
             unknown countries: upper case with spaces and dashes removed. Without a country the \
             form is detected (digits → US, letter-digit patterns → GB). NULL when no letter or \
             digit is left, or the code does not fit the given country.",
            "normalize_postcode(postcode [, country])",
            &[
                ("postcode", "Text expression."),
                ("country", "Optional ISO code ('US', 'GB'; 'UK' is accepted)."),
            ],
            "SELECT normalize_postcode('02139-4307'), normalize_postcode('sw1a1aa', 'GB')",
        ),
    )
}

pub fn address_udf() -> ScalarUDF {
    ScalarFn::udf(
        "normalize_address",
        &[Arg::Text],
        1,
        DataType::Utf8,
        address_kernel,
        doc(
            NORMALIZATION,
            "Address line as lower-case tokens with punctuation removed and USPS-style \
             abbreviations applied to street types, directions and unit designators \
             (Street → st, Avenue → ave, North → n, Apartment / # → apt).",
            "normalize_address(address_line)",
            &[("address_line", "Text expression.")],
            "SELECT normalize_address('12 Oak Street, Apt. 4') -- 12 oak st apt 4",
        ),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Country {
    Detect,
    Us,
    Gb,
    Other,
}

fn country(value: Option<&str>) -> Result<Country> {
    let is = |code: &str, names: &[&str]| names.iter().any(|n| code.eq_ignore_ascii_case(n));
    Ok(match value.map(str::trim) {
        None | Some("") => Country::Detect,
        Some(code) if is(code, &["US", "USA"]) => Country::Us,
        Some(code) if is(code, &["GB", "UK"]) => Country::Gb,
        Some(code) if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()) => Country::Other,
        Some(code) => return exec_err!("normalize_postcode: '{code}' is not a two-letter country code"),
    })
}

fn postcode_kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let codes = Strings::new("normalize_postcode", &args[0])?;
    let countries = args.get(1).map(|a| Strings::new("normalize_postcode", a)).transpose()?;
    let constant = match &countries {
        None => Some(Country::Detect),
        Some(Strings::Scalar(v)) => Some(country(*v)?),
        Some(_) => None,
    };
    let mut error = None;
    let result = text_result(args, rows, |row, out| {
        let Some(code) = codes.get(row) else { return false };
        let c = match (constant, &countries) {
            (Some(c), _) => c,
            (None, Some(column)) => match country(column.get(row)) {
                Ok(c) => c,
                Err(e) => {
                    error.get_or_insert(e);
                    return false;
                }
            },
            (None, None) => Country::Detect,
        };
        postcode(code, c, out)
    });
    match error {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

fn postcode(code: &str, country: Country, out: &mut String) -> bool {
    let start = out.len();
    out.extend(
        code.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase()),
    );
    let compact = &out[start..];
    if compact.is_empty() {
        return false;
    }
    let all_digits = compact.bytes().all(|b| b.is_ascii_digit());
    let country = match country {
        Country::Detect if all_digits && (compact.len() == 5 || compact.len() == 9) => Country::Us,
        Country::Detect if is_uk(compact) => Country::Gb,
        Country::Detect => Country::Other,
        c => c,
    };
    match country {
        Country::Us => {
            if !all_digits || !(compact.len() == 5 || compact.len() == 9) {
                out.truncate(start);
                return false;
            }
            out.truncate(start + 5);
            true
        }
        Country::Gb => {
            if !is_uk(compact) {
                out.truncate(start);
                return false;
            }
            let inward_at = out.len() - 3;
            out.insert(inward_at, ' ');
            true
        }
        _ => true,
    }
}

/// Outward code (letter, then 1–3 of letters/digits) + inward code (digit, two letters).
fn is_uk(compact: &str) -> bool {
    let b = compact.as_bytes();
    (5..=7).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 3].is_ascii_digit()
        && b[b.len() - 2].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphabetic()
        && b[..b.len() - 3].iter().any(u8::is_ascii_digit)
}

/// USPS Publication 28 street suffixes, directionals and unit designators.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("street", "st"),
    ("str", "st"),
    ("avenue", "ave"),
    ("av", "ave"),
    ("road", "rd"),
    ("drive", "dr"),
    ("lane", "ln"),
    ("boulevard", "blvd"),
    ("court", "ct"),
    ("place", "pl"),
    ("terrace", "ter"),
    ("square", "sq"),
    ("parkway", "pkwy"),
    ("highway", "hwy"),
    ("circle", "cir"),
    ("crescent", "cres"),
    ("close", "cl"),
    ("mount", "mt"),
    ("north", "n"),
    ("south", "s"),
    ("east", "e"),
    ("west", "w"),
    ("northeast", "ne"),
    ("northwest", "nw"),
    ("southeast", "se"),
    ("southwest", "sw"),
    ("apartment", "apt"),
    ("unit", "apt"),
    ("suite", "ste"),
    ("floor", "fl"),
    ("building", "bldg"),
    ("first", "1st"),
    ("second", "2nd"),
    ("third", "3rd"),
];

fn address_kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let lines = Strings::new("normalize_address", &args[0])?;
    let mut word = String::new();
    Ok(text_result(args, rows, |row, out| {
        let Some(line) = lines.get(row) else { return false };
        let emit = |word: &mut String, out: &mut String| {
            if word.is_empty() {
                return;
            }
            let token = ABBREVIATIONS
                .iter()
                .find(|(long, _)| *long == word.as_str())
                .map_or(word.as_str(), |(_, short)| short);
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(token);
            word.clear();
        };
        word.clear();
        for c in line.chars() {
            if c == '#' {
                emit(&mut word, out);
                word.push_str("apt");
                emit(&mut word, out);
            } else if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else if c != '\'' {
                emit(&mut word, out);
            }
        }
        emit(&mut word, out);
        !out.is_empty()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc(s: &str, c: Country) -> Option<String> {
        let mut out = String::new();
        postcode(s, c, &mut out).then_some(out)
    }

    #[test]
    fn postcodes() {
        assert_eq!(pc("02139-4307", Country::Detect).as_deref(), Some("02139"));
        assert_eq!(pc(" 94105 ", Country::Us).as_deref(), Some("94105"));
        assert_eq!(pc("sw1a1aa", Country::Detect).as_deref(), Some("SW1A 1AA"));
        assert_eq!(pc("M1 1AE", Country::Gb).as_deref(), Some("M1 1AE"));
        assert_eq!(pc("ABC", Country::Us), None);
        assert_eq!(pc("12345", Country::Gb), None);
        assert_eq!(pc("75008", Country::Other).as_deref(), Some("75008"));
        assert_eq!(pc(" - ", Country::Detect), None);
    }
}
