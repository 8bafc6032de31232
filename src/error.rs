//! The error type of the oneview library and the exit code each kind maps to.
//!
//! Every message starts with one sentence a user can act on (what, where, what
//! was expected); detail follows on later lines.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `oneview.toml` (or another project file) is missing, unreadable or wrong.
    #[error("{file}: {message}")]
    Config { file: PathBuf, message: String },

    /// The command line asks for something that cannot work (exit code 2).
    #[error("{0}")]
    Usage(String),

    /// A table's data cannot be reached or read.
    #[error("table `{table}`: {message}")]
    Table { table: String, message: String },

    /// A SQL statement failed to parse, plan or run.
    #[error("{}", describe_datafusion(.0))]
    Query(#[from] DataFusionError),

    /// Writing an output failed; nothing was left at the final name.
    #[error("could not write {target}: {message}")]
    Output { target: String, message: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    ObjectStore(#[from] object_store::Error),

    /// The user pressed Ctrl-C; outputs were aborted.
    #[error("interrupted; no output was written")]
    Interrupted,

    /// A segment file is wrong: syntax, shape, name or what it reads.
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Segment {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// Work that holds its data in memory would pass `--memory-limit`.
    #[error("out of memory: {0}")]
    OutOfMemory(String),

    /// Another process holds the lock of this job.
    #[error("{0}")]
    Busy(String),

    /// An error in one statement of a script, with its position.
    #[error("statement {index} of {count}: {source}")]
    Statement {
        index: usize,
        count: usize,
        source: Box<Error>,
    },
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::Query(e.into())
    }
}

impl From<datafusion::parquet::errors::ParquetError> for Error {
    fn from(e: datafusion::parquet::errors::ParquetError) -> Self {
        Error::Query(e.into())
    }
}

impl Error {
    pub fn config(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Config {
            file: file.into(),
            message: message.into(),
        }
    }

    pub fn table(table: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Table {
            table: table.into(),
            message: message.into(),
        }
    }

    pub fn segment(file: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Segment {
            file: file.into(),
            line,
            message: message.into(),
        }
    }

    /// "no KIND named `NAME`; the project has: a, b" (`none` when it has none).
    pub fn unknown_name<'a>(kind: &str, name: &str, known: impl IntoIterator<Item = &'a str>, none: &str) -> Self {
        let known: Vec<&str> = known.into_iter().collect();
        let known = if known.is_empty() {
            none.to_string()
        } else {
            known.join(", ")
        };
        Error::Usage(format!("no {kind} named `{name}`; the project has: {known}"))
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// 0 ok, 1 query or data error, 2 usage or configuration error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::Segment { .. } => 2,
            Error::Statement { source, .. } => source.exit_code(),
            Error::Interrupted => 130,
            Error::Query(e) => match root_external::<Error>(e) {
                Some(inner) => inner.exit_code(),
                None => 1,
            },
            _ => 1,
        }
    }
}

/// Errors raised by oneview code running inside DataFusion (a lazily registered
/// table, say) travel as `DataFusionError::External`; find them again.
pub(crate) fn root_external<T: std::error::Error + 'static>(e: &DataFusionError) -> Option<&T> {
    let mut current: &dyn std::error::Error = e;
    loop {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        current = match current.downcast_ref::<DataFusionError>() {
            Some(DataFusionError::External(inner)) => inner.as_ref(),
            Some(DataFusionError::Context(_, inner)) => inner.as_ref(),
            Some(DataFusionError::Shared(inner)) => inner.as_ref(),
            _ => current.source()?,
        };
    }
}

/// DataFusion's messages carry prefixes ("Error during planning: ",
/// "External error: ") and backtrace hints that mean nothing to a user.
fn describe_datafusion(e: &DataFusionError) -> String {
    if let Some(inner) = root_external::<Error>(e) {
        return inner.to_string();
    }
    let (prefix, text) = match e.find_root() {
        DataFusionError::SQL(err, _) => ("SQL syntax error", err.to_string()),
        DataFusionError::ParquetError(err) => ("could not read Parquet data", err.to_string()),
        DataFusionError::ArrowError(err, _) => ("could not process data", err.to_string()),
        DataFusionError::ObjectStore(err) => ("could not reach storage", err.to_string()),
        DataFusionError::IoError(err) => ("I/O error", err.to_string()),
        DataFusionError::ResourcesExhausted(msg) => (
            "out of memory: the query needs more than --memory-limit allows and this step cannot spill to disk.",
            msg.clone(),
        ),
        DataFusionError::Plan(msg) => ("", describe_plan(msg)),
        DataFusionError::SchemaError(err, _) => ("", err.to_string()),
        DataFusionError::Execution(msg) => ("", msg.clone()),
        DataFusionError::NotImplemented(msg) => ("not supported", msg.clone()),
        DataFusionError::External(err) => ("", err.to_string()),
        other => ("", other.to_string()),
    };
    let text = text
        .trim_start_matches("External error: ")
        .trim_start_matches("Error during planning: ")
        .trim_start_matches("Execution error: ")
        .trim_start_matches("sql parser error: ")
        .trim_end()
        .to_string();
    // A prefix that is a whole sentence goes first; the detail follows on its own line.
    match prefix {
        "" => text,
        p if p.ends_with('.') => format!("{p}\n{text}"),
        p => format!("{p}: {text}"),
    }
}

/// "table 'oneview.public.x' not found" names the table as the user did not.
fn describe_plan(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("table '")
        && let Some(name) = rest.strip_suffix("' not found")
    {
        let short = name.rsplit('.').next().unwrap_or(name);
        return format!("table `{short}` not found; `oneview tables` lists the project's tables");
    }
    msg.to_string()
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        DataFusionError::External(Box::new(e))
    }
}
