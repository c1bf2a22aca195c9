//! The async client on smol, or any executor: the fd is driven through
//! [`async_io::Async`], the deadlines through [`async_io::Timer`].
//!
//! ```
//! # let _xs = xs_server::Server::spawn_temp();
//! # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
//! # async_io::block_on(async {
//! let client = xs_client::smol::Client::open()?;
//! client.write("/local/domain/0/data/greeting", "hello").await?;
//! assert_eq!(client.read("/local/domain/0/data/greeting").await?, b"hello");
//! # Ok::<(), xs_client::Error>(())
//! # }).unwrap();
//! ```
//!
//! async-io's reactor runs in whichever thread blocks in
//! `async_io::block_on` (smol's executors do), or else in its own
//! "async-io" thread, so this client also works under executors with no
//! reactor of their own (futures' `block_on`, a hand-written loop): the
//! cost there is one thread wake-up per readiness event.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use async_io::Async;

use crate::aio::Runtime;

/// The async-io (smol) [`Runtime`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

runtime_facade!(Smol, "smol");

/// An async-io timer.
pub struct Timer(async_io::Timer);

impl std::future::Future for Timer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Runtime for Smol {
    type Io = Async<OwnedFd>;
    type Timer = Timer;

    fn register(fd: OwnedFd, _readable_only: bool) -> io::Result<Self::Io> {
        Async::new(fd)
    }

    fn poll_read(
        io: &Self::Io,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>> {
        ready!(io.poll_readable(cx))?;
        read();
        Poll::Ready(Ok(()))
    }

    fn poll_write(
        io: &Self::Io,
        cx: &mut Context<'_>,
        write: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>> {
        ready!(io.poll_writable(cx))?;
        write();
        Poll::Ready(Ok(()))
    }

    fn timer(at: Instant) -> Timer {
        Timer(async_io::Timer::at(at))
    }

    fn reset(timer: &mut Timer, at: Instant) {
        timer.0.set_at(at);
    }
}
