//! The async workloads: xs-client's tokio client and `xenstore-rs` 0.8's
//! tokio API (`XsTokio`) reading [`READ_PATH`] on the same daemon.
//!
//! ```text
//! xs-bench run async       aread|tasks64 secs|ops VALUE WARMUP
//! xs-bench run xenstore-rs aread|tasks64 secs|ops VALUE WARMUP
//! ```
//!
//! `aread` is one task reading sequentially on a current-thread runtime;
//! `tasks64` is 64 tasks reading concurrently on one shared connection,
//! on a two-worker runtime. Every read counts as one operation; the value
//! is checked. A timed `aread` records the latency of every read
//! ([`crate::latency`]); `tasks64` records none.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenstore_rs::AsyncXs;

use crate::latency::Recorder;
use crate::workload::{cpu_now_ns, Limit, Timing, READ_PATH, READ_VALUE};

type Res<T> = Result<T, String>;

/// Concurrent readers of `tasks64`.
pub const TASKS: usize = 64;

/// One read by one of the clients compared.
trait Reader: Clone + Send + Sync + 'static {
    fn read_once(&self) -> impl Future<Output = Res<()>> + Send;
}

impl Reader for xs_client::tokio::Client {
    async fn read_once(&self) -> Res<()> {
        let v = self
            .read(READ_PATH)
            .await
            .map_err(|e| format!("read: {e}"))?;
        check(v.len())
    }
}

impl Reader for xenstore_rs::tokio::XsTokio {
    async fn read_once(&self) -> Res<()> {
        let v = AsyncXs::read(self, READ_PATH)
            .await
            .map_err(|e| format!("read: {e}"))?;
        check(v.len())
    }
}

fn check(len: usize) -> Res<()> {
    if len != READ_VALUE.len() {
        return Err(format!(
            "a value of {len} bytes, expected {}",
            READ_VALUE.len()
        ));
    }
    Ok(())
}

/// Runs `workload` with `client` ("async": ours, "xenstore-rs": theirs).
pub fn run(client: &str, workload: &str, limit: Limit, warmup: u64) -> Res<Timing> {
    let rt = match workload {
        "aread" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        "tasks64" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        other => return Err(format!("unknown async workload {other:?}")),
    }
    .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async {
        match client {
            "async" => {
                let c = xs_client::tokio::Client::open().map_err(|e| format!("connect: {e}"))?;
                drive(c, workload, limit, warmup).await
            }
            "xenstore-rs" => {
                let c = xenstore_rs::tokio::XsTokio::new()
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                drive(c, workload, limit, warmup).await
            }
            other => Err(format!(
                "async client must be async or xenstore-rs, not {other:?}"
            )),
        }
    })
}

async fn drive<C: Reader>(c: C, workload: &str, limit: Limit, warmup: u64) -> Res<Timing> {
    if workload == "aread" {
        for _ in 0..warmup {
            c.read_once().await?;
        }
        let mut latencies = Recorder::for_limit(limit);
        let (cpu, start) = (cpu_now_ns(), Instant::now());
        let mut ops = 0u64;
        let mut last = start;
        loop {
            c.read_once().await?;
            ops += 1;
            let stop = match limit {
                Limit::Secs(s) => {
                    latencies.lap(start, &mut last, Duration::from_secs_f64(s.max(0.0)))
                }
                Limit::Ops(n) => ops >= n,
            };
            if stop {
                break;
            }
        }
        let mut t = Timing::new(ops, wall(start), cpu_now_ns().saturating_sub(cpu));
        t.latency = latencies.finish();
        return Ok(t);
    }
    // tasks64: a shared budget (ops) or a stop flag (secs).
    concurrent(&c, Arc::new(AtomicU64::new(warmup)), None).await?;
    let (cpu, start) = (cpu_now_ns(), Instant::now());
    let ops = match limit {
        Limit::Ops(n) => concurrent(&c, Arc::new(AtomicU64::new(n)), None).await?,
        Limit::Secs(s) => {
            let stop = Arc::new(AtomicBool::new(false));
            let timer = {
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))).await;
                    stop.store(true, Ordering::Relaxed);
                })
            };
            let ops = concurrent(&c, Arc::new(AtomicU64::new(u64::MAX)), Some(stop)).await?;
            timer.abort();
            ops
        }
    };
    Ok(Timing::new(
        ops,
        wall(start),
        cpu_now_ns().saturating_sub(cpu),
    ))
}

/// [`TASKS`] tasks reading until `budget` is spent or `stop` is set; the
/// reads done.
async fn concurrent<C: Reader>(
    c: &C,
    budget: Arc<AtomicU64>,
    stop: Option<Arc<AtomicBool>>,
) -> Res<u64> {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (c, budget, stop) = (c.clone(), Arc::clone(&budget), stop.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while stop.as_ref().is_none_or(|s| !s.load(Ordering::Relaxed))
                    && budget
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                        .is_ok()
                {
                    c.read_once().await?;
                    done += 1;
                }
                Ok::<u64, String>(done)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.map_err(|e| format!("task: {e}"))??;
    }
    Ok(total)
}

fn wall(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
