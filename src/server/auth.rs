//! Who may connect: bearer tokens (configured as SHA-256 digests, or issued
//! by the Basic-auth handshake) and users with hashed passwords.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::project::ServerConfig;

/// The environment variable holding an extra bearer token in clear text.
pub const TOKEN_ENV: &str = "ONEVIEW_SERVER_TOKEN";

/// How long a token issued by the handshake stays valid.
const ISSUED_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Live issued tokens at most; beyond it the handshake is refused until some expire.
const MAX_ISSUED_TOKENS: usize = 100_000;

/// Base64 that accepts input with or without padding: ADBC sends none.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares digests in time independent of where they differ.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub struct Auth {
    anonymous: bool,
    token_digests: Vec<String>,
    users: HashMap<String, String>,
    issued: Mutex<HashMap<String, (String, Instant)>>,
}

const ANONYMOUS: &str = "anonymous";

/// The caller, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
}

impl Auth {
    pub fn new(config: &ServerConfig) -> Auth {
        let mut token_digests: Vec<String> = config.tokens_sha256.iter().map(|h| h.to_ascii_lowercase()).collect();
        if let Ok(token) = std::env::var(TOKEN_ENV)
            && !token.trim().is_empty()
        {
            token_digests.push(sha256_hex(token.trim()));
        }
        Auth {
            anonymous: config.allow_anonymous,
            token_digests,
            users: config
                .users
                .iter()
                .map(|(name, user)| (name.clone(), user.password_sha256.to_ascii_lowercase()))
                .collect(),
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Whether anyone at all can log in; a server nobody can use is a configuration mistake.
    pub fn has_credentials(&self) -> bool {
        self.anonymous || !self.token_digests.is_empty() || !self.users.is_empty()
    }

    /// Checks the `authorization` header of a call: a bearer token, or Basic
    /// credentials of a configured user.
    pub fn check(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        let header = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        match header {
            Some(h) if starts_with_ignore_case(h, "bearer ") => self.check_token(h[7..].trim()),
            Some(h) if starts_with_ignore_case(h, "basic ") => self.check_basic(h[6..].trim()),
            Some(_) => Err(Status::unauthenticated(
                "the authorization header is neither `Bearer TOKEN` nor `Basic CREDENTIALS`",
            )),
            None if self.anonymous => Ok(Caller { name: ANONYMOUS.into() }),
            None => Err(Status::unauthenticated(
                "credentials required: send a bearer token or log in with username and password",
            )),
        }
    }

    fn check_token(&self, token: &str) -> Result<Caller, Status> {
        let digest = sha256_hex(token);
        if self.token_digests.iter().any(|d| same_digest(d, &digest)) {
            return Ok(Caller { name: "token".into() });
        }
        let mut issued = self.issued.lock().expect("token table");
        let now = Instant::now();
        issued.retain(|_, (_, expires)| *expires > now);
        match issued.get(&digest) {
            Some((user, _)) => Ok(Caller { name: user.clone() }),
            None => Err(Status::unauthenticated(
                "the bearer token is not valid (unknown or expired)",
            )),
        }
    }

    fn check_basic(&self, encoded: &str) -> Result<Caller, Status> {
        let decoded = LENIENT_BASE64
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| Status::unauthenticated("Basic credentials are not valid base64 of `user:password`"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("Basic credentials must be `user:password`"))?;
        // Hashed whether or not the user exists, so timing does not tell.
        let offered = sha256_hex(password);
        match self.users.get(user) {
            Some(digest) if same_digest(digest, &offered) => Ok(Caller { name: user.into() }),
            _ => Err(Status::unauthenticated("unknown user or wrong password")),
        }
    }

    /// A fresh random token for `caller`, valid for some hours; none for
    /// anonymous callers, who need none.
    pub fn issue(&self, caller: &Caller) -> Result<Option<String>, Status> {
        if caller.name == ANONYMOUS {
            return Ok(None);
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut issued = self.issued.lock().expect("token table");
        if issued.len() >= MAX_ISSUED_TOKENS {
            let now = Instant::now();
            issued.retain(|_, (_, expires)| *expires > now);
            if issued.len() >= MAX_ISSUED_TOKENS {
                return Err(Status::resource_exhausted(
                    "too many live sessions; reuse the token of an earlier login",
                ));
            }
        }
        issued.insert(
            sha256_hex(&token),
            (caller.name.clone(), Instant::now() + ISSUED_TOKEN_LIFETIME),
        );
        Ok(Some(token))
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::UserConfig;

    fn auth() -> Auth {
        let mut config = ServerConfig {
            tokens_sha256: vec![sha256_hex("s3cret")],
            ..Default::default()
        };
        config.users.insert(
            "ana".into(),
            UserConfig {
                password_sha256: sha256_hex("pw:with:colon"),
            },
        );
        Auth::new(&config)
    }

    fn header(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn tokens_and_users() {
        let auth = auth();
        assert!(auth.check(&header("Bearer s3cret")).is_ok());
        assert!(auth.check(&header("bearer s3cret")).is_ok());
        assert!(auth.check(&header("Bearer nope")).is_err());
        assert!(auth.check(&MetadataMap::new()).is_err());
        let padded = base64::engine::general_purpose::STANDARD.encode("ana:pw:with:colon");
        let unpadded = padded.trim_end_matches('=');
        assert_ne!(padded, unpadded, "the test needs padding to strip");
        assert_eq!(auth.check(&header(&format!("Basic {padded}"))).unwrap().name, "ana");
        assert_eq!(auth.check(&header(&format!("Basic {unpadded}"))).unwrap().name, "ana");
        let wrong = base64::engine::general_purpose::STANDARD.encode("ana:wrong");
        assert!(auth.check(&header(&format!("Basic {wrong}"))).is_err());
    }

    #[test]
    fn issued_tokens_are_accepted() {
        let auth = auth();
        let token = auth.issue(&Caller { name: "ana".into() }).unwrap().unwrap();
        assert_eq!(auth.check(&header(&format!("Bearer {token}"))).unwrap().name, "ana");
    }
}
