//! What the async driver needs from a runtime: readiness of one fd, and a
//! timer.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};
use std::time::Instant;

/// A reactor the async client runs on: it reports when the connection's
/// fd is readable or writable and wakes a task at an instant. Implemented
/// for [`crate::tokio::Tokio`] and [`crate::smol::Smol`]; implement it to run
/// the client on another reactor (see the [module docs](crate::aio)).
///
/// The driver calls the `poll_*` methods from one task at a time (the
/// task holding the driver role), so a reactor that keeps one waker per
/// direction, as tokio's does, is enough.
pub trait Runtime: Send + Sync + Sized + 'static {
    /// The connection's fd, registered with the reactor.
    type Io: Send + Sync + 'static;
    /// A timer (the earliest request deadline).
    type Timer: Future<Output = ()> + Send + Unpin + 'static;

    /// Registers a (duplicate of the) connection's fd; `readable_only`
    /// on the xenbus device, which never reports writability. Called when
    /// the client is made and, for a reconnecting client, from inside a
    /// task's poll for each new connection (the old `Io` is dropped first).
    fn register(fd: OwnedFd, readable_only: bool) -> io::Result<Self::Io>;

    /// Once the fd is (or may be) readable, runs `read` (which reads
    /// until the fd would block and returns `true` if it did) and returns
    /// `Ready`; otherwise arranges for `cx` to be woken and returns
    /// `Pending`.
    fn poll_read(
        io: &Self::Io,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>>;

    /// Like [`Runtime::poll_read`] for writability: `write` writes what it
    /// can and returns `true` if the fd would block again.
    fn poll_write(
        io: &Self::Io,
        cx: &mut Context<'_>,
        write: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>>;

    /// A timer firing at `at`.
    fn timer(at: Instant) -> Self::Timer;

    /// Moves a timer to `at`.
    fn reset(timer: &mut Self::Timer, at: Instant);
}
