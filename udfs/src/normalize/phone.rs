//! `normalize_phone(text [, default_region])`: E.164 (`+14153820199`) via
//! the rlibphonenumber crate (a port of Google's libphonenumber with its
//! metadata), or NULL for text that is not a valid number.

use std::fmt::Write;
use std::num::NonZeroU16;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumber, enums::Region};

use crate::args::{Arg, Strings, text_result};
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

fn region(value: Option<&str>) -> Result<Region> {
    let code = value.map(str::trim).unwrap_or("US");
    // Upper-cased on the stack: a region column is read on every row.
    let parsed = match code.as_bytes() {
        [a, b] => {
            let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
            std::str::from_utf8(&upper)
                .ok()
                .and_then(|c| Region::from_code(c).ok())
                // Any two letters make a Region; the metadata knows the real ones.
                .filter(|r| PHONE_NUMBER_UTIL.get_country_code_for_region(*r).is_some())
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
            (None, None) => Region::US,
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
/// parse per process: parsing and validating take about a microsecond (the
/// metadata's regular expressions), a memo lookup a tenth of that, and one
/// customer's number comes back in many spellings across orders, tickets and
/// consents. The memo is shared by all threads, in shards so that they
/// rarely wait for each other.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Spelling {
    region: Region,
    plus: bool,
    len: u8,
    digits: u64,
}

/// Parses kept per shard before the shard starts over: as many as 2^17
/// buckets hold at the hash table's load factor of 7/8, so that the 16
/// shards take about 70 MB (33 bytes a bucket) and never grow past it.
const SHARD_CAPACITY: usize = (1 << 17) / 8 * 7;
const SHARDS: usize = 16;

type Shard = std::sync::Mutex<std::collections::HashMap<Spelling, Option<E164>>>;

static MEMO: std::sync::LazyLock<Vec<Shard>> =
    std::sync::LazyLock::new(|| (0..SHARDS).map(|_| Shard::default()).collect());

fn shard(key: &Spelling) -> &'static Shard {
    // The low digits spread numbers evenly; the length and `+` split the rest.
    let index = key.digits as usize ^ (key.len as usize) << 3 ^ usize::from(key.plus);
    &MEMO[index % SHARDS]
}

fn spelling(text: &str, region: Region) -> Option<Spelling> {
    // rlibphonenumber strips these separators before it reads the digits
    // (only `;phone-context=`, a letter or `#` would change the reading, and
    // none passes here), so where they stand does not matter.
    let (mut plus, mut len, mut digits) = (false, 0u8, 0u64);
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => {
                len += 1;
                if len > 17 {
                    return None;
                }
                digits = digits * 10 + u64::from(b - b'0');
            }
            b'+' if !plus && len == 0 => plus = true,
            b' ' | b'(' | b')' | b'-' | b'.' | b'/' => {}
            _ => return None,
        }
    }
    Some(Spelling {
        region,
        plus,
        len,
        digits,
    })
}

/// The parser's verdict: a valid number, as the parts of its E.164 form.
fn parse(text: &str, region: Region) -> Option<E164> {
    match PHONE_NUMBER_UTIL.parse(text, Some(region)) {
        Ok(number) if number.is_valid() => E164::of(&number),
        _ => None,
    }
}

/// A valid number's E.164 form as plain values, so that the memo holds no
/// heap text and a number is written straight into the output buffer (the
/// crate's formatter builds a new String).
#[derive(Clone, Copy)]
struct E164 {
    /// Never 0, which keeps `Option<E164>` at 16 bytes.
    country_code: NonZeroU16,
    /// Leading zeros of the national number (Italian fixed lines: `+39 06…`).
    zeros: u8,
    national: u64,
}

impl E164 {
    fn of(number: &PhoneNumber) -> Option<Self> {
        let zeros = if number.italian_leading_zero() {
            number.number_of_leading_zeros().clamp(0, 10) as u8
        } else {
            0
        };
        Some(E164 {
            country_code: NonZeroU16::new(u16::try_from(number.country_code).ok()?)?,
            zeros,
            national: number.national_number,
        })
    }

    fn write(self, out: &mut String) {
        let _ = write!(out, "+{}", self.country_code);
        out.extend(std::iter::repeat_n('0', usize::from(self.zeros)));
        let _ = write!(out, "{}", self.national);
    }
}

fn normalize(text: &str, region: Region, out: &mut String) -> bool {
    let write = |e164: Option<E164>, out: &mut String| e164.map(|n| n.write(out)).is_some();
    match spelling(text, region) {
        Some(key) => {
            let shard = shard(&key);
            if let Some(known) = shard.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
                return write(*known, out);
            }
            // Parsed outside the lock: another thread may parse the same
            // spelling meanwhile, which costs time, never correctness.
            let parsed = parse(text, region);
            let mut memo = shard.lock().unwrap_or_else(|p| p.into_inner());
            if memo.len() >= SHARD_CAPACITY {
                memo.clear();
            }
            memo.insert(key, parsed);
            write(parsed, out)
        }
        None => write(parse(text, region), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rlibphonenumber::PhoneNumberFormat;

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
            "+39 312 345 6789",
            "+225 07 07 12 34 56",
            "+44 20 7946 0958",
            "+55 11 91234-5678",
            "1-800-FLOWERS",
            "+1 415 382 0199 ext. 123456",
            // Equal digits, separators elsewhere: one memo entry each group.
            "+1415-382-0199",
            "+1415 382 0199",
            "+14153820199",
            "+1 (415) 3820199",
            "+4 47511011060",
            "+44-7511-011060",
            "0044/7511/011060",
            "(07511) 011060",
            "0 7511 011060",
            "06.1234.5678",
            "(06) 1234-5678",
        ];
        for region in ["US", "GB", "FR", "IT"] {
            let id = super::region(Some(region)).unwrap();
            for text in texts {
                let direct = match PHONE_NUMBER_UTIL.parse(text, Some(id)) {
                    Ok(n) if n.is_valid() => Some(n.format_as(PhoneNumberFormat::E164).into_owned()),
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
    fn memo_entries_stay_small() {
        assert_eq!(size_of::<(Spelling, Option<E164>)>(), 32);
    }

    #[test]
    fn unknown_region_is_an_error() {
        for code in ["XX", "ZZ", "U", "USA", ""] {
            assert!(region(Some(code)).is_err(), "{code}");
        }
        for code in ["us", "GB", "It", "BR"] {
            assert!(region(Some(code)).is_ok(), "{code}");
        }
    }
}
