//! Connections: one fd, a read buffer, a write queue, and mio readiness.
//!
//! A [`Connection`] owns one close-on-exec fd, used without blocking: a
//! connected Unix stream socket or the xenbus device. It is driven by readiness: when
//! a `mio::Poll` reports it readable, [`Connection::recv`] reads until the fd
//! would block and hands out every complete frame; [`Connection::send`]
//! writes at once what the fd takes and queues the rest, which
//! [`Connection::flush`] writes when the fd is reported writable.
//!
//! For a reader thread and writer threads, [`Connection::split`] gives a
//! [`FrameReceiver`] and a [`FrameSender`], each with its own fd (a `dup`),
//! so each can be registered with a different poll. All three are facades
//! over one implementation (`link.rs`); what differs between the socket
//! and the device is kept in `device.rs` (see the crate docs for the list).

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use mio::Interest;
use xs_wire::Frame;

use crate::device;
use crate::fd::{self, Fd};
use crate::link::{facade, Duplex, Link};
use crate::read_half::ReadHalf;
use crate::write_half::WriteHalf;
use crate::{Endpoint, FrameReceiver, FrameSender, TransportError, TransportKind};

/// A connection to xenstored over its Unix socket or the xenbus device.
///
/// The fd is close-on-exec and never waited on by `Connection`'s calls (a
/// socket is left in blocking mode and read and written with
/// `MSG_DONTWAIT`, so that [`FrameReceiver::recv_wait`] can block; the
/// device is non-blocking). `Connection` implements
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
/// A loop that polls [`as_fd`](std::os::fd::AsFd::as_fd) some other way
/// does not see that fd, and must call `recv` after a send that may have
/// been rejected. See the crate docs for what is left to the client.
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
    pub(crate) link: Link<Duplex>,
}

facade!(Connection);

impl Connection {
    /// Connects to xenstored where [`Endpoint::discover`] says it is.
    ///
    /// A failure names every place discovery looked at
    /// ([`TransportError::Discovery`]: the socket that was missing, the
    /// device paths), not only the last one tried; with `XENSTORED_PATH`
    /// set, only that path is tried and named.
    ///
    /// ```no_run
    /// let conn = xs_transport::Connection::open()?;
    /// println!("connected to {} ({:?})", conn.peer(), conn.kind());
    /// # Ok::<(), xs_transport::TransportError>(())
    /// ```
    pub fn open() -> Result<Connection, TransportError> {
        Endpoint::discover_traced().connect()
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
        Connection::build_at(path, stream.into(), TransportKind::Socket)
    }

    /// Opens a xenbus device (`/dev/xen/xenbus`, ...) read-write.
    ///
    /// Errors are [`TransportError::Connect`], naming `path`, or
    /// [`TransportError::NotPollable`] when `path` is no device (a regular
    /// file, `/dev/null`: nothing a poll can wait on). On Linux,
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
    /// // A wrong path is refused at once, naming it.
    /// let err = Connection::xenbus("/dev/null").unwrap_err();
    /// assert!(matches!(err, TransportError::NotPollable { file_type: "character device", .. }));
    /// assert!(err.to_string().starts_with("cannot connect to xenstored at /dev/null"));
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
        Connection::build_at(path, file.into(), TransportKind::Xenbus)
    }

    /// Wraps a connected Unix stream (e.g. one end of
    /// [`UnixStream::pair`]), making it close-on-exec (and blocking: every
    /// call that must not wait says so).
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
        Connection::build(stream.into(), TransportKind::Socket, peer)
    }

    /// Wraps an open xenbus device fd, making it non-blocking and
    /// close-on-exec. The device's rules apply whatever the fd is, so a
    /// test can hand in one end of a socket pair as a stand-in; it must be
    /// something a poll can wait on ([`TransportError::NotPollable`]).
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
        let peer = fd::describe(fd.as_raw_fd(), "xenbus device");
        Connection::build(fd, TransportKind::Xenbus, peer)
    }

    /// [`build`](Connection::build) for an fd opened from `path`: every
    /// failure names it ([`TransportError::Connect`], or
    /// [`TransportError::NotPollable`]).
    fn build_at(
        path: &Path,
        fd: OwnedFd,
        kind: TransportKind,
    ) -> Result<Connection, TransportError> {
        Connection::build(fd, kind, path.display().to_string()).map_err(|e| match e {
            TransportError::Io(source) => TransportError::Connect {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Wraps `fd`. The device must be pollable: everything here is driven
    /// by readiness, so a path that is no device (a regular file,
    /// `/dev/null`) is refused now, naming `peer`, rather than at the first
    /// poll registration.
    fn build(fd: OwnedFd, kind: TransportKind, peer: String) -> Result<Connection, TransportError> {
        let fd = Fd::new(fd, kind)?;
        let (rx_dev, tx_dev) = match kind {
            TransportKind::Xenbus => {
                fd.check_pollable(Path::new(&peer))?;
                let (rx, tx) = device::channel()?;
                (Some(rx), Some(tx))
            }
            TransportKind::Socket => (None, None),
        };
        let is_socket = fd.is_socket();
        Ok(Connection {
            link: Link {
                fd,
                kind,
                peer,
                closed: false,
                halves: Duplex {
                    rx: ReadHalf::new(rx_dev, is_socket),
                    tx: WriteHalf::new(kind, tx_dev, is_socket),
                },
            },
        })
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
        self.link.recv(on_frame)
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
        self.link.send(frame)
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
        self.link.queued_bytes()
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
        self.link.halves.tx.writer().queue_limit()
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
        self.link.halves.tx.writer_mut().set_queue_limit(limit);
    }

    /// The largest payload [`recv`](Connection::recv) accepts (default
    /// [`DEFAULT_RECV_LIMIT`](crate::DEFAULT_RECV_LIMIT), 64 KiB).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, DEFAULT_RECV_LIMIT};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let conn = Connection::from_unix_stream(ours)?;
    /// assert_eq!(conn.recv_limit(), DEFAULT_RECV_LIMIT);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_limit(&self) -> usize {
        self.link.halves.rx.recv_limit()
    }

    /// Changes the largest payload [`recv`](Connection::recv) accepts
    /// (lowered to [`RECV_LIMIT_CEILING`](crate::RECV_LIMIT_CEILING) if
    /// larger).
    ///
    /// A client keeps the default: replies over the protocol's 4096 bytes
    /// come from oxenstored (long `DIRECTORY` listings on its socket). A
    /// server reading requests sets [`xs_wire::PAYLOAD_MAX`], the
    /// protocol's limit, as xenstored does. A frame announcing more fails
    /// `recv` with [`TransportError::Protocol`] carrying
    /// [`xs_wire::WireError::FrameTooLarge`] (its header and the limit),
    /// and closes the connection. The read buffer grows beyond one
    /// 4096-byte frame only while a larger frame is being read.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportError};
    /// use xs_wire::{Header, Op, WireError, PAYLOAD_MAX};
    ///
    /// let (ours, mut client) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// conn.set_recv_limit(PAYLOAD_MAX); // a server: requests are at most 4096
    /// let header = Header { op: Op::Write, req_id: 5, tx_id: 0, len: 4097 };
    /// client.write_all(&header.to_bytes())?;
    /// match conn.recv(|_| {}) {
    ///     Err(TransportError::Protocol(WireError::FrameTooLarge { header: h, max: 4096 })) => assert_eq!(h, header),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_recv_limit(&mut self, limit: usize) {
        self.link.halves.rx.set_recv_limit(limit);
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
        match self.link.kind {
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
        let Link {
            fd,
            kind,
            peer,
            closed,
            halves: Duplex { rx, tx },
        } = self.link;
        if closed {
            return Err(TransportError::Closed);
        }
        let tx_fd = fd.try_clone()?;
        let receiver = Link {
            fd,
            kind,
            peer: peer.clone(),
            closed: false,
            halves: rx,
        };
        let sender = Link {
            fd: tx_fd,
            kind,
            peer,
            closed: false,
            halves: tx,
        };
        Ok((
            FrameReceiver::from_link(receiver),
            FrameSender::from_link(sender),
        ))
    }
}
