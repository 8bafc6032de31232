//! The crate on its own: every function registers in a plain DataFusion
//! context, is documented, keeps scalar arguments scalar, and maps NULL to
//! NULL for every string type.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, LargeStringArray, StringArray, StringViewArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};
use datafusion::prelude::SessionContext;

#[test]
fn every_function_is_documented() {
    for udf in oneview_udfs::scalar_functions() {
        let doc = udf
            .documentation()
            .unwrap_or_else(|| panic!("{} has no documentation", udf.name()));
        assert!(doc.description.len() > 40, "{}: {}", udf.name(), doc.description);
        assert!(doc.sql_example.is_some(), "{} has no example", udf.name());
    }
    for udaf in oneview_udfs::aggregate_functions() {
        assert!(udaf.documentation().is_some(), "{} has no documentation", udaf.name());
    }
}

#[tokio::test]
async fn all_functions_are_callable_from_a_plain_context() {
    let ctx = SessionContext::new();
    oneview_udfs::register_all(&ctx);
    let names: Vec<String> = oneview_udfs::scalar_functions()
        .iter()
        .map(|f| f.name().to_string())
        .chain(oneview_udfs::aggregate_functions().iter().map(|f| f.name().to_string()))
        .collect();
    for name in [
        "normalize_email",
        "normalize_phone",
        "normalize_name",
        "name_key",
        "normalize_postcode",
        "normalize_address",
        "jaro",
        "jaro_winkler",
        "damerau_levenshtein",
        "soundex",
        "double_metaphone",
        "name_similarity",
        "rfm_segment",
        "bgnbd_fit",
        "bgnbd_p_alive",
        "bgnbd_expected_purchases",
        "bgnbd_expected_purchases_new",
        "gamma_gamma_fit",
        "gamma_gamma_expected_spend",
        "clv",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} is not registered");
    }
    let batches = ctx
        .sql("SELECT normalize_email(' A@B.COM '), jaro_winkler('a', 'a'), rfm_segment(5, 5, 5)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(batches[0].num_rows(), 1);
}

fn invoke(name: &str, args: Vec<ColumnarValue>, rows: usize) -> ColumnarValue {
    try_invoke(name, args, rows).unwrap()
}

fn try_invoke(name: &str, args: Vec<ColumnarValue>, rows: usize) -> datafusion::common::Result<ColumnarValue> {
    let udf = oneview_udfs::scalar_functions()
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap();
    let arg_fields: Vec<_> = args
        .iter()
        .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
        .collect();
    let types: Vec<DataType> = arg_fields.iter().map(|f| f.data_type().clone()).collect();
    let output = udf.return_type(&types).unwrap();
    udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: rows,
        return_field: Arc::new(Field::new("out", output, true)),
        config_options: Arc::new(ConfigOptions::default()),
    })
}

#[test]
fn scalar_arguments_stay_scalar() {
    // A batch of 8192 rows with literal arguments: one value, not 8192.
    let text = |s: &str| ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.into())));
    let cases = [
        ("normalize_email", vec![text(" A@B.COM ")]),
        ("normalize_phone", vec![text("(415) 382-0199"), text("US")]),
        ("normalize_name", vec![text("José")]),
        ("jaro_winkler", vec![text("martha"), text("marhta")]),
        ("soundex", vec![text("Robert")]),
        ("name_similarity", vec![text("Neal, Kelly"), text("Kelly Neal")]),
    ];
    for (name, args) in cases {
        assert!(
            matches!(invoke(name, args, 8192), ColumnarValue::Scalar(_)),
            "{name} expanded its scalar arguments"
        );
    }
}

#[test]
fn every_string_type_and_nulls() {
    let values = [Some(" K.Neal@Mail.com"), None, Some("null")];
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(values.to_vec())),
        Arc::new(LargeStringArray::from(values.to_vec())),
        Arc::new(StringViewArray::from(values.to_vec())),
    ];
    for array in arrays {
        let kind = array.data_type().clone();
        let ColumnarValue::Array(out) = invoke("normalize_email", vec![ColumnarValue::Array(array)], 3) else {
            panic!("an array in gives an array out");
        };
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "k.neal@mail.com", "{kind}");
        assert!(out.is_null(1) && out.is_null(2), "{kind}: NULL and junk give NULL");
    }
    // A column against a scalar.
    let names: ArrayRef = Arc::new(StringViewArray::from(vec![Some("martha"), None]));
    let ColumnarValue::Array(scores) = invoke(
        "jaro_winkler",
        vec![
            ColumnarValue::Array(names),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("marhta".into()))),
        ],
        2,
    ) else {
        panic!("array expected");
    };
    let scores = scores.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    assert!((scores.value(0) - 0.9611).abs() < 1e-4);
    assert!(scores.is_null(1));
}

/// Text that breaks naive string code: empty, blank, control characters,
/// combining marks alone, letters whose case or compatibility forms change
/// length, other scripts and digits, emoji sequences, very long values,
/// and near-misses of emails, phones and names.
const AWKWARD: &[&str] = &[
    "",
    " ",
    "\0",
    "\t\n",
    "\u{200B}",
    "\u{301}",
    "a\u{301}",
    "é",
    "É",
    "ß",
    "ẞ",
    "ﬁ",
    "İ",
    "ǅ",
    "𝔄𝔅",
    "ＡＢＣ",
    "👨‍👩‍👧",
    "東京",
    "Ωμέγα",
    "١٢٣٤٥٦٧٨٩٠",
    "@",
    "@@",
    "a@",
    "@b",
    "a..b@c",
    "é@é.é",
    "+",
    "++1",
    "+1 (555) 010-2000",
    "0",
    "1111111111111111111111111111111111111111",
    "J. R. R.",
    "'",
    "-",
    "O'Brien-Smith",
    "Ñúñez",
    "SW1A 1AA",
    "12345-6789",
    "Flat 3/12 Main St.",
];

/// Every text function returns a value for awkward text, alone and paired
/// with every other awkward value — never a panic; a phone region that is
/// not one may be an error.
#[test]
fn text_functions_take_any_text() {
    let long = "Ab".repeat(5000);
    let mut texts: Vec<&str> = AWKWARD.to_vec();
    texts.push(&long);
    let n = texts.len();
    // Every value against every value: one column repeated, one cycled.
    let left: Vec<&str> = texts.iter().flat_map(|t| std::iter::repeat_n(*t, n)).collect();
    let right: Vec<&str> = (0..n).flat_map(|_| texts.iter().copied()).collect();
    let column = |values: &[&str]| ColumnarValue::Array(Arc::new(StringArray::from(values.to_vec())) as ArrayRef);
    let rows = left.len();
    for name in [
        "normalize_email",
        "normalize_phone",
        "normalize_name",
        "name_key",
        "normalize_postcode",
        "normalize_address",
        "soundex",
        "double_metaphone",
    ] {
        try_invoke(name, vec![column(&left)], rows).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in ["jaro", "jaro_winkler", "damerau_levenshtein", "name_similarity"] {
        try_invoke(name, vec![column(&left), column(&right)], rows).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let _ = try_invoke("normalize_phone", vec![column(&left), column(&right)], rows);
}
