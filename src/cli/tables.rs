//! `oneview tables`: what the project declares, with each table's columns.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::future::join_all;

use crate::error::Result;
use crate::exec::print_batch;
use crate::session::Session;
use crate::storage::OutputFormat;

pub async fn run(session: &Session, format: OutputFormat) -> Result<()> {
    let specs: Vec<_> = session.schema.specs().cloned().collect();
    let opened = join_all(specs.iter().map(|spec| session.schema.open(&spec.name))).await;
    let mut columns = Vec::with_capacity(specs.len());
    let mut first_error = None;
    for result in opened {
        match result {
            Ok(table) => columns.push(
                table
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("{} {}", f.name(), describe_type(f.data_type())))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Err(e) => {
                columns.push(format!("(unavailable: {e})"));
                first_error.get_or_insert(e);
            }
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("location", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("columns", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(specs.iter().map(|s| s.name.as_str()))),
            Arc::new(StringArray::from_iter_values(specs.iter().map(|s| s.location.as_str()))),
            Arc::new(StringArray::from_iter_values(specs.iter().map(|s| s.format.name()))),
            Arc::new(StringArray::from(columns)),
        ],
    )?;
    print_batch(&session.ctx, batch, format).await?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// SQL-ish type names: `Utf8View` means nothing to most users.
fn describe_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Dictionary(_, value) => describe_type(value),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(tz)) => format!("timestamp({tz})"),
        other => other.to_string().to_lowercase(),
    }
}
