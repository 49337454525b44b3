//! Prints the demo's `/stream/process`: each progress line as it arrives, then
//! the final summary.
//!
//! Start the demo server, then run this example against it:
//!
//! ```sh
//! cargo run --release                     # serves the demo on 127.0.0.1:8080
//! cargo run -p rivulet-http --features client --example process
//! cargo run -p rivulet-http --features client --example process -- 'http://127.0.0.1:8080/stream/process?items=30'
//! ```

use rivulet::client::Client;
use serde::Deserialize;

/// The final packet of `/stream/process`.
#[derive(Debug, Deserialize)]
struct Summary {
    success: bool,
    processed: u64,
    duration: f64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080/stream/process".to_owned());
    match print_process(&url).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{url}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn print_process(url: &str) -> Result<(), rivulet::client::Error> {
    let mut stream = Client::new().get(url).send().await?;
    while let Some(line) = stream.progress::<String>().await? {
        println!("{line}");
    }
    let summary: Summary = stream.done().await?;
    println!(
        "success: {}, processed {} items in {:.3} s",
        summary.success, summary.processed, summary.duration
    );
    Ok(())
}
