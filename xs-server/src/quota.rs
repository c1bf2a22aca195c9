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
//! | [`Quota::max_nodes_per_transaction`] | 1024 (C `transaction-nodes`) | `ENOSPC` | unprivileged |
//! | [`Quota::max_perms_per_node`] | 5 (C `node-permissions`) | `ENOSPC` | unprivileged |
//! | [`Quota::max_outstanding`] | 1024 (`quota-maxoutstanding`) | flow control | everyone |
//! | [`Quota::max_queued_events`] | 1024 (`quota-maxwatchevents`) | connection closed | everyone |
//!
//! `max_nodes_per_transaction` and `max_perms_per_node` are C xenstored's
//! and apply only when the server imitates Xen 4.22 ([`crate::XenVersion`]); `max_requests_per_transaction` is
//! oxenstored's and applies only when it imitates 4.17 or 4.20. In 4.22
//! mode every quota hit is `ENOSPC` (C xenstored) instead of `EQUOTA`.
//!
//! # Quotas over the protocol (Xen 4.22)
//!
//! `GET_QUOTA`/`SET_QUOTA` name the limits as the 4.22 `xenstore.txt` does
//! (`nodes`, `watches`, `transactions`, `node-size`, `permissions`), plus
//! two of C xenstored's own (`transaction-nodes`, `path-max`);
//! `node-permissions`, C xenstored's name for `permissions`, is accepted
//! too. Values are decimal and `0` means "no check" (`None` here). The
//! global values ([`crate::Config::quota`]) are the defaults for domains:
//! a domain gets its own copy the first time dom0 sets one of its quotas or
//! introduces it (as C xenstored allocates its domain structure), and from
//! then on changes to the global values no longer reach it.
//!
//! | name | field |
//! |---|---|
//! | `nodes` | [`Quota::max_nodes_per_domain`] |
//! | `watches` | [`Quota::max_watches`] |
//! | `transactions` | [`Quota::max_transactions`] |
//! | `node-size` | [`Quota::max_value_size`] (the value only; C counts the whole node) |
//! | `permissions` | [`Quota::max_perms_per_node`] |
//! | `transaction-nodes` | [`Quota::max_nodes_per_transaction`] |
//! | `path-max` | [`Quota::max_path_len`] |
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
    /// Most requests inside one transaction (`EQUOTA`; 4.17/4.20 only).
    pub max_requests_per_transaction: Option<usize>,
    /// Most distinct nodes one transaction may touch (`ENOSPC`; 4.22 only).
    pub max_nodes_per_transaction: Option<usize>,
    /// Most entries in a node's permission list (`ENOSPC`; 4.22 only).
    pub max_perms_per_node: Option<usize>,
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
            max_nodes_per_transaction: Some(1024),
            max_perms_per_node: Some(5),
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
            max_nodes_per_transaction: None,
            max_perms_per_node: None,
            ..Quota::default()
        }
    }

    /// The value of the quota called `name` over the protocol (`0`: no
    /// check), or `None` if there is no such quota.
    ///
    /// ```
    /// use xs_server::Quota;
    /// let q = Quota { max_watches: None, ..Quota::default() };
    /// assert_eq!(q.get("nodes"), Some(1000));
    /// assert_eq!(q.get("watches"), Some(0)); // disabled
    /// assert_eq!(q.get("node-permissions"), q.get("permissions"));
    /// assert_eq!(q.get("memory"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<u64> {
        let value = match canonical(name)? {
            "nodes" => self.max_nodes_per_domain,
            "watches" => self.max_watches,
            "transactions" => self.max_transactions,
            "node-size" => self.max_value_size,
            "permissions" => self.max_perms_per_node,
            "transaction-nodes" => self.max_nodes_per_transaction,
            "path-max" => self.max_path_len,
            _ => return None,
        };
        Some(value.map_or(0, |v| v as u64))
    }

    /// Sets the quota called `name` (`0`: no check); `false` if there is no
    /// such quota.
    ///
    /// ```
    /// use xs_server::Quota;
    /// let mut q = Quota::default();
    /// assert!(q.set("watches", 3));
    /// assert_eq!(q.max_watches, Some(3));
    /// assert!(q.set("nodes", 0));
    /// assert_eq!(q.max_nodes_per_domain, None);
    /// assert!(!q.set("memory", 1));
    /// ```
    pub fn set(&mut self, name: &str, value: u32) -> bool {
        let slot = match canonical(name) {
            Some("nodes") => &mut self.max_nodes_per_domain,
            Some("watches") => &mut self.max_watches,
            Some("transactions") => &mut self.max_transactions,
            Some("node-size") => &mut self.max_value_size,
            Some("permissions") => &mut self.max_perms_per_node,
            Some("transaction-nodes") => &mut self.max_nodes_per_transaction,
            Some("path-max") => &mut self.max_path_len,
            _ => return false,
        };
        *slot = (value != 0).then_some(value as usize);
        true
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

/// The quota names `GET_QUOTA` lists, in its order.
///
/// ```
/// assert_eq!(xs_server::quota::NAMES[0], "nodes");
/// assert!(xs_server::quota::NAMES.contains(&"permissions"));
/// ```
pub const NAMES: [&str; 7] = [
    "nodes",
    "watches",
    "transactions",
    "node-size",
    "permissions",
    "transaction-nodes",
    "path-max",
];

/// The listed name `name` stands for (C xenstored's `node-permissions` is
/// `permissions`).
fn canonical(name: &str) -> Option<&'static str> {
    let name = if name == "node-permissions" {
        "permissions"
    } else {
        name
    };
    NAMES.into_iter().find(|n| *n == name)
}
