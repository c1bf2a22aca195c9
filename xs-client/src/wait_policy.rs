//! How a lone synchronous reader waits for its reply: blocked in `recv`, or
//! for readiness (epoll) and then a read.
//!
//! Neither wins everywhere (docs/benchmarks.md, "Why waiting for readiness
//! costs across CPUs"). A reader blocked in `recv` on a Unix socket is also
//! woken when the daemon takes the request (the socket's write space), one
//! daemon service time before the reply: a wasted switch when the client
//! and the daemon share a CPU, but an early warning that brings a halted
//! CPU back in time when they do not. A readiness waiter sleeps through
//! that wake-up (epoll drops events nobody asked for).
//!
//! Which one wins is a property of the host (how fast it wakes an idle
//! virtual CPU) and of where the scheduler puts the two processes, neither
//! of which the client can see; and the client's own CPU affinity does not
//! tell whether the daemon shares that CPU. So the reader measures: a
//! moving average of the round trip for each way, the other way tried
//! every [`EXPLORE_EVERY`]th round trip so that a change of placement or
//! load is seen within milliseconds. A timed round trip reads the clock
//! before and after its wait (before, the driver's own look at the clock
//! if it made one); one in [`SAMPLE_EVERY`] of the preferred way is timed,
//! so that each way's mean takes a sample at the same rate and neither
//! lags the other after a change. The clock is read in one round trip in
//! 16, about 10 instructions per round trip on average (the readings and
//! the arithmetic on `Instant`s cost about 150 per timed round trip).
//! A sample is a wait that ended with the reply waited for: not the read a
//! readiness round makes first after a blocking one (it waits for nothing;
//! counted, its few hundred nanoseconds made readiness look faster than
//! anything, and the choice was readiness almost always).
//!
//! Readiness is used unless blocking is faster by more than 1/8
//! ([`MARGIN_SHIFT`]). The way not in use is sampled one round trip at a
//! time, outside the steady state it would have if used throughout (on a
//! 2-CPU KVM guest, the two ways' samples came within 2% of each other
//! while runs forced to each way differed by up to 8%, in either
//! direction): a smaller difference is not one the samples can tell. A tie
//! goes to readiness, the wait every other path (several waiters, watches,
//! the device) uses, which also sleeps through the write-space wake-up.

use std::time::Instant;

/// One round trip in this many uses the way not currently preferred.
const EXPLORE_EVERY: u32 = 32;

/// One round trip in this many of the preferred way is timed (each
/// exploring one is): the clock is not read on every round trip.
const SAMPLE_EVERY: u32 = 32;

/// The moving averages' weight of a new sample: 1/2^SHIFT.
const SHIFT: u32 = 3;

/// Blocking is preferred only when its mean round trip is shorter than
/// readiness's by more than 1/2^MARGIN_SHIFT of it (see the module docs).
const MARGIN_SHIFT: u32 = 3;

/// A way of waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A blocking `recv`, bounded by the socket's receive timeout.
    Block,
    /// epoll (through mio), then a non-blocking read.
    Readiness,
}

/// The lone reader's choice between [`Wait::Block`] and
/// [`Wait::Readiness`], and what it has measured.
#[derive(Debug)]
pub(crate) struct WaitPolicy {
    /// Mean round trip in nanoseconds, `[block, readiness]`; 0: unknown.
    mean_ns: [u64; 2],
    /// Round trips chosen so far, counting the quiet ones ahead.
    rounds: u32,
    /// Round trips ahead that neither explore nor are timed: they use
    /// `preferred` without looking at anything else.
    quiet: u32,
    /// The way the means prefer (kept up to date by `record`).
    preferred: Wait,
}

impl WaitPolicy {
    pub(crate) fn new() -> WaitPolicy {
        WaitPolicy {
            mean_ns: [0; 2],
            rounds: 0,
            quiet: 0,
            preferred: Wait::Readiness,
        }
    }

    /// The way to wait for this round trip, and whether to time it (then
    /// [`WaitPolicy::record`] it).
    #[inline]
    pub(crate) fn choose(&mut self) -> (Wait, bool) {
        // Most round trips are quiet: the preferred way, untimed.
        if self.quiet != 0 {
            self.quiet -= 1;
            return (self.preferred, false);
        }
        self.choose_counted()
    }

    /// [`WaitPolicy::choose`] for a round trip that explores or is timed
    /// (or while a mean is unknown); also counts the quiet ones after it.
    #[inline(never)]
    fn choose_counted(&mut self) -> (Wait, bool) {
        self.rounds = self.rounds.wrapping_add(1);
        let [block, ready] = self.mean_ns;
        let explore = self.rounds % EXPLORE_EVERY == 0 || (block == 0 && ready != 0);
        let timed = explore || self.rounds % SAMPLE_EVERY == 1 || ready == 0;
        let wait = match (explore, self.preferred) {
            (false, w) => w,
            (true, Wait::Block) => Wait::Readiness,
            (true, Wait::Readiness) => Wait::Block,
        };
        if block != 0 && ready != 0 {
            // Up to the next round trip that explores or is timed.
            let quiet = quiet_after(self.rounds);
            self.quiet = quiet;
            self.rounds = self.rounds.wrapping_add(quiet);
        }
        (wait, timed)
    }

    /// A round trip waited `wait` from `start` until `end`.
    pub(crate) fn record(&mut self, wait: Wait, start: Instant, end: Instant) {
        let ns = u64::try_from(end.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX);
        // One sample may not dominate: a round trip delayed by a page
        // fault or a preemption counts as at most twice the mean.
        let slot = &mut self.mean_ns[wait as usize];
        *slot = match *slot {
            0 => ns,
            mean => {
                let ns = ns.min(mean.saturating_mul(2));
                mean - (mean >> SHIFT) + (ns >> SHIFT)
            }
        };
        let [block, ready] = self.mean_ns;
        self.preferred = if block != 0 && ready != 0 && block < ready - (ready >> MARGIN_SHIFT) {
            Wait::Block
        } else {
            Wait::Readiness
        };
    }

    /// The measured means, `(block, readiness)` (tests, diagnostics).
    #[cfg(test)]
    pub(crate) fn means(&self) -> (std::time::Duration, std::time::Duration) {
        let [b, r] = self.mean_ns;
        use std::time::Duration;
        (Duration::from_nanos(b), Duration::from_nanos(r))
    }
}

/// How many round trips after round `n` neither explore (a multiple of
/// [`EXPLORE_EVERY`]) nor are timed (one more than a multiple of
/// [`SAMPLE_EVERY`]).
fn quiet_after(n: u32) -> u32 {
    const _: () = assert!(EXPLORE_EVERY % SAMPLE_EVERY == 0 && SAMPLE_EVERY > 1);
    let m = n % EXPLORE_EVERY;
    let next = if m == 0 {
        1
    } else {
        ((m - 1) / SAMPLE_EVERY + 1) * SAMPLE_EVERY + 1
    };
    next.min(EXPLORE_EVERY) - m - 1
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy() -> WaitPolicy {
        WaitPolicy::new()
    }

    fn feed(p: &mut WaitPolicy, block_us: u64, ready_us: u64, rounds: usize) -> [usize; 2] {
        let t0 = Instant::now();
        let mut used = [0; 2];
        for _ in 0..rounds {
            let (w, timed) = p.choose();
            used[w as usize] += 1;
            let us = if w == Wait::Block { block_us } else { ready_us };
            if timed {
                p.record(w, t0, t0 + Duration::from_micros(us));
            }
        }
        used
    }

    /// (blocking µs, readiness µs, the way used): readiness unless
    /// blocking is faster by more than the margin; the other way is still
    /// tried.
    const CHOICES: [(u64, u64, Wait); 4] = [
        (44, 52, Wait::Block),
        (18, 15, Wait::Readiness),
        (48, 50, Wait::Readiness), // within the margin
        (42, 50, Wait::Block),     // past it
    ];

    #[test]
    fn the_way_used_is_readiness_unless_blocking_is_clearly_faster() {
        for (block_us, ready_us, way) in CHOICES {
            let mut p = policy();
            let used = feed(&mut p, block_us, ready_us, 3200);
            let (chosen, other) = match way {
                Wait::Block => (used[0], used[1]),
                Wait::Readiness => (used[1], used[0]),
            };
            assert!(
                chosen > 3000 && other >= 100,
                "{block_us} {ready_us}: {used:?}"
            );
            let (b, r) = p.means();
            assert_eq!(
                (b.as_micros(), r.as_micros()),
                (block_us.into(), ready_us.into())
            );
        }
    }

    #[test]
    fn readiness_first_then_blocking_measured() {
        let mut p = policy();
        assert_eq!(p.choose(), (Wait::Readiness, true));
        let t0 = Instant::now();
        p.record(Wait::Readiness, t0, t0 + Duration::from_micros(50));
        assert_eq!(p.choose(), (Wait::Block, true));
    }

    #[test]
    fn a_change_of_placement_is_followed() {
        let mut p = policy();
        feed(&mut p, 44, 52, 1000);
        // Now readiness is faster: within a few explorations it wins.
        let [_, ready] = feed(&mut p, 60, 20, 1000);
        assert!(ready > 900, "{ready}");
    }

    /// The choice worked out in full for round `n` from `means` (what
    /// every round trip did before quiet ones took a shortcut).
    fn in_full(n: u32, [block, ready]: [u64; 2]) -> (Wait, bool) {
        let preferred = if block != 0 && ready != 0 && block < ready - (ready >> MARGIN_SHIFT) {
            Wait::Block
        } else {
            Wait::Readiness
        };
        let explore = n % EXPLORE_EVERY == 0 || (block == 0 && ready != 0);
        let timed = explore || n % SAMPLE_EVERY == 1 || ready == 0;
        match (explore, preferred) {
            (false, w) => (w, timed),
            (true, Wait::Block) => (Wait::Readiness, timed),
            (true, Wait::Readiness) => (Wait::Block, timed),
        }
    }

    #[test]
    fn quiet_round_trips_choose_as_one_worked_out_in_full() {
        // From the start, and across the wrap of the round counter.
        for first in [0, u32::MAX - 1000] {
            let mut p = policy();
            p.rounds = first;
            let mut n = first;
            let mut seed = 0x2545_f491_u64;
            let t0 = Instant::now();
            for i in 0..20_000 {
                n = n.wrapping_add(1);
                let expected = in_full(n, p.mean_ns);
                assert_eq!(p.choose(), expected, "round {i}");
                if expected.1 {
                    // Placements that change every few thousand rounds.
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let base = if (i / 3000) % 2 == 0 {
                        [30, 50]
                    } else {
                        [50, 30]
                    };
                    let us = base[expected.0 as usize] + (seed >> 60);
                    p.record(expected.0, t0, t0 + Duration::from_micros(us));
                }
            }
        }
    }

    #[test]
    fn quiet_after_counts_up_to_the_next_special_round() {
        // Special: a round that explores or is timed once both means are
        // known (as `in_full` has them).
        let special = |n: u32| n % EXPLORE_EVERY == 0 || n % SAMPLE_EVERY == 1;
        for n in 0..3 * EXPLORE_EVERY {
            let quiet = (n + 1..).take_while(|&k| !special(k)).count();
            assert_eq!(quiet_after(n) as usize, quiet, "{n}");
        }
    }

    #[test]
    fn one_slow_round_trip_does_not_flip_the_choice() {
        let mut p = policy();
        feed(&mut p, 35, 50, 1000);
        let t0 = Instant::now();
        p.record(Wait::Block, t0, t0 + Duration::from_secs(1));
        assert_eq!(p.choose().0, Wait::Block);
    }
}
