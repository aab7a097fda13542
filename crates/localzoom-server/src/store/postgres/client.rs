//! tokio-postgres's client, its connection driven by a task of the server's runtime: a request waiting for the
//! database holds no thread. It sends statements together and does not wait for an answer it does not need:
//! - a read's BEGIN goes with its first query (one round trip where there were two), and the end of one write's
//!   savepoint and the start of the next one's with that write's first statement (or with its preparation, the
//!   first time: what the statement's preparation refuses then falls in the write's own savepoint);
//! - a read's COMMIT is sent and not waited for: a read-only transaction has nothing to make durable, and its
//!   answer is read (and dropped) by the connection's task.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, Error, Row, Socket, Statement};

pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];

pub(super) struct PgClient {
    client: tokio_postgres::Client,
}

impl PgClient {
    /// Connects, and drives the connection on a task of the current runtime until the client is dropped (it then
    /// says goodbye to the server, as libpq does) or the server ends it (the cause is logged).
    pub async fn connect<T>(config: &Config, tls: T) -> Result<PgClient, Error>
    where
        T: MakeTlsConnect<Socket> + Send + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let (client, connection) = config.connect(tls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(cause = %super::cause(&error), "a PostgreSQL connection ended");
            }
        });
        Ok(PgClient { client })
    }

    /// Whether the connection has ended: its requests would fail with `Error::is_closed`.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.client.batch_execute(sql).await
    }

    /// `sql` prepared, after `first` if there is one (sent at once, as `query`'s).
    pub async fn prepare(&self, first: Option<&str>, sql: &str) -> Result<Statement, Error> {
        self.after(first, self.client.prepare(sql)).await
    }

    /// `statement`'s rows, after `first` (statements without parameters, such as BEGIN) if there is one: both
    /// are sent at once, so `first` costs no round trip of its own. If `first` fails, so does the query.
    pub async fn query(
        &self,
        first: Option<&str>,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        self.after(first, self.client.query(statement, params))
            .await
    }

    /// `query` for a statement that returns no rows: how many it changed.
    pub async fn execute(
        &self,
        first: Option<&str>,
        statement: &Statement,
        params: &Params<'_>,
    ) -> Result<u64, Error> {
        self.after(first, self.client.execute(statement, params))
            .await
    }

    /// Sends `sql` and returns without its answer, which the connection's task reads and drops: for what cannot
    /// fail in a way the caller could act on (a read-only transaction's COMMIT). Requests on a connection are
    /// answered in order, so the next one sent waits behind it.
    pub fn send(&self, sql: &str) {
        // Its first poll queues the request on the connection (a channel send), which is all this needs.
        let request = pin!(self.client.batch_execute(sql));
        let _ = request.poll(&mut Context::from_waker(Waker::noop()));
    }

    /// `request`'s answer, after `first`'s if there is one. Joined, both are queued before the connection's task
    /// writes either, so they leave in one packet.
    async fn after<T>(
        &self,
        first: Option<&str>,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let first = async {
            match first {
                Some(sql) => self.client.batch_execute(sql).await,
                None => Ok(()),
            }
        };
        let (first, answer) = tokio::join!(first, request);
        first?;
        answer
    }
}
