//! `soundex` and `double_metaphone`: how a name sounds, so that Smith and
//! Smyth, Katherine and Catherine fall into one block. Both are written
//! here, straight into the output (rphonetic's encoders build several
//! strings per name; its Double Metaphone is the tests' reference). Both
//! read letters of any alphabet: accents are removed first.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use unicode_normalization::char::decompose_compatible;

use super::metaphone::double_metaphone;
use crate::args::{Arg, Strings, text_result};
use crate::function::{SIMILARITY, ScalarFn, doc};

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

/// American Soundex letter codes, A to Z; `0` for vowels, H, W and Y.
const SOUNDEX_CODES: &[u8; 26] = b"01230120022455012623010202";

/// Writes the American Soundex code of the ASCII letters of `text` into
/// `out`, in either case (other bytes are skipped): the first letter, then the codes of the
/// following letters, equal codes side by side counted once — also across
/// H and W, not across a vowel — padded with zeros to four. False when
/// there is no letter.
fn soundex(text: &[u8], out: &mut String) -> bool {
    let mut letters = text
        .iter()
        .filter(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_uppercase);
    let Some(first) = letters.next() else {
        return false;
    };
    out.push(char::from(first));
    let mut previous = SOUNDEX_CODES[usize::from(first - b'A')];
    let mut written = 1;
    for letter in letters {
        if written == 4 {
            break;
        }
        if letter == b'H' || letter == b'W' {
            continue;
        }
        let code = SOUNDEX_CODES[usize::from(letter - b'A')];
        if code != b'0' && code != previous {
            out.push(char::from(code));
            written += 1;
        }
        previous = code;
    }
    for _ in written..4 {
        out.push('0');
    }
    true
}

/// `text` in upper-case ASCII, into `out`: accents removed (José → JOSE),
/// ß as SS, Æ Ø Œ Ł Đ Þ spelled out, other non-ASCII characters dropped;
/// Ç as S when `cedilla_as_s` (Double Metaphone codes it so: François),
/// else as C. Both codes are defined on the English alphabet.
fn fold_to_ascii(text: &str, cedilla_as_s: bool, out: &mut String) {
    out.clear();
    for c in text.chars() {
        match c {
            c if c.is_ascii() => out.push(c.to_ascii_uppercase()),
            'ç' | 'Ç' if cedilla_as_s => out.push('S'),
            'ß' | 'ẞ' => out.push_str("SS"),
            'æ' | 'Æ' => out.push_str("AE"),
            'œ' | 'Œ' => out.push_str("OE"),
            'ø' | 'Ø' => out.push('O'),
            'ł' | 'Ł' => out.push('L'),
            'đ' | 'Đ' => out.push('D'),
            'þ' | 'Þ' => out.push_str("TH"),
            c => decompose_compatible(c, |d| {
                if d.is_ascii() {
                    out.push(d.to_ascii_uppercase());
                }
            }),
        }
    }
}

fn soundex_kernel(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let names = Strings::new("soundex", &args[0])?;
    let mut folded = String::new();
    Ok(text_result(args, rows, |row, out| {
        let Some(name) = names.get(row) else {
            return false;
        };
        if name.is_ascii() {
            return soundex(name.as_bytes(), out);
        }
        fold_to_ascii(name, false, &mut folded);
        soundex(folded.as_bytes(), out)
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
    let mut folded = String::new();
    Ok(text_result(args, rows, |row, out| {
        let Some(word) = words.get(row) else {
            return false;
        };
        fold_to_ascii(word, true, &mut folded);
        if !folded.bytes().any(|b| b.is_ascii_alphabetic()) {
            return false;
        }
        let (primary, second) = double_metaphone(folded.as_bytes());
        out.push_str(if alternate { second.as_str() } else { primary.as_str() });
        !out.is_empty()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rphonetic::{Encoder, Soundex};

    /// The SQL function's code; for ASCII names also checked against the
    /// path accented names take.
    fn code(name: &str) -> Option<String> {
        let args = [ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Utf8(Some(
            name.to_string(),
        )))];
        let ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Utf8(code)) = soundex_kernel(&args, 1).unwrap()
        else {
            panic!("a scalar in gives a scalar out");
        };
        let (mut folded, mut out) = (String::new(), String::new());
        fold_to_ascii(name, false, &mut folded);
        let by_folding = soundex(folded.as_bytes(), &mut out).then_some(out);
        assert_eq!(code, by_folding, "{name}");
        code
    }

    /// The examples of the U.S. National Archives' Soundex rules, and
    /// rphonetic's American Soundex on ASCII names as a second reference.
    #[test]
    fn soundex_codes() {
        for (name, expected) in [
            ("Washington", "W252"),
            ("Lee", "L000"),
            ("Gutierrez", "G362"),
            ("Pfister", "P236"),
            ("Jackson", "J250"),
            ("Tymczak", "T522"),
            ("Ashcraft", "A261"),
            ("Ashcroft", "A261"),
            ("Honeyman", "H555"),
            ("Robert", "R163"),
            ("Rupert", "R163"),
            ("Rubin", "R150"),
        ] {
            assert_eq!(code(name).as_deref(), Some(expected), "{name}");
        }
        let reference = Soundex::default();
        for name in [
            "Smith",
            "Smyth",
            "O'Brien",
            "McDonald",
            "Mac Donald",
            "van der Berg",
            "Schwarzenegger",
            "Ng",
            "A",
            "Yvonne",
            "Hwang",
            "Whitehouse",
            "Bbbb",
            "Catherine",
            "Katherine",
            "x-ray",
        ] {
            assert_eq!(code(name).unwrap(), reference.encode(name), "{name}");
        }
        // Accents and foreign letters spell the English code; no letters, no code.
        assert_eq!(code("José"), code("Jose"));
        assert_eq!(code("Müller"), code("Muller"));
        assert_eq!(code("Straße"), code("Strasse"));
        assert_eq!(code("Øster"), code("Oster"));
        assert_eq!(code("東京"), None);
        assert_eq!(code("12-34"), None);
    }

    /// Every word is encoded without a panic, whatever its letters, and an
    /// accented word has the code of its plain spelling.
    #[test]
    fn double_metaphone_takes_any_text() {
        let run = |word: &str, alternate: bool| -> Option<String> {
            let args = [
                ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Utf8(Some(word.to_string()))),
                ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Utf8(Some(
                    if alternate { "alternate" } else { "primary" }.to_string(),
                ))),
            ];
            match metaphone_kernel(&args, 1).unwrap() {
                ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Utf8(code)) => code,
                other => panic!("{other:?}"),
            }
        };
        let pieces = [
            "A", "É", "C", "H", "S", "Z", "W", "X", "J", "G", "ñ", "ß", "'", " ", "-", "Æ", "東",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let word = format!("{a}{b}{c}");
                    run(&word, false);
                    run(&word, true);
                }
            }
        }
        assert_eq!(run("José", false), run("Jose", false));
        assert_eq!(run("Müller", true), run("Muller", true));
        assert_eq!(run("東京", false), None);
        // rphonetic codes Ç as S, and so does the folding for it.
        assert_eq!(run("François", false), run("Fransois", false));
        assert_ne!(run("François", false), run("Francois", false));
    }
}
