//! tokio-postgres's client, used from the synchronous store: while a caller waits, its connection is driven on
//! the caller's thread (as the `postgres` crate drives it), by a small runtime of the connection's own. Unlike
//! that crate, it can send statements together and not wait for an answer it does not need:
//! - a read's BEGIN goes with its first query (one round trip where there were two);
//! - a read's COMMIT is sent and not waited for: a read-only transaction has nothing to make durable, and its
//!   answer is read (and dropped) when the connection is next used.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Config, Error, Row, Socket, Statement};

/// What drives a connection: its messages, polled until it has nothing more to do for now.
type Drive = Box<dyn FnMut(&mut Context<'_>) -> Poll<Option<Result<AsyncMessage, Error>>> + Send>;

pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];

pub(super) struct PgClient {
    runtime: tokio::runtime::Runtime,
    /// `None` once dropped (see `Drop`): every method reaches it through `parts()`.
    client: Option<tokio_postgres::Client>,
    /// `None` once the connection ended (the server closed it, or it failed): its requests are then answered
    /// with an error that says so (`Error::is_closed`).
    connection: Option<Drive>,
}

/// Why a connection could not be opened.
pub(super) enum ConnectError {
    Refused(Error),
    /// The connection's runtime could not be made (out of file descriptors, say).
    Runtime(std::io::Error),
}

impl PgClient {
    pub fn connect<T>(config: &Config, tls: T) -> Result<PgClient, ConnectError>
    where
        T: MakeTlsConnect<Socket> + Send + 'static,
        T::Stream: Send,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ConnectError::Runtime)?;
        let (client, mut connection) = runtime
            .block_on(config.connect(tls))
            .map_err(ConnectError::Refused)?;
        Ok(PgClient {
            runtime,
            client: Some(client),
            connection: Some(Box::new(move |cx| connection.poll_message(cx))),
        })
    }

    /// The runtime, the client and the connection, borrowed apart: a request borrows the client while the
    /// connection is driven.
    fn parts(
        &mut self,
    ) -> (
        &tokio::runtime::Runtime,
        &tokio_postgres::Client,
        &mut Option<Drive>,
    ) {
        let client = self.client.as_ref().expect("dropped only in Drop");
        (&self.runtime, client, &mut self.connection)
    }

    pub fn is_closed(&self) -> bool {
        self.connection.is_none() || self.client.as_ref().is_none_or(|c| c.is_closed())
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let (runtime, client, connection) = self.parts();
        block_on(runtime, connection, client.batch_execute(sql))
    }

    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        let (runtime, client, connection) = self.parts();
        block_on(runtime, connection, client.prepare(sql))
    }

    /// `statement`'s rows, after `first` (statements without parameters, such as BEGIN) if there is one: both
    /// are sent at once, so `first` costs no round trip of its own. If `first` fails, so does the query.
    pub fn query(
        &mut self,
        first: Option<&str>,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        let (runtime, client, connection) = self.parts();
        block_on(
            runtime,
            connection,
            after(client, first, client.query(statement, params)),
        )
    }

    /// `query` for a statement that returns no rows: how many it changed.
    pub fn execute(
        &mut self,
        first: Option<&str>,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Result<u64, Error> {
        let (runtime, client, connection) = self.parts();
        block_on(
            runtime,
            connection,
            after(client, first, client.execute(statement, params)),
        )
    }

    /// Sends `sql` and returns without its answer, which is read (and dropped) when the connection is next used:
    /// for what cannot fail in a way the caller could act on (a read-only transaction's COMMIT). The request is
    /// written to the socket before this returns, so the server is not left waiting for it.
    pub fn send(&mut self, sql: &str) {
        let (runtime, client, connection) = self.parts();
        let mut request = pin!(client.batch_execute(sql));
        runtime.block_on(std::future::poll_fn(|cx| {
            // The first poll queues the request; driving the connection then writes and flushes it.
            if request.as_mut().poll(cx).is_pending() {
                drive(connection, cx);
            }
            Poll::Ready(())
        }));
    }
}

/// `request`'s answer, after `first`'s if there is one. Joined, both are queued before the connection writes
/// either, so they leave in one packet.
async fn after<T>(
    client: &tokio_postgres::Client,
    first: Option<&str>,
    request: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let (first, answer) = tokio::join!(run_first(client, first), request);
    first?;
    answer
}

async fn run_first(client: &tokio_postgres::Client, first: Option<&str>) -> Result<(), Error> {
    match first {
        Some(sql) => client.batch_execute(sql).await,
        None => Ok(()),
    }
}

/// Drives the connection until it waits for the server; if it ended, it is dropped, and with it every pending
/// request's sender, so that those requests end with a "closed" error. The error it ended with, if any.
fn drive(connection: &mut Option<Drive>, cx: &mut Context<'_>) -> Option<Error> {
    while let Some(messages) = connection.as_mut() {
        match messages(cx) {
            // Notices and notifications: nothing here asks for them.
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(error))) => {
                *connection = None;
                return Some(error);
            }
            Poll::Ready(None) => *connection = None,
            Poll::Pending => break,
        }
    }
    None
}

/// `future`'s outcome, driving the connection meanwhile.
fn block_on<T>(
    runtime: &tokio::runtime::Runtime,
    connection: &mut Option<Drive>,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let mut future = pin!(future);
    runtime.block_on(std::future::poll_fn(|cx| {
        if let Some(error) = drive(connection, cx) {
            return Poll::Ready(Err(error));
        }
        future.as_mut().poll(cx)
    }))
}

impl Drop for PgClient {
    /// Says goodbye to the server (Terminate), as libpq does, rather than vanishing: the client dropped, the
    /// connection sends Terminate and ends.
    fn drop(&mut self) {
        drop(self.client.take());
        let connection = &mut self.connection;
        // Bounded: a connection still owed an answer (an unawaited COMMIT's) by a server that stopped answering
        // must not hold up whoever drops it.
        let ended = std::future::poll_fn(|cx| {
            drive(connection, cx);
            if connection.is_none() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        // The timer is made inside the runtime, whose clock it needs.
        self.runtime.block_on(async {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), ended).await;
        });
    }
}
