//! The accept loop: every connection is bounded in how many there are, how long a client may take to send a
//! request's headers (also the idle time allowed between requests on a kept-alive connection), and how long the
//! server waits for in-flight requests when told to stop. A client that opens connections and sends nothing, or
//! sends a byte a minute, holds a slot for seconds, not forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client may take to send a request's headers or its body, and how long a kept-alive connection may
/// sit idle, unless configured otherwise.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The read timeout, handed to the body extractors as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct ReadTimeout(pub Duration);

/// How long a graceful stop waits for in-flight requests before it drops them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The most connections served at once, unless configured otherwise; beyond it, new connections wait in the
/// kernel's backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    (max_connections, read_timeout): (usize, Duration),
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(read_timeout)
        .keep_alive_timeout(read_timeout);
    let app = app.layer(Extension(ReadTimeout(read_timeout)));
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(ZoomShapedParseErrors::new(stream)),
                service,
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("stopped with requests still in flight after {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// A connection whose HTTP/1 parse-error answers are Zoom-shaped. hyper answers a request it cannot parse (a
/// garbled request line, too many or too large headers, an over-long URI) itself, before any handler runs, with
/// an empty body; this rewrites exactly those answers (`400`, `414`, `431` with `content-length: 0`, which no
/// handler of localzoom sends) into `{"code":300,"message":…}`. Everything else passes through untouched.
pub struct ZoomShapedParseErrors<T> {
    inner: T,
    /// A rewritten answer still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
}

impl<T> ZoomShapedParseErrors<T> {
    pub fn new(inner: T) -> Self {
        ZoomShapedParseErrors {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// The Zoom-shaped replacement of hyper's own error answer at the start of `buf`: (bytes of `buf` it replaces,
/// the new bytes).
fn zoom_shaped(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    if !buf.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let message = match head.get(9..12)? {
        "400" => "The request could not be read as HTTP.",
        "414" => "The request URI is too long.",
        "431" => "The request's headers are too large or too many.",
        _ => return None,
    };
    if !head.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = serde_json::json!({ "code": 300, "message": message }).to_string();
    let head = head.replacen(
        "\r\ncontent-length: 0\r\n",
        &format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ),
        1,
    );
    Some((head_end, [head.into_bytes(), body.into_bytes()].concat()))
}

impl<T: AsyncWrite + Unpin> ZoomShapedParseErrors<T> {
    /// Writes what remains of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ZoomShapedParseErrors<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ZoomShapedParseErrors<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if let Some((replaced, answer)) = zoom_shaped(buf) {
            this.pending = answer;
            // The rest is written by the next write, flush or shutdown (hyper flushes an answer it wrote).
            if let Poll::Ready(Err(e)) = this.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(replaced));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::zoom_shaped;
    use crate::fuzz::fuzz;

    /// Any bytes a response could start with are passed through or turned into a complete Zoom-shaped answer.
    #[test]
    fn fuzz_parse_error_rewriting() {
        fuzz(
            "parse_error_rewriting",
            &[
                b"HTTP/1.1 4",
                b"00",
                b"14",
                b"31",
                b" Bad Request",
                b"\r\n",
                b"content-length: 0",
                b"\r\n\r\n",
            ],
            |input| {
                if let Some((replaced, answer)) = zoom_shaped(input) {
                    assert!(replaced <= input.len());
                    let answer = String::from_utf8(answer).unwrap();
                    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
                    let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
                    assert_eq!(parsed["code"], 300);
                }
            },
        );
    }

    #[test]
    fn only_hypers_empty_error_answers_are_rewritten() {
        let hyper_431 =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let (replaced, answer) = zoom_shaped(hyper_431).unwrap();
        assert_eq!(replaced, hyper_431.len());
        let answer = String::from_utf8(answer).unwrap();
        let body = r#"{"code":300,"message":"The request's headers are too large or too many."}"#;
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(answer.ends_with(&format!("\r\n\r\n{body}")));
        // A handler's own 400 (a JSON body) and other statuses pass through.
        assert!(zoom_shaped(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 52\r\n\r\n{}").is_none());
        assert!(zoom_shaped(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(zoom_shaped(b"HTTP/1.1 204 No Content\r\n\r\n").is_none());
    }
}
