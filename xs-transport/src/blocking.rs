//! Blocking helpers for threads that have no poll of their own.
//!
//! [`Connection`] and [`FrameSender`] never block: a write the fd does not
//! take is queued, and the caller's own poll says when to
//! [`flush`](FrameSender::flush). A thread that only wants a frame written
//! (a caller of a synchronous client, say) can use [`send_all`] instead,
//! which waits for writability itself, up to a deadline, on a `mio::Poll`
//! made for the wait and dropped after it. The device never blocks a
//! write; a stand-in fd that does is retried after a short sleep, since it
//! gives no writability events either.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::link::{Link, Writes};
use crate::write_half::FirstTry;
use crate::{Connection, FrameSender, TransportError, TransportKind};

/// How long to pause before retrying a device write that would block (the
/// Linux driver never does; stand-ins might).
const DEVICE_RETRY: Duration = Duration::from_millis(5);

mod private {
    use std::time::Instant;

    use crate::write_half::FirstTry;
    use crate::TransportError;

    /// What the helpers need of a writer; unnameable outside the crate,
    /// which keeps [`BlockingWrite`](super::BlockingWrite) sealed.
    pub trait Sealed {
        fn try_send_whole(&mut self, frame: &[u8]) -> FirstTry;
        fn send_after(&mut self, frame: &[u8], first: FirstTry) -> Result<(), TransportError>;
        fn send_now(&mut self, frame: &[u8]) -> Result<(), TransportError>;
        fn send_many_now(&mut self, frames: &[u8]) -> Result<(), TransportError>;
        fn flush_now(&mut self) -> Result<bool, TransportError>;
        fn pending(&self) -> usize;
        fn wait_writable(&mut self, deadline: Option<Instant>) -> Result<(), TransportError>;
    }
}

use private::Sealed;

/// What the blocking helpers write to: [`Connection`] and [`FrameSender`]
/// (sealed: no other type can implement it).
pub trait BlockingWrite: Sealed {}

macro_rules! blocking_write {
    ($ty:ident) => {
        impl BlockingWrite for $ty {}

        impl Sealed for $ty {
            #[inline(always)]
            fn try_send_whole(&mut self, frame: &[u8]) -> FirstTry {
                self.link.try_send_whole(frame)
            }
            fn send_after(&mut self, frame: &[u8], first: FirstTry) -> Result<(), TransportError> {
                self.link.send_after(frame, first)
            }
            fn send_now(&mut self, frame: &[u8]) -> Result<(), TransportError> {
                self.link.send(frame)
            }
            fn send_many_now(&mut self, frames: &[u8]) -> Result<(), TransportError> {
                self.link.send_many(frames)
            }
            fn flush_now(&mut self) -> Result<bool, TransportError> {
                self.link.flush()
            }
            #[inline]
            fn pending(&self) -> usize {
                self.link.queued_bytes()
            }
            fn wait_writable(&mut self, deadline: Option<Instant>) -> Result<(), TransportError> {
                wait_writable(&mut self.link, deadline)
            }
        }
    };
}

blocking_write!(Connection);
blocking_write!(FrameSender);

/// Queues `frame`, then writes everything queued, waiting for writability
/// up to `timeout` (`None`: no limit).
///
/// If the queue is full, waits for room first; if there is still no room
/// when time runs out, returns [`TransportError::QueueFull`] with nothing
/// queued. Once the frame is queued, running out of time gives
/// [`TransportError::TimedOut`]: the frame stays queued (part of it may be
/// written already) and a later `flush` or `send_all` continues. Other
/// errors are those of [`FrameSender::send`] and [`FrameSender::flush`].
///
/// ```
/// use std::io::Read;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use xs_transport::{blocking, Connection};
/// use xs_wire::{Ids, Path, Request};
///
/// let (ours, mut daemon) = UnixStream::pair()?;
/// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
/// let mut frame = [0u8; 64];
/// let n = Request::Read { path: Path::new("/a")? }.encode(Ids::new(1), &mut frame)?;
/// blocking::send_all(&mut tx, &frame[..n], Some(Duration::from_secs(5)))?;
/// assert_eq!(tx.queued_bytes(), 0);
/// let mut got = vec![0u8; n];
/// daemon.read_exact(&mut got)?;
/// assert_eq!(got, &frame[..n]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
// Inline: the usual case is one `send` (the rest is out of line), and a
// caller's `Result` plumbing folds away with the call (20 instructions per
// synchronous READ).
#[inline]
pub fn send_all(
    writer: &mut impl BlockingWrite,
    frame: &[u8],
    timeout: Option<Duration>,
) -> Result<(), TransportError> {
    // The usual case: the frame went out whole, nothing to wait for.
    match writer.try_send_whole(frame) {
        FirstTry::Whole => Ok(()),
        first => send_all_waiting(writer, frame, timeout, first),
    }
}

/// Sends `bytes`, one whole frame or several laid end to end, as
/// [`send_all`] or [`send_frames`] would (one frame by [`send_all`]),
/// waiting up to `timeout` until everything is written.
///
/// For a caller that does not know how many frames it holds: the usual
/// lone frame on a socket is told apart by the check [`send_all`] makes
/// anyway, so the frames are counted only when it fails.
// Inline, always (the compiler would keep it a call): as `send_all`; its
// call and result through memory cost about 20 instructions a write.
#[inline(always)]
pub fn send_any(
    writer: &mut impl BlockingWrite,
    bytes: &[u8],
    timeout: Option<Duration>,
) -> Result<(), TransportError> {
    match writer.try_send_whole(bytes) {
        FirstTry::Whole => Ok(()),
        FirstTry::NotTried if !xs_wire::is_one_frame(bytes) => send_frames(writer, bytes, timeout),
        first => send_all_waiting(writer, bytes, timeout, first),
    }
}

/// [`send_all`] once the first try has not written everything: `first`
/// is what it did.
#[inline(never)]
fn send_all_waiting(
    writer: &mut impl BlockingWrite,
    frame: &[u8],
    timeout: Option<Duration>,
    first: FirstTry,
) -> Result<(), TransportError> {
    let mut deadline = Lazy::new(timeout);
    let mut sent = writer.send_after(frame, first);
    loop {
        match sent {
            Ok(()) => break,
            Err(full @ TransportError::QueueFull { .. }) if writer.pending() > 0 => {
                if !writer.flush_now()? {
                    match writer.wait_writable(deadline.get()) {
                        Err(TransportError::TimedOut { .. }) => return Err(full),
                        other => other?,
                    }
                }
            }
            Err(e) => return Err(e),
        }
        sent = writer.send_now(frame);
    }
    flush_all(writer, &mut deadline)
}

/// A deadline `timeout` from the first time it is needed: a write that
/// goes straight out (the usual case) reads no clock.
struct Lazy {
    timeout: Option<Duration>,
    at: Option<Option<Instant>>,
}

impl Lazy {
    fn new(timeout: Option<Duration>) -> Lazy {
        Lazy { timeout, at: None }
    }

    fn get(&mut self) -> Option<Instant> {
        let timeout = self.timeout;
        *self
            .at
            .get_or_insert_with(|| timeout.and_then(|t| Instant::now().checked_add(t)))
    }
}

/// Sends several whole frames laid end to end, then waits until everything
/// is written, as [`send_all`] does; see [`FrameSender::send_frames`].
pub fn send_frames(
    writer: &mut impl BlockingWrite,
    frames: &[u8],
    timeout: Option<Duration>,
) -> Result<(), TransportError> {
    let mut deadline = Lazy::new(timeout);
    writer.send_many_now(frames)?;
    flush_all(writer, &mut deadline)
}

/// Writes what is queued, waiting for writability as needed. An empty
/// queue (the usual case: the frame went straight out) costs no call.
fn flush_all(writer: &mut impl BlockingWrite, deadline: &mut Lazy) -> Result<(), TransportError> {
    while writer.pending() > 0 && !writer.flush_now()? {
        writer.wait_writable(deadline.get())?;
    }
    Ok(())
}

/// Waits until the link's fd may take more bytes or `deadline` passes
/// ([`TransportError::TimedOut`]). A failure to poll closes the link.
fn wait_writable<H: Writes>(
    link: &mut Link<H>,
    deadline: Option<Instant>,
) -> Result<(), TransportError> {
    let remaining = match deadline {
        None => None,
        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => {
                return Err(TransportError::TimedOut {
                    queued: link.queued_bytes(),
                })
            }
        },
    };
    if link.kind == TransportKind::Xenbus {
        // No writability events on the device: pause and retry.
        thread::sleep(remaining.map_or(DEVICE_RETRY, |left| left.min(DEVICE_RETRY)));
        return Ok(());
    }
    link.guarded(|fd, _| {
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut SourceFd(&fd.raw()), Token(0), Interest::WRITABLE)?;
        let mut events = Events::with_capacity(2);
        match poll.poll(&mut events, remaining) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(TransportError::Io(e)),
            _ => Ok(()),
        }
    })
}
