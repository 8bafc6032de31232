//! The `oneview` command line: a thin shell over the library.

mod args;
mod demo;
mod repl;
mod reports;
mod resolve;
mod segments;
mod tables;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::Parser;

pub use args::{Cli, Command};

use crate::error::{Error, Result};
use crate::exec::run_sql;
use crate::project::{CONFIG_FILE, Project};
use crate::session::{Session, SessionOptions};
use crate::storage::{Destination, OutputFormat, OutputSpec, resolve_output};

/// Parses the arguments, runs the command and returns the exit code:
/// 0 ok, 1 query or data error, 2 usage or configuration error.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            e.exit_code()
        }
    }
}

fn report(e: &Error) {
    let text = e.to_string();
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        eprintln!("error: {first}");
    }
    for line in lines {
        eprintln!("  {line}");
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let env = env_logger::Env::default().default_filter_or(format!("oneview={level}"));
    let _ = env_logger::Builder::from_env(env).format_timestamp(None).try_init();
}

pub async fn run(cli: Cli) -> Result<()> {
    let options = SessionOptions {
        memory_limit: cli.memory_limit,
    };
    match cli.command {
        Command::Demo(args) => demo::run(args, &options).await,
        Command::Sql(args) => {
            let project = load_project(cli.project.as_deref(), false)?;
            sql(args, project, &options).await
        }
        Command::Tables(args) => {
            let project = load_project(cli.project.as_deref(), true)?;
            let session = Session::open(project, &options)?;
            tables::run(&session, args.format).await
        }
        Command::Gen(args) => generate(args).await,
        Command::Serve(args) => {
            if let Some(secret) = args.hash {
                return print_hash(&secret);
            }
            let project = load_project(cli.project.as_deref(), true)?;
            let session = Session::open(project, &options)?;
            crate::server::serve(session, args.bind).await
        }
        Command::Segments(command) => {
            let project = load_project(cli.project.as_deref(), true)?;
            let session = Session::open(project, &options)?;
            segments::run(&session, command).await
        }
        Command::Report(command) => {
            let project = load_project(cli.project.as_deref(), true)?;
            let session = Session::open(project, &options)?;
            reports::run(session, command).await
        }
        Command::Resolve(args) => {
            let project = load_project(cli.project.as_deref(), true)?;
            let session = Session::open(project, &options)?;
            resolve::run(&session, args).await
        }
    }
}

/// Loads the project named by -C, or the current directory's. Without -C
/// and without an `oneview.toml`, ad-hoc SQL still works on an empty project.
fn load_project(dir: Option<&Path>, required: bool) -> Result<Project> {
    match dir {
        Some(dir) => Project::load(dir),
        None => {
            let cwd = std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
            if required || cwd.join(CONFIG_FILE).exists() {
                Project::load(&cwd)
            } else {
                Project::empty(&cwd)
            }
        }
    }
}

async fn sql(args: args::SqlArgs, project: Project, options: &SessionOptions) -> Result<()> {
    let session = Session::open(project, options)?;
    // Ad-hoc queries over files (`SELECT * FROM 'x.parquet'`), as in datafusion-cli.
    let ctx = session.ctx.clone().enable_url_table();
    let destination = match &args.output {
        Some(target) => {
            Destination::Url(resolve_output(target).map_err(|e| Error::Usage(format!("-o {target}: {e}")))?)
        }
        None => Destination::Stdout,
    };
    let format = args
        .format
        .or_else(|| args.output.as_deref().and_then(OutputFormat::from_target))
        .unwrap_or(OutputFormat::Table);
    let output = OutputSpec {
        format,
        destination,
        max_rows: (args.max_rows > 0).then_some(args.max_rows),
    };
    let text = match (&args.query, &args.file) {
        (Some(query), _) => query.clone(),
        (None, Some(file)) => read_sql_file(file)?,
        (None, None) if !std::io::stdin().is_terminal() => read_sql_file(Path::new("-"))?,
        (None, None) => return repl::run(&session, ctx, output).await,
    };
    run_sql(&ctx, &text, &output).await.map(|_| ())
}

fn print_hash(secret: &str) -> Result<()> {
    let secret = if secret == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Error::io("cannot read the secret from standard input", e))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        secret.to_string()
    };
    if secret.is_empty() {
        return Err(Error::Usage("the secret to hash is empty".into()));
    }
    println!("{}", crate::server::sha256_hex(&secret));
    Ok(())
}

fn read_sql_file(file: &Path) -> Result<String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::io("cannot read SQL from standard input", e))?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|e| Error::Usage(format!("cannot read SQL file {}: {e}", file.display())))
}

async fn generate(args: args::GenArgs) -> Result<()> {
    if args.customers == 0 {
        return Err(Error::Usage("--customers must be at least 1".into()));
    }
    let defaults = crate::datagen::GenOptions::default();
    let options = crate::datagen::GenOptions {
        customers: args.customers,
        seed: args.seed,
        row_group_rows: args.row_group_rows.max(1024),
        chunk_people: args.chunk_people.max(2),
        threads: args.threads.unwrap_or(defaults.threads).max(1),
        ..defaults
    };
    let out: PathBuf = args.out;
    let summary = tokio::task::spawn_blocking(move || crate::datagen::generate(&options, &out))
        .await
        .map_err(|e| Error::io("the generator stopped", std::io::Error::other(e.to_string())))??;
    eprintln!("{summary}");
    Ok(())
}
