//! Limits, with oxenstored's defaults and error names.
//!
//! | field | default | hit gives | applies to |
//! |---|---|---|---|
//! | [`Quota::max_value_size`] | 2048 (`quota-maxsize`) | `E2BIG` | everyone |
//! | [`Quota::max_path_len`] | 1024 (`quota-path-max`) | `EINVAL` | everyone |
//! | [`Quota::max_watches`] | 100 (`quota-maxwatch`) | `EQUOTA` | unprivileged |
//! | [`Quota::max_transactions`] | 10 (`quota-transaction`) | `EQUOTA` | unprivileged |
//! | [`Quota::max_nodes_per_domain`] | 1000 (`quota-maxentity`) | `EQUOTA` | unprivileged |
//! | [`Quota::max_requests_per_transaction`] | 1024 (`quota-maxrequests`) | `EQUOTA` | unprivileged |
//! | [`Quota::max_outstanding`] | 1024 (`quota-maxoutstanding`) | flow control | everyone |
//! | [`Quota::max_queued_events`] | 1024 (`quota-maxwatchevents`) | connection closed | everyone |
//!
//! "Unprivileged" limits can be applied to privileged connections too with
//! [`Quota::apply_to_privileged`], so tests can hit them over the ordinary
//! dom0 socket. `None` switches a limit off.
//!
//! Differences from oxenstored: its watch and transaction checks are off by
//! one (they refuse only once a connection *already has more* than the
//! limit, so 101 watches and 11 transactions get through); here the limit
//! is the number a connection may have.
//!
//! The two flow-control limits protect the server from clients that do not
//! read: a connection with `max_outstanding` frames waiting to be sent is
//! not read from until it drains (oxenstored does the same), and one whose
//! queue grows past `max_outstanding + max_queued_events` (watch events
//! caused by other connections) is closed rather than allowed to grow
//! without bound.

/// The server's limits.
///
/// ```
/// use xs_server::Quota;
/// let q = Quota { max_watches: Some(2), ..Quota::default() };
/// assert_eq!(q.max_value_size, Some(2048));
/// assert_eq!(Quota::unlimited().max_watches, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Largest value `WRITE` accepts (`E2BIG` beyond).
    pub max_value_size: Option<usize>,
    /// Longest path, not counting a `/local/domain/<N>/` prefix (`EINVAL`).
    pub max_path_len: Option<usize>,
    /// Most watches per connection (`EQUOTA`).
    pub max_watches: Option<usize>,
    /// Most open transactions per connection (`EQUOTA`).
    pub max_transactions: Option<usize>,
    /// Most nodes a domain may own before creating more fails (`EQUOTA`).
    pub max_nodes_per_domain: Option<usize>,
    /// Most requests inside one transaction (`EQUOTA`).
    pub max_requests_per_transaction: Option<usize>,
    /// Apply the "unprivileged" limits to privileged connections too.
    pub apply_to_privileged: bool,
    /// Frames waiting to be sent at which a connection stops being read.
    pub max_outstanding: usize,
    /// Further frames (watch events) tolerated before the connection is
    /// closed.
    pub max_queued_events: usize,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_value_size: Some(2048),
            max_path_len: Some(1024),
            max_watches: Some(100),
            max_transactions: Some(10),
            max_nodes_per_domain: Some(1000),
            max_requests_per_transaction: Some(1024),
            apply_to_privileged: false,
            max_outstanding: 1024,
            max_queued_events: 1024,
        }
    }
}

impl Quota {
    /// No request limits at all (flow control stays on: it protects the
    /// server, not the store).
    ///
    /// ```
    /// use xs_server::{Quota, Server};
    ///
    /// // Let a test domain store as much as it likes.
    /// let quota = Quota { apply_to_privileged: true, ..Quota::unlimited() };
    /// assert_eq!(quota.max_nodes_per_domain, None);
    /// assert_eq!(quota.max_outstanding, Quota::default().max_outstanding); // flow control stays
    /// let server = Server::builder().quota(quota).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlimited() -> Quota {
        Quota {
            max_value_size: None,
            max_path_len: None,
            max_watches: None,
            max_transactions: None,
            max_nodes_per_domain: None,
            max_requests_per_transaction: None,
            ..Quota::default()
        }
    }

    /// A per-connection limit as it applies to a caller.
    pub(crate) fn for_caller(&self, limit: Option<usize>, privileged: bool) -> Option<usize> {
        if privileged && !self.apply_to_privileged {
            None
        } else {
            limit
        }
    }
}
