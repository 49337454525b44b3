//! `rivulet watch URL`: prints the packets of a stream as they arrive, for
//! people (one line per packet) or for pipes (`--json`, one NDJSON object per
//! event), and exits with a status that says how the stream ended.
//!
//! | exit | meaning |
//! |------|---------|
//! | 0    | the stream ended with its `done` packet |
//! | 1    | the stream ended with an `error` packet |
//! | 2    | an HTTP error status, a transport failure, a truncated or malformed stream, an idle timeout, or bad arguments |
//! | 130  | interrupted by Ctrl-C (the request is aborted: the server sees the client leave; with `--cancel-on-interrupt` a resumable stream's job is cancelled too) |

mod output;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use futures::StreamExt;
use rivulet::Format;
use rivulet::client::reqwest::Method;
use rivulet::client::reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use rivulet::client::{Cancelled, Client, Error};
use rivulet::decode::Event;
use rivulet::protocol::ResumePoint;

use output::Output;

/// Exit status: the stream ended with its `done` packet.
pub const EXIT_DONE: u8 = 0;
/// Exit status: the stream ended with an `error` packet.
pub const EXIT_ERROR_PACKET: u8 = 1;
/// Exit status: no complete stream (HTTP error, transport failure, truncated or
/// malformed stream, idle timeout), or bad arguments.
pub const EXIT_FAILURE: u8 = 2;
/// Exit status: interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

const AFTER_HELP: &str = "\
Output:
  Without --json, one line per packet on stdout: strings as they are (JSON-quoted
  when they hold a line break), other values as compact JSON; the done packet is
  the last line. An error packet, an HTTP or transport error is reported on stderr.

  With --json, one JSON object per line on stdout:
    {\"type\":\"progress\",\"data\":<packet>}
    {\"type\":\"done\",\"data\":<packet>}
    {\"type\":\"error\",\"data\":{\"message\":…,\"status\":…,\"error_id\":…}}
    {\"type\":\"failure\",\"reason\":\"http_status|not_a_stream|transport|truncated|malformed|idle_timeout|interrupted|input\",
     \"message\":…, \"status\":<HTTP status, for http_status>, \"error\":<the server's error object, if any>,
     \"resume_point\":<where a resumable stream can go on with --resume, if known>}

Progress bar:
  When stderr is a terminal, a bar follows progress packets of these shapes:
    {\"done\": k, \"total\": n}  or  {\"current\": k, \"total\": n}   k of n
    {\"percent\": p}                                            p from 0 to 100
    {\"progress\": f}                                           f from 0 to 1
  (other fields may be present). Packets of other shapes are only printed.

Exit status:
  0 done packet, 1 error packet, 2 HTTP error / transport failure / truncated or
  malformed stream / idle timeout / bad arguments, 130 interrupted (Ctrl-C).

Examples:
  rivulet watch http://127.0.0.1:8080/stream/process
  rivulet watch --format ndjson --json 'http://127.0.0.1:8080/stream/process?items=30' | jq .data
  rivulet watch -X POST -H 'Authorization: Bearer t0k3n' -d '{\"items\":30}' https://example.com/jobs
  rivulet watch --timeout 2.5 http://127.0.0.1:8080/stream/silent";

/// Prints the packets of a stream as they arrive.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The URL of the stream (http or https).
    ///
    /// Example: rivulet watch 'http://127.0.0.1:8080/stream/process?items=30'
    #[arg(value_name = "URL")]
    pub url: String,

    /// The HTTP method [default: GET, or POST when a body is given].
    ///
    /// Example: -X PUT
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<Method>,

    /// A request header, `Name: value`. Repeat for more headers.
    ///
    /// Example: -H 'Authorization: Bearer t0k3n' -H 'X-Job: 7'
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// The request body, sent as `Content-Type: application/json` unless a -H
    /// header sets another type.
    ///
    /// Example: -d '{"items": 30}'
    #[arg(
        short = 'd',
        long = "data",
        value_name = "BODY",
        conflicts_with = "data_file"
    )]
    pub data: Option<String>,

    /// The request body from a file (`-` for standard input), with the same
    /// default `Content-Type` as -d.
    ///
    /// Example: --data-file job.json
    #[arg(long, value_name = "FILE")]
    pub data_file: Option<PathBuf>,

    /// The wire format to ask the server for (hazaar is another name for
    /// legacy). The response is decoded in whichever format the server answers.
    ///
    /// Example: --format ndjson
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "sse",
        ignore_case = true,
        value_parser = PossibleValuesParser::new(["sse", "ndjson", "legacy", "hazaar"])
            .map(|name| name.parse::<Format>().expect("a listed format name")),
    )]
    pub format: Format,

    /// Print one JSON object per event on stdout (see Output below), for pipes.
    ///
    /// Example: --json | jq -c 'select(.type == "progress") | .data'
    #[arg(long)]
    pub json: bool,

    /// Print the server's text as it came, control characters included (for
    /// pipes that want the bytes). By default they are printed escaped
    /// (`\u001b`), so that a stream cannot move the cursor, clear the screen
    /// or set the window title of the terminal it is watched in. Messages on
    /// stderr are always escaped.
    ///
    /// Example: --raw > packets.txt
    #[arg(long)]
    pub raw: bool,

    /// Give up (exit 2) when nothing arrives for SECS seconds, fractions
    /// allowed. Keep-alives count as something: set it above the server's
    /// keep-alive interval (15 s by default). No limit unless given.
    ///
    /// Example: --timeout 30
    #[arg(long, value_name = "SECS", value_parser = crate::args::positive_seconds)]
    pub timeout: Option<Duration>,

    /// Do not reconnect when the connection of a resumable stream drops: exit 2
    /// instead. By default `watch` reconnects with backoff and resumes where it
    /// left off (streams that cannot be resumed are never re-requested).
    ///
    /// Example: --no-reconnect
    #[arg(long)]
    pub no_reconnect: bool,

    /// Resume a resumable stream from a resume point (`<stream id>.<packets
    /// received>`, the SSE event id) instead of starting it, as after a crash.
    /// A watch that ends without the final packet prints where to resume.
    ///
    /// Example: --resume 3f2a9c0e5b7d41e8a6c2f0b9d8e7a6c5.42
    #[arg(long, value_name = "POINT", value_parser = parse_resume_point)]
    pub resume: Option<ResumePoint>,

    /// Trust the certificates of this PEM file to verify an https:// server,
    /// besides the system's: the certificate `rivulet demo --tls-self-signed
    /// --tls-self-signed-out FILE` wrote, or a private CA.
    ///
    /// Example: --ca-file /tmp/rivulet-demo.pem
    #[arg(long, value_name = "CA.pem")]
    pub ca_file: Option<PathBuf>,

    /// Do not verify the server's certificate at all (any certificate, any
    /// name): for a local test server only, as anyone on the path could read
    /// and change the stream. Prefer --ca-file.
    ///
    /// Example: --insecure
    #[arg(long, short = 'k')]
    pub insecure: bool,

    /// On Ctrl-C, cancel a resumable stream's job on the server (DELETE on
    /// the stream's URL with its resume point) besides disconnecting. Without
    /// it, Ctrl-C only disconnects: the job keeps running and can be resumed
    /// with --resume.
    ///
    /// Example: --cancel-on-interrupt
    #[arg(long)]
    pub cancel_on_interrupt: bool,
}

fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("`{}` is not a header value", value.trim()))?;
    Ok((name, value))
}

/// How a watch ended.
pub(crate) enum Ending {
    /// The final packet arrived (done or error).
    Final(Event),
    /// No complete stream; a resumable one can go on from the point.
    Failed(Error, Option<ResumePoint>),
    /// Ctrl-C, with what became of a resumable stream's job.
    Interrupted(Option<String>),
    /// The body file could not be read.
    Input(String),
    /// Stdout is gone or full.
    Output(std::io::Error),
}

impl Ending {
    fn exit_code(&self) -> u8 {
        match self {
            Ending::Final(Event::Error(_)) => EXIT_ERROR_PACKET,
            Ending::Final(_) => EXIT_DONE,
            Ending::Interrupted(_) => EXIT_INTERRUPTED,
            Ending::Failed(..) | Ending::Input(_) | Ending::Output(_) => EXIT_FAILURE,
        }
    }
}

/// Runs `rivulet watch`: prints the stream, returns the exit status.
pub async fn run(args: Args) -> ExitCode {
    let mut output = Output::new(args.json, args.raw);
    let mut interrupt = std::pin::pin!(interrupted());
    // Polled once first, so the handler is in place before any packet is printed.
    if futures::poll!(interrupt.as_mut()).is_ready() {
        output.end(&Ending::Interrupted(None));
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    let ending = watch(&args, &mut output, interrupt).await;
    // The request is dropped by now: on Ctrl-C the connection is already closed.
    output.end(&ending);
    ExitCode::from(ending.exit_code())
}

/// Resolves on Ctrl-C (SIGINT); never, if the handler cannot be installed.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn watch(
    args: &Args,
    output: &mut Output,
    mut interrupt: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Ending {
    if let Err(why) = check_url(&args.url) {
        return Ending::Input(why);
    }
    let body = match read_body(args).await {
        Ok(body) => body,
        Err(why) => return Ending::Input(why),
    };
    let method = args.method.clone().unwrap_or(if body.is_some() {
        Method::POST
    } else {
        Method::GET
    });
    let client = match http_client(args).await {
        Ok(client) => client,
        Err(why) => return Ending::Input(why),
    };
    let mut request = client.request(method, &args.url).format(args.format);
    for (name, value) in &args.headers {
        request = request.header(name.clone(), value.clone());
    }
    if let Some(body) = body {
        if !args.headers.iter().any(|(name, _)| name == CONTENT_TYPE) {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        request = request.body(body);
    }
    if let Some(after) = args.timeout {
        request = request.idle_timeout(after);
    }
    if args.no_reconnect {
        request = request.no_reconnect();
    }
    if let Some(point) = args.resume {
        request = request.resume_from(point);
    }
    let sent = tokio::select! {
        biased;
        () = interrupt.as_mut() => return Ending::Interrupted(None),
        sent = request.send() => sent,
    };
    let mut stream = match sent {
        Ok(stream) => stream,
        Err(Error::NotAStream { status, .. })
            if status == rivulet::client::reqwest::StatusCode::NO_CONTENT
                && args.resume.is_some() =>
        {
            let point = args.resume.map(|p| p.to_string()).unwrap_or_default();
            return Ending::Input(format!(
                "the stream cannot be resumed from {point}: the server answered 204 No \
                 Content, so it does not keep this stream (the id is wrong, the stream \
                 has expired, or it was not resumable) or this point already has its \
                 final packet"
            ));
        }
        Err(error) => return Ending::Failed(error, None),
    };
    loop {
        let event = tokio::select! {
            biased;
            () = interrupt.as_mut() => return interrupt_stream(stream, args.cancel_on_interrupt).await,
            event = stream.next() => event,
        };
        let Some(event) = event else { break };
        match event {
            Ok(event) => {
                if let Err(error) = output.event(&event) {
                    return Ending::Output(error);
                }
                if event.is_final() {
                    return Ending::Final(event);
                }
            }
            Err(error) => return Ending::Failed(error, stream.resume_point()),
        }
    }
    // The stream yields an error before it ends without a final packet.
    Ending::Failed(Error::Truncated, stream.resume_point())
}

/// Ctrl-C while streaming: disconnects, and with `--cancel-on-interrupt`
/// cancels a resumable stream's job; otherwise says how to resume it.
async fn interrupt_stream(stream: rivulet::client::EventStream, cancel: bool) -> Ending {
    let point = stream.resume_point();
    if !cancel {
        drop(stream);
        return Ending::Interrupted(point.map(|point| {
            format!(
                "the job keeps running on the server: resume it with --resume {point}, \
                 or stop it with --cancel-on-interrupt next time"
            )
        }));
    }
    let note = match stream.cancel().await {
        Ok(Cancelled::Stopped) => "the stream was cancelled".to_owned(),
        Ok(Cancelled::NotRunning) => "nothing was running to cancel".to_owned(),
        Err(Error::NotResumable) => "the stream is not resumable: disconnected".to_owned(),
        Err(error) => format!("the cancel failed: {error}"),
    };
    Ending::Interrupted(Some(note))
}

/// What a URL argument looks like, for the messages about one that is not.
const URL_EXAMPLE: &str = "http://127.0.0.1:8080/stream/process?items=30";

fn check_url(url: &str) -> Result<(), String> {
    match rivulet::client::reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        Ok(parsed) => Err(format!(
            "the URL argument `{url}` is not an http:// or https:// URL (its scheme is \
             `{}`); a URL looks like {URL_EXAMPLE}",
            parsed.scheme()
        )),
        Err(e) => Err(format!(
            "the URL argument `{url}` is not a URL ({e}); a URL looks like {URL_EXAMPLE}"
        )),
    }
}

/// The HTTP client: the system's roots plus `--ca-file`, or no verification
/// with `--insecure`.
async fn http_client(args: &Args) -> Result<Client, String> {
    use rivulet::client::reqwest;
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &args.ca_file {
        let pem = tokio::fs::read(path)
            .await
            .map_err(|e| format!("--ca-file: cannot read {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|certs| !certs.is_empty())
            .ok_or_else(|| {
                format!(
                    "--ca-file: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )
            })?;
        builder = builder.tls_certs_merge(certs);
    }
    if args.insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map(Client::from)
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// `--resume` takes what a resumable stream's client reports: 32 hex digits,
/// a dot and the number of packets received.
fn parse_resume_point(point: &str) -> Result<ResumePoint, String> {
    point.parse::<ResumePoint>().map_err(|_| {
        format!(
            "`{point}` is not a resume point: --resume takes <stream id>.<packets received>, \
         32 hex digits, a dot and a number, as in \
         3f2a9c0e5b7d41e8a6c2f0b9d8e7a6c5.42 (the stream id is the response's \
         Rivulet-Stream-Id header)"
        )
    })
}

async fn read_body(args: &Args) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = &args.data {
        return Ok(Some(data.clone().into_bytes()));
    }
    let Some(path) = &args.data_file else {
        return Ok(None);
    };
    let read = if path.as_os_str() == "-" {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        tokio::io::stdin()
            .read_to_end(&mut bytes)
            .await
            .map(|_| bytes)
    } else {
        tokio::fs::read(path).await
    };
    read.map(Some)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_as_name_and_value() {
        let (name, value) = parse_header("X-Job:  7 ").unwrap();
        assert_eq!(name, "x-job");
        assert_eq!(value, "7");
        let (_, value) = parse_header("Authorization: Bearer a:b").unwrap();
        assert_eq!(value, "Bearer a:b");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
    }

    #[test]
    fn bad_urls_say_which_argument_and_what_a_url_looks_like() {
        assert!(check_url("http://127.0.0.1:8080/stream").is_ok());
        for bad in [
            "/stream/process",
            "127.0.0.1:8080/stream",
            "ftp://host/x",
            "http//x",
        ] {
            let why = check_url(bad).unwrap_err();
            assert!(why.contains("the URL argument"), "{why}");
            assert!(why.contains(URL_EXAMPLE), "{why}");
        }
    }

    #[test]
    fn resume_points_are_checked_before_sending() {
        let point = parse_resume_point("3f2a9c0e5b7d41e8a6c2f0b9d8e7a6c5.42").unwrap();
        assert_eq!(point.received, 42);
        // The count is not optional: a stream id alone is not a point.
        for bad in [
            "42",
            "3f2a9c0e.1",
            "3f2a9c0e5b7d41e8a6c2f0b9d8e7a6c5.x",
            "3f2a9c0e5b7d41e8a6c2f0b9d8e7a6c5",
            "",
        ] {
            assert!(
                parse_resume_point(bad)
                    .unwrap_err()
                    .contains("not a resume point")
            );
        }
    }

    #[test]
    fn timeouts_take_fractions_of_a_second() {
        assert_eq!(
            crate::args::positive_seconds("0.25"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            crate::args::positive_seconds("3"),
            Ok(Duration::from_secs(3))
        );
        for bad in ["0", "-1", "soon", "inf", "NaN"] {
            assert!(crate::args::positive_seconds(bad).is_err(), "{bad}");
        }
    }
}
