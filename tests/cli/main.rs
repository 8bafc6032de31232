//! Integration tests: the `oneview` binary run as a user runs it.

mod errors;
mod generator;
mod repl;
mod s3;
mod server;
mod sql;
mod support;
