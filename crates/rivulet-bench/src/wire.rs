//! The client side of every scenario: a bare HTTP/1.1 client over tokio TCP that
//! sends one GET, checks the status and hands the de-chunked body on. Kept this
//! small so that the client is never what a peer is waiting for.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `addr` from source address `127.0.0.(1 + source % 8)`, so that
/// ten thousand connections do not run one address out of ports.
pub async fn connect(addr: SocketAddr, source: usize) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    let ip = Ipv4Addr::new(127, 0, 0, 1 + (source % 8) as u8);
    socket.bind(SocketAddr::from((ip, 0)))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Opens a stream for the idle scenarios (memory, cancellation) and returns
/// once its first packet is in. The connection stays open.
pub async fn open_idle(addr: SocketAddr, path: &str, source: usize) -> TcpStream {
    let mut stream = connect(addr, source).await.expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut seen = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "{addr}{path}: stream closed before its first packet, after {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        if let Some(head_end) = memmem::find(&seen, b"\r\n\r\n")
            && memmem::find(&seen[head_end..], b"\n\n").is_some()
        {
            return stream;
        }
    }
}

/// One response being read: the head is checked, the body comes out de-chunked.
pub struct Response {
    pub stream: TcpStream,
    buf: Box<[u8]>,
    /// Body bytes that arrived with the head.
    leftover: Vec<u8>,
    body: Framing,
}

enum Framing {
    Chunked(Dechunker),
    /// No framing: the body runs to the end of the connection.
    UntilClose,
}

impl Response {
    /// Sends `GET path` on `stream` (the connection is closed after the response)
    /// and reads the response head; fails on a status other than 200.
    pub async fn get(mut stream: TcpStream, path: &str, buf_size: usize) -> io::Result<Response> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::with_capacity(1024);
        let mut buf = vec![0u8; buf_size].into_boxed_slice();
        let end = loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "no response head",
                ));
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(pos) = memmem::find(&head, b"\r\n\r\n") {
                break pos + 4;
            }
        };
        let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
        if !text.starts_with("http/1.1 200") {
            return Err(io::Error::other(format!(
                "unexpected response: {}",
                text.lines().next().unwrap_or("")
            )));
        }
        let body = if text.contains("transfer-encoding: chunked") {
            Framing::Chunked(Dechunker::default())
        } else {
            Framing::UntilClose
        };
        Ok(Response {
            stream,
            buf,
            leftover: head[end..].to_vec(),
            body,
        })
    }

    /// Reads once from the socket and passes the body bytes to `sink`. Returns
    /// false once the body has ended.
    pub async fn read(&mut self, sink: &mut impl FnMut(&[u8])) -> io::Result<bool> {
        if !self.leftover.is_empty() {
            let leftover = std::mem::take(&mut self.leftover);
            return Ok(self.body.feed(&leftover, sink));
        }
        let n = self.stream.read(&mut self.buf).await?;
        if n == 0 {
            return Ok(false);
        }
        Ok(self.body.feed(&self.buf[..n], sink))
    }

    /// Reads the whole body into `sink`.
    pub async fn read_to_end(&mut self, sink: &mut impl FnMut(&[u8])) -> io::Result<()> {
        while self.read(sink).await? {}
        Ok(())
    }
}

impl Framing {
    fn feed(&mut self, input: &[u8], sink: &mut impl FnMut(&[u8])) -> bool {
        match self {
            Framing::Chunked(dechunker) => dechunker.feed(input, sink),
            Framing::UntilClose => {
                sink(input);
                true
            }
        }
    }
}

/// HTTP/1.1 chunked transfer coding, incrementally.
#[derive(Default)]
struct Dechunker {
    state: ChunkState,
    size: usize,
}

#[derive(Default, Clone, Copy)]
enum ChunkState {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Done,
}

impl Dechunker {
    /// Returns false once the last chunk has been read.
    fn feed(&mut self, mut input: &[u8], sink: &mut impl FnMut(&[u8])) -> bool {
        use ChunkState::*;
        while let Some(&byte) = input.first() {
            match self.state {
                Data => {
                    let take = self.size.min(input.len());
                    sink(&input[..take]);
                    input = &input[take..];
                    self.size -= take;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                Size => match byte {
                    b'\r' => self.state = SizeLf,
                    b';' => self.state = Extension,
                    _ => {
                        let digit = (byte as char).to_digit(16).expect("chunk size is hex");
                        self.size = self.size * 16 + digit as usize;
                    }
                },
                Extension => {
                    if byte == b'\r' {
                        self.state = SizeLf;
                    }
                }
                SizeLf => {
                    self.state = if self.size == 0 { Done } else { Data };
                }
                DataCr => self.state = DataLf,
                DataLf => self.state = Size,
                Done => return false,
            }
            input = &input[1..];
        }
        !matches!(self.state, Done)
    }
}

/// Counts SSE events (`\n\n`) across reads.
#[derive(Default)]
pub struct EventCounter {
    pub events: u64,
    pub bytes: u64,
    last_was_lf: bool,
}

impl EventCounter {
    pub fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.bytes += bytes.len() as u64;
        self.events += memmem::find_iter(bytes, b"\n\n").count() as u64;
        if self.last_was_lf && bytes[0] == b'\n' {
            self.events += 1;
        }
        self.last_was_lf = bytes[bytes.len() - 1] == b'\n';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_in_any_split() {
        let wire = b"5\r\nhello\r\n3;x=1\r\n, w\r\n4\r\norld\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut out = Vec::new();
            let mut d = Dechunker::default();
            d.feed(&wire[..split], &mut |b| out.extend_from_slice(b));
            d.feed(&wire[split..], &mut |b| out.extend_from_slice(b));
            assert_eq!(out, b"hello, world");
            assert!(matches!(d.state, ChunkState::Done));
        }
    }

    #[test]
    fn counts_events_across_reads() {
        let mut c = EventCounter::default();
        c.feed(b"data: 1\n");
        c.feed(b"\ndata: 2\n\nda");
        c.feed(b"ta: 3\n\n");
        assert_eq!(c.events, 3);
    }
}
