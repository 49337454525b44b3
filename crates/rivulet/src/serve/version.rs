//! Telling HTTP/1.1 from HTTP/2 by a connection's first bytes, within a
//! deadline, and handing those bytes back to the protocol that reads them.
//!
//! An HTTP/2 client opens with a fixed 24-byte preface; anything else is
//! HTTP/1.1. The bytes read to decide are given back by [`Prefixed`] on the
//! protocol's first read *together with* what else the socket holds: hyper's
//! HTTP/1.1 reader sizes its buffer for one read (8 KiB), and a first read of
//! only the preface's 24 bytes would make it grow that buffer to 16 KiB for
//! the rest of the request head, kept for the connection's life. Handed the
//! whole head at once, it keeps the 8 KiB it started with.
//!
//! A client that sends nothing holds its connection only until the deadline;
//! after that hyper's header-read timeout (HTTP/1.1) or the idle timeout
//! (HTTP/2) takes over.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What an HTTP/2 client sends first (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Http1,
    Http2,
}

/// Why a connection was not served.
#[derive(Debug)]
pub(crate) enum Undetected {
    /// Nothing, or too little to decide, within the deadline.
    TimedOut,
    /// The peer closed the connection before deciding bytes came.
    Closed,
    /// Reading failed.
    Io(io::Error),
}

impl std::fmt::Display for Undetected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undetected::TimedOut => f.write_str("no request within the header-read timeout"),
            Undetected::Closed => f.write_str("closed before sending a request"),
            Undetected::Io(e) => write!(f, "reading the first bytes failed: {e}"),
        }
    }
}

/// Reads from `io` until its protocol is known: the first byte that differs
/// from the HTTP/2 preface means HTTP/1.1, the whole preface HTTP/2. At most
/// `timeout` is waited for it.
pub(crate) async fn detect<I>(
    mut io: I,
    timeout: Duration,
) -> Result<(Version, Prefixed<I>), Undetected>
where
    I: AsyncRead + Unpin,
{
    let mut prefix = [0u8; H2_PREFACE.len()];
    let mut filled = 0;
    let read = async {
        // Every read adds at least one byte or ends the loop: at most 24 turns.
        while filled < prefix.len() {
            let n = io
                .read(&mut prefix[filled..])
                .await
                .map_err(Undetected::Io)?;
            if n == 0 {
                return Err(Undetected::Closed);
            }
            let start = filled;
            filled += n;
            if prefix[start..filled] != H2_PREFACE[start..filled] {
                return Ok(Version::Http1);
            }
        }
        Ok(Version::Http2)
    };
    let version = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| Undetected::TimedOut)??;
    let prefixed = Prefixed {
        io,
        prefix,
        start: 0,
        end: filled as u8,
    };
    Ok((version, prefixed))
}

/// An IO whose first reads give back the bytes [`detect`] read.
#[derive(Debug)]
pub(crate) struct Prefixed<I> {
    io: I,
    prefix: [u8; H2_PREFACE.len()],
    /// The part of `prefix` not given back yet.
    start: u8,
    end: u8,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let rest = &this.prefix[usize::from(this.start)..usize::from(this.end)];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.start += n as u8;
        // The rest of what the socket holds comes in the same read (see the
        // module docs); if it holds nothing yet, the prefix alone is this read.
        if this.start == this.end && buf.remaining() > 0 {
            let before = buf.filled().len();
            match Pin::new(&mut this.io).poll_read(cx, buf) {
                Poll::Ready(Ok(())) | Poll::Pending => {}
                // Reported by the next read, after the prefix has been taken.
                Poll::Ready(Err(_)) => buf.set_filled(before),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::AsyncWriteExt;

    const HEAD: &[u8] = b"GET /feed HTTP/1.1\r\nhost: example\r\naccept: text/event-stream\r\n\r\n";

    #[tokio::test]
    async fn http1_is_known_by_its_first_byte_and_its_head_comes_back_in_one_read() {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(HEAD).await.unwrap();
        let (version, mut io) = detect(server, Duration::from_secs(10)).await.unwrap();
        assert_eq!(version, Version::Http1);
        let mut read = vec![0u8; 8192];
        let n = io.read(&mut read).await.unwrap();
        assert_eq!(&read[..n], HEAD, "one read: the prefix and the rest");
    }

    #[tokio::test]
    async fn http2_is_known_by_its_whole_preface_even_sent_byte_by_byte() {
        let (mut client, server) = tokio::io::duplex(1024);
        let detected = tokio::spawn(detect(server, Duration::from_secs(10)));
        for byte in H2_PREFACE {
            client.write_all(&[*byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        client.write_all(b"settings").await.unwrap();
        let (version, mut io) = detected.await.unwrap().unwrap();
        assert_eq!(version, Version::Http2);
        let mut read = Vec::new();
        drop(client);
        io.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, [&H2_PREFACE[..], b"settings"].concat());
    }

    #[tokio::test]
    async fn a_small_read_buffer_takes_the_prefix_in_parts() {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(HEAD).await.unwrap();
        drop(client);
        let (_, mut io) = detect(server, Duration::from_secs(10)).await.unwrap();
        let mut read = Vec::new();
        let mut chunk = [0u8; 5];
        for _ in 0..HEAD.len() {
            match io.read(&mut chunk).await.unwrap() {
                0 => break,
                n => read.extend_from_slice(&chunk[..n]),
            }
        }
        assert_eq!(read, HEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_given_up_on_after_the_deadline() {
        let (client, server) = tokio::io::duplex(1024);
        let start = tokio::time::Instant::now();
        let detected = detect(server, Duration::from_secs(10)).await;
        assert!(
            matches!(detected, Err(Undetected::TimedOut)),
            "{detected:?}"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn half_a_preface_is_given_up_on_after_the_deadline() {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(&H2_PREFACE[..10]).await.unwrap();
        let detected = detect(server, Duration::from_secs(10)).await;
        assert!(
            matches!(detected, Err(Undetected::TimedOut)),
            "{detected:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_that_closes_at_once_is_not_served() {
        let (client, server) = tokio::io::duplex(1024);
        drop(client);
        let detected = detect(server, Duration::from_secs(10)).await;
        assert!(matches!(detected, Err(Undetected::Closed)), "{detected:?}");
    }
}
