//! What the reconnection suites share (`reconnect.rs` through the sync
//! client, `async_reconnect.rs` through the async ones): the policy, the
//! errors the contract of `ClientBuilder::reconnect` allows, and the
//! checks on a monitor and on a transaction's outcome.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use xs_client::{Client, Error, Reconnect, Store};

/// Every client's round-trip timeout in these suites.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Retry soon, often, and give up well after any restart here.
pub fn policy() -> Reconnect {
    Reconnect {
        first_retry: Duration::from_millis(10),
        max_interval: Duration::from_millis(200),
        give_up_after: Some(Duration::from_secs(30)),
    }
}

/// A sync client reconnecting by [`policy`] to `socket`.
pub fn reconnecting(socket: &std::path::Path) -> Client {
    Client::builder()
        .unix(socket)
        .timeout(TIMEOUT)
        .transact_attempts(10_000)
        .reconnect(policy())
        .connect()
        .expect("connect")
}

/// The errors a call may end with while the daemon restarts.
pub fn documented(e: &Error) -> bool {
    matches!(
        e,
        Error::MaybeApplied { .. } | Error::TransactionLost { .. } | Error::Timeout(_)
    )
}

/// The counter's next value, from its current one (missing: 0).
pub fn next_count(value: Option<Vec<u8>>) -> String {
    let n: u64 = value
        .map(|v| String::from_utf8_lossy(&v).parse().expect("a number"))
        .unwrap_or(0);
    (n + 1).to_string()
}

/// What the workers of a restart scenario saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Commits that succeeded against the new daemon.
    pub new_commits: u64,
    /// Every error a call ended with.
    pub errors: Vec<Error>,
    /// The longest call.
    pub slowest: Duration,
}

impl Tally {
    /// Counts one `transact` that ended with `result` (`Ok(true)`: it
    /// committed against the old daemon) after `took`.
    pub fn count(&mut self, result: Result<bool, Error>, took: Duration) {
        self.slowest = self.slowest.max(took);
        match result {
            Ok(false) => self.new_commits += 1,
            Ok(true) => {}
            Err(e) => self.errors.push(e),
        }
    }

    /// Adds another worker's tally.
    pub fn add(&mut self, other: Tally) {
        self.new_commits += other.new_commits;
        self.errors.extend(other.errors);
        self.slowest = self.slowest.max(other.slowest);
    }

    /// Every call ended within its timeout in success or a documented
    /// error.
    pub fn check(&self) {
        for e in &self.errors {
            assert!(documented(e), "undocumented error: {e:?}");
        }
        assert!(
            self.slowest < TIMEOUT + Duration::from_secs(2),
            "a call took {:?}",
            self.slowest
        );
    }
}

/// Waits for `Reconnected` on a sync monitor, then for an event on `path`
/// after writing it.
pub fn sees_reconnection_then_events(monitor: &xs_client::Monitor, client: &Client, path: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monitor.wait_timeout(left) {
            Err(Error::Reconnected) => break,
            Ok(Some(_)) | Err(Error::Overflow { .. }) => continue,
            other => panic!("expected Reconnected, got {other:?}"),
        }
    }
    // The daemon's initial event for the registration made again, then a
    // change made after the restart.
    client.write(path, "after").expect("write after restart");
    let mut seen_change = false;
    while !seen_change {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = monitor
            .wait_timeout(left)
            .expect("event")
            .expect("an event before the deadline");
        seen_change = ev.path == path;
    }
}

/// `n` threads running `transact` increments of `/counter` (noting whether
/// `/instance` existed) until `stop`, each tallying its outcomes.
pub fn increment_threads(
    client: &Client,
    n: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<Tally>> {
    (0..n)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let result = client.transact(|tx| {
                        let old = tx.read_opt("/instance")?.is_some();
                        tx.write("/counter", next_count(tx.read_opt("/counter")?))?;
                        Ok::<_, Error>(old)
                    });
                    tally.count(result, t0.elapsed());
                }
                tally
            })
        })
        .collect()
}
