//! When a client that lost its daemon tries again (opt-in).
//!
//! pyxs once reconnected behind its callers' backs and dropped the feature
//! because it hid lost transactions. Here reconnection is asked for
//! explicitly ([`crate::ClientBuilder::reconnect`]) and says what may have
//! been lost: requests that change the store and were written but not
//! answered fail with [`crate::Error::MaybeApplied`], open transactions with
//! [`crate::Error::TransactionLost`], and every monitor reports
//! [`crate::Error::Reconnected`] before the daemon's fresh initial events.
//! Read-only requests are sent again; callers wait (within their timeouts)
//! while a new connection is made.

use std::time::Duration;

/// How to reconnect: a bounded back-off, and optionally a time after which
/// to give up.
///
/// ```
/// use std::time::Duration;
/// use xs_client::Reconnect;
///
/// let policy = Reconnect {
///     give_up_after: Some(Duration::from_secs(60)),
///     ..Reconnect::default()
/// };
/// assert_eq!(policy.delay(0), Duration::from_millis(50));
/// assert_eq!(policy.delay(20), Duration::from_secs(2)); // capped
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    /// The pause before the second attempt (the first is immediate);
    /// doubles at each failure.
    pub first_retry: Duration,
    /// The longest pause between attempts.
    pub max_interval: Duration,
    /// Give up (and fail every caller with [`crate::Error::Disconnected`])
    /// this long after the connection was lost; `None`: never. It also
    /// bounds how long [`crate::ClientBuilder::connect`] waits for a daemon
    /// that is not up yet (the client's timeout does if this is `None`).
    pub give_up_after: Option<Duration>,
}

impl Default for Reconnect {
    /// 50 ms, doubling up to 2 s, never giving up.
    fn default() -> Self {
        Reconnect {
            first_retry: Duration::from_millis(50),
            max_interval: Duration::from_secs(2),
            give_up_after: None,
        }
    }
}

impl Reconnect {
    /// The pause after `failures` failed attempts.
    pub fn delay(&self, failures: u32) -> Duration {
        self.first_retry
            .saturating_mul(1u32 << failures.min(20))
            .min(self.max_interval)
    }
}
