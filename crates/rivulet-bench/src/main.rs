//! Rivulet's benchmarks, side by side with the alternatives a user would pick
//! instead: `axum::response::sse::Sse`, raw hyper and a raw TCP writer.
//!
//! ```text
//! cargo run --release -p rivulet-bench -- <scenario> [--quick]
//! ```
//!
//! Scenarios: `throughput`, `throughput-h2`, `latency`, `memory`, `cancel`,
//! `fanout`, `js-parser`, `js-heap`, `redis-notify`, `redis-feeds`, `allocations`, or `all`. Every scenario
//! measures all its peers in the same run, in alternation, over several rounds, and prints medians and ratios: absolute
//! figures drift on a shared machine, ratios taken together hold. The server
//! and the client run on current-thread runtimes on threads pinned to
//! different cores. See docs/benchmarks.md.

mod actix_peers;
mod allocations;
mod cancel;
mod fanout;
mod fanout_stalled;
mod h2_client;
mod js;
mod latency;
mod memory;
mod peers;
mod redis_feeds;
mod redis_notify;
mod stats;
mod sys;
mod throughput;
mod throughput_h2;
mod wire;

use std::time::Instant;

/// Counts the allocations of the `allocations` scenario; for every other
/// scenario it is the system allocator.
#[global_allocator]
static ALLOCATOR: allocations::Counting = allocations::Counting;

const SCENARIOS: [&str; 11] = [
    "throughput",
    "throughput-h2",
    "latency",
    "memory",
    "cancel",
    "fanout",
    "js-parser",
    "js-heap",
    "redis-notify",
    "redis-feeds",
    "allocations",
];

const USAGE: &str = "usage: rivulet-bench <throughput|throughput-h2|latency|memory|cancel|fanout|js-parser|js-heap|redis-notify|redis-feeds|allocations|all> [--quick]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve-child") {
        return peers::serve_child();
    }
    if args.first().map(String::as_str) == Some("fanout-child") {
        return fanout::serve_child();
    }
    let quick = args.iter().any(|a| a == "--quick");
    let profile = args
        .iter()
        .position(|a| a == "--profile")
        .and_then(|i| args.get(i + 1).cloned());
    let names: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--") && Some(*a) != profile.as_deref())
        .collect();
    let scenarios: Vec<&str> = match names.as_slice() {
        ["all"] => SCENARIOS.to_vec(),
        [name] if SCENARIOS.contains(name) => vec![*name],
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };

    let cores = sys::available_cores().len();
    let servers = peers::Servers::start(0);
    let client_pinned = sys::pin_to_core(1);
    let prioritised = sys::raise_priority();
    println!(
        "rivulet-bench ({} mode): {} core(s); server and client {}{}",
        if quick { "quick" } else { "full" },
        cores,
        if servers.pinned && client_pinned {
            "pinned to different cores"
        } else {
            "not pinned"
        },
        if prioritised { ", at nice -20" } else { "" }
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for scenario in scenarios {
            let start = Instant::now();
            match scenario {
                "throughput" => match &profile {
                    Some(peer) => throughput::profile(&servers, peer).await,
                    None => throughput::run(&servers, quick).await,
                },
                "throughput-h2" => throughput_h2::run(&servers, quick).await,
                "latency" => latency::run(&servers, quick).await,
                "memory" => match &profile {
                    Some(row) => memory::profile(row, quick).await,
                    None => memory::run(quick).await,
                },
                "cancel" => cancel::run(&servers, quick).await,
                "fanout" => match profile.as_deref() {
                    // The stalled-subscribers part alone.
                    Some("stalled") => fanout_stalled::run(quick).await,
                    _ => fanout::run(quick).await,
                },
                "js-parser" => js::run_parser(&servers, quick).await,
                "js-heap" => js::run_heap(&servers, quick).await,
                "redis-notify" => redis_notify::run(quick).await,
                "redis-feeds" => redis_feeds::run(quick).await,
                "allocations" => allocations::run(quick).await,
                _ => unreachable!(),
            }
            println!("  ({scenario}: {:.1} s)\n", start.elapsed().as_secs_f64());
        }
    });
}
