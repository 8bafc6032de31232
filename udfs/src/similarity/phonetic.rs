//! `soundex` and `double_metaphone`: how a name sounds, so that Smith and
//! Smyth, Katherine and Catherine fall into one block (rphonetic's encoders).

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use rphonetic::{DoubleMetaphone, Encoder, Soundex};

use crate::args::{Arg, Strings, text_result};
use crate::function::{SIMILARITY, ScalarFn, doc};

static SOUNDEX: LazyLock<Soundex> = LazyLock::new(Soundex::default);
static METAPHONE: LazyLock<DoubleMetaphone> = LazyLock::new(DoubleMetaphone::default);

pub fn soundex_udf() -> ScalarUDF {
    ScalarFn::udf(
        "soundex",
        &[Arg::Text],
        1,
        DataType::Utf8,
        soundex_kernel,
        doc(
            SIMILARITY,
            "American Soundex code: the first letter and three digits. NULL for NULL or for text without letters.",
            "soundex(name)",
            &[("name", "Text expression.")],
            "SELECT soundex('Robert'), soundex('Rupert') -- R163, R163",
        ),
    )
}

pub fn double_metaphone_udf() -> ScalarUDF {
    ScalarFn::udf(
        "double_metaphone",
        &[Arg::Text, Arg::Text],
        1,
        DataType::Utf8,
        metaphone_kernel,
        doc(
            SIMILARITY,
            "Double Metaphone code (up to 4 characters) of a word: the primary code, or the \
             alternate one when the second argument is 'alternate'. NULL for NULL or for text \
             without letters.",
            "double_metaphone(word [, 'primary' | 'alternate'])",
            &[
                ("word", "Text expression."),
                ("which", "Optional: 'primary' (default) or 'alternate'."),
            ],
            "SELECT double_metaphone('Katherine') = double_metaphone('Catherine') -- true",
        ),
    )
}

fn soundex_kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let names = Strings::new("soundex", &args[0])?;
    Ok(text_result(args, rows, |row, out| {
        let Some(name) = names.get(row).filter(|n| n.chars().any(char::is_alphabetic)) else {
            return false;
        };
        out.push_str(&SOUNDEX.encode(name));
        !out.is_empty()
    }))
}

fn metaphone_kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let words = Strings::new("double_metaphone", &args[0])?;
    let alternate = match args.get(1).map(|a| Strings::new("double_metaphone", a)).transpose()? {
        None => false,
        Some(Strings::Scalar(v)) => match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("primary") => false,
            Some("alternate") => true,
            Some(other) => {
                return datafusion::common::exec_err!(
                    "double_metaphone: second argument is '{other}'; expected 'primary' or 'alternate'"
                );
            }
        },
        Some(_) => {
            return datafusion::common::exec_err!("double_metaphone: the second argument must be a literal");
        }
    };
    Ok(text_result(args, rows, |row, out| {
        let Some(word) = words.get(row).filter(|w| w.chars().any(char::is_alphabetic)) else {
            return false;
        };
        let codes = METAPHONE.double_metaphone(word);
        out.push_str(&if alternate { codes.alternate() } else { codes.primary() });
        !out.is_empty()
    }))
}
