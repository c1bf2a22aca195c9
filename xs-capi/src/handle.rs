//! `struct xs_handle`: one connection, found the way libxenstore finds it,
//! shared by every thread that holds the pointer.
//!
//! The connection is made here (not by `Client::open`) only to learn its
//! fd: closing a handle with watches shuts the socket down so the pump
//! thread wakes at once, and `xs_daemon_destroy_postfork` closes the fd in a
//! child without touching anything the parent's threads may have locked.

use std::ffi::c_ulong;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::{Arc, Mutex};

use xs_client::compat::Xs;
use xs_client::{Client, Error, MonitorOptions, TransportKind};
use xs_transport::{Endpoint, TransportError};

use crate::watch_queue::WatchQueue;

/// `XS_UNWATCH_FILTER`, the one open flag that changes anything.
pub(crate) const XS_UNWATCH_FILTER: c_ulong = 1 << 2;

/// What `struct xs_handle *` points to.
pub(crate) struct Handle {
    pub(crate) client: Client,
    /// Requests that name a transaction id.
    pub(crate) xs: Xs,
    pub(crate) watches: Arc<WatchQueue>,
    /// `xs_get_features_supported`'s answer, asked once per handle.
    pub(crate) features: Mutex<Option<u32>>,
    fd: RawFd,
    is_socket: bool,
}

impl Handle {
    /// Connects: `$XENSTORED_PATH`, the daemon's socket, or the device.
    pub(crate) fn open(flags: c_ulong) -> Result<Handle, Error> {
        let endpoint = Endpoint::discover();
        let conn = endpoint.connect().map_err(|e| match e {
            TransportError::Connect { path, source } => Error::Connect {
                path,
                source: Arc::new(source),
            },
            other => Error::Connect {
                path: endpoint.path().to_owned(),
                source: Arc::new(std::io::Error::other(other.to_string())),
            },
        })?;
        let fd = conn.as_fd().as_raw_fd();
        let is_socket = conn.kind() == TransportKind::Socket;
        let client = Client::with_connection(conn)?;
        let filter = flags & XS_UNWATCH_FILTER != 0;
        // Without the filter every event is delivered, even of removed watches.
        let monitor = client.monitor_with(MonitorOptions {
            keep_unwatched: !filter,
            ..MonitorOptions::default()
        });
        Ok(Handle {
            xs: Xs::with_client(client.clone()),
            client,
            watches: Arc::new(WatchQueue::new(monitor, filter)),
            features: Mutex::new(None),
            fd,
            is_socket,
        })
    }

    /// Closes: stops the pump, then drops the connection. A handle with
    /// watches or a pump shuts its socket down first: that wakes the pump at
    /// once, and the monitor's farewell UNWATCHes then fail at once instead
    /// of waiting on the daemon (libxenstore's close never waits either).
    /// A handle without either leaves the socket alone, so closing a copy
    /// inherited across fork does not cut the parent's connection.
    pub(crate) fn close(self) {
        let (fd, is_socket) = (self.fd, self.is_socket);
        let busy = self.watches.has_pump() || !self.watches.monitor().watched().is_empty();
        if busy && is_socket {
            // SAFETY: fd is the connection's socket, still open (the client
            // owning it is alive).
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        self.watches.stop_pump();
        drop(self);
    }

    /// After fork, in the child: closes the fds and leaks the rest. Locks
    /// and threads belong to the parent; dropping the client would join a
    /// reader thread that does not exist here and send UNWATCH for the
    /// parent's watches on the shared socket.
    pub(crate) fn destroy_postfork(self) {
        // SAFETY: the connection's fd; the objects owning it are leaked
        // below, so nothing closes it twice.
        unsafe { libc::close(self.fd) };
        self.watches.close_pipe_postfork();
        std::mem::forget(self);
    }
}
