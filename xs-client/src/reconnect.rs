//! When a client that lost its daemon tries again (opt-in).
//!
//! pyxs once reconnected behind its callers' backs and dropped the feature
//! because it hid lost transactions. Here reconnection is asked for
//! explicitly ([`crate::ClientBuilder::reconnect`], and for the async
//! clients `AsyncClientBuilder::reconnect`) and says what may have
//! been lost: requests that change the store and were written but not
//! answered fail with [`crate::Error::MaybeApplied`], open transactions with
//! [`crate::Error::TransactionLost`], and every monitor reports
//! [`crate::Error::Reconnected`] before the daemon's fresh initial events.
//! Read-only requests are sent again; callers wait (within their timeouts)
//! while a new connection is made.

use std::time::{Duration, Instant};

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
    /// that is not up yet (the client's timeout does if this is `None`),
    /// and how long an async client's calls wait for it.
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

/// The attempts at making a connection under a [`Reconnect`] policy: when
/// the next is due and when to give up. Shared by the drivers (the
/// threaded router, the async connection, the first connect), which do the
/// connecting and the waiting.
#[derive(Clone, Debug)]
pub(crate) struct Attempts {
    policy: Reconnect,
    /// No attempt after this.
    until: Option<Instant>,
    failures: u32,
    next: Instant,
}

impl Attempts {
    /// Replacing a connection lost at `now`: the first attempt at once,
    /// the last at `give_up_after`.
    pub(crate) fn reconnecting(policy: Reconnect, now: Instant) -> Attempts {
        Attempts::new(policy, policy.give_up_after, now)
    }

    /// Making a client's first connection, starting at `now`: bounded by
    /// `give_up_after`, else the client's `timeout`, else
    /// [`crate::DEFAULT_TIMEOUT`].
    pub(crate) fn connecting(
        policy: Reconnect,
        timeout: Option<Duration>,
        now: Instant,
    ) -> Attempts {
        let bound = policy
            .give_up_after
            .or(timeout)
            .unwrap_or(crate::DEFAULT_TIMEOUT);
        Attempts::new(policy, Some(bound), now)
    }

    fn new(policy: Reconnect, limit: Option<Duration>, now: Instant) -> Attempts {
        Attempts {
            policy,
            until: limit.and_then(|l| now.checked_add(l)),
            failures: 0,
            next: now,
        }
    }

    /// When the next attempt is due.
    pub(crate) fn next(&self) -> Instant {
        self.next
    }

    /// An attempt failed at `now`: `true` if another is due (at
    /// [`Attempts::next`], never past the bound), `false` to give up.
    pub(crate) fn failed(&mut self, now: Instant) -> bool {
        let pause = self.policy.delay(self.failures);
        self.failures += 1;
        match self.until {
            Some(until) if now >= until => false,
            Some(until) => {
                self.next = (now + pause).min(until);
                true
            }
            None => {
                self.next = now + pause;
                true
            }
        }
    }

    /// The error every caller gets when reconnecting to `peer` is given
    /// up, the last attempt having failed with `why`.
    pub(crate) fn gave_up(&self, peer: &str, why: &str) -> crate::Error {
        crate::Error::disconnected(format!(
            "gave up reconnecting to {peer} after {} attempts: {why}",
            self.failures
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(give_up_after: Option<Duration>) -> Reconnect {
        Reconnect {
            first_retry: Duration::from_millis(10),
            max_interval: Duration::from_millis(40),
            give_up_after,
        }
    }

    #[test]
    fn attempts_back_off_doubling_up_to_the_cap_and_never_give_up_without_a_bound() {
        let t0 = Instant::now();
        let mut a = Attempts::reconnecting(policy(None), t0);
        assert_eq!(a.next(), t0, "the first attempt is at once");
        let pauses: Vec<u64> = (0..5)
            .map(|_| {
                assert!(a.failed(t0));
                (a.next() - t0).as_millis() as u64
            })
            .collect();
        assert_eq!(pauses, [10, 20, 40, 40, 40]);
        assert_eq!(a.failures, 5);
    }

    #[test]
    fn attempts_stop_at_the_bound_and_the_last_one_is_at_the_bound() {
        let t0 = Instant::now();
        let mut a = Attempts::reconnecting(policy(Some(Duration::from_millis(25))), t0);
        assert!(a.failed(t0));
        assert_eq!(a.next(), t0 + Duration::from_millis(10));
        assert!(a.failed(a.next()));
        // 10 + 20 would pass the bound: the last attempt is at it.
        assert_eq!(a.next(), t0 + Duration::from_millis(25));
        assert!(!a.failed(a.next()));
        let err = a.gave_up("/run/xenstored/socket", "refused");
        assert!(err.is_disconnected());
        assert!(err.to_string().contains("after 3 attempts"), "{err}");
    }

    #[test]
    fn a_first_connection_is_bounded_by_the_policy_else_the_timeout() {
        let t0 = Instant::now();
        let timeout = Some(Duration::from_millis(15));
        let mut a = Attempts::connecting(policy(None), timeout, t0);
        assert!(a.failed(t0));
        assert!(a.failed(a.next()));
        assert_eq!(a.next(), t0 + Duration::from_millis(15));
        assert!(!a.failed(a.next()));
        let a = Attempts::connecting(policy(Some(Duration::from_secs(1))), timeout, t0);
        assert_eq!(a.until, Some(t0 + Duration::from_secs(1)));
    }
}
