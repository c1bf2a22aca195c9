//! The client's error type.
//!
//! One enum for everything a call can fail with, so callers match on
//! variants rather than strings: a daemon's error reply (with the errno and
//! the raw name kept, since daemons send names outside Xen's table), a request
//! refused before sending, a connection that could not be made or has died,
//! a timeout, and a transaction that kept conflicting.
//!
//! Errors are facts: a connection that dies gives every waiting caller a
//! clone of the one error that killed it, never a rewording, and every
//! variant has a stable short name ([`Error::kind`]) for programs and logs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use xs_wire::{Errno, Header, Op, WireError};

pub use crate::unexpected::{Problem, Unexpected};

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
#[derive(Clone, Debug, thiserror::Error)]
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
    #[error("request not sent: {0}")]
    Invalid(#[from] WireError),
    /// A request the wire would carry but this client refuses to send,
    /// because it is almost certainly a mistake (see [`Refusal`]).
    #[error("refused before sending: {0}")]
    Refused(Refusal),
    /// The connection could not be made.
    #[error("cannot connect to xenstored at {}: {source}", path.display())]
    Connect {
        /// The socket or device that failed (for discovery, every path
        /// tried is in `source`'s text).
        path: PathBuf,
        /// Why (shared, so the error can be cloned).
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The daemon sent something this client cannot accept (wrong type, an
    /// unknown request id, a malformed payload), with the frame's header.
    /// The connection is closed.
    #[error("unexpected packet from xenstored: {0}")]
    UnexpectedPacket(Unexpected),
    /// The connection is gone; `reason` says why (it may name xenstored
    /// itself, so the text does not).
    #[error("disconnected: {reason}")]
    Disconnected {
        /// What ended it.
        reason: Arc<str>,
    },
    /// No reply (or event) arrived in time; the duration is the limit that
    /// expired.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection was lost after this request was written and before
    /// its answer came: it changes the store, so it was not re-sent, and it
    /// may or may not have been applied (reconnecting clients only).
    #[error("{op} may or may not have been applied: the connection to xenstored was lost before its answer")]
    MaybeApplied {
        /// The request's operation.
        op: Op,
    },
    /// The transaction was opened on a connection that has since been
    /// replaced: its id means nothing to the daemon now (reconnecting
    /// clients only). [`crate::Client::transact`] runs its closure again.
    #[error("transaction {tx_id} was lost with the connection to xenstored")]
    TransactionLost {
        /// The lost transaction's id.
        tx_id: u32,
    },
    /// Delivered by a monitor after its client reconnected: events may have
    /// been missed meanwhile, so re-read the state being watched. The
    /// watches are registered again, and the daemon's initial events follow.
    #[error("reconnected to xenstored: events may have been missed")]
    Reconnected,
    /// This handle was made before a `fork()` and is used in the child: the
    /// connection belongs to the parent, so nothing is sent (open a new
    /// client in the child).
    #[error("client used in a forked child; the connection belongs to the parent process")]
    Forked,
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
    /// # let _xs = xs_server::Server::builder().xen_version(xs_server::XenVersion::V4_17).spawn().unwrap();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::Client;
    ///
    /// let client = Client::open()?; // a Xen 4.17 daemon here
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
            Error::Disconnected { .. }
                | Error::UnexpectedPacket(_)
                | Error::Connect { .. }
                | Error::Forked
        )
    }

    /// The variant's stable short name, for programs to match and logs to
    /// grep: `"daemon"`, `"invalid"`, `"refused"`, `"connect"`,
    /// `"unexpected-packet"`, `"disconnected"`, `"timeout"`,
    /// `"maybe-applied"`, `"transaction-lost"`, `"reconnected"`, `"forked"`,
    /// `"conflict"`, `"overflow"`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use xs_client::Error;
    /// assert_eq!(Error::Timeout(Duration::from_secs(1)).kind(), "timeout");
    /// assert_eq!(Error::daemon(xs_wire::Op::Read, None, "ENOENT").kind(), "daemon");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Daemon { .. } => "daemon",
            Error::Invalid(_) => "invalid",
            Error::Refused(_) => "refused",
            Error::Connect { .. } => "connect",
            Error::UnexpectedPacket(_) => "unexpected-packet",
            Error::Disconnected { .. } => "disconnected",
            Error::Timeout(_) => "timeout",
            Error::MaybeApplied { .. } => "maybe-applied",
            Error::TransactionLost { .. } => "transaction-lost",
            Error::Reconnected => "reconnected",
            Error::Forked => "forked",
            Error::Conflict { .. } => "conflict",
            Error::Overflow { .. } => "overflow",
        }
    }

    /// An [`Error::UnexpectedPacket`] for a frame with header `header`.
    pub(crate) fn unexpected(problem: Problem, header: Option<Header>) -> Error {
        Error::UnexpectedPacket(Unexpected { problem, header })
    }

    /// An [`Error::Disconnected`] saying `reason`.
    pub(crate) fn disconnected(reason: impl Into<Arc<str>>) -> Error {
        Error::Disconnected {
            reason: reason.into(),
        }
    }
}

/// Why a request was refused before sending ([`Error::Refused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// `delete("/")` would empty the whole store (both daemons accept it);
    /// use [`crate::Store::delete_root`] if that is really meant.
    DeleteRoot,
    /// A domain id outside 0..=0x7FEF (domids are 16-bit and 0x7FF0 and
    /// up are reserved), in a permission or a domain operation.
    DomainId(u32),
    /// A raw request of a type that is not a request (`WATCH_EVENT`,
    /// `ERROR`).
    NotARequest(Op),
    /// [`crate::Client::supports`] of an operation that is not optional,
    /// or that has no harmless probe.
    NotProbeable(Op),
    /// A watch with a depth over the xenbus device: the Linux driver drops
    /// the depth, so the watch would fire for the whole subtree.
    DepthOnDevice,
    /// [`crate::Monitor::watch_try_depth`] of a special path: falling back
    /// to a plain watch would change the shape of its events.
    DepthFallbackOnSpecial,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::DeleteRoot => {
                f.write_str("deleting / would empty the store (use delete_root)")
            }
            Refusal::DomainId(d) => write!(f, "domain id {d} is outside 0..=32751"),
            Refusal::NotARequest(op) => write!(f, "{op} is not a request type"),
            Refusal::NotProbeable(op) => write!(f, "no harmless probe for {op}"),
            Refusal::DepthOnDevice => {
                f.write_str("the xenbus device drops a watch's depth (use a plain watch)")
            }
            Refusal::DepthFallbackOnSpecial => {
                f.write_str("a special path's watch cannot fall back to one without depth")
            }
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each text says each thing once: the variant's own words, then its
    /// cause's, never "xenstored" or "invalid" twice.
    #[test]
    fn texts_do_not_repeat_themselves() {
        let path = xs_wire::Path::new("a//b").unwrap_err();
        let header = Header {
            op: Op::Unwatch,
            req_id: 9,
            tx_id: 0,
            len: 3,
        };
        let cases: [(Error, &str); 10] = [
            (
                Error::daemon(Op::Read, Some("/a"), "ENOENT"),
                "READ /a: ENOENT",
            ),
            (
                Error::Invalid(path),
                "request not sent: invalid path: path contains `//`",
            ),
            (
                Error::Refused(Refusal::DeleteRoot),
                "refused before sending: deleting / would empty the store (use delete_root)",
            ),
            (
                Error::Connect {
                    path: "/tmp/xs/socket".into(),
                    source: Arc::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
                },
                "cannot connect to xenstored at /tmp/xs/socket: entity not found",
            ),
            (
                Error::unexpected(Problem::UnknownRequestId, Some(header)),
                "unexpected packet from xenstored: reply to a request id never sent \
                 (type UNWATCH, req_id 9, tx_id 0, len 3)",
            ),
            (
                Error::disconnected("too many requests left unanswered by xenstored"),
                "disconnected: too many requests left unanswered by xenstored",
            ),
            (
                Error::disconnected(xs_transport::TransportError::Closed.to_string()),
                "disconnected: xenstore connection closed",
            ),
            (
                Error::Timeout(Duration::from_secs(30)),
                "timed out after 30s",
            ),
            (
                Error::Forked,
                "client used in a forked child; the connection belongs to the parent process",
            ),
            (
                Error::Conflict { attempts: 64 },
                "transaction still conflicting after 64 attempts",
            ),
        ];
        for (error, text) in cases {
            let shown = error.to_string();
            assert_eq!(shown, text);
            for word in ["xenstored", "invalid", "disconnected", "refused"] {
                assert!(shown.matches(word).count() <= 1, "{word} twice: {shown}");
            }
        }
    }
}
