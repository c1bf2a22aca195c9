//! Unix socket and xenbus device transports for XenStore, driven by mio
//! readiness.
//!
//! xenstored is reached in one of two ways: its Unix stream socket (in dom0
//! or a driver domain) or the kernel's xenbus character device (in any
//! guest, e.g. `/dev/xen/xenbus`), which relays messages over the shared
//! ring. Both carry the same frames, but the device has rules of its own.
//! This crate hides those it can behind one [`Connection`] type, so that
//! the client above it is written once, and leaves the rest, which are
//! about requests and replies rather than bytes, to the client's protocol
//! core.
//!
//! It does I/O and framing only. Frames are encoded and decoded by
//! [`xs_wire`]; what a request means and which reply belongs to it is the
//! client's business.
//!
//! # What the transport hides
//!
//! | | socket | xenbus device | where |
//! |---|---|---|---|
//! | bytes per `write()` | as many as fit | one message's only (the driver drops the rest of a call) | `FrameWriter` |
//! | payload limit for sending | 4096 | 4080 (header and payload share a 4096-byte buffer): refused before writing, [`TransportError::PayloadTooLarge`] | [`TransportKind::max_payload`] |
//! | writability events | yes | never (writes never block): registered READABLE only; [`blocking`] retries after a short sleep | `device.rs` |
//! | rejected WATCH/UNWATCH | `XS_ERROR` reply | failed `write()`, turned into the `XS_ERROR` reply xenstored would send (same `req_id`/`tx_id`; an errno outside Xen's table is `EINVAL`, as in libxenstore), delivered by the next `recv` and waking the poll | `device.rs` |
//! | a path that is no device | n/a | refused when connecting ([`TransportError::NotPollable`]), not at the first poll | `fd.rs` |
//! | `SIGPIPE` on a vanished peer | suppressed (`MSG_NOSIGNAL`) | n/a | `sys.rs` |
//! | replies over 4096 bytes | oxenstored's long listings: accepted up to [`DEFAULT_RECV_LIMIT`] (64 KiB) | never sent (the driver refuses them) | [`Connection::set_recv_limit`] |
//!
//! # What it leaves to the client core
//!
//! * **One request on the wire at a time on the device.** The transport
//!   writes every frame it is given; a client must not send the next
//!   request through the device before a reply (any reply, an error
//!   included, or a made-up one from a rejected WATCH) has freed the slot.
//!   Watch events do not free it.
//! * **The device's WATCH replies may carry `req_id` 0** (the kernel
//!   answers WATCH itself). The transport passes frames through unchanged;
//!   matching such a reply to the WATCH waiting for it (the only request
//!   on the wire) is the client's.
//! * **What a frame means**: request ids, reply matching, watch events,
//!   errors named by the daemon. A reply over 4096 bytes is handed out
//!   like any other.
//!
//! # Pieces
//!
//! * [`Endpoint`]: where xenstored is, found with libxenstore's rules
//!   ([`Endpoint::discover`]: `$XENSTORED_PATH`, the run directory's
//!   socket, the OS's device).
//! * [`Connection`]: a close-on-exec fd, never waited on, with a bounded read
//!   buffer and write queue, and a [`mio::event::Source`], so one poll loop
//!   can wait for "frames ready", "can write more" and a [`mio::Waker`]
//!   (another thread's "send this" or "shut down").
//! * [`FrameReceiver`] / [`FrameSender`]: the halves of a
//!   [`split`](Connection::split) connection, for a reader thread and
//!   writers elsewhere.
//! * [`FrameReader`] / [`FrameWriter`]: the buffer logic, usable over any
//!   [`std::io::Read`] / [`std::io::Write`] without an fd (and tested that
//!   way).
//! * [`blocking`]: [`send_all`](blocking::send_all) and friends, for a
//!   thread without a poll of its own, kept apart from the readiness-driven
//!   types.
//!
//! The three connection types are facades over one implementation (an fd,
//! its halves and its closed state, with one `mio::event::Source` impl),
//! in the manner of `tokio-util`'s `Framed` types; what differs between
//! the transports lives in one file (`device.rs`).
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
//! read buffer holds one 4096-byte frame plus one read chunk, and grows
//! only to hold one frame up to the receive limit while it is read; a
//! header announcing more than the limit is a [`TransportError::Protocol`]
//! error naming the frame ([`xs_wire::WireError::FrameTooLarge`]),
//! the write queue has a byte limit ([`TransportError::QueueFull`]), and
//! writes use `MSG_NOSIGNAL` so a vanished peer gives `EPIPE` rather than
//! `SIGPIPE`. Any such failure is a typed [`TransportError`] after which the
//! connection is closed.
#![deny(missing_docs)]

pub mod blocking;
mod connection;
mod device;
pub mod endpoint;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod epoll;
mod error;
mod fd;
mod fork;
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
pub use fork::generation as fork_generation;
pub use read_half::{DEFAULT_RECV_LIMIT, RECV_LIMIT_CEILING};
pub use reader::{FrameReader, READ_CHUNK};
pub use receiver::FrameReceiver;
pub use sender::FrameSender;
pub use writer::{check_frame, error_reply, FrameWriter, DEFAULT_QUEUE_LIMIT};

#[cfg(test)]
mod tests;
