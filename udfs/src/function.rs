//! One `ScalarUDFImpl` for all of the crate's scalar functions: each function
//! is a name, an argument spec, a result type, documentation and a kernel.
//! Kernels see whole Arrow arrays (or scalars) and return the same.

use std::fmt;
use std::hash::{Hash, Hasher};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Arg, coerce};

pub type Kernel = fn(&[ColumnarValue], usize) -> Result<ColumnarValue>;

pub const NORMALIZATION: DocSection = DocSection {
    include: true,
    label: "Normalization Functions",
    description: Some("oneview: clean identifiers before matching."),
};
pub const SIMILARITY: DocSection = DocSection {
    include: true,
    label: "Similarity Functions",
    description: Some("oneview: compare strings and names."),
};
pub const SCORING: DocSection = DocSection {
    include: true,
    label: "Scoring Functions",
    description: Some("oneview: RFM and customer lifetime value."),
};

pub struct ScalarFn {
    name: &'static str,
    spec: &'static [Arg],
    required: usize,
    output: DataType,
    kernel: Kernel,
    signature: Signature,
    doc: Documentation,
}

impl ScalarFn {
    /// A deterministic function of its arguments.
    pub fn udf(
        name: &'static str,
        spec: &'static [Arg],
        required: usize,
        output: DataType,
        kernel: Kernel,
        doc: Documentation,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(ScalarFn {
            name,
            spec,
            required,
            output,
            kernel,
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        })
    }
}

impl fmt::Debug for ScalarFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScalarFn").field("name", &self.name).finish()
    }
}

impl PartialEq for ScalarFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ScalarFn {}

impl Hash for ScalarFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for ScalarFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(self.name, self.spec, self.required, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.output.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        (self.kernel)(&args.args, args.number_rows)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// Documentation for a function: section, description, syntax, arguments
/// (name, description) and an example.
pub fn doc(
    section: DocSection,
    description: &str,
    syntax: &str,
    arguments: &[(&str, &str)],
    example: &str,
) -> Documentation {
    let mut builder = Documentation::builder(section, description, syntax);
    for (name, text) in arguments {
        builder = builder.with_argument(*name, *text);
    }
    builder.with_sql_example(example).build()
}
