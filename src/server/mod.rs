//! `oneview serve`: the project over Arrow Flight SQL, for notebooks and BI
//! tools. `auth` decides who may connect, `handle` carries statements
//! between calls, `limits` bounds each query, `wire` picks the Arrow types
//! sent, and `service` answers the Flight SQL calls.

mod auth;
mod handle;
mod limits;
mod service;
mod wire;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use auth::{TOKEN_ENV, sha256_hex};
pub use limits::Limits;
pub use service::OneviewFlightSql;

use crate::error::{Error, Result};
use crate::project::ServerConfig;
use crate::session::Session;
use crate::util::parse_size;

pub const DEFAULT_BIND: &str = "127.0.0.1:50051";

/// Serves the session until Ctrl-C or SIGTERM; queries in flight finish first.
pub async fn serve(session: Session, bind: Option<String>) -> Result<()> {
    let config = session.project.config.server.clone();
    let file = session.project.config_file();
    let auth = Arc::new(auth::Auth::new(&config));
    if !auth.has_credentials() {
        return Err(Error::config(
            &file,
            format!(
                "the server has no credentials to accept; set {TOKEN_ENV}, add `tokens_sha256` or [server.users.NAME] to [server], or set `allow_anonymous = true` for a trusted loopback setup"
            ),
        ));
    }
    let limits = limits(&config, &file)?;
    let address = address(bind.or(config.bind.clone()))?;
    let (mut builder, tls) = server_builder(&config, &session.project.dir, &file)?;
    let service = OneviewFlightSql::new(
        &session.ctx,
        auth,
        limits.clone(),
        config.wire_types.unwrap_or_default(),
    );
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {address}"), e))?;
    announce(&listener, tls, &limits)?;
    let scheduler = start_scheduler(&session)?;
    let served = builder
        .add_service(FlightServiceServer::new(service))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown_signal(limits))
        .await;
    if let Some(task) = scheduler {
        task.abort();
    }
    served.map_err(|e| Error::io("the server stopped", std::io::Error::other(e.to_string())))?;
    eprintln!("oneview serve: stopped");
    Ok(())
}

/// What each query may use, from `[server]`.
fn limits(config: &ServerConfig, file: &Path) -> Result<Limits> {
    let memory = match &config.query_memory_limit {
        Some(text) => {
            parse_size(text).map_err(|e| Error::config(file, format!("key `server.query_memory_limit`: {e}")))?
        }
        None => 1 << 30,
    };
    Ok(Limits::new(
        memory,
        Duration::from_secs(config.query_timeout_secs.unwrap_or(300)),
        config.max_concurrent_queries.unwrap_or(8),
        Duration::from_secs(config.queue_timeout_secs.unwrap_or(30)),
    ))
}

/// The address to listen on: `--bind`, else `[server] bind`, else the default.
fn address(bind: Option<String>) -> Result<SocketAddr> {
    let bind = bind.unwrap_or_else(|| DEFAULT_BIND.to_string());
    bind.parse().map_err(|_| {
        Error::Usage(format!(
            "bind address `{bind}` is not HOST:PORT with an IP address, e.g. 127.0.0.1:50051"
        ))
    })
}

/// The gRPC server, with TLS when `[server]` names a certificate and key
/// (relative to the project directory); the flag says whether TLS is on.
fn server_builder(config: &ServerConfig, dir: &Path, file: &Path) -> Result<(Server, bool)> {
    let builder = Server::builder();
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok((builder, false));
    };
    let read = |path: &str| {
        let full = dir.join(path);
        std::fs::read(&full).map_err(|e| Error::config(file, format!("cannot read {}: {e}", full.display())))
    };
    let identity = Identity::from_pem(read(cert)?, read(key)?);
    let builder = builder
        .tls_config(ServerTlsConfig::new().identity(identity))
        .map_err(|e| Error::config(file, format!("the TLS certificate or key is not usable: {e}")))?;
    Ok((builder, true))
}

/// Says where the server listens, and warns when credentials would cross
/// the network in clear.
fn announce(listener: &tokio::net::TcpListener, tls: bool, limits: &Limits) -> Result<()> {
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listening address", e))?;
    let scheme = if tls { "grpc+tls" } else { "grpc" };
    if !tls && !local.ip().is_loopback() {
        eprintln!(
            "oneview serve: warning: listening on {local} without TLS; tokens and passwords cross the network in clear (set tls_cert and tls_key in [server])"
        );
    }
    eprintln!(
        "oneview serve: listening on {scheme}://{local} ({} queries at once, {} s per query)",
        limits.max_concurrent,
        limits.query_timeout.as_secs()
    );
    Ok(())
}

/// Scheduled reports run beside the queries, on the same session.
fn start_scheduler(session: &Session) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(scheduler) = session.scheduler()? else {
        return Ok(None);
    };
    let names: Vec<&str> = scheduler.reports().collect();
    eprintln!("oneview serve: scheduling reports {}", names.join(", "));
    Ok(Some(tokio::spawn(async move {
        // Stopped with the server; runs in progress end with the process.
        if let Err(e) = scheduler.run(std::future::pending()).await {
            eprintln!("oneview serve: the report scheduler stopped: {e}");
        }
    })))
}

/// Resolves at the first Ctrl-C or SIGTERM: new queries are refused and
/// running ones may finish. A second signal, or a minute without the last
/// query ending, ends the process.
async fn shutdown_signal(limits: Limits) {
    signal().await;
    eprintln!("oneview serve: shutting down; letting running queries finish (Ctrl-C again to stop now)");
    limits.close();
    tokio::spawn(async {
        tokio::select! {
            _ = signal() => eprintln!("oneview serve: stopped at the second signal"),
            _ = tokio::time::sleep(SHUTDOWN_GRACE) => eprintln!("oneview serve: stopped; queries were still running after {} s", SHUTDOWN_GRACE.as_secs()),
        }
        std::process::exit(1);
    });
}

const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
