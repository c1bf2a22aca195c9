//! The client handle.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xs_transport::{Connection, Endpoint, TransportError};
use xs_wire::{Op, QuotaQuery, Request};

use crate::handle::Handle;
use crate::reconnect::Attempts;
use crate::store::{check_domid, sealed::Sealed};
use crate::transaction::commit_retries;
use crate::{ops, Error, Features, Reconnect, Result, Router, Store, Transaction, DEFAULT_TIMEOUT};

/// How many times [`Client::transact`] tries before giving up, by default.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Error, Store, DEFAULT_TRANSACT_ATTEMPTS};
///
/// let client = Client::open()?;
/// // Every commit fails: transact gives up after the default number of tries.
/// _xs.fail_next_commits(u64::from(DEFAULT_TRANSACT_ATTEMPTS));
/// let err = client.transact(|tx| tx.write("/local/domain/0/counter", "1")).unwrap_err();
/// assert!(matches!(err, Error::Conflict { attempts: DEFAULT_TRANSACT_ATTEMPTS }));
/// # Ok::<(), xs_client::Error>(())
/// ```
pub const DEFAULT_TRANSACT_ATTEMPTS: u32 = 64;

/// Longest pause between two attempts of [`Client::transact`].
const MAX_BACKOFF: Duration = Duration::from_millis(10);

/// A random pause before retry `attempt` (1-based): uniform in
/// `[0, min(50 us * 2^attempt, MAX_BACKOFF)]`, so clients that conflicted
/// with each other do not collide again in lock step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling = Duration::from_micros(50)
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    // RandomState is seeded per process and hashes differently per call
    // site state; mixed with the time it is random enough for jitter.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(h.finish() % nanos)
}

/// A connection to xenstored, shared by any number of threads.
///
/// `Client` is `Send + Sync` and cheap to clone: clones share one
/// [`Router`] (one connection), and requests from all of them are pipelined
/// on it. The connection closes when the last clone (and the last
/// [`crate::Monitor`]) is dropped. Node operations come from the [`Store`]
/// trait.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Store};
///
/// let client = Client::open()?; // XENSTORED_PATH, the default socket, or the device
/// # client.write("/local/domain/0/name", "Domain-0")?;
/// let name = client.read_string("/local/domain/0/name")?;
/// println!("dom0 is called {name}");
/// # Ok::<(), xs_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    router: Arc<Router>,
    transact_attempts: u32,
}

/// [`Error::Connect`] for a failure to connect, naming the path and, after
/// discovery, every place passed over.
pub(crate) fn connect_error(endpoint: &Endpoint, e: TransportError) -> Error {
    let (path, source) = connect_facts(endpoint, e);
    Error::Connect {
        path,
        source: Arc::new(source),
    }
}

fn connect_facts(endpoint: &Endpoint, e: TransportError) -> (std::path::PathBuf, std::io::Error) {
    match e {
        TransportError::Connect { path, source } => (path, source),
        TransportError::NotPollable {
            path,
            file_type,
            source,
        } => {
            let why = format!("a {file_type}, not a xenbus device ({source})");
            (path, std::io::Error::new(source.kind(), why))
        }
        TransportError::Discovery { skipped, cause } => {
            let (path, source) = connect_facts(endpoint, *cause);
            let tried: Vec<String> = skipped.iter().map(ToString::to_string).collect();
            let why = format!("{source}; also tried {}", tried.join(", "));
            (path, std::io::Error::new(source.kind(), why))
        }
        other => (
            endpoint.path().to_owned(),
            std::io::Error::other(other.to_string()),
        ),
    }
}

/// Connects, retrying by `policy` while the daemon is not up yet, for at
/// most `give_up_after` (else `timeout`, else [`DEFAULT_TIMEOUT`]).
fn connect_waiting(
    endpoint: &Endpoint,
    policy: &Reconnect,
    timeout: Option<Duration>,
) -> Result<Connection> {
    let mut attempts = Attempts::connecting(*policy, timeout, Instant::now());
    loop {
        match endpoint.connect() {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                let now = Instant::now();
                if !attempts.failed(now) {
                    return Err(connect_error(endpoint, e));
                }
                std::thread::sleep(attempts.next().saturating_duration_since(now));
            }
        }
    }
}

/// Options for a [`Client`].
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use std::time::Duration;
/// use xs_client::Client;
///
/// let socket = "/var/run/xenstored/socket";
/// # let socket = _xs.socket_path();
/// let client = Client::builder()
///     .unix(socket)
///     .timeout(Duration::from_secs(5))
///     .connect()?;
/// # Ok::<(), xs_client::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientBuilder {
    endpoint: Option<Endpoint>,
    /// `None`: the default; `Some(None)`: no timeout.
    timeout: Option<Option<Duration>>,
    reconnect: Option<Reconnect>,
    transact_attempts: Option<u32>,
}

impl ClientBuilder {
    /// Connect to the Unix socket at `path`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, TransportKind};
    ///
    /// let socket = "/var/run/xenstored/socket";
    /// # let socket = _xs.socket_path();
    /// let client = Client::builder().unix(socket).connect()?;
    /// assert_eq!(client.router().kind(), TransportKind::Socket);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn unix(mut self, path: impl AsRef<FsPath>) -> Self {
        self.endpoint = Some(Endpoint::Socket(path.as_ref().to_owned()));
        self
    }

    /// Connect through the xenbus device at `path`.
    ///
    /// ```no_run
    /// // no_run: needs the xenbus device of a Xen guest or dom0 kernel.
    /// use std::time::Duration;
    /// use xs_client::Client;
    ///
    /// let client = Client::builder()
    ///     .xenbus("/dev/xen/xenbus")
    ///     .timeout(Duration::from_secs(5))
    ///     .connect()?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn xenbus(mut self, path: impl AsRef<FsPath>) -> Self {
        self.endpoint = Some(Endpoint::Xenbus(path.as_ref().to_owned()));
        self
    }

    /// Give up waiting for any reply after `timeout` ([`Error::Timeout`])
    /// instead of [`DEFAULT_TIMEOUT`] (30 s).
    ///
    /// ```
    /// # use xs_server::{Fault, Server};
    /// # let _xs = Server::builder().fault(Fault::DelayReplies(Duration::from_millis(500))).spawn()?;
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, Error, Store};
    ///
    /// // This daemon takes half a second to answer anything.
    /// let client = Client::builder().timeout(Duration::from_millis(50)).connect()?;
    /// let err = client.read("/local/domain/0/name").unwrap_err();
    /// assert!(matches!(err, Error::Timeout(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }

    /// Wait for replies forever, as libxenstore does, instead of giving up
    /// after [`DEFAULT_TIMEOUT`]. Against a daemon that stops answering,
    /// every call then blocks until the connection closes.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::builder().no_timeout().connect()?;
    /// assert_eq!(client.router().timeout(), None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn no_timeout(mut self) -> Self {
        self.timeout = Some(None);
        self
    }

    /// Survive the daemon: when the connection is lost (xenstored
    /// restarted), make a new one by `policy` instead of failing every
    /// later call. Read-only requests in flight are sent again; requests
    /// that change the store and were written but not answered fail with
    /// [`Error::MaybeApplied`] (never silently re-sent); open transactions
    /// fail with [`Error::TransactionLost`] (which [`Client::transact`]
    /// retries like a conflict); every watch is registered again and each
    /// monitor first reports [`Error::Reconnected`], then the daemon's
    /// initial events. Callers wait while it reconnects, within their
    /// timeouts. [`ClientBuilder::connect`] also waits for a daemon that
    /// is not up yet, bounded by `give_up_after` (else the timeout).
    /// Sockets only: the xenbus device is the guest kernel's connection,
    /// which outlives the daemon.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Reconnect, Store};
    ///
    /// let client = Client::builder().reconnect(Reconnect::default()).connect()?;
    /// client.write("/local/domain/0/agent/up", "1")?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// How many times [`Client::transact`] tries a conflicting transaction.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Error, Store};
    ///
    /// let client = Client::builder().transact_attempts(2).connect()?;
    /// _xs.fail_next_commits(2); // two conflicts in a row
    /// let err = client.transact(|tx| tx.write("/local/domain/1/name", "guest1")).unwrap_err();
    /// assert!(matches!(err, Error::Conflict { attempts: 2 }));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn transact_attempts(mut self, attempts: u32) -> Self {
        self.transact_attempts = Some(attempts.max(1));
        self
    }

    /// Connects (discovering the endpoint if none was given). Fails in the
    /// caller's thread with [`Error::Connect`] naming the path.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Error};
    ///
    /// // No endpoint given: XENSTORED_PATH, the default socket, or the device.
    /// let client = Client::builder().connect()?;
    /// assert!(client.is_connected());
    /// let err = Client::builder().unix("/nonexistent/socket").connect().unwrap_err();
    /// assert!(matches!(err, Error::Connect { .. }));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn connect(self) -> Result<Client> {
        let transact_attempts = self.attempts();
        let router = match self.reconnecting() {
            Some((policy, endpoint, timeout)) => {
                let conn = connect_waiting(&endpoint, &policy, timeout)?;
                Router::reconnecting(conn, timeout, endpoint, policy)?
            }
            None => {
                let (conn, timeout, _) = self.open()?;
                Router::with_timeout(conn, timeout)?
            }
        };
        Ok(Client {
            router: Arc::new(router),
            transact_attempts,
        })
    }

    /// With a [`Reconnect`] policy: the policy, the endpoint (discovered if
    /// none was given) and the round-trip timeout (shared with the async
    /// clients' builder).
    pub(crate) fn reconnecting(&self) -> Option<(Reconnect, Endpoint, Option<Duration>)> {
        let policy = self.reconnect?;
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| Endpoint::discover_traced().endpoint);
        Some((
            policy,
            endpoint,
            self.timeout.unwrap_or(Some(DEFAULT_TIMEOUT)),
        ))
    }

    /// How many times `transact` tries.
    pub(crate) fn attempts(&self) -> u32 {
        self.transact_attempts.unwrap_or(DEFAULT_TRANSACT_ATTEMPTS)
    }

    /// Connects (once, discovering the endpoint if none was given): the
    /// connection, the round-trip timeout and the attempts of `transact`
    /// (shared with the async clients' builder).
    pub(crate) fn open(self) -> Result<(Connection, Option<Duration>, u32)> {
        let attempts = self.attempts();
        let (endpoint, discovered) = match self.endpoint {
            Some(endpoint) => (endpoint, None),
            None => {
                let found = Endpoint::discover_traced();
                (found.endpoint.clone(), Some(found))
            }
        };
        let conn = match &discovered {
            Some(found) => found.connect(),
            None => endpoint.connect(),
        }
        .map_err(|e| connect_error(&endpoint, e))?;
        let timeout = self.timeout.unwrap_or(Some(DEFAULT_TIMEOUT));
        Ok((conn, timeout, attempts))
    }
}

impl Client {
    /// Connects the way libxenstore does: `$XENSTORED_PATH`, else
    /// `$XENSTORED_RUNDIR/socket`, else `/var/run/xenstored/socket`, else
    /// the xenbus device.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// assert!(client.is_connected());
    /// assert!(client.exists("/tool/xenstored")?);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn open() -> Result<Client> {
        Client::builder().connect()
    }

    /// Connects to the Unix socket at `path`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let socket = "/var/run/xenstored/socket";
    /// # let socket = _xs.socket_path();
    /// let client = Client::unix(socket)?;
    /// assert!(client.exists("/tool/xenstored")?);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn unix(path: impl AsRef<FsPath>) -> Result<Client> {
        Client::builder().unix(path).connect()
    }

    /// Connects through the xenbus device at `path` (e.g. `/dev/xen/xenbus`).
    ///
    /// ```no_run
    /// // no_run: needs the xenbus device of a Xen guest or dom0 kernel.
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::xenbus("/dev/xen/xenbus")?;
    /// // In a guest, relative paths are under its own /local/domain/<domid>.
    /// let name = client.read_string("name")?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn xenbus(path: impl AsRef<FsPath>) -> Result<Client> {
        Client::builder().xenbus(path).connect()
    }

    /// Options: endpoint, timeout, retry count.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::Client;
    ///
    /// let client = Client::builder()
    ///     .timeout(Duration::from_secs(5))
    ///     .transact_attempts(8)
    ///     .connect()?;
    /// assert!(client.is_connected());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client over a router made by hand (e.g. from an existing
    /// [`Connection`]).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, Router, Store};
    /// use xs_transport::Connection;
    ///
    /// let conn = Connection::unix(_xs.socket_path())?;
    /// let router = Router::with_timeout(conn, Some(Duration::from_secs(5)))?;
    /// let client = Client::with_router(router);
    /// assert!(client.exists("/tool/xenstored")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_router(router: Router) -> Client {
        Client {
            router: Arc::new(router),
            transact_attempts: DEFAULT_TRANSACT_ATTEMPTS,
        }
    }

    /// A client over an already-open connection.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    /// use xs_transport::Connection;
    ///
    /// let socket = "/var/run/xenstored/socket";
    /// # let socket = _xs.socket_path();
    /// let conn = Connection::unix(socket)?;
    /// let client = Client::with_connection(conn)?;
    /// assert!(client.exists("/tool/xenstored")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_connection(conn: Connection) -> Result<Client> {
        Ok(Client::with_router(Router::new(conn)?))
    }

    /// The router this client (and its clones) share.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, TransportKind};
    ///
    /// let client = Client::open()?;
    /// let router = client.router();
    /// assert_eq!(router.kind(), TransportKind::Socket);
    /// assert_eq!(router.max_payload(), 4096);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Whether the connection is still usable.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// assert!(client.is_connected());
    /// drop(_xs); // the daemon goes away
    /// let _ = client.read("/tool/xenstored"); // fails: connection closed
    /// assert!(!client.is_connected());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_connected(&self) -> bool {
        self.router.is_connected()
    }

    /// Opens a transaction.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let tx = client.transaction()?;
    /// tx.write("/local/domain/1/device/vif/0/state", "1")?;
    /// tx.write("/local/domain/0/backend/vif/1/0/state", "1")?;
    /// assert!(!client.exists("/local/domain/1/device/vif/0")?); // not yet visible
    /// assert!(tx.commit()?); // both nodes appear at once
    /// assert!(client.exists("/local/domain/1/device/vif/0")?);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        Transaction::start(self)
    }

    /// Runs `f` in a transaction and commits, retrying from scratch on a
    /// conflict (`EAGAIN`) up to the configured number of attempts
    /// (default [`DEFAULT_TRANSACT_ATTEMPTS`]), then failing with
    /// [`Error::Conflict`]. Retries wait a short random, growing pause (at
    /// most 10 ms) so contending clients spread out. An error from `f`
    /// aborts the transaction and is returned unchanged.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let new = client.transact(|tx| {
    ///     let n: u64 = tx.read_string("/counter").unwrap_or_default().parse().unwrap_or(0);
    ///     tx.write("/counter", (n + 1).to_string())?;
    ///     Ok::<_, xs_client::Error>(n + 1)
    /// })?;
    /// assert_eq!(new, 1);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn transact<T, E>(
        &self,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<Error>,
    {
        for attempt in 0..self.transact_attempts {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
            }
            let tx = self.transaction()?;
            match f(&tx) {
                Ok(value) => {
                    let committed = tx.commit();
                    if !commit_retries(&committed) {
                        return committed.map(|_| value).map_err(E::from);
                    }
                }
                // Failed because its connection was replaced: run it again.
                Err(_) if tx.is_lost() => {}
                Err(e) => {
                    let _ = tx.rollback();
                    return Err(e);
                }
            }
        }
        Err(Error::Conflict {
            attempts: self.transact_attempts,
        }
        .into())
    }

    /// A domain's home path, `/local/domain/<domid>` (the daemon does not
    /// check that the domain exists).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// assert_eq!(client.get_domain_path(5)?, "/local/domain/5");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn get_domain_path(&self, domid: u32) -> Result<String> {
        self.handle().exec(ops::get_domain_path(domid)?)
    }

    /// Whether xenstored knows the domain (privileged).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// assert!(!client.is_domain_introduced(7)?);
    /// client.introduce_domain(7, 0xfefff, 3)?;
    /// assert!(client.is_domain_introduced(7)?);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_domain_introduced(&self, domid: u32) -> Result<bool> {
        self.handle().exec(ops::is_domain_introduced(domid)?)
    }

    /// Tells xenstored about a new domain and its store ring (privileged).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("@introduceDomain", "intro")?;
    /// monitor.wait_timeout(Duration::from_secs(1))?; // the initial event
    /// // Domain 3's store ring is at gfn 0xfeffc, bound to event channel 1.
    /// client.introduce_domain(3, 0xfeffc, 1)?;
    /// let ev = monitor.wait_timeout(Duration::from_secs(1))?.expect("an event");
    /// assert_eq!(ev, ("@introduceDomain", "intro"));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn introduce_domain(&self, domid: u32, gfn: u64, evtchn: u32) -> Result<()> {
        self.handle()
            .exec(ops::introduce_domain(domid, gfn, evtchn)?)
    }

    /// Makes xenstored forget a domain (privileged); fires `@releaseDomain`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// client.introduce_domain(3, 0xfeffc, 1)?;
    /// client.release_domain(3)?; // the domain died
    /// assert!(!client.is_domain_introduced(3)?);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn release_domain(&self, domid: u32) -> Result<()> {
        self.handle().exec(ops::release_domain(domid)?)
    }

    /// Clears a domain's shutdown flag (privileged).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// client.introduce_domain(3, 0xfeffc, 1)?;
    /// // After a suspend/resume cycle (e.g. a checkpoint), let it run on.
    /// client.resume_domain(3)?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn resume_domain(&self, domid: u32) -> Result<()> {
        self.handle().exec(ops::resume_domain(domid)?)
    }

    /// Gives `domid` the rights of `target` (privileged; for device-model
    /// stub domains).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// client.introduce_domain(1, 0xfeffc, 1)?; // the guest
    /// client.introduce_domain(2, 0xfeffd, 2)?; // its device-model stub domain
    /// client.set_target(2, 1)?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn set_target(&self, domid: u32, target: u32) -> Result<()> {
        self.handle().exec(ops::set_target(domid, target)?)
    }

    /// Drops every watch and transaction of this connection. Never use it
    /// over the xenbus device: that connection is the guest kernel's too.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// // A toolstack restarting on a long-lived connection starts clean.
    /// client.reset_watches()?;
    /// assert!(client.is_connected());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn reset_watches(&self) -> Result<()> {
        self.handle().exec(ops::reset_watches())
    }

    /// Sends a CONTROL command (privileged, implementation-defined) and
    /// returns its raw output.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// // Ask the daemon to log a line (what `xenstore-control log` does).
    /// match client.control("log", b"hello from the toolstack") {
    ///     Ok(output) => println!("{}", String::from_utf8_lossy(&output)),
    ///     Err(e) if e.is_unsupported() || e.is_permission_denied() => {}
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn control(&self, command: &str, args: &[u8]) -> Result<Vec<u8>> {
        self.handle().exec(ops::control(command, args))
    }

    /// Feature bits of a domain, or the daemon's own (`None`) (Xen 4.21+).
    ///
    /// `None` sends an empty payload, which oxenstored 4.17 leaves
    /// unanswered until more bytes arrive on the connection: against it,
    /// use a client with a timeout.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, Features};
    ///
    /// let client = Client::builder().timeout(Duration::from_secs(5)).connect()?;
    /// let features = match client.get_features(None) {
    ///     Ok(features) => features,
    ///     Err(e) if e.is_unsupported() => Features::NONE, // before Xen 4.21
    ///     Err(e) => return Err(e),
    /// };
    /// if features.contains(Features::WATCHDEPTH) {
    ///     println!("watches may have a depth");
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn get_features(&self, domid: Option<u32>) -> Result<Features> {
        domid.map(check_domid).transpose()?;
        let call = ops::get_features(domid)?;
        let op = call.req.op();
        let word = self.handle().exec(call)?;
        // The word is 32 bits on the wire (a ring field, `uint32_t`).
        u32::try_from(word)
            .map(Features::from_bits)
            .map_err(|_| Error::unexpected(crate::Problem::WrongShape { request: op }, None))
    }

    /// Sets a domain's feature bits before it is introduced (Xen 4.21+).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Features};
    ///
    /// let client = Client::open()?;
    /// // Offer no optional features to domain 4 (set before introducing it).
    /// match client.set_features(4, Features::NONE) {
    ///     Ok(()) => {}
    ///     Err(e) if e.is_unsupported() => {} // before Xen 4.21
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn set_features(&self, domid: u32, features: Features) -> Result<()> {
        self.handle()
            .exec(ops::set_features(domid, features.bits())?)
    }

    /// Whether the daemon implements an optional operation (DIRECTORY_PART,
    /// GET/SET_FEATURE, GET/SET_QUOTA), learnt from any answer to it on this
    /// connection (`ENOSYS` or not) or, the first time, from a harmless
    /// probe (a DIRECTORY_PART of `/`, a GET_FEATURE or GET_QUOTA naming
    /// domain 0). Cached per connection, and forgotten when a reconnecting
    /// client reaches a new daemon.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    /// use xs_wire::Op;
    ///
    /// let client = Client::open()?;
    /// if client.supports(Op::GetQuota)? {
    ///     println!("quotas over the protocol (Xen 4.22)");
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn supports(&self, op: Op) -> Result<bool> {
        if let Some(known) = self.router.capability(op) {
            return Ok(known);
        }
        let root = xs_wire::Path::new("/")?;
        let name = "nodes";
        let probe = match op {
            Op::DirectoryPart => Request::DirectoryPart {
                path: root,
                offset: 0,
            },
            Op::GetFeature | Op::SetFeature => Request::GetFeature { domid: Some(0) },
            Op::GetQuota | Op::SetQuota => Request::GetQuota(QuotaQuery::Domain { domid: 0, name }),
            other => return Err(Error::Refused(crate::Refusal::NotProbeable(other))),
        };
        match self.handle().call(&probe) {
            // Any answer but ENOSYS says the operation exists (the core
            // records it as the reply passes).
            Ok(_) => Ok(self.router.capability(op).unwrap_or(true)),
            Err(e) => Err(e),
        }
    }

    /// The names of the daemon's quotas (Xen 4.22+).
    ///
    /// This sends an empty payload, which oxenstored 4.17 leaves unanswered
    /// until more bytes arrive on the connection: against it, use a client
    /// with a timeout.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::Client;
    ///
    /// let client = Client::builder().timeout(Duration::from_secs(5)).connect()?;
    /// match client.get_quota_names() {
    ///     Ok(names) => println!("quotas: {}", names.join(", ")),
    ///     Err(e) if e.is_unsupported() => println!("no quota interface (before Xen 4.22)"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn get_quota_names(&self) -> Result<Vec<String>> {
        self.handle().exec(ops::get_quota_names())
    }

    /// A quota's value, global (`domid: None`) or a domain's (Xen 4.22+).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// // How many watches domain 1 may register.
    /// match client.get_quota(Some(1), "watches") {
    ///     Ok(n) => println!("domain 1 may have {n} watches"),
    ///     Err(e) if e.is_unsupported() => {} // before Xen 4.22
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn get_quota(&self, domid: Option<u32>, name: &str) -> Result<u64> {
        self.handle().exec(ops::get_quota(domid, name)?)
    }

    /// Sets a quota, global (`domid: None`) or a domain's (Xen 4.22+).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// // Let domain 1 register more watches than the global default.
    /// match client.set_quota(Some(1), "watches", 256) {
    ///     Ok(()) => {}
    ///     Err(e) if e.is_unsupported() => {} // before Xen 4.22
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn set_quota(&self, domid: Option<u32>, name: &str, value: u32) -> Result<()> {
        self.handle().exec(ops::set_quota(domid, name, value)?)
    }
}

impl Sealed for Client {
    fn handle(&self) -> Handle<'_> {
        Handle::new(&self.router, 0)
    }
}

impl Store for Client {}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.router.peer())
    }
}
