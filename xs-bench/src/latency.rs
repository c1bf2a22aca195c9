//! Per-operation latency of a timed run: the wall time of every operation
//! goes into a buffer allocated and touched before the run (no allocation,
//! no page fault in the loop), and its percentiles are taken after it.
//!
//! Only runs limited by time record latencies (`secs`); runs of a fixed
//! number of operations (`ops`, what callgrind counts) read the clock twice
//! and record nothing, so the instruction counts stay the client's alone.
//! A timed run already reads the monotonic clock after every operation to
//! know when to stop; the latency of an operation is the difference between
//! that reading and the previous one (the start for the first), so recording
//! adds no clock reads, only a store per operation.

use std::time::{Duration, Instant};

use crate::workload::Limit;

/// Fastest sequential rate the buffer is sized for: 250,000 operations a
/// second (4 µs a round trip, faster than any client reaches on a Unix
/// socket to oxenstored). Operations beyond it are not recorded.
pub const MAX_RATE: f64 = 250_000.0;

/// Most operations recorded in one run (32 MiB of samples).
pub const MAX_SAMPLES: usize = 1 << 22;

/// The latency percentiles the benchmarks report, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
}

impl Percentiles {
    /// The percentiles of `samples` (sorted in place), or `None` if there
    /// are none.
    pub fn of(samples: &mut [u64]) -> Option<Percentiles> {
        samples.sort_unstable();
        Some(Percentiles {
            p50: percentile(samples, 50)?,
            p99: percentile(samples, 99)?,
        })
    }
}

/// The `p`-th percentile (0 < `p` ≤ 100) of ascending `sorted` samples by
/// the nearest-rank method: the smallest sample with at least `p` % of the
/// samples at or below it, i.e. the one at rank ⌈p·n/100⌉. Always a value
/// that occurred (for an even count the median is the lower middle one);
/// `None` for no samples. The C and Python harnesses use the same rule.
pub fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).max(1);
    sorted.get(rank.min(n).checked_sub(1)?).copied()
}

/// The latencies of one timed run.
pub struct Recorder {
    samples: Vec<u64>,
    len: usize,
    /// Operations not recorded because the buffer was full.
    missed: u64,
}

impl Recorder {
    /// A recorder for a run of `secs` seconds at up to [`MAX_RATE`]
    /// operations a second (at most [`MAX_SAMPLES`]), its buffer written
    /// once so that the run itself faults no page in.
    pub fn for_secs(secs: f64) -> Recorder {
        let want = (secs.max(0.0) * MAX_RATE).ceil() as usize + 1024;
        Recorder {
            // Not `vec![0; n]`: zeroed memory would be mapped lazily.
            samples: vec![u64::MAX; want.min(MAX_SAMPLES)],
            len: 0,
            missed: 0,
        }
    }

    /// The recorder of a run under `limit`: [`Recorder::for_secs`] for a
    /// time, and for a count one without a buffer, never written, whose
    /// [`Recorder::finish`] gives `None`.
    pub fn for_limit(limit: Limit) -> Recorder {
        match limit {
            Limit::Secs(s) => Recorder::for_secs(s),
            Limit::Ops(_) => Recorder {
                samples: Vec::new(),
                len: 0,
                missed: 0,
            },
        }
    }

    /// Ends an operation of a run limited by time: reads the clock once,
    /// records the time since `*last` (the previous operation's end, or
    /// the start) and moves `*last` there; true once `limit` has passed
    /// since `start`.
    #[inline]
    pub fn lap(&mut self, start: Instant, last: &mut Instant, limit: Duration) -> bool {
        let now = Instant::now();
        self.record(now - *last);
        *last = now;
        now - start >= limit
    }

    /// Records one operation's latency.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        match self.samples.get_mut(self.len) {
            Some(slot) => {
                *slot = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                self.len += 1;
            }
            None => self.missed += 1,
        }
    }

    /// The percentiles of what was recorded (a note on stderr if the
    /// buffer overflowed: they then cover the start of the run only).
    pub fn finish(mut self) -> Option<Percentiles> {
        if self.missed > 0 {
            eprintln!(
                "xs-bench: latency of the first {} operations only ({} more not recorded)",
                self.len, self.missed
            );
        }
        Percentiles::of(&mut self.samples[..self.len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let ramp = |n: u64| (1..=n).rev().collect::<Vec<u64>>();
        let both = |p50, p99| Some(Percentiles { p50, p99 });
        // (samples, in any order; percentiles)
        let table: Vec<(Vec<u64>, Option<Percentiles>)> = vec![
            (vec![], None),
            (vec![7], both(7, 7)),
            (vec![3, 1, 2], both(2, 3)),
            (vec![4, 1, 3, 2], both(2, 4)),
            (vec![5, 5, 5, 5, 5, 5], both(5, 5)),
            (vec![9, 9, 9, 9, 9], both(9, 9)),
            (vec![10, 1_000_000], both(10, 1_000_000)),
            (ramp(100), both(50, 99)),
            (ramp(101), both(51, 100)),
            (ramp(1000), both(500, 990)),
        ];
        for (mut samples, want) in table {
            let shown = format!("{samples:?}");
            assert_eq!(
                Percentiles::of(&mut samples),
                want,
                "percentiles of {shown}"
            );
        }
    }

    #[test]
    fn percentile_edges() {
        let s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        // (p, value)
        for (p, want) in [(1, 1), (10, 1), (11, 2), (50, 5), (51, 6), (100, 10)] {
            assert_eq!(percentile(&s, p), Some(want), "p{p}");
        }
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn recorder_keeps_what_fits() {
        let mut r = Recorder::for_secs(0.0);
        let cap = r.samples.len() as u64;
        assert_eq!(cap, 1024);
        for i in 0..cap + 10 {
            // The 10 beyond the buffer would raise the p99 if recorded.
            let ns = if i < cap { i % 10 + 1 } else { 1_000_000 };
            r.record(Duration::from_nanos(ns));
        }
        assert_eq!(r.missed, 10);
        assert_eq!(r.finish(), Some(Percentiles { p50: 5, p99: 10 }));
    }
}
