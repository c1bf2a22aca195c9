//! Watches and their events.
//!
//! A [`Monitor`] shares its client's connection. Events are routed to it by
//! token (never by request id: the xenbus device leaves `req_id` garbage on
//! events), and only if one of its *current* watches covers the event's path,
//! so leftovers after an unwatch do not leak through. The registration is
//! recorded before WATCH is sent, so the initial event xenstored fires at
//! registration is never lost, even over the device where it can arrive
//! before the WATCH reply.
//!
//! Each monitor's queue is bounded. If a slow consumer lets it fill, later
//! events are counted, not queued, and the next call returns
//! [`Error::Overflow`] with the count: nothing is lost silently, and other
//! requests on the connection never stall behind a full queue.

use parking_lot::Condvar;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use xs_wire::{Path, Request};

use crate::handle::Handle;
use crate::proto::{Deadline, MonitorId};
use crate::{Client, Error, Event, Result};

/// Events a monitor queues before reporting overflow, by default.
///
/// ```
/// use xs_client::{MonitorOptions, DEFAULT_QUEUE_CAPACITY};
/// assert_eq!(MonitorOptions::default().capacity, DEFAULT_QUEUE_CAPACITY);
/// ```
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

/// Options for [`Client::monitor_with`].
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, MonitorOptions};
///
/// let client = Client::open()?;
/// // A small queue; events a slow consumer misses are reported, not lost silently.
/// let options = MonitorOptions { capacity: 64, ..MonitorOptions::default() };
/// let monitor = client.monitor_with(options);
/// monitor.watch("/local/domain/0/backend", "be")?;
/// assert_eq!(monitor.wait()?, ("/local/domain/0/backend", "be"));
/// # Ok::<(), xs_client::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MonitorOptions {
    /// Queue bound; past it events are counted and reported as
    /// [`Error::Overflow`].
    pub capacity: usize,
    /// Also deliver events whose watch was removed (queued before or
    /// arriving after the unwatch), like pyxs's `wait(unwatched=True)`.
    pub keep_unwatched: bool,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            capacity: DEFAULT_QUEUE_CAPACITY,
            keep_unwatched: false,
        }
    }
}

/// Receives watch events. Dropping it removes all its watches.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use std::time::Duration;
/// use xs_client::{Client, Store};
///
/// let client = Client::open()?;
/// let monitor = client.monitor();
/// monitor.watch("/local/domain/0/data", "data")?;
/// // The daemon fires once at registration.
/// let first = monitor.wait()?;
/// assert_eq!(first.path, "/local/domain/0/data");
/// client.write("/local/domain/0/data/x", "1")?;
/// let ev = monitor.wait_timeout(Duration::from_secs(1))?.expect("an event");
/// assert_eq!(ev.path, "/local/domain/0/data/x");
/// # Ok::<(), xs_client::Error>(())
/// ```
pub struct Monitor {
    client: Client,
    id: MonitorId,
    signal: Arc<Condvar>,
    /// The read end of the readiness pipe, once asked for.
    readiness: OnceLock<UnixStream>,
}

impl Client {
    /// A monitor sharing this client's connection.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("/local/domain/0/backend/vif", "vif-backends")?;
    /// assert_eq!(monitor.wait()?.token, "vif-backends"); // the initial event
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn monitor(&self) -> Monitor {
        self.monitor_with(MonitorOptions::default())
    }

    /// A monitor with explicit options.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, MonitorOptions};
    ///
    /// let client = Client::open()?;
    /// // Also see events of watches already removed, like pyxs's wait(unwatched=True).
    /// let monitor = client.monitor_with(MonitorOptions { keep_unwatched: true, ..Default::default() });
    /// monitor.watch("/local/domain/1/device", "dev")?;
    /// monitor.unwatch("/local/domain/1/device", "dev")?;
    /// // The registration event still arrives.
    /// let ev = monitor.wait_timeout(Duration::from_secs(1))?.expect("an event");
    /// assert_eq!(ev, ("/local/domain/1/device", "dev"));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn monitor_with(&self, options: MonitorOptions) -> Monitor {
        let signal = Arc::new(Condvar::new());
        let id =
            self.router()
                .add_monitor(options.capacity, options.keep_unwatched, signal.clone());
        Monitor {
            client: self.clone(),
            id,
            signal,
            readiness: OnceLock::new(),
        }
    }

    /// Blocks until `path` exists and returns its value, re-checking at
    /// every event under it; [`Error::Timeout`] after `timeout`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// # use xs_client::Store;
    /// # client.write("device/vif/0/backend", "/local/domain/0/backend/vif/1/0")?;
    /// let backend = client.wait_for("device/vif/0/backend", Duration::from_secs(10))?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn wait_for(&self, path: &str, timeout: Duration) -> Result<Vec<u8>> {
        self.wait_until(path, timeout, |value| value.map(<[u8]>::to_vec))
    }

    /// Blocks until `check` returns `Some` for the value at `path` (`None`
    /// when the node is missing), re-reading at every event under `path`;
    /// [`Error::Timeout`] after `timeout`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// # use xs_client::Store;
    /// # client.write("backend/vif/1/0/state", "4")?;
    /// // Wait for a backend to reach XenbusStateConnected (4).
    /// client.wait_until("backend/vif/1/0/state", Duration::from_secs(30), |v| {
    ///     (v == Some(b"4".as_slice())).then_some(())
    /// })?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn wait_until<T>(
        &self,
        path: &str,
        timeout: Duration,
        mut check: impl FnMut(Option<&[u8]>) -> Option<T>,
    ) -> Result<T> {
        let start = Instant::now();
        // Every request below (WATCH, READs, UNWATCH) counts against it.
        let limit = Deadline::after(start, timeout).unwrap_or(Deadline {
            at: start,
            limit: timeout,
        });
        let monitor = self.monitor();
        let result = (|| {
            monitor.watch_by(path, "xs-client/wait", None, Some(limit))?;
            let h = Handle {
                limit: Some(limit),
                ..Handle::new(self.router(), 0)
            };
            loop {
                let value = match h.read(path) {
                    Ok(v) => Some(v),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                };
                if let Some(done) = check(value.as_deref()) {
                    return Ok(done);
                }
                match monitor.wait_inner(Some(limit.at)) {
                    Ok(Some(_)) | Err(Error::Overflow { .. } | Error::Reconnected) => continue,
                    Ok(None) => return Err(Error::Timeout(timeout)),
                    Err(e) => return Err(e),
                }
            }
        })();
        monitor.close_by(limit);
        result
    }
}

/// Opens a client (by discovery, like [`Client::open`]) and a monitor on it
/// in one call, as `pyxs.monitor()` does. The monitor keeps the client alive.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// let monitor = xs_client::monitor()?;
/// monitor.watch("@releaseDomain", "dying")?;
/// assert_eq!(monitor.wait()?, ("@releaseDomain", "dying"));
/// # Ok::<(), xs_client::Error>(())
/// ```
pub fn monitor() -> Result<Monitor> {
    Ok(Client::open()?.monitor())
}

impl Monitor {
    /// The client this monitor shares a connection with.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::Store;
    ///
    /// let monitor = xs_client::monitor()?;
    /// monitor.watch("/local/domain/1/control/shutdown", "shutdown")?;
    /// monitor.wait()?; // the initial event
    /// monitor.client().write("/local/domain/1/control/shutdown", "poweroff")?;
    /// let ev = monitor.wait_timeout(Duration::from_secs(1))?.expect("an event");
    /// assert_eq!(ev.path, "/local/domain/1/control/shutdown");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Watches `path` (an ordinary path, or `@introduceDomain` /
    /// `@releaseDomain`) with `token`. The daemon fires one event at once;
    /// it is delivered like any other. Watching a (path, token) pair this
    /// monitor already has gives `EEXIST`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, Errno, Store};
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// // A backend watches its frontend's state node.
    /// monitor.watch("/local/domain/1/device/vif/0/state", "fe-state")?;
    /// assert_eq!(monitor.wait()?, ("/local/domain/1/device/vif/0/state", "fe-state"));
    /// client.write("/local/domain/1/device/vif/0/state", "3")?;
    /// let ev = monitor.wait_timeout(Duration::from_secs(1))?.expect("an event");
    /// assert_eq!(ev.token, "fe-state");
    /// let again = monitor.watch("/local/domain/1/device/vif/0/state", "fe-state");
    /// assert_eq!(again.unwrap_err().errno(), Some(Errno::EEXIST));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn watch(&self, path: &str, token: &str) -> Result<()> {
        self.watch_by(path, token, None, None)
    }

    /// Like [`Monitor::watch`], with a depth (Xen 4.22 `WATCHDEPTH`): events
    /// only for nodes at most `depth` levels below `path` (0: `path`
    /// itself). A daemon without the feature answers an error (`EINVAL`
    /// on 4.17-4.21); fall back to [`Monitor::watch`] and filter events
    /// by path, as `xs_watch_try_depth` does.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Errno};
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// match monitor.watch_with_depth("/local/domain", "domains", 1) {
    ///     Ok(()) => {}
    ///     Err(e) if matches!(e.errno(), Some(Errno::EINVAL | Errno::ENOSYS)) => {
    ///         monitor.watch("/local/domain", "domains")?; // an older daemon
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn watch_with_depth(&self, path: &str, token: &str, depth: u32) -> Result<()> {
        self.watch_by(path, token, Some(depth), None)
    }

    /// A watch limited to `depth` levels below `path`, by the daemon if it
    /// can (`Ok(true)`), else by this monitor (`Ok(false)`: a plain watch
    /// whose deeper events are dropped here), as libxenstore's
    /// `xs_watch_try_depth` lets its caller do. Falls back when the daemon
    /// answers `EINVAL` or `ENOSYS` (before Xen 4.22) and over the xenbus
    /// device (whose driver drops the depth). A special path
    /// (`@releaseDomain`) does not fall back: its depth changes what its
    /// events look like, so that is [`Error::Refused`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::builder().xen_version(xs_server::XenVersion::V4_17).spawn().unwrap();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?; // a Xen 4.17 daemon: no WATCHDEPTH
    /// let monitor = client.monitor();
    /// let by_daemon = monitor.watch_try_depth("/vm", "vms", 1)?;
    /// assert!(!by_daemon);
    /// monitor.wait()?; // the initial event
    /// client.write("/vm/1/name/deep", "x")?; // 3 levels down: dropped here
    /// client.write("/vm/2", "y")?; // 1 level down
    /// assert_eq!(monitor.wait()?.path, "/vm/2");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn watch_try_depth(&self, path: &str, token: &str, depth: u32) -> Result<bool> {
        match self.watch_with_depth(path, token, depth) {
            Ok(()) => return Ok(true),
            Err(e) if !falls_back(&e) => return Err(e),
            Err(_) => {}
        }
        if Path::new(path)?.is_special() {
            return Err(Error::Refused(crate::Refusal::DepthFallbackOnSpecial));
        }
        let router = self.client.router();
        router.set_depth_filter(self.id, path, token, Some(depth));
        match self.watch(path, token) {
            Ok(()) => Ok(false),
            Err(e) => {
                router.set_depth_filter(self.id, path, token, None);
                Err(e)
            }
        }
    }

    fn watch_by(
        &self,
        path: &str,
        token: &str,
        depth: Option<u32>,
        limit: Option<Deadline>,
    ) -> Result<()> {
        let req = Request::Watch {
            path: Path::new(path)?,
            token,
            depth,
        };
        self.client.router().watch(self.id, &req, limit)
    }

    /// Removes a watch. Succeeds if the daemon no longer had it (`ENOENT`)
    /// or this monitor never had it. Events already queued for it are
    /// dropped unless the monitor keeps unwatched events.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("/local/domain/1/device", "dev")?;
    /// monitor.unwatch("/local/domain/1/device", "dev")?;
    /// assert!(monitor.watched().is_empty());
    /// monitor.unwatch("/local/domain/1/device", "dev")?; // not watched: fine
    /// client.write("/local/domain/1/device/vif/0/state", "1")?;
    /// assert_eq!(monitor.wait_timeout(Duration::from_millis(100))?, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn unwatch(&self, path: &str, token: &str) -> Result<()> {
        self.client
            .router()
            .unwatch(self.id, Path::new(path)?, token)
    }

    /// The (path, token) pairs this monitor watches, sorted.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("@introduceDomain", "intro")?;
    /// monitor.watch("@releaseDomain", "release")?;
    /// assert_eq!(
    ///     monitor.watched(),
    ///     [("@introduceDomain".to_owned(), "intro".to_owned()),
    ///      ("@releaseDomain".to_owned(), "release".to_owned())]
    /// );
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn watched(&self) -> Vec<(String, String)> {
        self.client.router().watched(self.id)
    }

    /// The next event, without blocking: `Ok(None)` if none is queued.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// assert_eq!(monitor.try_next()?, None); // nothing watched, nothing queued
    /// monitor.watch("/local/domain/0/backend", "be")?;
    /// monitor.wait()?; // the initial event
    /// client.write("/local/domain/0/backend/vbd/1/768/state", "2")?;
    /// // Poll, e.g. from a loop that has other work to do.
    /// while monitor.try_next()?.is_none() {
    ///     std::thread::yield_now();
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn try_next(&self) -> Result<Option<Event>> {
        self.client.router().poll_event(self.id).transpose()
    }

    /// Blocks until the next event. Fails with [`Error::Overflow`] after
    /// lost events, and with the connection's error once it is gone.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("/local/domain/1/device/vbd/768/state", "vbd")?;
    /// let ev = monitor.wait()?; // the event fired at registration
    /// assert_eq!(ev, ("/local/domain/1/device/vbd/768/state", "vbd"));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn wait(&self) -> Result<Event> {
        loop {
            if let Some(ev) = self.wait_inner(None)? {
                return Ok(ev);
            }
        }
    }

    /// Like [`Monitor::wait`], giving up after `timeout` with `Ok(None)`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("/local/domain/1/control/shutdown", "shutdown")?;
    /// monitor.wait()?; // the initial event
    /// // Nobody asks the guest to shut down: the wait gives up.
    /// assert_eq!(monitor.wait_timeout(Duration::from_millis(50))?, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<Event>> {
        self.wait_inner(Some(Instant::now() + timeout))
    }

    fn wait_inner(&self, deadline: Option<Instant>) -> Result<Option<Event>> {
        let router = self.client.router();
        loop {
            if let Some(ev) = self.try_next()? {
                return Ok(Some(ev));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            router.wait_event(self.id, &self.signal, deadline);
        }
    }

    /// A blocking iterator over events; it ends after yielding the error
    /// that closed the connection.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("/local/domain/1/device", "dev")?;
    /// client.write("/local/domain/1/device/vif/0/state", "1")?;
    /// client.write("/local/domain/1/device/vif/0/state", "3")?;
    /// // The initial event, then at least one per write, in order.
    /// for ev in monitor.iter() {
    ///     if ev?.path == "/local/domain/1/device/vif/0/state"
    ///         && client.read("/local/domain/1/device/vif/0/state")? == b"3"
    ///     {
    ///         break;
    ///     }
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn iter(&self) -> EventIter<'_> {
        EventIter {
            monitor: self,
            done: false,
        }
    }
}

/// Blocking iterator returned by [`Monitor::iter`].
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Event};
///
/// let client = Client::open()?;
/// let monitor = client.monitor();
/// monitor.watch("/local/domain/0/backend", "be")?;
/// let first: Vec<Event> = monitor.iter().take(1).collect::<Result<_, _>>()?;
/// assert_eq!(first, [Event::new("/local/domain/0/backend", "be")]);
/// # Ok::<(), xs_client::Error>(())
/// ```
pub struct EventIter<'m> {
    monitor: &'m Monitor,
    done: bool,
}

impl Iterator for EventIter<'_> {
    type Item = Result<Event>;
    fn next(&mut self) -> Option<Result<Event>> {
        if self.done {
            return None;
        }
        let item = self.monitor.wait();
        if matches!(&item, Err(e) if e.is_disconnected()) {
            self.done = true;
        }
        Some(item)
    }
}

impl<'m> IntoIterator for &'m Monitor {
    type Item = Result<Event>;
    type IntoIter = EventIter<'m>;
    fn into_iter(self) -> EventIter<'m> {
        self.iter()
    }
}

/// Whether a failed depth watch should fall back to a plain one.
fn falls_back(e: &Error) -> bool {
    matches!(e, Error::Refused(crate::Refusal::DepthOnDevice))
        || matches!(
            e.errno(),
            Some(xs_wire::Errno::EINVAL | xs_wire::Errno::ENOSYS)
        )
}

impl Monitor {
    /// A file descriptor that polls readable while this monitor has
    /// something for [`Monitor::take_ready`]: the `xs_fileno` of this
    /// client, so a `poll`/`epoll` loop needs no thread per monitor. The
    /// connection's reader (started at the first watch, one per client,
    /// like libxenstore's) queues events and makes the fd readable; the
    /// loop takes them without blocking. Made on first use (a pipe);
    /// fails only if the process is out of file descriptors.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::os::fd::AsRawFd;
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let monitor = client.monitor();
    /// monitor.watch("/local/domain/1/control/shutdown", "shutdown")?;
    /// let fd = monitor.readiness_fd()?.as_raw_fd();
    /// // Hand `fd` to poll(2), epoll or mio with the program's other fds;
    /// // when it is readable:
    /// # std::thread::sleep(std::time::Duration::from_millis(100));
    /// for event in monitor.take_ready() {
    ///     println!("{}", event?);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readiness_fd(&self) -> Result<BorrowedFd<'_>> {
        if let Some(read) = self.readiness.get() {
            return Ok(read.as_fd());
        }
        let io = |e: std::io::Error| Error::disconnected(format!("cannot make a pipe: {e}"));
        let (read, write) = UnixStream::pair().map_err(io)?;
        read.set_nonblocking(true).map_err(io)?;
        write.set_nonblocking(true).map_err(io)?;
        let read = self.readiness.get_or_init(|| {
            self.client.router().add_pipe(self.id, &self.signal, write);
            read
        });
        Ok(read.as_fd())
    }

    /// Everything this monitor has now, without blocking and without
    /// reading the connection (its reader does): the events, an overflow
    /// report in place, and the connection's error once it is gone. Empties
    /// [`Monitor::readiness_fd`]; an event arriving meanwhile makes it
    /// readable again, so nothing is missed.
    pub fn take_ready(&self) -> Vec<Result<Event>> {
        if let Some(mut read) = self.readiness.get() {
            let mut sink = [0u8; 64];
            while matches!(read.read(&mut sink), Ok(n) if n > 0) {}
        }
        let mut items = Vec::new();
        // Bounded: the queue cannot refill faster than this drains it
        // forever, but a dead connection repeats its error.
        while items.len() < DEFAULT_QUEUE_CAPACITY.max(1) * 2 {
            match self.try_next() {
                Ok(Some(ev)) => items.push(Ok(ev)),
                Ok(None) => break,
                Err(e) => {
                    let fatal = !matches!(e, Error::Overflow { .. });
                    items.push(Err(e));
                    if fatal {
                        break;
                    }
                }
            }
        }
        items
    }

    /// Removes this monitor, waiting for its UNWATCHes until `limit`.
    fn close_by(&self, limit: Deadline) {
        self.client.router().remove_monitor(self.id, Some(limit));
    }
}

impl Drop for Monitor {
    /// Unwatches what nobody else watches, waiting for the daemon at most
    /// [`crate::CLEANUP_TIMEOUT`]; in a forked child, does nothing.
    fn drop(&mut self) {
        if self.readiness.get().is_some() {
            self.client.router().remove_pipe(&self.signal);
        }
        self.client.router().remove_monitor(self.id, None);
    }
}

/// The readiness pipe ([`Monitor::readiness_fd`]); `-1` if it cannot be
/// made, as `xs_fileno` answers.
impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.readiness_fd().map_or(-1, |fd| fd.as_raw_fd())
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("watched", &self.watched())
            .finish()
    }
}
