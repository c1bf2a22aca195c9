//! The reading half of a split [`Connection`]: a facade over the shared
//! link (`link.rs`) with a read half only.

use xs_wire::Frame;

use crate::link::{facade, Link};
use crate::read_half::ReadHalf;
use crate::TransportError;
#[cfg(doc)]
use crate::{Connection, FrameSender};

/// The reading half of a split [`Connection`].
///
/// As a [`mio::event::Source`] it registers READABLE, whatever interest
/// is asked for; on the device it
/// also registers the wake-up fd through which the [`FrameSender`] reports
/// rejected WATCH/UNWATCH writes, under the same token. A caller that
/// polls the fd some other way must call [`recv`](FrameReceiver::recv)
/// after each device `send` that might have been rejected (or use
/// [`has_pending`](FrameReceiver::has_pending)).
///
/// # Example
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use mio::{Events, Interest, Poll, Token};
/// use xs_transport::Connection;
/// use xs_wire::{Header, Op};
///
/// let (ours, theirs) = UnixStream::pair()?;
/// let (mut rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
///
/// // The reader thread waits for frames; the sender echoes through the
/// // "daemon" (here a second connection over the other end).
/// let reader = std::thread::spawn(move || -> Result<Vec<u32>, xs_transport::TransportError> {
///     let mut poll = Poll::new()?;
///     poll.registry().register(&mut rx, Token(1), Interest::READABLE)?;
///     let mut events = Events::with_capacity(4);
///     let mut got = Vec::new();
///     while got.len() < 3 {
///         poll.poll(&mut events, None)?;
///         rx.recv(|frame| got.push(frame.header.req_id))?;
///     }
///     Ok(got)
/// });
///
/// let mut daemon = Connection::from_unix_stream(theirs)?;
/// for req_id in 1..=3 {
///     let frame = Header { op: Op::WatchEvent, req_id, tx_id: 0, len: 0 }.to_bytes();
///     daemon.send(&frame)?;
/// }
/// assert_eq!(reader.join().unwrap()?, [1, 2, 3]);
/// # drop(tx);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FrameReceiver {
    link: Link<ReadHalf>,
}

facade!(FrameReceiver);

impl FrameReceiver {
    /// Reads until the fd would block, calling `on_frame` for every
    /// complete frame; see [`Connection::recv`].
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let (mut rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// daemon.write_all(&Header { op: Op::Write, req_id: 3, tx_id: 0, len: 3 }.to_bytes())?;
    /// daemon.write_all(b"OK\0")?;
    /// let mut replies = Vec::new();
    /// rx.recv(|f| replies.push((f.header.req_id, f.payload.to_vec())))?;
    /// assert_eq!(replies, [(3, b"OK\0".to_vec())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&mut self, on_frame: impl FnMut(Frame<'_>)) -> Result<(), TransportError> {
        self.link.recv(on_frame)
    }

    /// Like [`recv`](FrameReceiver::recv), but on a socket a read that
    /// comes back short (the socket held no more bytes just then) ends the
    /// call once `enough()` (asked after that read's frames are delivered)
    /// says so, saving the read that would find nothing. Edge-triggered
    /// readiness (mio's) still announces every byte that comes later, but
    /// not an end of file or hang-up that came with the bytes read: say
    /// `enough` only when nothing waits on the connection for now (the next
    /// read or write finds the end). On the device it is `recv`.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let (mut rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// daemon.write_all(&Header { op: Op::Write, req_id: 3, tx_id: 0, len: 3 }.to_bytes())?;
    /// daemon.write_all(b"OK\0")?;
    /// let mut ids = Vec::new();
    /// rx.recv_until(|f| ids.push(f.header.req_id), || true)?; // one read
    /// assert_eq!(ids, [3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_until(
        &mut self,
        on_frame: impl FnMut(Frame<'_>),
        enough: impl FnMut() -> bool,
    ) -> Result<(), TransportError> {
        self.link.recv_until(on_frame, enough)
    }

    /// Waits in a blocking `recv` for at most `timeout` (at least 1 µs)
    /// and delivers the frames that came, stopping once at least one has:
    /// whether any came. It does not read on until the socket would block,
    /// so afterwards [`may_have_unread`](FrameReceiver::may_have_unread)
    /// is true and a caller that goes back to waiting for readiness must
    /// [`recv`](FrameReceiver::recv) first. Nothing can wake the wait but
    /// data, the end of the connection, the timeout or a signal; use it
    /// when the caller itself is the only one waiting.
    ///
    /// A round trip then costs one `send` and one `recv`, and the kernel
    /// wakes the sleeping reader as soon as the daemon takes the request
    /// (the socket's write space): on an idle machine, with the client and
    /// the daemon on different CPUs, that early wake-up brings the
    /// client's CPU out of its halt before the reply is written (see
    /// `docs/benchmarks.md`). On the device it only reads what is there.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let (mut rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// let mut ids = Vec::new();
    /// assert!(!rx.recv_wait(Duration::from_millis(1), |f| ids.push(f.header.req_id))?);
    /// daemon.write_all(&Header { op: Op::Write, req_id: 7, tx_id: 0, len: 0 }.to_bytes())?;
    /// assert!(rx.recv_wait(Duration::from_secs(5), |f| ids.push(f.header.req_id))?);
    /// assert_eq!(ids, [7]);
    /// assert!(rx.may_have_unread());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_wait(
        &mut self,
        timeout: std::time::Duration,
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<bool, TransportError> {
        self.link.recv_wait(timeout, on_frame)
    }

    /// Whether the last read was a [`recv_wait`](FrameReceiver::recv_wait),
    /// which may have left bytes that readiness will not announce again
    /// (mio's registrations are edge-triggered). Never once the receiver
    /// is closed: nothing more will be read from it.
    pub fn may_have_unread(&self) -> bool {
        // The usual answer (no) from the first flag looked at.
        self.link.halves.may_have_unread() && !self.link.closed
    }

    /// Whether made-up error replies (device only) are waiting for the next
    /// [`recv`](FrameReceiver::recv). Polling through mio makes this
    /// unnecessary: their arrival makes the receiver readable.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// assert!(!rx.has_pending()); // always false on a socket
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn has_pending(&self) -> bool {
        self.link.halves.has_pending()
    }

    /// The largest payload [`recv`](FrameReceiver::recv) accepts; see
    /// [`Connection::set_recv_limit`].
    pub fn recv_limit(&self) -> usize {
        self.link.halves.recv_limit()
    }

    /// Changes the largest payload [`recv`](FrameReceiver::recv) accepts;
    /// see [`Connection::set_recv_limit`].
    pub fn set_recv_limit(&mut self, limit: usize) {
        self.link.halves.set_recv_limit(limit);
    }

    pub(crate) fn from_link(link: Link<ReadHalf>) -> FrameReceiver {
        FrameReceiver { link }
    }
}
