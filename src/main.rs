//! `rivulet`: the demo server (the default command).

use std::net::SocketAddr;

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
    Demo {
        /// The address to listen on.
        #[arg(long, default_value = rivulet_cli::demo::DEFAULT_ADDR)]
        addr: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Demo {
        addr: rivulet_cli::demo::DEFAULT_ADDR
            .parse()
            .expect("a valid default"),
    });
    match command {
        Command::Demo { addr } => match rivulet_cli::demo::serve(addr).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rivulet demo: {e}");
                std::process::ExitCode::from(2)
            }
        },
    }
}
