//! Statement and prepared-statement handles. They carry everything needed
//! to run the statement (its SQL and any bound parameters), so the server
//! keeps no per-client state and any replica can serve any request.

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::ScalarValue;
use tonic::Status;

const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Handle {
    pub sql: String,
    /// Parameters bound by DoPut: one row, one column per placeholder.
    pub params: Option<RecordBatch>,
}

impl Handle {
    pub fn new(sql: impl Into<String>) -> Handle {
        Handle {
            sql: sql.into(),
            params: None,
        }
    }

    pub fn encode(&self) -> Result<Bytes, Status> {
        let mut out = vec![VERSION];
        out.extend_from_slice(&(self.sql.len() as u32).to_le_bytes());
        out.extend_from_slice(self.sql.as_bytes());
        if let Some(params) = &self.params {
            let mut writer = StreamWriter::try_new(&mut out, &params.schema())
                .map_err(|e| Status::internal(format!("cannot encode parameters: {e}")))?;
            writer
                .write(params)
                .and_then(|_| writer.finish())
                .map_err(|e| Status::internal(format!("cannot encode parameters: {e}")))?;
        }
        Ok(out.into())
    }

    pub fn decode(bytes: &[u8]) -> Result<Handle, Status> {
        let invalid = || Status::invalid_argument("the statement handle is not one this server issued");
        let (&version, rest) = bytes.split_first().ok_or_else(invalid)?;
        if version != VERSION || rest.len() < 4 {
            return Err(invalid());
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("four bytes")) as usize;
        let rest = &rest[4..];
        if rest.len() < len {
            return Err(invalid());
        }
        let sql = std::str::from_utf8(&rest[..len]).map_err(|_| invalid())?.to_string();
        let tail = &rest[len..];
        let params = if tail.is_empty() {
            None
        } else {
            let mut reader = StreamReader::try_new(tail, None).map_err(|_| invalid())?;
            reader.next().transpose().map_err(|_| invalid())?
        };
        Ok(Handle { sql, params })
    }

    /// The bound parameters in placeholder order ($1, $2, …).
    pub fn param_values(&self) -> Result<Vec<ScalarValue>, Status> {
        let Some(batch) = &self.params else {
            return Ok(Vec::new());
        };
        if batch.num_rows() != 1 {
            return Err(Status::invalid_argument(format!(
                "parameters arrive as one row per execution; got {} rows (execute the statement once per row)",
                batch.num_rows()
            )));
        }
        batch
            .columns()
            .iter()
            .map(|column| {
                ScalarValue::try_from_array(column, 0)
                    .map_err(|e| Status::invalid_argument(format!("cannot read a parameter: {e}")))
            })
            .collect()
    }
}

/// Rewrites `?` placeholders (ADBC's `qmark` style, JDBC, BI tools) to the
/// `$1, $2, …` DataFusion binds by position. Question marks inside string
/// literals, quoted identifiers and comments are left alone.
pub fn positional_placeholders(sql: &str) -> String {
    if !sql.contains('?') {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 1;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut previous = ' ';
                for d in chars.by_ref() {
                    out.push(d);
                    if previous == '*' && d == '/' {
                        break;
                    }
                    previous = d;
                }
            }
            '?' => {
                out.push('$');
                out.push_str(&next.to_string());
                next += 1;
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn round_trips_with_and_without_parameters() {
        let plain = Handle::new("SELECT 1");
        assert_eq!(Handle::decode(&plain.encode().unwrap()).unwrap(), plain);
        let schema = Arc::new(Schema::new(vec![
            Field::new("0", DataType::Int64, true),
            Field::new("1", DataType::Utf8, true),
        ]));
        let params = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![7])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let bound = Handle {
            sql: "SELECT $1, $2".into(),
            params: Some(params),
        };
        let decoded = Handle::decode(&bound.encode().unwrap()).unwrap();
        assert_eq!(decoded, bound);
        assert_eq!(
            decoded.param_values().unwrap(),
            vec![ScalarValue::Int64(Some(7)), ScalarValue::Utf8(Some("x".into()))]
        );
    }

    #[test]
    fn question_marks_become_positions_outside_quotes_and_comments() {
        assert_eq!(
            positional_placeholders("SELECT ? + ?, '?', \"a?\" FROM t -- why?\nWHERE x = ? /* ? */"),
            "SELECT $1 + $2, '?', \"a?\" FROM t -- why?\nWHERE x = $3 /* ? */"
        );
        assert_eq!(positional_placeholders("SELECT $1"), "SELECT $1");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(Handle::decode(b"").is_err());
        assert!(Handle::decode(b"\x09abc").is_err());
        assert!(Handle::decode(&[1, 200, 0, 0, 0, b'x']).is_err());
    }
}
