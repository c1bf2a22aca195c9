//! Connections: one fd, a read buffer, a write queue, and mio readiness.
//!
//! A [`Connection`] owns one non-blocking, close-on-exec fd: a connected
//! Unix stream socket or the xenbus device. It is driven by readiness: when
//! a `mio::Poll` reports it readable, [`Connection::recv`] reads until the fd
//! would block and hands out every complete frame; [`Connection::send`]
//! writes at once what the fd takes and queues the rest, which
//! [`Connection::flush`] writes when the fd is reported writable.
//!
//! Everything that differs between the transports is handled here, so the
//! layers above see one behaviour:
//!
//! | | socket | xenbus device |
//! |---|---|---|
//! | payload limit for sending | 4096 | 4080 |
//! | bytes per `write()` | as many as fit | one message's only |
//! | writability events | yes | never (writes never block) |
//! | rejected WATCH/UNWATCH | `XS_ERROR` reply | failed `write()`, turned into the same `XS_ERROR` reply |
//! | `SIGPIPE` | suppressed (`MSG_NOSIGNAL`) | n/a |
//!
//! For a reader thread and writer threads, [`Connection::split`] gives a
//! [`FrameReceiver`] and a [`FrameSender`], each with its own fd (a `dup`),
//! so each can be registered with a different poll.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use xs_wire::{Frame, Op};

use crate::device::{self, DeviceRx, DeviceTx, SYNTH_LIMIT};
use crate::writer::{check_frame, error_reply, FrameWriter};
use crate::{sys, Endpoint, FrameReader, TransportError, TransportKind};

/// How long [`FrameSender::send_all`] pauses before retrying a device write
/// that would block (the Linux driver never does; stand-ins might).
const DEVICE_RETRY: Duration = Duration::from_millis(5);

/// The fd and how to write to it.
#[derive(Debug)]
struct RawConn {
    file: File,
    is_socket: bool,
}

impl RawConn {
    fn new(fd: OwnedFd) -> io::Result<RawConn> {
        sys::set_cloexec_nonblocking(fd.as_fd())?;
        let file = File::from(fd);
        let is_socket = file.metadata()?.file_type().is_socket();
        if is_socket {
            sys::prepare_socket(file.as_fd())?;
        }
        Ok(RawConn { file, is_socket })
    }

    /// A `dup` with `CLOEXEC` (`F_DUPFD_CLOEXEC`) sharing the open file,
    /// hence its non-blocking mode.
    fn try_clone(&self) -> io::Result<RawConn> {
        Ok(RawConn {
            file: self.file.try_clone()?,
            is_socket: self.is_socket,
        })
    }

    fn raw(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Closes a socket towards the peer (both directions, for every fd
    /// sharing it). The device has no such thing; its fd is closed on drop.
    fn shutdown(&self) {
        if self.is_socket {
            let _ = sys::shutdown(self.file.as_fd());
        }
    }
}

impl Read for &RawConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }
}

impl Write for &RawConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.is_socket {
            sys::send_nosignal(self.file.as_fd(), buf)
        } else {
            (&self.file).write(buf)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The read half's state.
#[derive(Debug)]
struct RxState {
    reader: FrameReader,
    device: Option<DeviceRx>,
}

impl RxState {
    fn recv(
        &mut self,
        io: &RawConn,
        mut on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), TransportError> {
        if let Some(device) = &self.device {
            device.take(&mut on_frame);
        }
        self.reader.read_from(&mut &*io, on_frame)
    }

    fn wake_fd(&self) -> Option<RawFd> {
        self.device.as_ref().map(DeviceRx::wake_fd)
    }
}

/// The write half's state.
#[derive(Debug)]
struct TxState {
    writer: FrameWriter,
    device: Option<DeviceTx>,
}

impl TxState {
    fn send(&mut self, io: &RawConn, frame: &[u8]) -> Result<(), TransportError> {
        if let Some(device) = &self.device {
            let header = check_frame(frame, self.writer.max_payload())?;
            if matches!(header.op, Op::Watch | Op::Unwatch) {
                let queued = device.pending_bytes();
                if queued >= SYNTH_LIMIT {
                    return Err(TransportError::QueueFull {
                        queued,
                        limit: SYNTH_LIMIT,
                    });
                }
            }
        }
        if self.device.is_none() && self.writer.is_empty() {
            check_frame(frame, self.writer.max_payload())?;
            return self.writer.send_direct(&mut &*io, frame).map(drop);
        }
        self.writer.push(frame)?;
        self.flush(io).map(drop)
    }

    /// Sends several whole frames laid end to end. On a socket with nothing
    /// queued they go out in as few writes as the kernel allows; otherwise
    /// (the device, one message per `write()`, or a non-empty queue) frame
    /// by frame. Every frame is checked before anything is written.
    fn send_many(&mut self, io: &RawConn, frames: &[u8]) -> Result<(), TransportError> {
        let max = self.writer.max_payload();
        let mut lens = Vec::new();
        let mut rest = frames;
        while !rest.is_empty() {
            let len = whole_frame_len(rest, max)?;
            lens.push(len);
            rest = &rest[len..];
        }
        if self.device.is_none() && self.writer.is_empty() {
            return self.writer.send_direct(&mut &*io, frames).map(drop);
        }
        let mut at = 0;
        for len in lens {
            self.send(io, &frames[at..at + len])?;
            at += len;
        }
        Ok(())
    }

    fn flush(&mut self, io: &RawConn) -> Result<bool, TransportError> {
        let device = &self.device;
        self.writer.write_to(&mut &*io, |header, err| {
            if let Some(device) = device {
                device.deliver(error_reply(&header, sys::errno_name(&err)));
            }
        })
    }
}

/// The length of the whole frame at the front of `bytes`, checked like
/// [`check_frame`] (a frame cut short is [`TransportError::MalformedFrame`]).
fn whole_frame_len(bytes: &[u8], max_payload: usize) -> Result<usize, TransportError> {
    match xs_wire::decode_with_limit(bytes, max_payload) {
        Ok(xs_wire::Status::Complete((_, used))) => Ok(used),
        Ok(xs_wire::Status::Partial { needed }) => Err(TransportError::MalformedFrame {
            len: bytes.len(),
            expected: bytes.len() + needed,
        }),
        Err(xs_wire::WireError::PayloadTooLarge { len, max }) => {
            Err(TransportError::PayloadTooLarge { len, max })
        }
        Err(other) => Err(TransportError::Protocol(other)),
    }
}

/// Registers, re-registers or deregisters the fd and, on the device, the
/// wake-up fd for made-up replies (always READABLE, same token).
fn register_parts(
    registry: &Registry,
    fd: Option<(RawFd, Interest)>,
    wake: Option<RawFd>,
    token: Token,
    how: How,
) -> io::Result<()> {
    let apply = |raw: RawFd, interest: Interest| match how {
        How::Register => SourceFd(&raw).register(registry, token, interest),
        How::Reregister => SourceFd(&raw).reregister(registry, token, interest),
        How::Deregister => SourceFd(&raw).deregister(registry),
    };
    if let How::Deregister = how {
        // Deregister both even if one fails; report the first failure.
        let main = fd.map_or(Ok(()), |(raw, interest)| apply(raw, interest));
        let side = wake.map_or(Ok(()), |raw| apply(raw, Interest::READABLE));
        return main.and(side);
    }
    if let Some((raw, interest)) = fd {
        apply(raw, interest)?;
    }
    if let Some(raw) = wake {
        if let Err(e) = apply(raw, Interest::READABLE) {
            if let (How::Register, Some((raw, _))) = (how, fd) {
                // Leave nothing half registered.
                let _ = SourceFd(&raw).deregister(registry);
            }
            return Err(e);
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum How {
    Register,
    Reregister,
    Deregister,
}

/// Runs `op`; a fatal error closes the connection, and a closed connection
/// answers [`TransportError::Closed`].
fn guarded<T>(
    closed: &mut bool,
    io: &RawConn,
    op: impl FnOnce() -> Result<T, TransportError>,
) -> Result<T, TransportError> {
    if *closed {
        return Err(TransportError::Closed);
    }
    let result = op();
    if matches!(&result, Err(e) if e.is_fatal()) {
        *closed = true;
        io.shutdown();
    }
    result
}

fn describe_fd(fd: RawFd, what: &str) -> String {
    #[cfg(target_os = "linux")]
    if let Ok(target) = std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        if target.is_absolute() {
            return target.display().to_string();
        }
    }
    format!("{what} (fd {fd})")
}

/// A connection to xenstored over its Unix socket or the xenbus device.
///
/// The fd is non-blocking and close-on-exec. `Connection` implements
/// [`mio::event::Source`]: register it, and call [`recv`](Connection::recv)
/// when it is readable and [`flush`](Connection::flush) when it is writable.
/// Re-register with [`interest`](Connection::interest) after sending, so
/// that writability is only asked for while bytes are queued (a socket is
/// almost always writable, and mio's registrations are edge-triggered).
///
/// A fatal error (see [`TransportError::is_fatal`]) closes the connection:
/// a socket is shut down, and every later call returns
/// [`TransportError::Closed`]. The fd itself stays open until the
/// `Connection` is dropped, so a registration with a poll stays valid until
/// then; deregister before dropping.
///
/// # The xenbus device
///
/// On [`TransportKind::Xenbus`] the device's rules are kept here: the fd is
/// always registered READABLE only, whatever interest is asked for (the
/// driver never reports writability and writes never block), each message
/// goes out in its own `write()`, payloads over 4080 bytes are refused, and
/// a WATCH or UNWATCH that the device rejects with a failed `write()`
/// arrives through `recv` as the `XS_ERROR` reply xenstored would have
/// sent. Registering also registers a private wake-up fd under the same
/// token, so such a reply makes the poll report the connection readable.
///
/// # Example
///
/// A request/reply round trip driven by a poll; the "daemon" here is the
/// other end of a socket pair.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use mio::{Events, Interest, Poll, Token};
/// use xs_transport::Connection;
/// use xs_wire::{Header, Ids, Op, Path, Request};
///
/// let (ours, mut daemon) = UnixStream::pair()?;
/// let mut conn = Connection::from_unix_stream(ours)?;
/// let mut poll = Poll::new()?;
/// poll.registry().register(&mut conn, Token(0), Interest::READABLE)?;
///
/// // Send a READ.
/// let mut frame = [0u8; 64];
/// let n = Request::Read { path: Path::new("/vm")? }.encode(Ids::new(7), &mut frame)?;
/// conn.send(&frame[..n])?;
/// assert_eq!(conn.queued_bytes(), 0); // a socket takes it at once
///
/// // The daemon reads it and answers.
/// let mut request = [0u8; 20];
/// daemon.read_exact(&mut request)?;
/// let reply = Header { op: Op::Read, req_id: 7, tx_id: 0, len: 2 };
/// daemon.write_all(&reply.to_bytes())?;
/// daemon.write_all(b"hi")?;
///
/// // Wait for it and take it.
/// let mut events = Events::with_capacity(8);
/// let mut replies = Vec::new();
/// while replies.is_empty() {
///     poll.poll(&mut events, None)?;
///     conn.recv(|frame| replies.push((frame.header.req_id, frame.payload.to_vec())))?;
/// }
/// assert_eq!(replies, [(7, b"hi".to_vec())]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    io: RawConn,
    kind: TransportKind,
    peer: String,
    rx: RxState,
    tx: TxState,
    closed: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("kind", &self.kind)
            .field("peer", &self.peer)
            .field("fd", &self.io.raw())
            .field("queued_bytes", &self.queued_bytes())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Connection {
    /// Connects to xenstored where [`Endpoint::discover`] says it is.
    ///
    /// ```no_run
    /// let conn = xs_transport::Connection::open()?;
    /// println!("connected to {} ({:?})", conn.peer(), conn.kind());
    /// # Ok::<(), xs_transport::TransportError>(())
    /// ```
    pub fn open() -> Result<Connection, TransportError> {
        Endpoint::discover().connect()
    }

    /// Connects to a xenstored Unix socket.
    ///
    /// Errors are [`TransportError::Connect`], naming `path`.
    ///
    /// ```
    /// use std::os::unix::net::UnixListener;
    /// use xs_transport::{Connection, TransportError, TransportKind};
    ///
    /// # let dir = std::env::temp_dir().join(format!("xs-transport-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("socket"); // usually /var/run/xenstored/socket
    /// let _daemon = UnixListener::bind(&path)?;
    /// let conn = Connection::unix(&path)?;
    /// assert_eq!(conn.kind(), TransportKind::Socket);
    /// assert_eq!(conn.peer(), path.display().to_string());
    /// let err = Connection::unix(dir.join("missing")).unwrap_err();
    /// assert!(matches!(err, TransportError::Connect { .. }));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unix(path: impl AsRef<Path>) -> Result<Connection, TransportError> {
        let path = path.as_ref();
        let connect_error = |source| TransportError::Connect {
            path: path.to_path_buf(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(connect_error)?;
        Connection::build(
            stream.into(),
            TransportKind::Socket,
            path.display().to_string(),
        )
        .map_err(connect_error)
    }

    /// Opens a xenbus device (`/dev/xen/xenbus`, ...) read-write.
    ///
    /// Errors are [`TransportError::Connect`], naming `path`. On Linux,
    /// `ENOENT` from an existing device means the kernel has no xenstore
    /// connection (it is not running on Xen).
    ///
    /// ```
    /// use std::path::Path;
    /// use xs_transport::{Connection, TransportError};
    ///
    /// // On a Xen guest or dom0 this opens the device; elsewhere it is missing.
    /// match Connection::xenbus("/dev/xen/xenbus") {
    ///     Ok(conn) => assert_eq!(conn.max_payload(), 4080),
    ///     Err(TransportError::Connect { path, .. }) => assert_eq!(path, Path::new("/dev/xen/xenbus")),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn xenbus(path: impl AsRef<Path>) -> Result<Connection, TransportError> {
        let path = path.as_ref();
        let connect_error = |source| TransportError::Connect {
            path: path.to_path_buf(),
            source,
        };
        // std adds O_CLOEXEC to every open.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(connect_error)?;
        Connection::build(
            file.into(),
            TransportKind::Xenbus,
            path.display().to_string(),
        )
        .map_err(connect_error)
    }

    /// Wraps a connected Unix stream (e.g. one end of
    /// [`UnixStream::pair`]), making it non-blocking and close-on-exec.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportKind};
    ///
    /// // An in-process "daemon" on the other end, e.g. for tests.
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let conn = Connection::from_unix_stream(ours)?;
    /// assert_eq!(conn.kind(), TransportKind::Socket);
    /// assert!(!conn.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_unix_stream(stream: UnixStream) -> Result<Connection, TransportError> {
        let peer = stream
            .peer_addr()
            .ok()
            .and_then(|addr| addr.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_else(|| format!("unix socket (fd {})", stream.as_raw_fd()));
        Ok(Connection::build(
            stream.into(),
            TransportKind::Socket,
            peer,
        )?)
    }

    /// Wraps an open xenbus device fd, making it non-blocking and
    /// close-on-exec. The device's rules apply whatever the fd is, so a
    /// test can hand in one end of a socket pair as a stand-in.
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportKind};
    ///
    /// // A socket pair standing in for /dev/xen/xenbus: the device's rules apply.
    /// let (ours, _device) = UnixStream::pair()?;
    /// let conn = Connection::from_xenbus_fd(OwnedFd::from(ours))?;
    /// assert_eq!(conn.kind(), TransportKind::Xenbus);
    /// assert_eq!(conn.max_payload(), 4080);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_xenbus_fd(fd: OwnedFd) -> Result<Connection, TransportError> {
        let peer = describe_fd(fd.as_raw_fd(), "xenbus device");
        Ok(Connection::build(fd, TransportKind::Xenbus, peer)?)
    }

    fn build(fd: OwnedFd, kind: TransportKind, peer: String) -> io::Result<Connection> {
        let io = RawConn::new(fd)?;
        let (rx_dev, tx_dev) = match kind {
            TransportKind::Xenbus => {
                let (rx, tx) = device::channel()?;
                (Some(rx), Some(tx))
            }
            TransportKind::Socket => (None, None),
        };
        Ok(Connection {
            io,
            kind,
            peer,
            rx: RxState {
                reader: FrameReader::new(),
                device: rx_dev,
            },
            tx: TxState {
                writer: FrameWriter::new(kind),
                device: tx_dev,
            },
            closed: false,
        })
    }

    /// The transport.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportKind};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let conn = Connection::from_unix_stream(ours)?;
    /// assert_eq!(conn.kind(), TransportKind::Socket);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The largest payload [`send`](Connection::send) accepts: 4096 on a
    /// socket, 4080 on the device. Received payloads may be up to 4096 on
    /// both.
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
    /// assert_eq!(conn.max_payload(), 4096);
    /// let err = conn.send(&frame).unwrap_err();
    /// assert!(matches!(err, TransportError::PayloadTooLarge { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_payload(&self) -> usize {
        self.kind.max_payload()
    }

    /// A human description of the other end: the socket or device path
    /// when known.
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
        &self.peer
    }

    /// Whether a fatal error has closed the connection.
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
        self.closed
    }

    /// Reads until the fd would block, calling `on_frame` for every complete
    /// frame; `Ok(())` if the connection is still open.
    ///
    /// Clean EOF gives [`TransportError::Closed`], EOF mid-frame
    /// [`TransportError::Truncated`], a length over 4096
    /// [`TransportError::Protocol`], a read error [`TransportError::Io`];
    /// each closes the connection (frames read before the error have been
    /// delivered). On the device, made-up error replies for rejected
    /// WATCH/UNWATCH writes come first.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// // The daemon fires a watch: "<path>\0<token>\0".
    /// let body = b"/local/domain/1/device/vif/0/state\0fe\0";
    /// let header = Header { op: Op::WatchEvent, req_id: 0, tx_id: 0, len: body.len() as u32 };
    /// daemon.write_all(&header.to_bytes())?;
    /// daemon.write_all(body)?;
    /// let mut events = Vec::new();
    /// conn.recv(|frame| events.push((frame.header.op, frame.payload.to_vec())))?;
    /// assert_eq!(events, [(Op::WatchEvent, body.to_vec())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&mut self, on_frame: impl FnMut(Frame<'_>)) -> Result<(), TransportError> {
        let Connection {
            io, rx, tx, closed, ..
        } = self;
        let result = guarded(closed, io, || rx.recv(io, on_frame));
        if *closed {
            tx.writer.clear();
        }
        result
    }

    /// Queues one complete encoded frame (header and payload) and tries to
    /// write it now.
    ///
    /// `Ok(())` means queued; [`queued_bytes`](Connection::queued_bytes)
    /// says whether some of it still waits for writability (on a socket,
    /// re-register with [`interest`](Connection::interest) and call
    /// [`flush`](Connection::flush) when writable). Refused with nothing
    /// queued: [`TransportError::MalformedFrame`],
    /// [`TransportError::PayloadTooLarge`], [`TransportError::QueueFull`].
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Ids, Path, Request};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// let mut frame = [0u8; 64];
    /// let n = Request::Read { path: Path::new("/local/domain/0/name")? }.encode(Ids::new(1), &mut frame)?;
    /// conn.send(&frame[..n])?;
    /// assert_eq!(conn.queued_bytes(), 0); // written at once
    /// let mut got = vec![0u8; n];
    /// daemon.read_exact(&mut got)?;
    /// assert_eq!(got, &frame[..n]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&mut self, frame: &[u8]) -> Result<(), TransportError> {
        let Connection { io, tx, closed, .. } = self;
        let result = guarded(closed, io, || tx.send(io, frame));
        if *closed {
            tx.writer.clear();
        }
        result
    }

    /// Writes queued bytes until the fd would block; `Ok(true)` when the
    /// queue is empty.
    ///
    /// On the device, writes never block, so `send` leaves nothing queued
    /// and this is only needed if a stand-in fd would block.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// let frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4096 }.to_bytes();
    /// let mut frame = frame.to_vec();
    /// frame.resize(16 + 4096, b'x');
    /// // Nobody reads: the socket buffer fills and frames queue up.
    /// while conn.queued_bytes() == 0 {
    ///     conn.send(&frame)?;
    /// }
    /// std::thread::spawn(move || std::io::copy(&mut daemon, &mut std::io::sink()));
    /// while !conn.flush()? {} // a real program polls for WRITABLE instead
    /// assert_eq!(conn.queued_bytes(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) -> Result<bool, TransportError> {
        let Connection { io, tx, closed, .. } = self;
        guarded(closed, io, || tx.flush(io))
    }

    /// Bytes queued but not yet written.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// let mut frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4096 }.to_bytes().to_vec();
    /// frame.resize(16 + 4096, b'x');
    /// while conn.queued_bytes() == 0 {
    ///     conn.send(&frame)?; // the daemon is not reading
    /// }
    /// assert!(conn.queued_bytes() <= conn.queue_limit());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.tx.writer.queued_bytes()
    }

    /// The write queue's limit in bytes (default
    /// [`DEFAULT_QUEUE_LIMIT`](crate::DEFAULT_QUEUE_LIMIT)).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, DEFAULT_QUEUE_LIMIT};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let conn = Connection::from_unix_stream(ours)?;
    /// assert_eq!(conn.queue_limit(), DEFAULT_QUEUE_LIMIT);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue_limit(&self) -> usize {
        self.tx.writer.queue_limit()
    }

    /// Changes the write queue's limit (raised to 4112 bytes, one largest
    /// frame, if smaller).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// conn.set_queue_limit(64 * 1024);
    /// assert_eq!(conn.queue_limit(), 64 * 1024);
    /// conn.set_queue_limit(0); // never below one largest frame
    /// assert_eq!(conn.queue_limit(), 4112);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_queue_limit(&mut self, limit: usize) {
        self.tx.writer.set_queue_limit(limit);
    }

    /// The readiness to wait for: READABLE, plus WRITABLE while bytes are
    /// queued on a socket. Always READABLE only on the device.
    ///
    /// ```
    /// use mio::{Interest, Poll, Token};
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// let mut poll = Poll::new()?;
    /// let interest = conn.interest();
    /// assert_eq!(interest, Interest::READABLE); // nothing queued
    /// poll.registry().register(&mut conn, Token(0), interest)?;
    /// // After each send or flush, keep the registration in step:
    /// let interest = conn.interest();
    /// poll.registry().reregister(&mut conn, Token(0), interest)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn interest(&self) -> Interest {
        match self.kind {
            TransportKind::Socket if self.queued_bytes() > 0 => {
                Interest::READABLE | Interest::WRITABLE
            }
            _ => Interest::READABLE,
        }
    }

    /// Splits into a receiver and a sender that can live in different
    /// threads.
    ///
    /// The receiver keeps this connection's fd (an existing registration
    /// with a poll now belongs to it, including the device's wake-up fd);
    /// the sender gets a `dup` of it (close-on-exec). Buffered and queued
    /// bytes go with their half. A fatal error on one half shuts a socket
    /// down, so the other half fails on its next call too.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, mut daemon) = UnixStream::pair()?;
    /// let (mut rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
    /// let frame = Header { op: Op::Read, req_id: 9, tx_id: 0, len: 0 }.to_bytes();
    /// tx.send(&frame)?; // e.g. from the caller's thread
    /// daemon.write_all(&frame)?; // echoed back
    /// let mut ids = Vec::new();
    /// rx.recv(|f| ids.push(f.header.req_id))?; // e.g. from a reader thread
    /// assert_eq!(ids, [9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split(self) -> Result<(FrameReceiver, FrameSender), TransportError> {
        let Connection {
            io,
            kind,
            peer,
            rx,
            tx,
            closed,
        } = self;
        if closed {
            return Err(TransportError::Closed);
        }
        let io_tx = io.try_clone()?;
        Ok((
            FrameReceiver {
                io,
                kind,
                peer: peer.clone(),
                rx,
                closed: false,
            },
            FrameSender {
                io: io_tx,
                kind,
                peer,
                tx,
                closed: false,
                poll: None,
            },
        ))
    }
}

impl Source for Connection {
    /// Registers the fd with `interests` on a socket; on the device with
    /// READABLE only, plus the wake-up fd for made-up replies.
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        let fd = (self.io.raw(), self.effective(interests));
        register_parts(registry, Some(fd), self.rx.wake_fd(), token, How::Register)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        let fd = (self.io.raw(), self.effective(interests));
        register_parts(
            registry,
            Some(fd),
            self.rx.wake_fd(),
            token,
            How::Reregister,
        )
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        let fd = (self.io.raw(), Interest::READABLE);
        register_parts(
            registry,
            Some(fd),
            self.rx.wake_fd(),
            Token(0),
            How::Deregister,
        )
    }
}

impl Connection {
    fn effective(&self, interests: Interest) -> Interest {
        match self.kind {
            TransportKind::Socket => interests,
            TransportKind::Xenbus => Interest::READABLE,
        }
    }
}

/// The reading half of a split [`Connection`].
///
/// Registers READABLE, whatever interest is asked for; on the device it
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
    io: RawConn,
    kind: TransportKind,
    peer: String,
    rx: RxState,
    closed: bool,
}

impl fmt::Debug for FrameReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReceiver")
            .field("kind", &self.kind)
            .field("peer", &self.peer)
            .field("fd", &self.io.raw())
            .field("closed", &self.closed)
            .finish()
    }
}

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
        let FrameReceiver { io, rx, closed, .. } = self;
        guarded(closed, io, || rx.recv(io, on_frame))
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
        self.rx.device.as_ref().is_some_and(DeviceRx::has_pending)
    }

    /// The transport.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportKind};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// assert_eq!(rx.kind(), TransportKind::Socket);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The largest payload the transport accepts for sending (4096 or
    /// 4080); received payloads may be up to 4096.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// assert_eq!(rx.max_payload(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_payload(&self) -> usize {
        self.kind.max_payload()
    }

    /// A human description of the other end.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// assert!(rx.peer().starts_with("unix socket"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether a fatal error has closed this half.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, daemon) = UnixStream::pair()?;
    /// let (mut rx, _tx) = Connection::from_unix_stream(ours)?.split()?;
    /// drop(daemon);
    /// assert!(rx.recv(|_| {}).is_err());
    /// assert!(rx.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl Source for FrameReceiver {
    /// Registers READABLE (whatever `interests` says), plus the device's
    /// wake-up fd.
    fn register(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        let fd = (self.io.raw(), Interest::READABLE);
        register_parts(registry, Some(fd), self.rx.wake_fd(), token, How::Register)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        let fd = (self.io.raw(), Interest::READABLE);
        register_parts(
            registry,
            Some(fd),
            self.rx.wake_fd(),
            token,
            How::Reregister,
        )
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        let fd = (self.io.raw(), Interest::READABLE);
        register_parts(
            registry,
            Some(fd),
            self.rx.wake_fd(),
            Token(0),
            How::Deregister,
        )
    }
}

/// The writing half of a split [`Connection`].
///
/// On a socket it registers with the interest asked for (WRITABLE is what
/// it needs, while [`queued_bytes`](FrameSender::queued_bytes) is non-zero).
/// On the device registering does nothing: writes never block there, so
/// there is nothing to wait for.
///
/// [`send_all`](FrameSender::send_all) is the simple way to use it from a
/// thread that has no poll of its own.
///
/// # Example
///
/// ```
/// use std::io::Read;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use xs_transport::Connection;
/// use xs_wire::{Ids, Path, Request};
///
/// let (ours, mut daemon) = UnixStream::pair()?;
/// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
/// let mut frame = [0u8; 64];
/// let n = Request::Read { path: Path::new("/a")? }.encode(Ids::new(1), &mut frame)?;
/// tx.send_all(&frame[..n], Some(Duration::from_secs(5)))?;
/// assert_eq!(tx.queued_bytes(), 0);
/// let mut got = vec![0u8; n];
/// daemon.read_exact(&mut got)?;
/// assert_eq!(got, &frame[..n]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FrameSender {
    io: RawConn,
    kind: TransportKind,
    peer: String,
    tx: TxState,
    closed: bool,
    /// Private poll for `send_all`, made on first need.
    poll: Option<Poll>,
}

impl fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSender")
            .field("kind", &self.kind)
            .field("peer", &self.peer)
            .field("fd", &self.io.raw())
            .field("queued_bytes", &self.queued_bytes())
            .field("closed", &self.closed)
            .finish()
    }
}

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
        let FrameSender { io, tx, closed, .. } = self;
        let result = guarded(closed, io, || tx.send(io, frame));
        if *closed {
            tx.writer.clear();
        }
        result
    }

    /// Sends several whole frames laid end to end in `frames`, then waits
    /// until everything is written, like [`send_all`](FrameSender::send_all).
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
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        {
            let FrameSender { io, tx, closed, .. } = self;
            let result = guarded(closed, io, || tx.send_many(io, frames));
            if *closed {
                tx.writer.clear();
            }
            result?;
        }
        while !self.flush()? {
            self.wait_writable(deadline)?;
        }
        Ok(())
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
        let FrameSender { io, tx, closed, .. } = self;
        guarded(closed, io, || tx.flush(io))
    }

    /// Queues `frame`, then writes everything queued, waiting for
    /// writability up to `timeout` (`None`: no limit) on a private
    /// `mio::Poll`.
    ///
    /// If the queue is full, waits for room first; if there is still no
    /// room when time runs out, returns [`TransportError::QueueFull`] with
    /// nothing queued. Once the frame is queued, running out of time gives
    /// [`TransportError::TimedOut`]: the frame stays queued (part of it may
    /// be written already) and a later `flush` or `send_all` continues.
    /// On the device writes go straight out.
    pub fn send_all(
        &mut self,
        frame: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), TransportError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            match self.send(frame) {
                Ok(()) => break,
                Err(full @ TransportError::QueueFull { .. }) if self.queued_bytes() > 0 => {
                    if !self.flush()? {
                        match self.wait_writable(deadline) {
                            Err(TransportError::TimedOut { .. }) => return Err(full),
                            other => other?,
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        while !self.flush()? {
            self.wait_writable(deadline)?;
        }
        Ok(())
    }

    fn wait_writable(&mut self, deadline: Option<Instant>) -> Result<(), TransportError> {
        let remaining = match deadline {
            None => None,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    return Err(TransportError::TimedOut {
                        queued: self.queued_bytes(),
                    })
                }
            },
        };
        if self.kind == TransportKind::Xenbus {
            // The device never reports writability; only a stand-in can
            // block at all. Pause and retry.
            thread::sleep(remaining.map_or(DEVICE_RETRY, |left| left.min(DEVICE_RETRY)));
            return Ok(());
        }
        let FrameSender {
            io, closed, poll, ..
        } = self;
        guarded(closed, io, || {
            let poll = match poll {
                Some(poll) => poll,
                None => {
                    let new = Poll::new()?;
                    SourceFd(&io.raw()).register(new.registry(), Token(0), Interest::WRITABLE)?;
                    poll.insert(new)
                }
            };
            let mut events = Events::with_capacity(2);
            match poll.poll(&mut events, remaining) {
                Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(TransportError::Io(e)),
                _ => Ok(()),
            }
        })
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
        self.tx.writer.queued_bytes()
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
        self.tx.writer.queue_limit()
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
        self.tx.writer.set_queue_limit(limit);
    }

    /// The transport.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportKind};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (_rx, tx) = Connection::from_unix_stream(ours)?.split()?;
    /// assert_eq!(tx.kind(), TransportKind::Socket);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The largest payload [`send`](FrameSender::send) accepts: 4096 on a
    /// socket, 4080 on the device.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (_rx, tx) = Connection::from_unix_stream(ours)?.split()?;
    /// assert_eq!(tx.max_payload(), 4096); // 4080 on the xenbus device
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_payload(&self) -> usize {
        self.kind.max_payload()
    }

    /// A human description of the other end.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let (_rx, tx) = Connection::from_unix_stream(ours)?.split()?;
    /// println!("sending to {}", tx.peer());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Whether a fatal error has closed this half.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::Connection;
    /// use xs_wire::{Header, Op};
    ///
    /// let (ours, daemon) = UnixStream::pair()?;
    /// let (_rx, mut tx) = Connection::from_unix_stream(ours)?.split()?;
    /// drop(daemon);
    /// let frame = Header { op: Op::Read, req_id: 1, tx_id: 0, len: 0 }.to_bytes();
    /// assert!(tx.send(&frame).is_err()); // EPIPE
    /// assert!(tx.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl Source for FrameSender {
    /// Registers the fd with `interests` on a socket; does nothing on the
    /// device.
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        register_parts(
            registry,
            self.socket_fd(interests),
            None,
            token,
            How::Register,
        )
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        register_parts(
            registry,
            self.socket_fd(interests),
            None,
            token,
            How::Reregister,
        )
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        let fd = self.socket_fd(Interest::WRITABLE);
        register_parts(registry, fd, None, Token(0), How::Deregister)
    }
}

impl FrameSender {
    fn socket_fd(&self, interests: Interest) -> Option<(RawFd, Interest)> {
        (self.kind == TransportKind::Socket).then(|| (self.io.raw(), interests))
    }
}

/// The socket or device fd, e.g. to check its flags or to drive it from
/// another event loop. On the device, made-up error replies for rejected
/// WATCH/UNWATCH writes do not make this fd readable (the mio
/// registration covers them); such a loop must call `recv` after a send
/// that may have been rejected.
impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.file.as_fd()
    }
}

/// The receiver's fd (the original one); see [`Connection`]'s `AsFd`.
impl AsFd for FrameReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.file.as_fd()
    }
}

/// The sender's fd (a `dup` of the connection's).
impl AsFd for FrameSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.file.as_fd()
    }
}
