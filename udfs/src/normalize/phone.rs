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

fn region(value: Option<&str>) -> Result<country::Id> {
    let code = value.map(str::trim).unwrap_or("US").to_ascii_uppercase();
    match country::Id::from_str(&code) {
        Ok(id) => Ok(id),
        Err(_) => exec_err!(
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

fn normalize(text: &str, region: country::Id, out: &mut String) -> bool {
    // Cheap rejections before the parser: no digits, or too few to be a number.
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    if !(6..=17).contains(&digits) {
        return false;
    }
    match phonenumber::parse(Some(region), text) {
        Ok(number) if number.is_valid() => {
            write_display(out, number.format().mode(phonenumber::Mode::E164));
            true
        }
        _ => false,
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

    #[test]
    fn unknown_region_is_an_error() {
        assert!(region(Some("XX")).is_err());
    }
}
