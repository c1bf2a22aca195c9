//! The transport's error type.
//!
//! Every failure is its own variant so that a caller can tell "this request
//! was refused, the connection is fine" ([`TransportError::PayloadTooLarge`],
//! [`TransportError::QueueFull`], [`TransportError::MalformedFrame`],
//! [`TransportError::TimedOut`]) from "the connection is gone" (everything
//! else; see [`TransportError::is_fatal`]) without matching on strings.

use std::io;
use std::path::PathBuf;

use crate::endpoint::Skipped;

/// Everything that can go wrong while opening or using a connection.
///
/// Fatal errors (see [`is_fatal`](TransportError::is_fatal)) close the
/// connection: the call that returned one has already shut the socket down,
/// and every later call on the same connection (or on either half of a
/// split connection, once the shutdown has reached it) returns
/// [`TransportError::Closed`].
///
/// ```
/// use xs_transport::TransportError;
/// let err = TransportError::PayloadTooLarge { len: 5000, max: 4096 };
/// assert!(!err.is_fatal());
/// assert_eq!(err.to_string(), "payload of 5000 bytes exceeds the transport's limit of 4096");
/// ```
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// Opening the socket or device failed.
    #[error("cannot connect to xenstored at {}: {source}", path.display())]
    Connect {
        /// The socket or device path that was tried.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// The path opened as the xenbus device is something a poll cannot wait
    /// on (a regular file, `/dev/null`, ...), so it cannot be the device.
    /// Found when connecting, not at the first poll.
    #[error("cannot connect to xenstored at {}: a {file_type} cannot be polled ({source}); expected the xenbus device", path.display())]
    NotPollable {
        /// The path (or, for an fd handed in, what it was opened from).
        path: PathBuf,
        /// What the path is: "regular file", "character device", ...
        file_type: &'static str,
        /// What registering it with a poll said.
        source: io::Error,
    },
    /// Connecting where discovery led failed; `skipped` lists the places
    /// discovery looked at before and passed over (a missing socket, a
    /// missing `/dev/xen/xenbus`, ...), `cause` is the failure at the place
    /// it chose ([`TransportError::Connect`] or
    /// [`TransportError::NotPollable`], unchanged).
    #[error("{cause}; discovery also tried {}", Skipped::list(skipped))]
    Discovery {
        /// The places passed over, in the order looked at.
        skipped: Vec<Skipped>,
        /// The failure at the place chosen.
        #[source]
        cause: Box<TransportError>,
    },
    /// Reading or writing failed.
    #[error("xenstore connection I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection cleanly (at a frame boundary), or the
    /// connection was closed earlier after a fatal error.
    #[error("xenstore connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("xenstore connection closed mid-frame: got {have} of {needed} bytes")]
    Truncated {
        /// Bytes of the unfinished frame that had arrived.
        have: usize,
        /// Bytes that frame needed in all, as far as known: 16 while the
        /// header was incomplete, header plus payload length after.
        needed: usize,
    },
    /// The peer broke the protocol, e.g. announced a payload over 4096 bytes.
    #[error("xenstore protocol error: {0}")]
    Protocol(#[from] xs_wire::WireError),
    /// A frame handed to `send` has a payload over this transport's limit
    /// (4096 on a socket, 4080 on the xenbus device). Nothing was sent.
    #[error("payload of {len} bytes exceeds the transport's limit of {max}")]
    PayloadTooLarge {
        /// The payload length in the frame's header.
        len: usize,
        /// The transport's limit.
        max: usize,
    },
    /// The write queue cannot take the frame without going over its limit.
    /// Nothing was queued; flush (wait for writability) and try again.
    #[error("write queue full: {queued} bytes queued, limit {limit}")]
    QueueFull {
        /// Bytes already queued.
        queued: usize,
        /// The queue's limit in bytes.
        limit: usize,
    },
    /// The bytes handed to `send` are not exactly one encoded frame (too
    /// short for a header, or a length that disagrees with the header's).
    /// Nothing was queued.
    #[error("not one complete frame: got {len} bytes, its header calls for {expected}")]
    MalformedFrame {
        /// Bytes given.
        len: usize,
        /// Bytes one frame with that header has (16 if the header itself
        /// was incomplete).
        expected: usize,
    },
    /// `send_all` ran out of time. The frame is queued, but `queued` bytes
    /// (the frame's tail among them) are still waiting to be written.
    #[error("timed out writing to xenstore: {queued} bytes still queued")]
    TimedOut {
        /// Bytes still queued.
        queued: usize,
    },
}

impl TransportError {
    /// Whether the error ends the connection.
    ///
    /// `PayloadTooLarge`, `QueueFull`, `MalformedFrame` and `TimedOut` refuse
    /// or delay one frame and leave the connection usable; everything else
    /// means it is closed.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use xs_transport::{Connection, TransportError};
    ///
    /// let (ours, _daemon) = UnixStream::pair()?;
    /// let mut conn = Connection::from_unix_stream(ours)?;
    /// let err = conn.send(b"too short").unwrap_err(); // not a whole frame
    /// assert!(matches!(err, TransportError::MalformedFrame { .. }));
    /// assert!(!err.is_fatal() && !conn.is_closed()); // the connection lives on
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            TransportError::PayloadTooLarge { .. }
                | TransportError::QueueFull { .. }
                | TransportError::MalformedFrame { .. }
                | TransportError::TimedOut { .. }
        )
    }
}
