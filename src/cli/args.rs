//! The command line, declared once: parsing, help and the README's reference
//! all come from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use clap::builder::PossibleValue;

use crate::storage::OutputFormat;
use crate::util::parse_size;

#[derive(Debug, Parser)]
#[command(
    name = "oneview",
    version,
    about = "A single-customer-view engine: SQL over your customer data in object storage",
    propagate_version = true
)]
pub struct Cli {
    /// Project directory (holding oneview.toml).
    #[arg(
        short = 'C',
        long = "project",
        global = true,
        value_name = "DIR",
        env = "ONEVIEW_PROJECT"
    )]
    pub project: Option<PathBuf>,

    /// Cap on query memory (e.g. 512M, 4G); beyond it operators spill to disk.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size, env = "ONEVIEW_MEMORY_LIMIT")]
    pub memory_limit: Option<usize>,

    /// More detail on standard error (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline on the bundled sample and print a summary.
    Demo(DemoArgs),
    /// Run SQL: a query, a file of statements, or an interactive shell.
    Sql(SqlArgs),
    /// List the project's tables with location, format and columns.
    Tables(TablesArgs),
    /// Generate a synthetic multi-source customer dataset with ground truth.
    Gen(GenArgs),
    /// Serve the project over Arrow Flight SQL to notebooks and BI tools.
    Serve(ServeArgs),
    /// Segments (segments/*.sql): list, count, snapshot membership, diff and export.
    #[command(subcommand)]
    Segments(SegmentsCommand),
    /// Reports ([reports.NAME]): run one, list them, or run the scheduler.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Resolve identities: link the [identity] sources' records into customers
    /// with stable ids and golden records; explain or evaluate the last run.
    Resolve(ResolveArgs),
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Explain the last run: why a customer (cus_…), a record
    /// (SOURCE:RECORD_ID) or a record id is linked as it is.
    #[arg(long, value_name = "ID", conflicts_with = "evaluate")]
    pub explain: Option<String>,

    /// Score the last run against a ground-truth table of the project
    /// (source, record_id and the true entity id): pairwise and B-cubed
    /// precision, recall and F1.
    #[arg(long, value_name = "TABLE")]
    pub evaluate: Option<String>,

    /// Retrain the probabilistic model ([identity.probabilistic]) even
    /// when a saved one exists, and save it.
    #[arg(long, conflicts_with_all = ["explain", "evaluate"])]
    pub train: bool,

    /// Resolve even when no source file, setting or model changed since
    /// the last run (which otherwise stands as it is).
    #[arg(long, conflicts_with_all = ["explain", "evaluate"])]
    pub full: bool,

    /// Format of the summary or evaluation.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    /// The project's segments with description, owner, dependencies and last snapshot.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// A segment's definition and its first rows.
    Show {
        name: String,
        /// Rows shown.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Members of one segment, or of every segment.
    Count {
        name: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Snapshot membership (one segment, or all in dependency order) into segment_membership.
    Materialize { name: Option<String> },
    /// Who entered and who exited the segment since its last snapshot.
    Diff {
        name: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Write the segment, or only its changes since the last snapshot, to a file or URL.
    Export {
        name: String,
        /// Destination file or URL (written atomically).
        #[arg(long, value_name = "PATH|URL")]
        to: String,
        /// csv, parquet, json or ndjson; defaults to the destination's extension.
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Only who entered and exited since the last snapshot; the export
        /// then becomes the new snapshot, so the next export continues from it.
        #[arg(long)]
        changes: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Parquet,
    Json,
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Run one report now (for cron or Airflow): exit code and a one-line summary.
    Run { name: String },
    /// The project's reports, their schedule, next run and last run.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Run scheduled reports when due, in the foreground, until Ctrl-C.
    Schedule,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: `bind` in [server], else 127.0.0.1:50051).
    #[arg(long, value_name = "HOST:PORT")]
    pub bind: Option<String>,

    /// Print the SHA-256 digest of a token or password for oneview.toml and
    /// exit; without a value the secret is read from standard input.
    #[arg(long, value_name = "SECRET", num_args = 0..=1, default_missing_value = "-")]
    pub hash: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo project (default: datasets/demo of this source tree, else
    /// the copy built into the binary).
    #[arg(long, value_name = "DIR", conflicts_with = "embedded")]
    pub dir: Option<PathBuf>,

    /// Use the copy of the sample built into the binary.
    #[arg(long, hide = true)]
    pub embedded: bool,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// SQL to run (several statements separated by `;`). Without it and
    /// without -f, an interactive shell starts.
    #[arg(value_name = "QUERY", conflicts_with = "file")]
    pub query: Option<String>,

    /// Read statements from a file (`-` for standard input).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format; defaults to the output file's extension, else table.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,

    /// Write the (last) result to a file or URL, atomically.
    #[arg(short, long, value_name = "PATH|URL")]
    pub output: Option<String>,

    /// Rows shown by the table format on standard output (0: all).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_rows: usize,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Output format of the listing.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of people to simulate.
    #[arg(long, value_name = "N")]
    pub customers: u64,

    /// Output directory (created; a previous generator output is replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Random seed: the same seed and N give byte-identical data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Rows per Parquet row group.
    #[arg(long, value_name = "ROWS", default_value_t = 262_144)]
    pub row_group_rows: usize,

    /// People per part file (tests use small chunks to exercise threading).
    #[arg(long, value_name = "N", default_value_t = 250_000, hide = true)]
    pub chunk_people: u64,

    /// Worker threads (default: the number of cores).
    #[arg(long, value_name = "N", hide = true)]
    pub threads: Option<usize>,
}

/// `--format` takes an output format by its name; storage knows nothing of clap.
impl clap::ValueEnum for OutputFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &OutputFormat::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}
