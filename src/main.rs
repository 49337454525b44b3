//! `rivulet`: the demo server (the default command) and `rivulet watch`.

use clap::{Parser, Subcommand};

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
    Demo(rivulet_cli::demo::Args),
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
    // No subcommand: the demo with its defaults.
    let command = Cli::parse()
        .command
        .or_else(|| Cli::parse_from(["rivulet", "demo"]).command);
    match command {
        Some(Command::Watch(args)) => rivulet_cli::watch::run(args).await,
        Some(Command::Demo(args)) => {
            log_to_stderr();
            rivulet_cli::demo::run(args).await
        }
        None => unreachable!("`demo` parses as the demo command"),
    }
}

/// The demo server's log, on stderr. `watch` has none: its stderr is for the
/// messages it prints itself, and stdout is the packets'.
fn log_to_stderr() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, never into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
}
