//! The async client on tokio: the fd is driven through
//! [`tokio::io::unix::AsyncFd`], the deadlines through `tokio::time`.
//!
//! ```
//! # let _xs = xs_server::Server::spawn_temp();
//! # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
//! # ::tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let client = xs_client::tokio::Client::open()?;
//! client.write("/local/domain/0/data/greeting", "hello").await?;
//! assert_eq!(client.read("/local/domain/0/data/greeting").await?, b"hello");
//! # Ok::<(), xs_client::Error>(())
//! # }).unwrap();
//! ```
//!
//! Make the client inside the runtime (it registers its fd with the
//! runtime's reactor); the runtime needs its I/O and time drivers
//! (`enable_all`, as `#[tokio::main]` does).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

use crate::aio::Runtime;

/// The tokio [`Runtime`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

runtime_facade!(Tokio, "tokio");

/// The fd, owned (AsyncFd wants `AsRawFd`).
#[derive(Debug)]
pub struct Fd(OwnedFd);

/// The connection's fd, registered with tokio's reactor for readability
/// only; for writability, a duplicate is registered only while a write
/// waits for room. Registered for both for good, the (edge-triggered)
/// reactor would report write space each time the daemon takes a
/// request, waking the runtime's thread for nothing: on one CPU shared
/// with the daemon, a second context switch per request.
#[derive(Debug)]
pub struct Io {
    read: AsyncFd<Fd>,
    write: Mutex<Option<AsyncFd<Fd>>>,
}

/// Registers `fd` with tokio's reactor for `interest`.
fn async_fd(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<Fd>> {
    // The safe constructor, deprecated in favour of an `unsafe` one whose
    // contract (the fd stays open and the same while registered) holds
    // here: `Fd` owns its fd, privately, for the AsyncFd's life.
    #[allow(deprecated)]
    AsyncFd::with_interest(Fd(fd), interest)
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A tokio timer.
pub struct Timer(Pin<Box<::tokio::time::Sleep>>);

impl std::future::Future for Timer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for Tokio {
    type Io = Io;
    type Timer = Timer;

    /// Readable only, in any case (see [`Io`]).
    fn register(fd: OwnedFd, _readable_only: bool) -> io::Result<Self::Io> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "no tokio runtime: make the client inside one",
            ));
        }
        Ok(Io {
            read: async_fd(fd, Interest::READABLE)?,
            write: Mutex::new(None),
        })
    }

    fn poll_read(
        io: &Self::Io,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>> {
        let mut guard = ready!(io.read.poll_read_ready(cx))?;
        if read() {
            guard.clear_ready();
        } else {
            guard.retain_ready();
        }
        Poll::Ready(Ok(()))
    }

    /// Registers a duplicate of the fd for writability on the first call,
    /// and drops it once `write` has written everything.
    fn poll_write(
        io: &Self::Io,
        cx: &mut Context<'_>,
        write: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>> {
        let mut slot = io.write.lock().unwrap_or_else(PoisonError::into_inner);
        let registered = match slot.take() {
            Some(registered) => registered,
            None => async_fd(io.read.get_ref().0.try_clone()?, Interest::WRITABLE)?,
        };
        let mut guard = match registered.poll_write_ready(cx) {
            Poll::Ready(guard) => guard?,
            Poll::Pending => {
                *slot = Some(registered);
                return Poll::Pending;
            }
        };
        if write() {
            guard.clear_ready();
            drop(guard);
            *slot = Some(registered);
        }
        Poll::Ready(Ok(()))
    }

    fn timer(at: Instant) -> Timer {
        Timer(Box::pin(::tokio::time::sleep_until(at.into())))
    }

    fn reset(timer: &mut Timer, at: Instant) {
        timer.0.as_mut().reset(at.into());
    }
}
