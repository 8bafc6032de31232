//! Integration tests: the `oneview` binary run as a user runs it.

mod errors;
mod generator;
mod identity;
mod identity_probabilistic;
mod repl;
mod reports;
mod s3;
mod segments;
mod server;
mod sql;
mod support;
