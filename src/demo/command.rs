//! `rivulet demo`: its command line ([`Args`]) and what it does ([`run`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::args;

/// Serves the demo app: a page with a card per stream, and the stream routes.
///
/// Example: rivulet demo --addr 127.0.0.1:3000
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, default_value = super::DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Seconds a client has to send a request head (slowloris protection).
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = args::positive_seconds)]
    pub header_timeout: Duration,
    /// Streams allowed to run at once; more are answered 503 with Retry-After.
    #[arg(long, default_value = "10000", value_name = "N", value_parser = args::count)]
    pub max_streams: usize,
    /// Seconds running streams get to finish after SIGTERM or Ctrl-C, before
    /// they are ended with an error packet saying the server is shutting down.
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = args::seconds)]
    pub grace: Duration,
    /// End any stream that runs longer than this many seconds.
    #[arg(long, value_name = "SECS", value_parser = args::positive_seconds)]
    pub max_duration: Option<Duration>,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, default_value_t = rivulet::serve::DEFAULT_MAX_CONNECTIONS, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: usize,
    /// The listen backlog: connections the kernel queues before they are
    /// accepted (capped by net.core.somaxconn).
    #[arg(long, default_value_t = rivulet::serve::DEFAULT_BACKLOG, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub backlog: u32,
    /// Request heads larger than this many bytes are answered 431.
    #[arg(long, default_value_t = rivulet::serve::DEFAULT_MAX_HEADER_BYTES, value_name = "BYTES",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8192..=16 * 1024 * 1024))]
    pub max_header_bytes: usize,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with the certificate chain of
    /// this PEM file; needs --tls-key.
    #[arg(
        long,
        value_name = "CERT.pem",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate for localhost, 127.0.0.1 and ::1 made
    /// at start: for trying HTTP/2 in a browser, which warns that it does
    /// not trust the certificate.
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Write the certificate made by --tls-self-signed to this file (PEM), so
    /// that clients can trust it: `rivulet watch --ca-file FILE`,
    /// `curl --cacert FILE`.
    ///
    /// Example: --tls-self-signed --tls-self-signed-out /tmp/rivulet-demo.pem
    #[arg(long, value_name = "FILE", requires = "tls_self_signed")]
    pub tls_self_signed_out: Option<PathBuf>,
    /// Keep the resumable streams of /stream/durable in this Redis
    /// (`redis://[:PASSWORD@]HOST:PORT`; rediss:// for TLS; a node of a
    /// Redis Cluster leads to the whole cluster, or
    /// redis+cluster://HOST:PORT,HOST:PORT names several;
    /// `redis+sentinel://[:PASSWORD@]HOST:PORT,HOST:PORT/MASTER-NAME` follows
    /// the master Redis Sentinels name, with the sentinels' own password, if
    /// any, in the environment variable RIVULET_REDIS_SENTINEL_PASSWORD), so
    /// that demo servers sharing it resume each other's streams, and share
    /// the live ticker of /stream/ticker. Without it both are kept in memory.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Trust the CA certificates of this PEM file (instead of the system
    /// roots) for a rediss:// --redis.
    #[arg(long, value_name = "CA.pem", requires = "redis")]
    pub redis_ca: Option<PathBuf>,
}

/// The environment variable that holds the password of the sentinels of a
/// `redis+sentinel://` --redis.
pub const REDIS_SENTINEL_PASSWORD_VAR: &str = "RIVULET_REDIS_SENTINEL_PASSWORD";

/// Runs `rivulet demo` until Ctrl-C or SIGTERM; returns the exit status:
/// 0 after a graceful shutdown, 1 when no certificate could be made, 2 for
/// bad input (a certificate file, a Redis that cannot be used, an address
/// that cannot be listened on).
pub async fn run(args: Args) -> ExitCode {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match rivulet::serve::Tls::from_pem_files(cert, key) {
            Ok(tls) => Some(tls),
            Err(e) => return usage_error(&format!("--tls-cert/--tls-key: {e}")),
        },
        _ if args.tls_self_signed => match super::SelfSigned::new() {
            Ok(made) => {
                if let Some(path) = &args.tls_self_signed_out
                    && let Err(e) = std::fs::write(path, &made.cert_pem)
                {
                    return usage_error(&format!(
                        "--tls-self-signed-out: cannot write {}: {e}",
                        path.display()
                    ));
                }
                match made.tls() {
                    Ok(tls) => Some(tls),
                    Err(e) => return cannot_make_certificate(&e),
                }
            }
            Err(e) => return cannot_make_certificate(&e),
        },
        _ => None,
    };
    let (durable, ticker) = match &args.redis {
        None => (super::memory_store(), super::memory_ticker()),
        Some(url) => {
            // The URL may hold a password: from here on only the config,
            // which shows host and port, is printed.
            let config = match rivulet::redis_conn::RedisConfig::parse(url) {
                Ok(config) => config,
                Err(e) => return usage_error(&format!("--redis: {e}")),
            };
            let config = match &args.redis_ca {
                Some(ca) => config.ca_file(ca),
                None => config,
            };
            // From the environment, not the command line, which any local
            // user can read.
            let config = match std::env::var(REDIS_SENTINEL_PASSWORD_VAR) {
                Ok(password) if !password.is_empty() => config.sentinel_auth(None, &password),
                _ => config,
            };
            let stores = async {
                let durable = super::redis_store(&config).await?;
                let ticker = super::redis_ticker(&config).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((durable, ticker))
            };
            match stores.await {
                Ok(stores) => stores,
                Err(e) => {
                    eprintln!("rivulet demo: cannot use Redis at {config}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let options = super::Options {
        header_read_timeout: args.header_timeout,
        max_streams: args.max_streams,
        grace: args.grace,
        max_stream_duration: args.max_duration,
        max_connections: args.max_connections,
        max_header_bytes: args.max_header_bytes,
        tls,
        durable,
        ticker,
    };
    match super::serve(args.addr, args.backlog, options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rivulet demo: {e}");
            if matches!(
                e.kind(),
                std::io::ErrorKind::AddrInUse
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::PermissionDenied
            ) {
                eprintln!(
                    "rivulet demo: choose another address with --addr, \
                     for example --addr 127.0.0.1:8081"
                );
            }
            ExitCode::from(2)
        }
    }
}

fn cannot_make_certificate(e: &super::CertificateError) -> ExitCode {
    eprintln!("rivulet demo: cannot make a certificate: {e}");
    ExitCode::FAILURE
}

/// Reports bad operator input as clap does: on stderr, exit status 2.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
