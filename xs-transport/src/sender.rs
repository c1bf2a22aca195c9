//! The writing half of a split [`Connection`]: a facade over the shared
//! link (`link.rs`) with a write half only.

use std::time::Duration;

use crate::blocking;
use crate::link::{facade, Link};
use crate::write_half::WriteHalf;
#[cfg(doc)]
use crate::Connection;
use crate::TransportError;

/// The writing half of a split [`Connection`].
///
/// On a socket it registers with the interest asked for (WRITABLE is what
/// it needs, while [`queued_bytes`](FrameSender::queued_bytes) is non-zero).
/// On the device registering does nothing: writes never block there, so
/// there is nothing to wait for.
///
/// [`blocking::send_all`] is the simple way to use it from a thread that
/// has no poll of its own.
///
/// # Example
///
/// A writer thread with a poll of its own, waiting for writability only
/// while bytes are queued:
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use mio::{Events, Interest, Poll, Token};
/// use xs_transport::Connection;
/// use xs_wire::{Header, Op};
///
/// let (ours, daemon) = UnixStream::pair()?;
/// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
/// let mut poll = Poll::new()?;
/// poll.registry().register(&mut tx, Token(1), Interest::WRITABLE)?;
/// let mut frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4096 }.to_bytes().to_vec();
/// frame.resize(16 + 4096, b'x');
/// while tx.queued_bytes() == 0 {
///     tx.send(&frame)?; // the daemon is not reading yet: the socket fills
/// }
/// std::thread::spawn(move || std::io::copy(&mut &daemon, &mut std::io::sink()));
/// let mut events = Events::with_capacity(4);
/// while !tx.flush()? {
///     poll.poll(&mut events, None)?;
/// }
/// assert_eq!(tx.queued_bytes(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FrameSender {
    pub(crate) link: Link<WriteHalf>,
}

facade!(FrameSender);

impl FrameSender {
    /// Queues one complete encoded frame and tries to write it now; see
    /// [`Connection::send`].
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Ids, Path, Request};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
    /// let mut frame = [0u8; 64];
    /// let n = Request::Rm { path: Path::new("/local/domain/0/backend/vif/1")? }.encode(Ids::new(2), &mut frame)?;
    /// tx.send(&frame[..n])?;
    /// let mut got = vec![0u8; n];
    /// daemon.read_exact(&mut got)?;
    /// assert_eq!(got, &frame[..n]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&mut self, frame: &[u8]) -> Result<(), TransportError> {
        self.link.send(frame)
    }

    /// Sends several whole frames laid end to end in `frames`, then waits
    /// until everything is written, like [`blocking::send_all`] (this is a
    /// blocking helper too; see the [`blocking`] module).
    /// On a socket with nothing queued they leave in as few `write()`s as
    /// the kernel allows (one, usually), which is what pipelining wants; on
    /// the device each frame gets its own `write()`. Every frame is checked
    /// first: a bad one refuses the whole batch with nothing written.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Ids, Path, Request};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
    /// let mut frames = Vec::new();
    /// for (id, p) in [(1, "/a"), (2, "/b")] {
    ///     let mut buf = [0u8; 64];
    ///     let n = Request::Read { path: Path::new(p)? }.encode(Ids::new(id), &mut buf)?;
    ///     frames.extend_from_slice(&buf[..n]);
    /// }
    /// tx.send_frames(&frames, None)?;
    /// let mut got = vec![0u8; frames.len()];
    /// daemon.read_exact(&mut got)?;
    /// assert_eq!(got, frames);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_frames(
        &mut self,
        frames: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), TransportError> {
        blocking::send_frames(self, frames, timeout)
    }

    /// Writes queued bytes until the fd would block; `Ok(true)` when the
    /// queue is empty.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
    /// let mut frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4096 }.to_bytes().to_vec();
    /// frame.resize(16 + 4096, b'x');
    /// while tx.queued_bytes() == 0 {
    ///     tx.send(&frame)?; // nobody reads yet
    /// }
    /// std::thread::spawn(move || std::io::copy(&mut daemon, &mut std::io::sink()));
    /// while !tx.flush()? {}
    /// assert_eq!(tx.queued_bytes(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) -> Result<bool, TransportError> {
        self.link.flush()
    }

    /// Bytes queued but not yet written.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
    /// let mut frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4096 }.to_bytes().to_vec();
    /// frame.resize(16 + 4096, b'x');
    /// assert_eq!(tx.queued_bytes(), 0);
    /// while tx.queued_bytes() == 0 {
    ///     tx.send(&frame)?; // until the socket buffer is full
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.link.queued_bytes()
    }

    /// The write queue's limit in bytes.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, DEFAULT_QUEUE_LIMIT};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (_rx, tx) = Connection::from_unix_stream(ours)?.split()?;
    /// assert_eq!(tx.queue_limit(), DEFAULT_QUEUE_LIMIT);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue_limit(&self) -> usize {
        self.link.halves.writer().queue_limit()
    }

    /// Changes the write queue's limit (raised to 4112 bytes if smaller).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportError};
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
    /// tx.set_queue_limit(16 * 1024);
    /// let mut frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4096 }.to_bytes().to_vec();
    /// frame.resize(16 + 4096, b'x');
    /// // Nobody reads: once 16 KiB are queued, further frames are refused.
    /// let err = loop {
    ///     if let Err(e) = tx.send(&frame) { break e; }
    /// };
    /// assert!(matches!(err, TransportError::QueueFull { .. }) && !err.is_fatal());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_queue_limit(&mut self, limit: usize) {
        self.link.halves.writer_mut().set_queue_limit(limit);
    }

    pub(crate) fn from_link(link: Link<WriteHalf>) -> FrameSender {
        FrameSender { link }
    }
}
