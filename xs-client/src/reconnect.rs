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
/// to give up. A new connection closed before the daemon said anything on
/// it counts as a failed attempt (the back-off goes on), so a daemon that
/// accepts and closes at once is not hammered.
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

    /// Replacing a connection lost at `now`. `before` made the lost
    /// connection (when a reconnection did); if the daemon said nothing on
    /// it (`heard`: a reply or an event came) and it lived less than the
    /// policy's longest pause, it counts as one more failed attempt of
    /// those, so the back-off and the give-up time go on and a daemon that
    /// accepts and closes at once is not hammered. Otherwise the first
    /// attempt is at once.
    pub(crate) fn after_loss(
        policy: Reconnect,
        now: Instant,
        before: Option<Attempts>,
        heard: bool,
    ) -> Attempts {
        // The connection was made at or after the attempt was due.
        let young = |a: &Attempts| now.saturating_duration_since(a.next) < policy.max_interval;
        match before {
            Some(mut attempts) if !heard && young(&attempts) => {
                // Past the bound: one last attempt, at once.
                if !attempts.failed(now) {
                    attempts.next = now;
                }
                attempts
            }
            _ => Attempts::reconnecting(policy, now),
        }
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
    fn a_connection_lost_before_the_daemon_said_anything_goes_on_backing_off() {
        let t0 = Instant::now();
        let p = policy(Some(Duration::from_millis(100)));
        let mut made = Attempts::reconnecting(p, t0);
        assert!(made.failed(t0));
        // Made at t0 + 10 ms, closed at once: the next pause is the third.
        let t1 = t0 + Duration::from_millis(10);
        let a = Attempts::after_loss(p, t1, Some(made.clone()), false);
        assert_eq!((a.failures, a.next), (2, t1 + Duration::from_millis(20)));
        assert_eq!(a.until, made.until, "the give-up time goes on");
        // It answered something: a fresh start, at once.
        let a = Attempts::after_loss(p, t1, Some(made.clone()), true);
        assert_eq!((a.failures, a.next), (0, t1));
        // The client's first connection: at once too.
        let a = Attempts::after_loss(p, t1, None, false);
        assert_eq!((a.failures, a.next), (0, t1));
        // Past the bound: one last attempt, at once.
        let mut near = Attempts::reconnecting(p, t0);
        let t2 = t0 + Duration::from_millis(95);
        assert!(near.failed(t2));
        let late = t2 + Duration::from_millis(10);
        let a = Attempts::after_loss(p, late, Some(near), false);
        assert_eq!((a.failures, a.next), (2, late));
        // A connection that lived longer than the longest pause (an idle
        // client, nothing to hear) is a fresh start, whatever came before.
        let later = t1 + Duration::from_millis(50);
        let a = Attempts::after_loss(p, later, Some(made), false);
        assert_eq!((a.failures, a.next), (0, later));
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
