//! Running the real `oneview` binary the way a user does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success; stderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
        &self.stdout
    }

    /// Asserts the exit code and that the first line of the error says `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "wrong exit code; stderr:\n{}", self.stderr);
        let first = self.stderr.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: "),
            "the error should start with `error: `: {}",
            self.stderr
        );
        assert!(
            first.contains(needle),
            "expected {needle:?} in the first line of:\n{}",
            self.stderr
        );
    }
}

/// A command for the binary with no cloud settings leaking in from the
/// environment of whoever runs the tests.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oneview"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_")
            || key.starts_with("ONEVIEW_")
            || key.starts_with("GOOGLE_")
            || key.starts_with("AZURE_")
        {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    run_cmd(command(dir).args(args))
}

pub fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("the oneview binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo")
}

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample")
}

/// The lines of a CSV output without its header.
pub fn csv_rows(out: &str) -> Vec<String> {
    out.lines().skip(1).map(str::to_string).collect()
}

/// `oneview -C datasets/demo sql --format csv QUERY`, the output without the header.
pub fn demo_csv(query: &str) -> Vec<String> {
    let demo = demo_dir();
    csv_rows(run_in(&demo, &["sql", "--format", "csv", query]).ok())
}

/// A temporary project directory with the given `oneview.toml`.
pub fn project(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("oneview.toml"), toml).expect("write oneview.toml");
    dir
}

/// Names of the entries of a directory, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
