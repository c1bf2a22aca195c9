//! Async monitors: the async [`crate::Monitor`], a `Stream` of events.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use xs_wire::{Path, Request};

use crate::aio::conn::{Caller, Seat};
use crate::aio::{AsyncClient, Runtime};
use crate::proto::{Core, MonitorId};
use crate::{reply, Error, Event, MonitorOptions, Result};

/// Receives watch events: the async [`crate::Monitor`]. It is a
/// [`futures_core::Stream`] of events, bounded like the sync one (past its
/// capacity events are counted and reported as [`Error::Overflow`]); the
/// stream ends after yielding the error that closed the connection. On a
/// reconnecting client ([`crate::aio::AsyncClientBuilder::reconnect`]) it
/// yields [`Error::Reconnected`] after each new connection, then the
/// daemon's initial events for its watches, registered again, and goes on.
/// Dropping it removes its watches (the UNWATCHes are sent without
/// waiting).
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # async_io::block_on(async {
/// # #[cfg(feature = "smol")] {
/// use futures_lite::StreamExt;
///
/// let client = xs_client::smol::Client::unix(_xs.socket_path())?;
/// let mut monitor = client.monitor();
/// monitor.watch("/local/domain/1/control/shutdown", "shutdown").await?;
/// assert_eq!(monitor.next().await.unwrap()?, ("/local/domain/1/control/shutdown", "shutdown"));
/// client.write("/local/domain/1/control/shutdown", "poweroff").await?;
/// let ev = monitor.next().await.unwrap()?;
/// assert_eq!(ev.token, "shutdown");
/// # }
/// # Ok::<(), xs_client::Error>(())
/// # }).unwrap();
/// ```
pub struct AsyncMonitor<R: Runtime> {
    client: AsyncClient<R>,
    id: MonitorId,
    seat: Seat,
    ended: bool,
}

impl<R: Runtime> AsyncClient<R> {
    /// A monitor sharing this client's connection.
    pub fn monitor(&self) -> AsyncMonitor<R> {
        self.monitor_with(MonitorOptions::default())
    }

    /// A monitor with explicit options.
    pub fn monitor_with(&self, options: MonitorOptions) -> AsyncMonitor<R> {
        let id = self.conn.with_core(|core| {
            core.add_monitor(options.capacity, options.keep_unwatched, Caller::none())
        });
        AsyncMonitor {
            client: self.clone(),
            id,
            seat: Seat::monitor(),
            ended: false,
        }
    }
}

impl<R: Runtime> AsyncClient<R> {
    /// Waits until `path` exists and returns its value, re-checking at
    /// every event under it: [`crate::Client::wait_for`];
    /// [`Error::Timeout`] after `timeout`.
    pub async fn wait_for(&self, path: &str, timeout: Duration) -> Result<Vec<u8>> {
        self.wait_until(path, timeout, |value| value.map(<[u8]>::to_vec))
            .await
    }

    /// Waits until `check` returns `Some` for the value at `path` (`None`
    /// when the node is missing), re-reading at every event under `path`:
    /// [`crate::Client::wait_until`]; [`Error::Timeout`] after `timeout`.
    pub async fn wait_until<T>(
        &self,
        path: &str,
        timeout: Duration,
        mut check: impl FnMut(Option<&[u8]>) -> Option<T>,
    ) -> Result<T> {
        let mut monitor = self.monitor();
        let mut timer = R::timer(Instant::now() + timeout);
        let work = async {
            monitor.watch(path, "xs-client/wait").await?;
            loop {
                let value = self.read_opt(path).await?;
                if let Some(done) = check(value.as_deref()) {
                    return Ok(done);
                }
                match monitor.wait().await {
                    Ok(_) | Err(Error::Overflow { .. } | Error::Reconnected) => continue,
                    Err(e) => return Err(e),
                }
            }
        };
        let mut work = std::pin::pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(result) = work.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            match Pin::new(&mut timer).poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(Error::Timeout(timeout))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

impl<R: Runtime> AsyncMonitor<R> {
    /// The client this monitor shares a connection with.
    pub fn client(&self) -> &AsyncClient<R> {
        &self.client
    }

    /// Watches `path` with `token`: [`crate::Monitor::watch`].
    pub async fn watch(&self, path: &str, token: &str) -> Result<()> {
        self.watch_by(path, token, None).await
    }

    /// Watches with a depth (Xen 4.22): [`crate::Monitor::watch_with_depth`].
    pub async fn watch_with_depth(&self, path: &str, token: &str, depth: u32) -> Result<()> {
        self.watch_by(path, token, Some(depth)).await
    }

    async fn watch_by(&self, path: &str, token: &str, depth: Option<u32>) -> Result<()> {
        let path = Path::new(path)?;
        let id = self.id;
        let conn = &self.client.conn;
        let sent = conn.queue(|core, _| {
            let deadline = None;
            core.watch(id, path, token, depth, deadline, Caller::none())
        })?;
        let Some(req_id) = sent else {
            return Ok(()); // another monitor holds the registration
        };
        let resp = conn.reply(req_id).await?;
        let req = Request::Watch { path, token, depth };
        reply::parse(&req, &resp).map(drop)
    }

    /// Removes a watch: [`crate::Monitor::unwatch`] (`ENOENT` counts as
    /// done).
    pub async fn unwatch(&self, path: &str, token: &str) -> Result<()> {
        let path = Path::new(path)?;
        let id = self.id;
        let conn = &self.client.conn;
        let queued = conn.queue(|core, _| {
            let deadline = None;
            core.unwatch(id, path, token, deadline, Caller::none())
        });
        let req_id = match queued {
            Ok(Some(req_id)) => req_id,
            Ok(None) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let resp = conn.reply(req_id).await?;
        let req = Request::Unwatch { path, token };
        match reply::parse(&req, &resp) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }

    /// The (path, token) pairs this monitor watches, sorted.
    pub fn watched(&self) -> Vec<(String, String)> {
        self.client.conn.with_core(|core| core.watched(self.id))
    }

    /// The next event already queued, without waiting (and without
    /// reading the connection): `Ok(None)` if none is.
    pub fn try_next(&self) -> Result<Option<Event>> {
        self.client
            .conn
            .with_core(|core| core.poll_event(self.id))
            .transpose()
    }

    /// The next event: [`crate::Monitor::wait`].
    pub async fn wait(&mut self) -> Result<Event> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Like [`AsyncMonitor::wait`], giving up after `timeout` with
    /// `Ok(None)`.
    pub async fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let mut timer = R::timer(Instant::now() + timeout);
        poll_fn(|cx| {
            if let Poll::Ready(item) = self.poll_event(cx) {
                return Poll::Ready(item.map(Some));
            }
            if Pin::new(&mut timer).poll(cx).is_ready() {
                self.client.conn.unseat(&mut self.seat, false);
                return Poll::Ready(Ok(None));
            }
            Poll::Pending
        })
        .await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event>> {
        let id = self.id;
        let register = |core: &mut Core<Caller>, c: Caller| core.set_monitor_waker(id, c);
        let mut take = |core: &mut Core<Caller>| core.poll_event(id);
        loop {
            let conn = &self.client.conn;
            // An event, or else the connection is dead (or forked).
            if let Some(item) = ready!(conn.poll_until(&mut self.seat, cx, &register, &mut take)) {
                return Poll::Ready(item);
            }
            if !conn.is_connected() && conn.forked() {
                return Poll::Ready(Err(Error::Forked));
            }
            let item = conn.with_core(|core| {
                core.poll_event(id)
                    .or_else(|| core.error().cloned().map(Err))
            });
            if let Some(item) = item {
                return Poll::Ready(item);
            }
        }
    }
}

impl<R: Runtime> futures_core::Stream for AsyncMonitor<R> {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let item = ready!(this.poll_event(cx));
        if matches!(&item, Err(e) if e.is_disconnected() || matches!(e, Error::Forked)) {
            this.ended = true;
        }
        Poll::Ready(Some(item))
    }
}

impl<R: Runtime> Drop for AsyncMonitor<R> {
    fn drop(&mut self) {
        let id = self.id;
        self.client.conn.leave(&mut self.seat, |core| {
            for req_id in core.remove_monitor(id, None, Caller::none()) {
                core.detach(req_id);
            }
        });
    }
}

impl<R: Runtime> std::fmt::Debug for AsyncMonitor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncMonitor")
            .field("watched", &self.watched())
            .finish()
    }
}
