//! `[server]`: how `oneview serve` listens, who may connect and what a
//! query may use, with its validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::util::parse_size;

/// `[server]`: how `oneview serve` listens, who may connect and what a query may use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:50051`).
    pub bind: Option<String>,
    /// SHA-256 (hex) of accepted bearer tokens; the tokens themselves are never stored.
    #[serde(default)]
    pub tokens_sha256: Vec<String>,
    /// Users for the Basic-auth handshake, with the SHA-256 (hex) of their password.
    #[serde(default)]
    pub users: BTreeMap<String, UserConfig>,
    /// Turns authentication off (only for a trusted loopback setup).
    #[serde(default)]
    pub allow_anonymous: bool,
    /// PEM certificate chain and private key; both set turns TLS on.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Memory each query may use before spilling, e.g. `2G` (default 1G).
    pub query_memory_limit: Option<String>,
    /// Seconds a query may run, streaming included (default 300).
    pub query_timeout_secs: Option<u64>,
    /// Queries running at once (default 8); others wait up to `queue_timeout_secs`.
    pub max_concurrent_queries: Option<usize>,
    /// Seconds a query waits for a free slot before RESOURCE_EXHAUSTED (default 30).
    pub queue_timeout_secs: Option<u64>,
    /// `classic` (Utf8/Binary: pyarrow and the JDBC driver) or `view` (Utf8View/BinaryView).
    pub wire_types: Option<WireTypes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub password_sha256: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireTypes {
    #[default]
    Classic,
    View,
}

impl ServerConfig {
    /// Checks the section's keys; one sentence naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let is_sha256 = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        for (i, hash) in self.tokens_sha256.iter().enumerate() {
            if !is_sha256(hash) {
                return Err(format!(
                    "key `server.tokens_sha256[{i}]` is not a SHA-256 digest; expected 64 hex digits (`oneview serve --hash SECRET` prints one)"
                ));
            }
        }
        for (name, user) in &self.users {
            if !is_sha256(&user.password_sha256) {
                return Err(format!(
                    "key `server.users.{name}.password_sha256` is not a SHA-256 digest; expected 64 hex digits (`oneview serve --hash PASSWORD` prints one)"
                ));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(
                "keys `server.tls_cert` and `server.tls_key` go together; set both to turn TLS on, or neither".into(),
            );
        }
        if let Some(limit) = &self.query_memory_limit {
            parse_size(limit).map_err(|e| format!("key `server.query_memory_limit`: {e}"))?;
        }
        if let Some(n) = self.max_concurrent_queries
            && !(1..=10_000).contains(&n)
        {
            return Err(format!(
                "key `server.max_concurrent_queries` is {n}; expected 1 to 10000"
            ));
        }
        if self.query_timeout_secs == Some(0) {
            return Err("key `server.query_timeout_secs` is 0; expected a number of seconds ≥ 1".into());
        }
        Ok(())
    }
}
