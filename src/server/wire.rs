//! The Arrow types sent to clients. DataFusion produces Utf8View and
//! BinaryView; pyarrow reads them but the Flight SQL JDBC driver does not,
//! so by default they go out as Utf8 and Binary (`wire_types = "view"` keeps them).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use crate::project::WireTypes;

fn classic_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::ListView(f) | DataType::List(f) => DataType::List(classic_field(f)),
        DataType::LargeListView(f) | DataType::LargeList(f) => DataType::LargeList(classic_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(classic_field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(classic_field).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(classic_field(f), *sorted),
        DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(classic_type(v))),
        other => other.clone(),
    }
}

fn classic_field(field: &FieldRef) -> FieldRef {
    Arc::new(Field::clone(field).with_data_type(classic_type(field.data_type())))
}

/// The schema announced and streamed to clients.
pub fn schema(schema: &SchemaRef, wire: WireTypes) -> SchemaRef {
    match wire {
        WireTypes::View => Arc::clone(schema),
        WireTypes::Classic => Arc::new(Schema::new_with_metadata(
            schema.fields().iter().map(classic_field).collect::<Fields>(),
            schema.metadata().clone(),
        )),
    }
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
