//! `normalize_name(text)` and `name_key(text)`: names reduced to the form two
//! records of one person share, and a key on top of it that spells an
//! unambiguous nickname as its name.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::nicknames;
use crate::args::{Arg, Strings, text_result};
use crate::function::{NORMALIZATION, ScalarFn, doc};

pub fn normalize_udf() -> ScalarUDF {
    ScalarFn::udf(
        "normalize_name",
        &[Arg::Text],
        1,
        DataType::Utf8,
        normalize_kernel,
        doc(
            NORMALIZATION,
            "Unicode compatibility form (NFKC/NFKD), lower case, accents and punctuation removed \
             (apostrophes vanish, other marks become spaces), spaces collapsed. Returns NULL when \
             nothing is left.",
            "normalize_name(name)",
            &[("name", "Text expression.")],
            "SELECT normalize_name('  José  O''Brien-Smith ') -- jose obrien smith",
        ),
    )
}

pub fn key_udf() -> ScalarUDF {
    ScalarFn::udf(
        "name_key",
        &[Arg::Text],
        1,
        DataType::Utf8,
        key_kernel,
        doc(
            NORMALIZATION,
            "normalize_name, then every word that is a nickname of one given name only replaced \
             by that name (Kit: Christopher, Katherine and others, so it stays Kit; Fritz: \
             Frederick). A given name with nicknames of its own, and a nickname of several names \
             (Sam: Samuel or Samantha), keep their spelling, so that no two different names ever \
             share a key. To compare names with their nicknames, use name_similarity.",
            "name_key(name)",
            &[("name", "Text expression: a given name or a full name.")],
            "SELECT name_key('Samuel') = name_key('Samantha') -- false",
        ),
    )
}

fn normalize_kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let names = Strings::new("normalize_name", &args[0])?;
    Ok(text_result(args, rows, |row, out| {
        names.get(row).is_some_and(|n| normalize(n, out))
    }))
}

fn key_kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let names = Strings::new("name_key", &args[0])?;
    let mut normal = String::new();
    Ok(text_result(args, rows, |row, out| {
        let Some(name) = names.get(row) else { return false };
        normal.clear();
        if !normalize(name, &mut normal) {
            return false;
        }
        for (i, word) in normal.split(' ').enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(nicknames::key(word));
        }
        true
    }))
}

/// Writes the normal form of `name` into `out`; false when it is empty.
pub fn normalize(name: &str, out: &mut String) -> bool {
    let start = out.len();
    let mut pending_space = false;
    for c in name.nfkd() {
        if is_combining_mark(c) || matches!(c, '\'' | '’' | '`' | '´') {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && out.len() > start {
                out.push(' ');
            }
            pending_space = false;
            // Case folding: lower case, and the one common letter whose
            // folded form is longer (Straße = STRASSE).
            match c {
                'ß' | 'ẞ' => out.push_str("ss"),
                c => out.extend(c.to_lowercase()),
            }
        } else {
            pending_space = true;
        }
    }
    out.len() > start
}

#[cfg(test)]
mod tests {
    use super::normalize;

    fn norm(s: &str) -> Option<String> {
        let mut out = String::new();
        normalize(s, &mut out).then_some(out)
    }

    #[test]
    fn accents_case_punctuation_spaces() {
        assert_eq!(norm("  José  O'Brien-Smith ").as_deref(), Some("jose obrien smith"));
        assert_eq!(norm("KELLY NEAL").as_deref(), Some("kelly neal"));
        assert_eq!(norm("Neal, Kelly").as_deref(), Some("neal kelly"));
        assert_eq!(norm("Zoë Ångström").as_deref(), Some("zoe angstrom"));
        // Compatibility forms: full-width letters and ligatures.
        assert_eq!(norm("ＫＥＬＬＹ").as_deref(), Some("kelly"));
        assert_eq!(norm("ﬁona").as_deref(), Some("fiona"));
        // Case folding, not only lower case.
        assert_eq!(norm("Straße"), norm("STRASSE"));
        assert_eq!(norm(" .,- "), None);
    }
}
