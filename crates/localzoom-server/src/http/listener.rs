//! The accept loop: every connection is bounded in how many there are, how long a client may take to send a
//! request's headers (from the moment it connects, and again between requests on a kept-alive connection), how
//! long a write may stall on a client that does not read, and how long the server waits for in-flight requests
//! when told to stop. A client that opens connections and sends nothing, sends a byte a minute, or never reads
//! its answer holds a slot for seconds, not forever.
//!
//! Only HTTP/1.1 is served: Zoom's API is reached over HTTP/1.1 (or HTTP/2 through TLS, which a proxy in front of
//! localzoom would terminate), and HTTP/1's header timeout is what bounds an idle connection; cleartext HTTP/2
//! would need its own idle handling.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
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

/// On a response: drop the connection instead of answering, as a peer that resets it would (a fault rule's
/// `reset_connection`). The socket is closed with a zero linger, so the client sees a reset, not an answer.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

/// The app as hyper calls it, turning a `ResetConnection` response into the error that makes hyper drop the
/// connection, and marking the connection's socket for a reset.
struct ResetAware {
    app: TowerToHyperService<Router>,
    reset: Arc<AtomicBool>,
}

type Incoming = hyper::Request<hyper::body::Incoming>;
type AppFuture = <TowerToHyperService<Router> as hyper::service::Service<Incoming>>::Future;

impl hyper::service::Service<Incoming> for ResetAware {
    type Response = axum::response::Response;
    type Error = std::io::Error;
    type Future = ResetAwareFuture;

    fn call(&self, request: Incoming) -> Self::Future {
        ResetAwareFuture {
            served: self.app.call(request),
            reset: self.reset.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The app's answer, or the error that drops the connection (no box: every request passes here).
    struct ResetAwareFuture {
        #[pin]
        served: AppFuture,
        reset: Arc<AtomicBool>,
    }
}

impl Future for ResetAwareFuture {
    type Output = Result<axum::response::Response, std::io::Error>;

    /// Never inlined: the benchmark's instruction counts are of what runs inside it (each request's own work,
    /// from the router to the response), found by its name.
    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.served.poll(cx)).unwrap_or_else(|never| match never {});
        if response.extensions().get::<ResetConnection>().is_some() {
            this.reset.store(true, Ordering::Relaxed);
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "a fault rule reset the connection",
            )));
        }
        Poll::Ready(Ok(response))
    }
}

/// A client's socket that is reset (zero linger) rather than closed when its connection was marked so.
struct ResettableStream {
    stream: tokio::net::TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How long a graceful stop waits for in-flight requests before it stops waiting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The most connections served at once, unless configured otherwise; beyond it, new connections wait in the
/// kernel's backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How many connections, and how long each may keep the server waiting.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    /// For a request's headers (from connect, and between requests), its body, and a stalled write.
    pub read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let ConnectionLimits {
        max_connections,
        read_timeout,
    } = limits;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout);
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
        let reset = Arc::new(AtomicBool::new(false));
        let service = ResetAware {
            app: TowerToHyperService::new(app.clone()),
            reset: reset.clone(),
        };
        let io = GuardedConnection::new(ResettableStream { stream, reset }, read_timeout);
        let connection = builder.serve_connection(TokioIo::new(io), service);
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
        // Their tasks end with the runtime, which the caller stops next.
        tracing::warn!("stopped waiting for requests still in flight after {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// A client connection as hyper sees it, with two guards hyper does not have.
///
/// - Parse-error answers are Zoom-shaped. hyper answers a request it cannot parse (a garbled request line, too many
///   or too large headers, an over-long URI) itself, before any handler runs, with an empty body; this rewrites
///   exactly those answers (`400`, `414`, `431` with `content-length: 0`, which no handler of localzoom sends) into
///   `{"code":300,"message":…}`. It needs each answer's head in one buffer: the wrapper does not offer vectored
///   writes, so hyper flattens head and body into one buffer (for localzoom's small answers, one copy, one write).
/// - A write that makes no progress for the read timeout (a client that does not read its answer) fails, which
///   ends the connection and frees its slot.
pub struct GuardedConnection<T> {
    inner: T,
    /// A rewritten answer still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
    stall_timeout: Duration,
    /// Armed while a write waits on the client.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> GuardedConnection<T> {
    pub fn new(inner: T, stall_timeout: Duration) -> Self {
        GuardedConnection {
            inner,
            pending: Vec::new(),
            written: 0,
            stall_timeout,
            stalled: None,
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

impl<T: AsyncWrite + Unpin> GuardedConnection<T> {
    /// The inner write, failing once it has made no progress for the stall timeout.
    fn write_inner(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => {
                let timeout = self.stall_timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
            done => {
                self.stalled = None;
                done
            }
        }
    }

    /// Writes what remains of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.pending.len() {
            let pending = std::mem::take(&mut self.pending);
            let wrote = self.write_inner(cx, &pending[self.written..]);
            self.pending = pending;
            let n = ready!(wrote)?;
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

impl<T: AsyncRead + Unpin> AsyncRead for GuardedConnection<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedConnection<T> {
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
        this.write_inner(cx, buf)
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
