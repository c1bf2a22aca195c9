//! The one implementation behind [`Connection`](crate::Connection),
//! [`FrameReceiver`](crate::FrameReceiver) and
//! [`FrameSender`](crate::FrameSender).
//!
//! A [`Link`] is an fd, what it is connected to, whether a fatal error has
//! closed it, and its halves: a [`ReadHalf`], a [`WriteHalf`], or both
//! ([`Duplex`]). Reading needs a link whose halves include a read half
//! ([`Reads`]), writing one with a write half ([`Writes`]); everything else
//! (the closed state, the `mio` registration, `AsFd`) is written once for
//! every link. The public types are thin facades over `Link<ReadHalf>`,
//! `Link<WriteHalf>` and `Link<Duplex>`, in the manner of `tokio-util`'s
//! `FramedRead`/`FramedWrite`/`Framed` over one `FramedImpl`.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use xs_wire::Frame;

use crate::device;
use crate::fd::Fd;
use crate::read_half::ReadHalf;
use crate::reader::ReadError;
use crate::write_half::{FirstTry, WriteHalf};
use crate::{TransportError, TransportKind};

/// Both halves of an unsplit connection.
#[derive(Debug)]
pub(crate) struct Duplex {
    pub(crate) rx: ReadHalf,
    pub(crate) tx: WriteHalf,
}

/// Which halves a link has.
pub(crate) trait Halves {
    fn read_half(&self) -> Option<&ReadHalf>;
    fn read_half_mut(&mut self) -> Option<&mut ReadHalf>;
    fn write_half_mut(&mut self) -> Option<&mut WriteHalf>;
    /// Whether the link writes (for the registration's interest).
    const WRITES: bool;
}

/// Links that read.
pub(crate) trait Reads: Halves {
    fn rx_mut(&mut self) -> &mut ReadHalf;
}

/// Links that write.
pub(crate) trait Writes: Halves {
    fn tx(&self) -> &WriteHalf;
    fn tx_mut(&mut self) -> &mut WriteHalf;
}

impl Halves for ReadHalf {
    fn read_half(&self) -> Option<&ReadHalf> {
        Some(self)
    }
    fn read_half_mut(&mut self) -> Option<&mut ReadHalf> {
        Some(self)
    }
    fn write_half_mut(&mut self) -> Option<&mut WriteHalf> {
        None
    }
    const WRITES: bool = false;
}

impl Reads for ReadHalf {
    fn rx_mut(&mut self) -> &mut ReadHalf {
        self
    }
}

impl Halves for WriteHalf {
    fn read_half(&self) -> Option<&ReadHalf> {
        None
    }
    fn read_half_mut(&mut self) -> Option<&mut ReadHalf> {
        None
    }
    fn write_half_mut(&mut self) -> Option<&mut WriteHalf> {
        Some(self)
    }
    const WRITES: bool = true;
}

impl Writes for WriteHalf {
    fn tx(&self) -> &WriteHalf {
        self
    }
    fn tx_mut(&mut self) -> &mut WriteHalf {
        self
    }
}

impl Halves for Duplex {
    fn read_half(&self) -> Option<&ReadHalf> {
        Some(&self.rx)
    }
    fn read_half_mut(&mut self) -> Option<&mut ReadHalf> {
        Some(&mut self.rx)
    }
    fn write_half_mut(&mut self) -> Option<&mut WriteHalf> {
        Some(&mut self.tx)
    }
    const WRITES: bool = true;
}

impl Reads for Duplex {
    fn rx_mut(&mut self) -> &mut ReadHalf {
        &mut self.rx
    }
}

impl Writes for Duplex {
    fn tx(&self) -> &WriteHalf {
        &self.tx
    }
    fn tx_mut(&mut self) -> &mut WriteHalf {
        &mut self.tx
    }
}

/// An fd with its halves and closed state.
pub(crate) struct Link<H> {
    pub(crate) fd: Fd,
    pub(crate) kind: TransportKind,
    pub(crate) peer: String,
    pub(crate) closed: bool,
    pub(crate) halves: H,
}

impl<H: Halves> Link<H> {
    /// Runs `op` on the fd and the halves. A closed link answers
    /// [`TransportError::Closed`]; a fatal error closes it: the socket is
    /// shut down (the other half, if split, fails on its next call) and
    /// queued bytes are dropped.
    #[inline]
    pub(crate) fn guarded<T>(
        &mut self,
        op: impl FnOnce(&Fd, &mut H) -> Result<T, TransportError>,
    ) -> Result<T, TransportError> {
        self.ensure_open()?;
        let result = op(&self.fd, &mut self.halves);
        self.settle(result)
    }

    /// [`Link::guarded`]'s first half: [`TransportError::Closed`] once
    /// closed. The hot paths call the halves themselves, between this and
    /// [`Link::settle`], so that nothing stands between them and the
    /// system call.
    #[inline(always)]
    fn ensure_open(&self) -> Result<(), TransportError> {
        if self.closed {
            return Err(TransportError::Closed);
        }
        Ok(())
    }

    /// [`Link::guarded`]'s second half: closes the link after a fatal error.
    #[inline(always)]
    fn settle<T>(&mut self, result: Result<T, TransportError>) -> Result<T, TransportError> {
        if let Err(e) = &result {
            if e.is_fatal() {
                self.close();
            }
        }
        result
    }

    /// [`Link::settle`] of a read's error, out of line: the error, the
    /// link closed if it is fatal.
    #[cold]
    #[inline(never)]
    fn failed(&mut self, e: ReadError) -> ReadError {
        if e.is_fatal() {
            self.close();
        }
        e
    }

    /// Closes the link after a fatal error: see [`Link::guarded`]. Its
    /// halves are told too: a closed link is never direct, so the hot
    /// paths test that alone.
    #[cold]
    #[inline(never)]
    fn close(&mut self) {
        self.closed = true;
        self.fd.shutdown();
        if let Some(rx) = self.halves.read_half_mut() {
            rx.close();
        }
        if let Some(tx) = self.halves.write_half_mut() {
            tx.close();
        }
    }

    /// The fd and its interest, and the device's wake-up fd, to register.
    fn parts(&self, asked: Interest) -> (Option<(RawFd, Interest)>, Option<RawFd>) {
        let reads = self.halves.read_half().is_some();
        let main = device::interest(self.kind, reads, H::WRITES, asked)
            .map(|interest| (self.fd.raw(), interest));
        let wake = self.halves.read_half().and_then(ReadHalf::wake_fd);
        (main, wake)
    }

    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("kind", &self.kind)
            .field("peer", &self.peer)
            .field("fd", &self.fd.raw())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<H: Reads> Link<H> {
    #[inline]
    pub(crate) fn recv(&mut self, on_frame: impl FnMut(Frame<'_>)) -> Result<(), TransportError> {
        self.ensure_open()?;
        let result = self.halves.rx_mut().recv(&self.fd, on_frame);
        self.settle(result)
    }

    #[inline]
    pub(crate) fn recv_until(
        &mut self,
        on_frame: impl FnMut(Frame<'_>),
        enough: impl FnMut() -> bool,
    ) -> Result<(), TransportError> {
        if !self.halves.rx_mut().is_direct() {
            return self.recv(on_frame); // closed, or not a socket alone
        }
        match self.halves.rx_mut().recv_until(&self.fd, on_frame, enough) {
            Ok(()) => Ok(()),
            Err(e) => Err(*self.failed(e)),
        }
    }

    #[inline]
    pub(crate) fn recv_wait(
        &mut self,
        timeout: std::time::Duration,
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<bool, TransportError> {
        if !self.halves.rx_mut().is_direct() {
            // Closed, or not a socket alone.
            self.ensure_open()?;
            let result = self.halves.rx_mut().recv_any(&self.fd, on_frame);
            return self.settle(result);
        }
        let result = self.halves.rx_mut().recv_wait(&self.fd, timeout, on_frame);
        self.settle(result)
    }
}

impl<H: Writes> Link<H> {
    #[inline(always)]
    pub(crate) fn send(&mut self, frame: &[u8]) -> Result<(), TransportError> {
        let first = self.try_send_whole(frame);
        self.send_after(frame, first)
    }

    /// [`WriteHalf::try_whole`]; nothing is tried on a closed link (see
    /// [`Link::close`]).
    #[inline(always)]
    pub(crate) fn try_send_whole(&mut self, frame: &[u8]) -> FirstTry {
        self.halves.tx().try_whole(&self.fd, frame)
    }

    /// [`Link::send`] after [`Link::try_send_whole`] said `first`.
    #[inline(always)]
    pub(crate) fn send_after(
        &mut self,
        frame: &[u8],
        first: FirstTry,
    ) -> Result<(), TransportError> {
        if let FirstTry::Whole = first {
            return Ok(());
        }
        self.ensure_open()?;
        let result = self.halves.tx_mut().send_after(&self.fd, frame, first);
        self.settle(result)
    }

    pub(crate) fn send_many(&mut self, frames: &[u8]) -> Result<(), TransportError> {
        self.guarded(|fd, halves| halves.tx_mut().send_many(fd, frames))
    }

    pub(crate) fn flush(&mut self) -> Result<bool, TransportError> {
        self.guarded(|fd, halves| halves.tx_mut().flush(fd))
    }

    #[inline]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.halves.tx().writer().queued_bytes()
    }
}

impl<H: Halves> Source for Link<H> {
    fn register(&mut self, registry: &Registry, token: Token, asked: Interest) -> io::Result<()> {
        let (main, wake) = self.parts(asked);
        if let Some((raw, interest)) = main {
            SourceFd(&raw).register(registry, token, interest)?;
        }
        if let Some(raw) = wake {
            if let Err(e) = SourceFd(&raw).register(registry, token, Interest::READABLE) {
                // Leave nothing half registered.
                if let Some((raw, _)) = main {
                    let _ = SourceFd(&raw).deregister(registry);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn reregister(&mut self, registry: &Registry, token: Token, asked: Interest) -> io::Result<()> {
        let (main, wake) = self.parts(asked);
        if let Some((raw, interest)) = main {
            SourceFd(&raw).reregister(registry, token, interest)?;
        }
        if let Some(raw) = wake {
            SourceFd(&raw).reregister(registry, token, Interest::READABLE)?;
        }
        Ok(())
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        let (main, wake) = self.parts(Interest::READABLE);
        // Deregister both even if one fails; report the first failure.
        let main = main.map_or(Ok(()), |(raw, _)| SourceFd(&raw).deregister(registry));
        let wake = wake.map_or(Ok(()), |raw| SourceFd(&raw).deregister(registry));
        main.and(wake)
    }
}

impl<H> AsFd for Link<H> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Writes the parts every facade shares, delegating to its `link`: what
/// it is connected to, whether it is closed, the `mio` [`Source`] impl,
/// [`AsFd`] and [`Debug`](fmt::Debug).
macro_rules! facade {
    ($ty:ident) => {
        impl $ty {
            /// The transport: [`TransportKind::Socket`](crate::TransportKind::Socket)
            /// or [`TransportKind::Xenbus`](crate::TransportKind::Xenbus).
            ///
            /// ```
            /// use std::os::unix::net::UnixStream;
            /// use xs_transport::{Connection, TransportKind};
            ///
            /// let (ours, _daemon) = UnixStream::pair()?;
            /// let conn = Connection::from_unix_stream(ours)?;
            /// assert_eq!(conn.kind(), TransportKind::Socket);
            /// let (rx, tx) = conn.split()?; // the halves say the same
            /// assert_eq!((rx.kind(), tx.kind()), (TransportKind::Socket, TransportKind::Socket));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn kind(&self) -> crate::TransportKind {
                self.link.kind
            }

            /// The largest payload that can be sent: 4096 on a socket, 4080
            /// on the device. Received payloads are bounded separately (see
            /// [`Connection::set_recv_limit`](crate::Connection::set_recv_limit)).
            ///
            /// ```
            /// use std::os::unix::net::UnixStream;
            /// use xs_transport::{Connection, TransportError};
            /// use xs_wire::{Header, Op};
            ///
            /// let (ours, _daemon) = UnixStream::pair()?;
            /// let mut conn = Connection::from_unix_stream(ours)?;
            /// let mut frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4097 }.to_bytes().to_vec();
            /// frame.resize(16 + 4097, b'x');
            /// assert_eq!(conn.max_payload(), 4096); // 4080 on the xenbus device
            /// let err = conn.send(&frame).unwrap_err();
            /// assert!(matches!(err, TransportError::PayloadTooLarge { .. }));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn max_payload(&self) -> usize {
                self.link.kind.max_payload()
            }

            /// A human description of the other end: the socket or device
            /// path when known.
            ///
            /// ```
            /// use std::os::unix::net::UnixStream;
            /// use xs_transport::Connection;
            ///
            /// let (ours, _daemon) = UnixStream::pair()?;
            /// let conn = Connection::from_unix_stream(ours)?;
            /// // An unnamed socket: described by its fd.
            /// assert!(conn.peer().starts_with("unix socket"));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn peer(&self) -> &str {
                &self.link.peer
            }

            /// Whether a fatal error has closed this connection or half
            /// (see [`TransportError::is_fatal`](crate::TransportError::is_fatal)).
            ///
            /// ```
            /// use std::os::unix::net::UnixStream;
            /// use xs_transport::{Connection, TransportError};
            ///
            /// let (ours, daemon) = UnixStream::pair()?;
            /// let mut conn = Connection::from_unix_stream(ours)?;
            /// drop(daemon); // xenstored went away
            /// let err = conn.recv(|_| {}).unwrap_err();
            /// assert!(matches!(err, TransportError::Closed));
            /// assert!(conn.is_closed());
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn is_closed(&self) -> bool {
                self.link.closed
            }
        }

        impl mio::event::Source for $ty {
            fn register(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> std::io::Result<()> {
                self.link.register(registry, token, interests)
            }

            fn reregister(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> std::io::Result<()> {
                self.link.reregister(registry, token, interests)
            }

            fn deregister(&mut self, registry: &mio::Registry) -> std::io::Result<()> {
                self.link.deregister(registry)
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.link.as_fd()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.link.debug(stringify!($ty), f)
            }
        }
    };
}
pub(crate) use facade;
