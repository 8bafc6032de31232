//! `normalize_phone(text [, default_region])`: E.164 (`+14153820199`) via
//! the phonenumber crate (Google's libphonenumber metadata), or NULL for
//! text that is not a valid number.

use std::str::FromStr;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use phonenumber::country;

use crate::args::{Arg, Strings, text_result, write_display};
use crate::function::{NORMALIZATION, ScalarFn, doc};

pub fn udf() -> ScalarUDF {
    ScalarFn::udf(
        "normalize_phone",
        &[Arg::Text, Arg::Text],
        1,
        DataType::Utf8,
        kernel,
        doc(
            NORMALIZATION,
            "Parses a phone number written in any common format and returns it in E.164 form. \
             Numbers without a country code are read in the default region (ISO 3166 code, \
             default 'US'). Returns NULL when the text is not a valid number for its region \
             (junk such as '0000000000' or 'N/A').",
            "normalize_phone(phone [, default_region])",
            &[
                ("phone", "Text expression."),
                (
                    "default_region",
                    "Optional two-letter region for numbers without a country code, e.g. 'GB'.",
                ),
            ],
            "SELECT normalize_phone('(415) 382-0199'), normalize_phone('07511 011060', 'GB')",
        ),
    )
}

/// Whether `code` is a region `normalize_phone` knows (for checking
/// configuration before any data is read).
pub fn is_region(code: &str) -> bool {
    region(Some(code)).is_ok()
}

fn region(value: Option<&str>) -> Result<country::Id> {
    let code = value.map(str::trim).unwrap_or("US");
    // Upper-cased on the stack: a region column is read on every row.
    let parsed = match code.as_bytes() {
        [a, b] => {
            let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
            std::str::from_utf8(&upper)
                .ok()
                .and_then(|c| country::Id::from_str(c).ok())
        }
        _ => None,
    };
    match parsed {
        Some(id) => Ok(id),
        None => exec_err!(
            "normalize_phone: unknown region '{code}'; expected a two-letter ISO 3166 code such as 'US' or 'GB'"
        ),
    }
}

fn kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let phones = Strings::new("normalize_phone", &args[0])?;
    let regions = args.get(1).map(|a| Strings::new("normalize_phone", a)).transpose()?;
    let constant = match &regions {
        None => Some(region(None)?),
        Some(Strings::Scalar(v)) => Some(region(*v)?),
        Some(_) => None,
    };
    let mut error = None;
    let result = text_result(args, rows, |row, out| {
        let Some(text) = phones.get(row) else { return false };
        let id = match (constant, &regions) {
            (Some(id), _) => id,
            (None, Some(column)) => match region(column.get(row)) {
                Ok(id) => id,
                Err(e) => {
                    error.get_or_insert(e);
                    return false;
                }
            },
            (None, None) => country::Id::US,
        };
        normalize(text, id, out)
    });
    match error {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

/// A number written with digits and separators only (`(415) 382-0199`,
/// `415.382.0199`, `+44 7511 011060`) parses the same as any other spelling
/// with the same region, leading `+` and digits. Such spellings share one
/// parse per process: the parser is slow (its shared regex cache hashes each
/// pattern under a lock on every use), and one customer's number comes back
/// in many spellings across orders, tickets and consents. The memo is shared
/// by all threads, in shards so that they rarely wait for each other.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Spelling {
    region: country::Id,
    plus: bool,
    len: u8,
    digits: u64,
    /// Without spaces: the digits before the first separator.
    lead: u8,
    spaced: bool,
}

/// Parses kept per shard before the shard starts over (about 120 MB in all).
const SHARD_CAPACITY: usize = 1 << 17;
const SHARDS: usize = 16;

type Shard = std::sync::Mutex<std::collections::HashMap<Spelling, Option<Box<str>>>>;

static MEMO: std::sync::LazyLock<Vec<Shard>> =
    std::sync::LazyLock::new(|| (0..SHARDS).map(|_| Shard::default()).collect());

fn shard(key: &Spelling) -> &'static Shard {
    // The low digits spread numbers evenly; the length and region split the rest.
    let index = key.digits as usize ^ (key.len as usize) << 3 ^ usize::from(key.plus);
    &MEMO[index % SHARDS]
}

fn spelling(text: &str, region: country::Id) -> Option<Spelling> {
    // The parser reads a text without spaces as an RFC 3966 number first,
    // where the digits after `+` up to the first separator are the country
    // code: `+1415-382-0199` is not `+1415 382 0199`. Such texts keep the
    // length of that first group in their key. Other whitespace (a tab) is
    // not a spelling the memo knows.
    let spaced = text.contains(' ');
    let (mut plus, mut len, mut digits, mut lead, mut grouped) = (false, 0u8, 0u64, 0u8, false);
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => {
                len += 1;
                if len > 17 {
                    return None;
                }
                digits = digits * 10 + u64::from(b - b'0');
                if !grouped {
                    lead += 1;
                }
            }
            b'+' if !plus && len == 0 => plus = true,
            b' ' | b'(' | b')' | b'-' | b'.' | b'/' => grouped |= len > 0,
            _ => return None,
        }
    }
    Some(Spelling {
        region,
        plus,
        len,
        digits,
        lead: if spaced { 0 } else { lead },
        spaced,
    })
}

/// The parser's verdict: a valid number in E.164 form.
fn parse(text: &str, region: country::Id) -> Option<Box<str>> {
    // Cheap rejections before the parser: too few or too many digits.
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    if !(6..=17).contains(&digits) {
        return None;
    }
    match phonenumber::parse(Some(region), text) {
        Ok(number) if number.is_valid() => {
            let mut e164 = String::new();
            write_display(&mut e164, number.format().mode(phonenumber::Mode::E164));
            Some(e164.into_boxed_str())
        }
        _ => None,
    }
}

fn normalize(text: &str, region: country::Id, out: &mut String) -> bool {
    let write = |e164: &Option<Box<str>>, out: &mut String| match e164 {
        Some(e164) => {
            out.push_str(e164);
            true
        }
        None => false,
    };
    match spelling(text, region) {
        Some(key) => {
            let shard = shard(&key);
            if let Some(known) = shard.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
                return write(known, out);
            }
            // Parsed outside the lock: another thread may parse the same
            // spelling meanwhile, which costs time, never correctness.
            let parsed = parse(text, region);
            let written = write(&parsed, out);
            let mut memo = shard.lock().unwrap_or_else(|p| p.into_inner());
            if memo.len() >= SHARD_CAPACITY {
                memo.clear();
            }
            memo.insert(key, parsed);
            written
        }
        None => write(&parse(text, region), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str, region: &str) -> Option<String> {
        let mut out = String::new();
        normalize(s, super::region(Some(region)).unwrap(), &mut out).then_some(out)
    }

    #[test]
    fn us_formats_agree() {
        for text in [
            "+1 (415) 382-0199",
            "415.382.0199",
            "(415) 382-0199",
            "4153820199",
            "+14153820199",
            "1-415-382-0199",
        ] {
            assert_eq!(norm(text, "US").as_deref(), Some("+14153820199"), "{text}");
        }
    }

    #[test]
    fn uk_formats_agree() {
        for text in ["07511 011060", "+44 7511 011060", "0044 7511 011060", "+447511011060"] {
            assert_eq!(norm(text, "GB").as_deref(), Some("+447511011060"), "{text}");
        }
        // An international number is read as such whatever the default region.
        assert_eq!(norm("+44 7511 011060", "US").as_deref(), Some("+447511011060"));
    }

    #[test]
    fn junk_is_null() {
        for text in ["0000000000", "000-000-0000", "N/A", "null", "", "123"] {
            assert_eq!(norm(text, "US"), None, "{text}");
        }
    }

    /// The memo keyed by spelling gives what the parser gives the text itself.
    #[test]
    fn spellings_share_the_parser_verdict() {
        let texts = [
            "(415) 382-0199",
            "415.382.0199",
            "+1 415 382 0199",
            "1-415-382-0199",
            "07511 011060",
            "+44 7511 011060",
            "0044 7511 011060",
            "020 7946 0958",
            "000-000-0000",
            "555-0100",
            "+33 1 23 45 67 89",
            "(0)20 7946 0958",
            "4153820199",
            "+39 06 1234 5678",
            "06 1234 5678",
        ];
        for region in ["US", "GB", "FR", "IT"] {
            let id = super::region(Some(region)).unwrap();
            for text in texts {
                let direct = match phonenumber::parse(Some(id), text) {
                    Ok(n) if n.is_valid() => Some(n.format().mode(phonenumber::Mode::E164).to_string()),
                    _ => None,
                };
                // Twice: the second answer comes from the memo.
                for _ in 0..2 {
                    let mut out = String::new();
                    let got = normalize(text, id, &mut out).then_some(out);
                    assert_eq!(got, direct, "{text} in {region}");
                }
            }
        }
    }

    #[test]
    fn unknown_region_is_an_error() {
        assert!(region(Some("XX")).is_err());
    }
}
