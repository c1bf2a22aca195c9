//! Unix socket and xenbus device transports for XenStore, driven by mio
//! readiness.
//!
//! xenstored is reached in one of two ways: its Unix stream socket (in dom0
//! or a driver domain) or the kernel's xenbus character device (in any
//! guest, e.g. `/dev/xen/xenbus`), which relays messages over the shared
//! ring. Both carry the same frames, but the device has rules of its own
//! (one message per `write()`, a 4080-byte payload limit, no writability
//! events, WATCH errors reported as failed writes). This crate hides the
//! difference behind one [`Connection`] type so that the client above it
//! is written once.
//!
//! It does I/O and framing only. Frames are encoded and decoded by
//! [`xs_wire`]; what a request means and which reply belongs to it is the
//! client's business.
//!
//! # Pieces
//!
//! * [`Endpoint`]: where xenstored is, found with libxenstore's rules
//!   ([`Endpoint::discover`]: `$XENSTORED_PATH`, the run directory's
//!   socket, the OS's device).
//! * [`Connection`]: a non-blocking, close-on-exec fd with a bounded read
//!   buffer and write queue, and a [`mio::event::Source`], so one poll loop
//!   can wait for "frames ready", "can write more" and a [`mio::Waker`]
//!   (another thread's "send this" or "shut down").
//! * [`FrameReceiver`] / [`FrameSender`]: the halves of a
//!   [`split`](Connection::split) connection, for a reader thread and
//!   writers elsewhere.
//! * [`FrameReader`] / [`FrameWriter`]: the buffer logic, usable over any
//!   [`std::io::Read`] / [`std::io::Write`] without an fd (and tested that
//!   way).
//!
//! # Example
//!
//! One event loop serving a connection and a waker:
//!
//! ```no_run
//! use mio::{Events, Poll, Token, Waker};
//! use std::sync::Arc;
//! use xs_transport::Connection;
//!
//! const XS: Token = Token(0);
//! const WAKE: Token = Token(1);
//!
//! let mut conn = Connection::open()?;
//! let mut poll = Poll::new()?;
//! let interest = conn.interest();
//! poll.registry().register(&mut conn, XS, interest)?;
//! let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
//! // ... hand `waker` to threads that queue requests for this loop ...
//!
//! let mut events = Events::with_capacity(64);
//! loop {
//!     poll.poll(&mut events, None)?;
//!     for event in &events {
//!         match event.token() {
//!             XS => {
//!                 conn.recv(|frame| println!("{:?} for request {}", frame.header.op, frame.header.req_id))?;
//!                 conn.flush()?;
//!             }
//!             WAKE => { /* take queued requests, conn.send(..) each */ }
//!             _ => unreachable!(),
//!         }
//!     }
//!     // Ask for writability only while bytes wait.
//!     let interest = conn.interest();
//!     poll.registry().reregister(&mut conn, XS, interest)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Robustness
//!
//! A peer cannot make this crate panic or grow memory without bound: the
//! read buffer is fixed at one largest frame plus one read chunk, a header
//! announcing more than 4096 bytes is a [`TransportError::Protocol`] error,
//! the write queue has a byte limit ([`TransportError::QueueFull`]), and
//! writes use `MSG_NOSIGNAL` so a vanished peer gives `EPIPE` rather than
//! `SIGPIPE`. Any such failure is a typed [`TransportError`] after which the
//! connection is closed.
#![deny(missing_docs)]

pub mod blocking;
mod connection;
mod device;
pub mod endpoint;
mod error;
mod fd;
mod link;
mod read_half;
mod reader;
mod receiver;
mod sender;
mod sys;
mod write_half;
mod writer;

pub use connection::Connection;
pub use endpoint::{Endpoint, TransportKind};
pub use error::TransportError;
pub use read_half::{DEFAULT_RECV_LIMIT, RECV_LIMIT_CEILING};
pub use reader::{FrameReader, READ_CHUNK};
pub use receiver::FrameReceiver;
pub use sender::FrameSender;
pub use writer::{check_frame, error_reply, FrameWriter, DEFAULT_QUEUE_LIMIT};

#[cfg(test)]
mod tests;
