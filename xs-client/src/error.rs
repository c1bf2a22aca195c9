//! The client's error type.
//!
//! One enum for everything a call can fail with, so callers match on
//! variants rather than strings: a daemon's error reply (with the errno and
//! the raw name kept, since daemons send names outside Xen's table), a request
//! refused before sending, a connection that could not be made or has died,
//! a timeout, and a transaction that kept conflicting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use xs_wire::{Errno, Op, WireError};

/// Everything a client call can fail with.
///
/// ```
/// use xs_client::Error;
/// use xs_wire::{Errno, Op};
/// let e = Error::daemon(Op::Read, Some("/missing"), "ENOENT");
/// assert!(e.is_not_found());
/// assert_eq!(e.errno(), Some(Errno::ENOENT));
/// assert_eq!(e.to_string(), "READ /missing: ENOENT");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The daemon answered with an error name.
    #[error("{op}{}: {name}", path.as_deref().map(|p| format!(" {p}")).unwrap_or_default())]
    Daemon {
        /// The operation that failed.
        op: Op,
        /// The path it named, if any.
        path: Option<String>,
        /// The name's entry in Xen's table, if it has one.
        errno: Option<Errno>,
        /// The name exactly as sent (`"ENOENT"`, `"EQUOTA"`, ...).
        name: String,
    },
    /// The request was refused before anything was sent: a bad path,
    /// permission, token or size.
    #[error("invalid request: {0}")]
    Invalid(#[from] WireError),
    /// The connection could not be made.
    #[error("cannot connect to xenstored at {}: {source}", path.display())]
    Connect {
        /// The socket or device that failed.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The daemon sent something this client cannot accept (wrong type, an
    /// unknown request id, a malformed payload). The connection is closed.
    #[error("unexpected packet from xenstored: {0}")]
    UnexpectedPacket(Arc<str>),
    /// The connection is gone; `reason` says why.
    #[error("disconnected from xenstored: {reason}")]
    Disconnected {
        /// What ended it.
        reason: Arc<str>,
    },
    /// No reply (or event) arrived in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A transaction kept conflicting (`EAGAIN`) until the attempts ran out.
    #[error("transaction still conflicting after {attempts} attempts")]
    Conflict {
        /// How many times it was tried.
        attempts: u32,
    },
    /// A monitor's bounded queue filled; `dropped` events were lost.
    #[error("watch event queue overflowed: {dropped} events lost")]
    Overflow {
        /// Number of events dropped since the last one delivered.
        dropped: u64,
    },
}

impl Error {
    /// A daemon error reply.
    ///
    /// ```
    /// use xs_client::Error;
    /// use xs_wire::{Errno, Op};
    /// let e = Error::daemon(Op::Write, Some("/local/domain/1/data/big"), "EQUOTA");
    /// assert_eq!(e.errno(), None); // not in Xen's errno table, but kept by name
    /// assert!(matches!(&e, Error::Daemon { name, .. } if name == "EQUOTA"));
    /// assert_eq!(Error::daemon(Op::Rm, None, "EACCES").errno(), Some(Errno::EACCES));
    /// ```
    pub fn daemon(op: Op, path: Option<&str>, name: &str) -> Error {
        Error::Daemon {
            op,
            path: path.map(str::to_owned),
            errno: Errno::from_name(name.as_bytes()),
            name: name.to_owned(),
        }
    }

    /// The daemon's errno, for [`Error::Daemon`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Errno, Store};
    ///
    /// let client = Client::open()?;
    /// client.mkdir("/local/domain/1/device/vif/0")?;
    /// let err = client.list("/local/domain/1/device/vif/0/state").unwrap_err();
    /// assert_eq!(err.errno(), Some(Errno::ENOENT));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Daemon { errno, .. } => *errno,
            _ => None,
        }
    }

    /// The node (or transaction, or watch) does not exist: `ENOENT`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// match client.read("/local/domain/1/device/vif/0/backend") {
    ///     Ok(path) => println!("backend at {}", String::from_utf8_lossy(&path)),
    ///     Err(e) if e.is_not_found() => println!("no vif 0 yet"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(Errno::ENOENT)
    }

    /// A transaction conflict: `EAGAIN` from the daemon, or
    /// [`Error::Conflict`] after retries.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::builder().transact_attempts(1).connect()?;
    /// _xs.fail_next_commits(1);
    /// let err = client.transact(|tx| tx.write("/local/domain/0/counter", "1")).unwrap_err();
    /// assert!(err.is_conflict()); // worth retrying later
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. }) || self.errno() == Some(Errno::EAGAIN)
    }

    /// Permission denied: `EACCES` (or `EPERM`).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// // Domain 1 may not touch dom0's nodes.
    /// let guest = Client::unix(_xs.socket_for_domain(1))?;
    /// let err = guest.write("/local/domain/0/name", "mine").unwrap_err();
    /// assert!(err.is_permission_denied());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.errno(), Some(Errno::EACCES | Errno::EPERM))
    }

    /// The daemon does not support the operation: `ENOSYS`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?;
    /// let quota = match client.get_quota(None, "nodes") {
    ///     Ok(n) => Some(n),
    ///     Err(e) if e.is_unsupported() => None, // daemon older than Xen 4.22
    ///     Err(e) => return Err(e),
    /// };
    /// # assert_eq!(quota, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_unsupported(&self) -> bool {
        self.errno() == Some(Errno::ENOSYS)
    }

    /// The connection is gone (or was never made), so retrying on this
    /// client cannot succeed.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// drop(_xs); // xenstored goes away
    /// let err = client.read("/local/domain/0/name").unwrap_err();
    /// assert!(err.is_disconnected()); // reconnect: this client is done
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(
            self,
            Error::Disconnected { .. } | Error::UnexpectedPacket(_) | Error::Connect { .. }
        )
    }

    /// A copy for the second and later callers told about the same failure.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::UnexpectedPacket(s) => Error::UnexpectedPacket(s.clone()),
            Error::Disconnected { reason } => Error::Disconnected {
                reason: reason.clone(),
            },
            other => Error::Disconnected {
                reason: other.to_string().into(),
            },
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
