//! The Arrow types sent to clients. DataFusion produces Utf8View and
//! BinaryView; pyarrow reads them but the Flight SQL JDBC driver does not,
//! so by default they go out as Utf8 and Binary (`wire_types = "view"` keeps them).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use crate::project::WireTypes;

fn wire_type(t: &DataType, wire: WireTypes) -> DataType {
    let field = |f: &FieldRef| wire_field(f, wire);
    match t {
        DataType::Utf8View if wire == WireTypes::Classic => DataType::Utf8,
        DataType::BinaryView if wire == WireTypes::Classic => DataType::Binary,
        // The Flight encoder sends dictionaries as their values; announcing
        // the value type keeps the announced schema equal to the streamed one.
        DataType::Dictionary(_, v) => wire_type(v, wire),
        DataType::ListView(f) | DataType::List(f) => DataType::List(field(f)),
        DataType::LargeListView(f) | DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        DataType::RunEndEncoded(_, v) => wire_type(v.data_type(), wire),
        other => other.clone(),
    }
}

fn wire_field(field: &FieldRef, wire: WireTypes) -> FieldRef {
    Arc::new(Field::clone(field).with_data_type(wire_type(field.data_type(), wire)))
}

/// The schema announced and streamed to clients.
pub fn schema(schema: &SchemaRef, wire: WireTypes) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        schema.fields().iter().map(|f| wire_field(f, wire)).collect::<Fields>(),
        schema.metadata().clone(),
    ))
}

/// Casts a batch to the wire schema (a no-op when nothing differs).
pub fn batch(batch: RecordBatch, wire_schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema().fields() == wire_schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(wire_schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(wire_schema), columns)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, StringViewArray};

    use super::*;

    #[test]
    fn views_become_classic_types_and_values_survive() {
        let source = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8View, true)]));
        let wire = schema(&source, WireTypes::Classic);
        assert_eq!(wire.field(0).data_type(), &DataType::Utf8);
        assert_eq!(schema(&source, WireTypes::View), source);
        // Dictionaries (hive partition columns) go out as their values, in both modes.
        let partitioned = Arc::new(Schema::new(vec![Field::new(
            "year",
            DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8)),
            false,
        )]));
        assert_eq!(
            schema(&partitioned, WireTypes::View).field(0).data_type(),
            &DataType::Utf8
        );
        assert_eq!(
            schema(&partitioned, WireTypes::Classic).field(0).data_type(),
            &DataType::Utf8
        );
        let input = RecordBatch::try_new(
            source,
            vec![Arc::new(StringViewArray::from(vec![
                Some("a long enough string value"),
                None,
            ]))],
        )
        .unwrap();
        let out = batch(input, &wire).unwrap();
        assert_eq!(out.schema(), wire);
        let strings = out
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        assert_eq!(strings.value(0), "a long enough string value");
        assert!(strings.is_null(1));
    }
}
