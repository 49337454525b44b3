//! `rivulet`: the demo server (the default command).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rivulet_cli::args;

#[derive(Parser)]
#[command(
    name = "rivulet",
    version,
    about = "Stream packets from axum handlers to browsers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the demo app: a page with a card per stream, and the stream routes.
    ///
    /// Example: rivulet demo --addr 127.0.0.1:3000
    Demo {
        /// The address to listen on.
        #[arg(long, default_value = rivulet_cli::demo::DEFAULT_ADDR)]
        addr: SocketAddr,
        /// Seconds a client has to send a request head (slowloris protection).
        #[arg(long, default_value = "10", value_name = "SECS", value_parser = args::positive_seconds)]
        header_timeout: Duration,
        /// Streams allowed to run at once; more are answered 503 with Retry-After.
        #[arg(long, default_value = "10000", value_name = "N", value_parser = args::count)]
        max_streams: usize,
        /// Seconds running streams get to finish after SIGTERM or Ctrl-C, before
        /// they are ended with an error packet saying the server is shutting down.
        #[arg(long, default_value = "10", value_name = "SECS", value_parser = args::seconds)]
        grace: Duration,
        /// End any stream that runs longer than this many seconds.
        #[arg(long, value_name = "SECS", value_parser = args::positive_seconds)]
        max_duration: Option<Duration>,
        /// Connections served at once; more wait in the listen backlog.
        #[arg(long, default_value_t = rivulet::serve::DEFAULT_MAX_CONNECTIONS, value_name = "N",
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
        max_connections: usize,
        /// The listen backlog: connections the kernel queues before they are
        /// accepted (capped by net.core.somaxconn).
        #[arg(long, default_value_t = rivulet::serve::DEFAULT_BACKLOG, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=65_535))]
        backlog: u32,
        /// Request heads larger than this many bytes are answered 431.
        #[arg(long, default_value_t = rivulet::serve::DEFAULT_MAX_HEADER_BYTES, value_name = "BYTES",
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8192..=16 * 1024 * 1024))]
        max_header_bytes: usize,
        /// Serve HTTPS (HTTP/2 and HTTP/1.1) with the certificate chain of
        /// this PEM file; needs --tls-key.
        #[arg(
            long,
            value_name = "CERT.pem",
            requires = "tls_key",
            conflicts_with = "tls_self_signed"
        )]
        tls_cert: Option<std::path::PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Serve HTTPS with a certificate for localhost, 127.0.0.1 and ::1 made
        /// at start: for trying HTTP/2 in a browser, which warns that it does
        /// not trust the certificate.
        #[arg(long)]
        tls_self_signed: bool,
        /// Keep the resumable streams of /stream/durable in this Redis
        /// (redis://[:PASSWORD@]HOST:PORT; rediss:// for TLS; a node of a
        /// Redis Cluster leads to the whole cluster, or
        /// redis+cluster://HOST:PORT,HOST:PORT names several), so that demo
        /// servers sharing it resume each other's streams, and share the live
        /// ticker of /stream/ticker. Without it both are kept in memory.
        #[arg(long, value_name = "URL")]
        redis: Option<String>,
        /// Trust the CA certificates of this PEM file (instead of the system
        /// roots) for a rediss:// --redis.
        #[arg(long, value_name = "CA.pem", requires = "redis")]
        redis_ca: Option<std::path::PathBuf>,
    },
    /// Print the packets of a stream as they arrive.
    ///
    /// The exit status says how the stream ended: 0 done, 1 error packet,
    /// 2 no complete stream, 130 Ctrl-C.
    ///
    /// Example: rivulet watch 'http://127.0.0.1:8080/stream/process?items=30'
    Watch(rivulet_cli::watch::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Logs go to stderr: stdout is the packets' in `rivulet watch`.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, never into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| {
        // No subcommand: the demo with its defaults.
        match Cli::parse_from(["rivulet", "demo"]).command {
            Some(demo) => demo,
            None => unreachable!("`demo` parses as the demo command"),
        }
    });
    match command {
        Command::Demo {
            addr,
            header_timeout,
            max_streams,
            grace,
            max_duration,
            max_connections,
            backlog,
            max_header_bytes,
            tls_cert,
            tls_key,
            tls_self_signed,
            redis,
            redis_ca,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => match rivulet::serve::Tls::from_pem_files(cert, key) {
                    Ok(tls) => Some(tls),
                    Err(e) => return usage_error(&format!("--tls-cert/--tls-key: {e}")),
                },
                _ if tls_self_signed => match rivulet_cli::demo::self_signed() {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        eprintln!("rivulet demo: cannot make a certificate: {e}");
                        return std::process::ExitCode::FAILURE;
                    }
                },
                _ => None,
            };
            let (durable, ticker) = match redis {
                None => (
                    rivulet_cli::demo::memory_store(),
                    rivulet_cli::demo::memory_ticker(),
                ),
                Some(url) => {
                    // The URL may hold a password: from here on only the
                    // config, which shows host and port, is printed.
                    let config = match rivulet::redis_conn::RedisConfig::parse(&url) {
                        Ok(config) => config,
                        Err(e) => return usage_error(&format!("--redis: {e}")),
                    };
                    let config = match redis_ca {
                        Some(ca) => config.ca_file(ca),
                        None => config,
                    };
                    let stores = async {
                        let durable = rivulet_cli::demo::redis_store(&config).await?;
                        let ticker = rivulet_cli::demo::redis_ticker(&config).await?;
                        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((durable, ticker))
                    };
                    match stores.await {
                        Ok(stores) => stores,
                        Err(e) => {
                            eprintln!("rivulet demo: cannot use Redis at {config}: {e}");
                            return std::process::ExitCode::from(2);
                        }
                    }
                }
            };
            let options = rivulet_cli::demo::Options {
                header_read_timeout: header_timeout,
                max_streams,
                grace,
                max_stream_duration: max_duration,
                max_connections,
                max_header_bytes,
                tls,
                durable,
                ticker,
            };
            match rivulet_cli::demo::serve(addr, backlog, options).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
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
                    std::process::ExitCode::from(2)
                }
            }
        }
        Command::Watch(args) => rivulet_cli::watch::run(args).await,
    }
}

/// Reports bad operator input as clap does: on stderr, exit status 2.
fn usage_error(message: &str) -> std::process::ExitCode {
    eprintln!("error: {message}");
    std::process::ExitCode::from(2)
}
