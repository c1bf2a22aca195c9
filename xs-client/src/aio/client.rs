//! The async client handle.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xs_transport::{Connection, TransportKind};

use crate::aio::conn::Conn;
use crate::aio::{AsyncStore, AsyncTransaction, Runtime};
use crate::router::Tx;
use crate::transaction::commit_retries;
use crate::{
    ops, ClientBuilder, Error, Reconnect, Result, DEFAULT_TIMEOUT, DEFAULT_TRANSACT_ATTEMPTS,
};

/// An async connection to xenstored, shared by every task holding a clone:
/// the async [`crate::Client`]. The node operations are those of
/// [`AsyncStore`] (through `Deref`).
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// # async_io::block_on(async {
/// # #[cfg(feature = "smol")] {
/// let client = xs_client::smol::Client::open()?;
/// client.write("/vm/demo/name", "demo").await?;
/// assert_eq!(client.list("/vm/demo").await?, ["name"]);
/// # }
/// # Ok::<(), xs_client::Error>(())
/// # }).unwrap();
/// ```
pub struct AsyncClient<R: Runtime> {
    store: AsyncStore<R>,
    transact_attempts: u32,
}

impl<R: Runtime> Clone for AsyncClient<R> {
    fn clone(&self) -> Self {
        AsyncClient {
            store: self.store.clone(),
            transact_attempts: self.transact_attempts,
        }
    }
}

impl<R: Runtime> std::ops::Deref for AsyncClient<R> {
    type Target = AsyncStore<R>;
    fn deref(&self) -> &AsyncStore<R> {
        &self.store
    }
}

impl<R: Runtime> std::fmt::Debug for AsyncClient<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncClient({})", self.store.conn.peer())
    }
}

/// Options for an [`AsyncClient`]: those of [`ClientBuilder`].
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # async_io::block_on(async {
/// # #[cfg(feature = "smol")] {
/// use std::time::Duration;
/// let client = xs_client::smol::Client::builder()
///     .unix(_xs.socket_path())
///     .timeout(Duration::from_secs(5))
///     .connect()?;
/// assert!(client.exists("/tool/xenstored").await?);
/// # }
/// # Ok::<(), xs_client::Error>(())
/// # }).unwrap();
/// ```
pub struct AsyncClientBuilder<R: Runtime> {
    inner: ClientBuilder,
    runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R: Runtime> std::fmt::Debug for AsyncClientBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<R: Runtime> AsyncClientBuilder<R> {
    fn map(self, f: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Self {
        AsyncClientBuilder {
            inner: f(self.inner),
            runtime: self.runtime,
        }
    }

    /// Connects to the daemon's Unix socket at `path`.
    pub fn unix(self, path: impl AsRef<FsPath>) -> Self {
        self.map(|b| b.unix(path))
    }

    /// Connects through the xenbus device at `path`.
    pub fn xenbus(self, path: impl AsRef<FsPath>) -> Self {
        self.map(|b| b.xenbus(path))
    }

    /// Every round trip gives up after `timeout`
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|b| b.timeout(timeout))
    }

    /// Round trips wait forever.
    pub fn no_timeout(self) -> Self {
        self.map(ClientBuilder::no_timeout)
    }

    /// How many times [`AsyncClient::transact`] tries (default
    /// [`DEFAULT_TRANSACT_ATTEMPTS`]).
    pub fn transact_attempts(self, attempts: u32) -> Self {
        self.map(|b| b.transact_attempts(attempts))
    }

    /// Survive the daemon: when the connection is lost (xenstored
    /// restarted), make a new one by `policy` instead of failing every
    /// later call, as [`ClientBuilder::reconnect`] does for the sync
    /// client, with the same contract:
    ///
    /// * a request not yet written is sent on the new connection;
    /// * a request written and not answered is sent again if it only reads
    ///   (READ, DIRECTORY, GET_PERMS, GET_DOMAIN_PATH, ...); one that changes
    ///   the store fails with [`Error::MaybeApplied`] (it may or may not
    ///   have been applied; it is never sent twice);
    /// * an open transaction fails with [`Error::TransactionLost`] (its id
    ///   means nothing to the new daemon), and [`AsyncClient::transact`]
    ///   runs its closure again, as after a conflict;
    /// * every watch is registered again, and every
    ///   [`crate::aio::AsyncMonitor`] first yields [`Error::Reconnected`]
    ///   (events may have been missed: read the state again), then the
    ///   daemon's initial events;
    /// * callers wait while it reconnects, within their timeouts; once the
    ///   policy gives up they fail with [`Error::Disconnected`].
    ///
    /// The attempts never block the executor: between them the driver
    /// waits on the runtime's timer. Like reading the socket, reconnecting
    /// is done by the tasks waiting on the client (a request, a monitor's
    /// stream): nothing reconnects while none waits.
    ///
    /// [`AsyncClientBuilder::connect`] does not wait for a daemon that is
    /// not up yet (it would block the executor): the client starts without
    /// a connection and its calls wait for one, made by the same attempts,
    /// for at most `give_up_after` (else the timeout), then fail with
    /// [`Error::Connect`]. Sockets only: the xenbus device is the guest
    /// kernel's connection, which outlives the daemon.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # async_io::block_on(async {
    /// # #[cfg(feature = "smol")] {
    /// use std::time::Duration;
    /// use xs_client::Reconnect;
    ///
    /// let client = xs_client::smol::Client::builder()
    ///     .unix(_xs.socket_path())
    ///     .reconnect(Reconnect {
    ///         give_up_after: Some(Duration::from_secs(60)),
    ///         ..Reconnect::default()
    ///     })
    ///     .connect()?;
    /// client.write("/local/domain/0/agent/up", "1").await?;
    /// assert_eq!(client.reconnections(), 0);
    /// # }
    /// # Ok::<(), xs_client::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn reconnect(self, policy: Reconnect) -> Self {
        self.map(|b| b.reconnect(policy))
    }

    /// Connects (the endpoint found as [`crate::Client::open`] does,
    /// unless given). Call it inside the runtime: the connection's fd is
    /// registered with its reactor. With a [`Reconnect`] policy, a daemon
    /// that is not up yet is waited for by the client's calls (see
    /// [`AsyncClientBuilder::reconnect`]).
    pub fn connect(self) -> Result<AsyncClient<R>> {
        let attempts = self.inner.attempts();
        let conn = match self.inner.reconnecting() {
            Some((policy, endpoint, timeout)) => {
                let first = endpoint
                    .connect()
                    .map_err(|e| crate::client::connect_error(&endpoint, e));
                Conn::reconnecting(first, timeout, endpoint, policy)?
            }
            None => {
                let (conn, timeout, _) = self.inner.open()?;
                Conn::new(conn, timeout)?
            }
        };
        let mut client = AsyncClient::with_conn(conn);
        client.transact_attempts = attempts;
        Ok(client)
    }
}

impl<R: Runtime> AsyncClient<R> {
    /// Connects the way libxenstore does: `$XENSTORED_PATH`, else the
    /// daemon's socket, else the xenbus device.
    pub fn open() -> Result<Self> {
        Self::builder().connect()
    }

    /// Connects to the daemon's Unix socket.
    pub fn unix(path: impl AsRef<FsPath>) -> Result<Self> {
        Self::builder().unix(path).connect()
    }

    /// Connects through the xenbus device.
    pub fn xenbus(path: impl AsRef<FsPath>) -> Result<Self> {
        Self::builder().xenbus(path).connect()
    }

    /// Options.
    pub fn builder() -> AsyncClientBuilder<R> {
        AsyncClientBuilder {
            inner: ClientBuilder::default(),
            runtime: std::marker::PhantomData,
        }
    }

    /// Takes a connection made elsewhere; round trips time out after
    /// [`DEFAULT_TIMEOUT`].
    pub fn with_connection(conn: Connection) -> Result<Self> {
        Self::with_connection_timeout(conn, Some(DEFAULT_TIMEOUT))
    }

    fn with_connection_timeout(conn: Connection, timeout: Option<Duration>) -> Result<Self> {
        Ok(AsyncClient::with_conn(Conn::new(conn, timeout)?))
    }

    fn with_conn(conn: Conn<R>) -> Self {
        AsyncClient {
            store: AsyncStore {
                conn: Arc::new(conn),
                tx: Tx::default(),
            },
            transact_attempts: DEFAULT_TRANSACT_ATTEMPTS,
        }
    }

    /// Whether the connection is still usable (also while a reconnecting
    /// client makes a new one).
    pub fn is_connected(&self) -> bool {
        self.store.conn.is_connected()
    }

    /// How many times the connection was lost (see
    /// [`AsyncClientBuilder::reconnect`]); also the epoch transactions
    /// belong to: [`crate::Router::reconnections`].
    pub fn reconnections(&self) -> u64 {
        self.store.conn.reconnections()
    }

    /// Socket or xenbus device.
    pub fn kind(&self) -> TransportKind {
        self.store.conn.kind()
    }

    /// What the connection is to.
    pub fn peer(&self) -> &str {
        self.store.conn.peer()
    }

    /// The round-trip timeout (`None`: none).
    pub fn timeout(&self) -> Option<Duration> {
        self.store.conn.timeout()
    }

    /// The largest payload a request may carry (4096, or 4080 on the
    /// device).
    pub fn max_payload(&self) -> usize {
        self.store.conn.max_payload()
    }

    /// Starts a transaction: [`crate::Client::transaction`].
    pub async fn transaction(&self) -> Result<AsyncTransaction<R>> {
        AsyncTransaction::start(self).await
    }

    /// Runs `f` in a transaction, retrying on conflict up to the client's
    /// attempts with the same jittered backoff as
    /// [`crate::Client::transact`]. An error from `f` rolls back and is
    /// returned as is.
    ///
    /// `f` gets the transaction's [`AsyncStore`] by value (a cheap handle)
    /// and returns a future owning what it uses, so the whole future is
    /// `Send` whenever `f`'s is (a closure taking `&AsyncTransaction`
    /// would run into rustc's higher-ranked `Send` limitation).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # async_io::block_on(async {
    /// # #[cfg(feature = "smol")] {
    /// let client = xs_client::smol::Client::unix(_xs.socket_path())?;
    /// client.write("/counter", "41").await?;
    /// let n = client
    ///     .transact(|tx| async move {
    ///         let n: u64 = tx.read_string("/counter").await?.parse().unwrap_or(0);
    ///         tx.write("/counter", (n + 1).to_string()).await?;
    ///         Ok::<_, xs_client::Error>(n + 1)
    ///     })
    ///     .await?;
    /// assert_eq!(n, 42);
    /// # }
    /// # Ok::<(), xs_client::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn transact<T, E, F, Fut>(&self, mut f: F) -> std::result::Result<T, E>
    where
        F: FnMut(AsyncStore<R>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, E>>,
        E: From<Error>,
    {
        for attempt in 0..self.transact_attempts {
            if attempt > 0 {
                R::timer(Instant::now() + crate::client::backoff(attempt)).await;
            }
            let tx = self.transaction().await?;
            match f(AsyncStore::clone(&tx)).await {
                Ok(value) => {
                    let committed = tx.commit().await;
                    if !commit_retries(&committed) {
                        return committed.map(|_| value).map_err(E::from);
                    }
                }
                // Failed because its connection was replaced: run it again.
                Err(_) if tx.is_lost() => {}
                Err(e) => {
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            }
        }
        Err(Error::Conflict {
            attempts: self.transact_attempts,
        }
        .into())
    }

    /// A domain's home path: [`crate::Client::get_domain_path`].
    pub async fn get_domain_path(&self, domid: u32) -> Result<String> {
        self.call(ops::get_domain_path(domid)?).await
    }

    /// Whether a domain is introduced: [`crate::Client::is_domain_introduced`].
    pub async fn is_domain_introduced(&self, domid: u32) -> Result<bool> {
        self.call(ops::is_domain_introduced(domid)?).await
    }

    /// [`crate::Client::introduce_domain`].
    pub async fn introduce_domain(&self, domid: u32, gfn: u64, evtchn: u32) -> Result<()> {
        self.call(ops::introduce_domain(domid, gfn, evtchn)?).await
    }

    /// [`crate::Client::release_domain`].
    pub async fn release_domain(&self, domid: u32) -> Result<()> {
        self.call(ops::release_domain(domid)?).await
    }

    /// [`crate::Client::resume_domain`].
    pub async fn resume_domain(&self, domid: u32) -> Result<()> {
        self.call(ops::resume_domain(domid)?).await
    }

    /// [`crate::Client::set_target`].
    pub async fn set_target(&self, domid: u32, target: u32) -> Result<()> {
        self.call(ops::set_target(domid, target)?).await
    }

    /// [`crate::Client::reset_watches`].
    pub async fn reset_watches(&self) -> Result<()> {
        self.call(ops::reset_watches()).await
    }

    /// [`crate::Client::control`].
    pub async fn control(&self, command: &str, args: &[u8]) -> Result<Vec<u8>> {
        self.call(ops::control(command, args)).await
    }

    /// [`crate::Client::get_features`].
    pub async fn get_features(&self, domid: Option<u32>) -> Result<u64> {
        self.call(ops::get_features(domid)?).await
    }

    /// [`crate::Client::set_features`].
    pub async fn set_features(&self, domid: u32, features: u32) -> Result<()> {
        self.call(ops::set_features(domid, features)?).await
    }

    /// [`crate::Client::get_quota_names`].
    pub async fn get_quota_names(&self) -> Result<Vec<String>> {
        self.call(ops::get_quota_names()).await
    }

    /// [`crate::Client::get_quota`].
    pub async fn get_quota(&self, domid: Option<u32>, name: &str) -> Result<u64> {
        self.call(ops::get_quota(domid, name)?).await
    }

    /// [`crate::Client::set_quota`].
    pub async fn set_quota(&self, domid: Option<u32>, name: &str, value: u32) -> Result<()> {
        self.call(ops::set_quota(domid, name, value)?).await
    }
}
