//! `normalize_email(text [, provider_rules])`: the form of an address that
//! two records of one person share.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::args::{Arg, Strings, text_result};
use crate::function::{NORMALIZATION, ScalarFn, doc};

pub fn udf() -> ScalarUDF {
    ScalarFn::udf(
        "normalize_email",
        &[Arg::Text, Arg::Text],
        1,
        DataType::Utf8,
        kernel,
        doc(
            NORMALIZATION,
            "Trims, lower-cases and removes a `+tag` from the local part of an email address. \
             With provider rules ('gmail'), also drops the dots of Gmail local parts and maps \
             googlemail.com to gmail.com. Returns NULL for text that is not an address \
             (no single `@`, an empty part, spaces inside, no dot in the domain).",
            "normalize_email(email [, 'gmail'])",
            &[
                ("email", "Text expression."),
                (
                    "provider_rules",
                    "Optional: 'gmail' to apply Gmail's equivalences, 'none' (default) for none.",
                ),
            ],
            "SELECT normalize_email(' K.Neal+shop@Mail.com ') -- k.neal@mail.com",
        ),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    None,
    Gmail,
}

fn rules(value: Option<&str>) -> Result<Rules> {
    match value.map(str::trim) {
        None => Ok(Rules::None),
        Some(v) if v.is_empty() || v.eq_ignore_ascii_case("none") => Ok(Rules::None),
        Some(v) if v.eq_ignore_ascii_case("gmail") => Ok(Rules::Gmail),
        Some(v) => exec_err!("normalize_email: unknown provider rules '{v}'; expected 'gmail' or 'none'"),
    }
}

fn kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let emails = Strings::new("normalize_email", &args[0])?;
    let rules_arg = args.get(1).map(|a| Strings::new("normalize_email", a)).transpose()?;
    // Rules are almost always a literal: parse once.
    let constant = match &rules_arg {
        None => Some(rules(None)?),
        Some(Strings::Scalar(v)) => Some(rules(*v)?),
        Some(_) => None,
    };
    let mut error = None;
    let result = text_result(args, rows, |row, out| {
        let Some(email) = emails.get(row) else { return false };
        let row_rules = match (constant, &rules_arg) {
            (Some(r), _) => r,
            (None, Some(column)) => match rules(column.get(row)) {
                Ok(r) => r,
                Err(e) => {
                    error.get_or_insert(e);
                    return false;
                }
            },
            (None, None) => Rules::None,
        };
        normalize(email, row_rules, out)
    });
    match error {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

/// Writes the normal form of `email` into `out`; false if it is not an address.
fn normalize(email: &str, rules: Rules, out: &mut String) -> bool {
    let email = email.trim();
    let Some(at) = email.find('@') else {
        return false;
    };
    let (local, domain) = (&email[..at], &email[at + 1..]);
    if local.is_empty()
        || domain.len() < 3
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email.contains(char::is_whitespace)
    {
        return false;
    }
    let local = local.split('+').next().unwrap_or(local);
    if local.is_empty() {
        return false;
    }
    let gmail = rules == Rules::Gmail
        && (domain.eq_ignore_ascii_case("gmail.com") || domain.eq_ignore_ascii_case("googlemail.com"));
    if email.is_ascii() {
        // The common case: byte-wise, no Unicode case tables.
        for &b in local.as_bytes() {
            if !(gmail && b == b'.') {
                out.push(b.to_ascii_lowercase() as char);
            }
        }
        out.push('@');
        if gmail {
            out.push_str("gmail.com");
        } else {
            out.extend(domain.bytes().map(|b| b.to_ascii_lowercase() as char));
        }
        return true;
    }
    for c in local.chars() {
        if gmail && c == '.' {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out.push('@');
    if gmail {
        out.push_str("gmail.com");
    } else {
        out.extend(domain.chars().flat_map(char::to_lowercase));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str, rules: Rules) -> Option<String> {
        let mut out = String::new();
        normalize(s, rules, &mut out).then_some(out)
    }

    #[test]
    fn case_space_and_tags() {
        assert_eq!(
            norm(" K.Neal+shop@Mail.com ", Rules::None).as_deref(),
            Some("k.neal@mail.com")
        );
        assert_eq!(norm("KNEAL@MAIL.COM", Rules::None).as_deref(), Some("kneal@mail.com"));
    }

    #[test]
    fn gmail_rules_only_for_gmail() {
        assert_eq!(
            norm("K.Neal.85@googlemail.com", Rules::Gmail).as_deref(),
            Some("kneal85@gmail.com")
        );
        assert_eq!(
            norm("k.neal@outlook.com", Rules::Gmail).as_deref(),
            Some("k.neal@outlook.com")
        );
        assert_eq!(
            norm("k.neal@gmail.com", Rules::None).as_deref(),
            Some("k.neal@gmail.com")
        );
    }

    #[test]
    fn unicode_addresses() {
        assert_eq!(
            norm("Jörg.Müller@Beispiel.DE", Rules::None).as_deref(),
            Some("jörg.müller@beispiel.de")
        );
    }

    #[test]
    fn not_addresses() {
        for junk in [
            "null",
            "N/A",
            "",
            "@mail.com",
            "kelly@",
            "a@b@c.com",
            "kelly@localhost",
            "kel ly@mail.com",
            "+tag@mail.com",
        ] {
            assert_eq!(norm(junk, Rules::None), None, "{junk}");
        }
    }
}
