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
    type Io = AsyncFd<Fd>;
    type Timer = Timer;

    fn register(fd: OwnedFd, readable_only: bool) -> io::Result<Self::Io> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "no tokio runtime: make the client inside one",
            ));
        }
        let interest = if readable_only {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        };
        // The safe constructor, deprecated in favour of an `unsafe` one
        // whose contract (the fd stays open and the same while registered)
        // holds here: `Fd` owns its fd, privately, for the AsyncFd's life.
        #[allow(deprecated)]
        AsyncFd::with_interest(Fd(fd), interest)
    }

    fn poll_read(
        io: &Self::Io,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>> {
        let mut guard = ready!(io.poll_read_ready(cx))?;
        if read() {
            guard.clear_ready();
        } else {
            guard.retain_ready();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_write(
        io: &Self::Io,
        cx: &mut Context<'_>,
        write: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>> {
        let mut guard = ready!(io.poll_write_ready(cx))?;
        if write() {
            guard.clear_ready();
        } else {
            guard.retain_ready();
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
