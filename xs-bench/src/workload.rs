//! What one client process does: a workload against the daemon at
//! `$XENSTORED_PATH`, timed, printed as `OPS NANOSECONDS`.
//!
//! The same command-line contract is kept by `bench/libxenstore_bench.c`
//! and `bench/pyxs_bench.py`, so the suite treats the three clients alike:
//!
//! ```text
//! xs-bench run ours WORKLOAD secs|ops VALUE WARMUP
//! xs-bench run raw  depthN   secs|ops VALUE WARMUP
//! ```
//!
//! `secs VALUE` runs for VALUE seconds (the clock is read after every
//! operation); `ops VALUE` runs exactly VALUE operations and reads the clock
//! twice, so that instruction counts under callgrind are the client's alone.
//! WARMUP operations are done first, untimed. Connecting is never timed.
//! The third number printed is the CPU time (user + system, all threads) the
//! process spent in the timed part, from `CLOCK_PROCESS_CPUTIME_ID`. A
//! `secs` run of a client that records latencies (see [`crate::latency`])
//! prints two more: the p50 and p99 nanoseconds of one operation.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use xs_client::{Client, Store};
use xs_wire::{decode, Ids, Op, Path, Request, Status};

use crate::latency::{Percentiles, Recorder};

/// One listing of [`DIR_PATH`] if it had its 100 children.
fn expect_children(n: usize) -> Res<u64> {
    if n != 100 {
        return Err(format!("{n} children, expected 100"));
    }
    Ok(1)
}

/// The node the read workloads read.
pub const READ_PATH: &str = "/bench/seq/key";
/// Its value (22 bytes).
pub const READ_VALUE: &str = "value-0123456789abcdef";
/// The node the write workload writes.
pub const WRITE_PATH: &str = "/bench/seq/w";
/// A node with 100 children.
pub const DIR_PATH: &str = "/bench/dir100";
/// The node written inside each transaction.
pub const TXN_PATH: &str = "/bench/txn/key";
/// Watched directory and written node of our client (C uses `.../c`,
/// pyxs `.../p`, xenstore-rs `.../r`).
pub const WATCH_DIR: &str = "/bench/watch/o";
/// See [`WATCH_DIR`].
pub const WATCH_NODE: &str = "/bench/watch/o/node";
/// Top of the walk tree.
pub const TREE_PATH: &str = "/bench/tree";
/// Fan-out of the walk tree below its top, level by level:
/// 1 + 9 + 90 + 900 + 9000 = 10,000 nodes.
pub const TREE_FANOUT: [usize; 4] = [9, 10, 10, 10];

/// Number of nodes in the walk tree, its top included.
pub fn tree_nodes() -> usize {
    let mut total = 1;
    let mut level = 1;
    for f in TREE_FANOUT {
        level *= f;
        total += level;
    }
    total
}

/// How long a timed run goes on.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// For this long (at least one operation).
    Secs(f64),
    /// Exactly this many operations.
    Ops(u64),
}

impl Limit {
    /// Parses `secs VALUE` / `ops VALUE`.
    pub fn parse(mode: &str, value: &str) -> Result<Limit, String> {
        match mode {
            "secs" => value
                .parse::<f64>()
                .map(Limit::Secs)
                .map_err(|e| format!("bad seconds {value:?}: {e}")),
            "ops" => value
                .parse::<u64>()
                .map(Limit::Ops)
                .map_err(|e| format!("bad count {value:?}: {e}")),
            other => Err(format!("MODE must be secs or ops, not {other:?}")),
        }
    }
}

type Res<T> = Result<T, String>;

/// What a timed run did.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Operations done.
    pub ops: u64,
    /// Wall nanoseconds they took.
    pub wall_ns: u64,
    /// CPU nanoseconds of the process meanwhile (all threads).
    pub cpu_ns: u64,
    /// Per-operation latency (runs limited by time only).
    pub latency: Option<Percentiles>,
}

impl Timing {
    /// A run without latencies.
    pub fn new(ops: u64, wall_ns: u64, cpu_ns: u64) -> Timing {
        Timing {
            ops,
            wall_ns,
            cpu_ns,
            latency: None,
        }
    }

    /// The line `xs-bench run` prints: `OPS NANOSECONDS CPU_NANOSECONDS`,
    /// then `P50_NANOSECONDS P99_NANOSECONDS` if latencies were recorded.
    pub fn line(&self) -> String {
        let mut s = format!("{} {} {}", self.ops, self.wall_ns, self.cpu_ns);
        if let Some(p) = self.latency {
            s += &format!(" {} {}", p.p50, p.p99);
        }
        s
    }
}

/// CPU time of this process (all threads, user + system), in nanoseconds.
pub fn cpu_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn err(what: &str) -> impl Fn(xs_client::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs `op` (which reports how many operations it did) `warmup` times
/// untimed, then under `limit`. Under a time limit the latency of every
/// call of `op` is recorded too (the clock read that decides when to stop
/// is its end); under an operation limit nothing is added to the loop.
pub fn timed(limit: Limit, warmup: u64, mut op: impl FnMut() -> Res<u64>) -> Res<Timing> {
    let mut warm = 0;
    while warm < warmup {
        warm += op()?;
    }
    // Allocated before the clock starts.
    let mut latencies = Recorder::for_limit(limit);
    let cpu = cpu_now_ns();
    let start = Instant::now();
    let mut ops = 0u64;
    match limit {
        Limit::Secs(s) => {
            let limit = Duration::from_secs_f64(s.max(0.0));
            let mut last = start;
            loop {
                ops += op()?;
                if latencies.lap(start, &mut last, limit) {
                    break;
                }
            }
        }
        Limit::Ops(n) => {
            while ops < n {
                ops += op()?;
            }
        }
    }
    let wall = start.elapsed().as_nanos() as u64;
    let mut t = Timing::new(ops, wall, cpu_now_ns().saturating_sub(cpu));
    t.latency = latencies.finish();
    Ok(t)
}

fn socket_path() -> Res<String> {
    std::env::var("XENSTORED_PATH").map_err(|_| "XENSTORED_PATH is not set".to_owned())
}

/// One of our client's workloads. `manyN` is `read_many` with batches of N
/// paths (each batch is sent pipelined, then drained: the API has no
/// sliding-window depth knob, see the report); every path counts as one
/// operation.
pub fn run_ours(workload: &str, limit: Limit, warmup: u64) -> Res<Timing> {
    let client = Client::unix(socket_path()?).map_err(err("connect"))?;
    match workload {
        "read" => timed(limit, warmup, || {
            let v = client.read(READ_PATH).map_err(err("read"))?;
            if v.len() != READ_VALUE.len() {
                return Err(format!("unexpected value {v:?}"));
            }
            Ok(1)
        }),
        "write" => timed(limit, warmup, || {
            client.write(WRITE_PATH, READ_VALUE).map_err(err("write"))?;
            Ok(1)
        }),
        // The names in the reply's one buffer, as libxenstore's
        // `xs_directory` returns them in one block.
        "dir100" => timed(limit, warmup, || {
            let names = client.list_names(DIR_PATH).map_err(err("list_names"))?;
            expect_children(names.len())
        }),
        // The same listing as `Vec<String>`: a `String` per name.
        "dir100-vec" => timed(limit, warmup, || {
            let names = client.list(DIR_PATH).map_err(err("list"))?;
            expect_children(names.len())
        }),
        "txn" => timed(limit, warmup, || {
            let tx = client.transaction().map_err(err("transaction start"))?;
            tx.write(TXN_PATH, READ_VALUE)
                .map_err(err("transaction write"))?;
            // A conflict (false) cannot happen without contention; count it
            // anyway, as the C and Python drivers do.
            tx.commit().map_err(err("commit"))?;
            Ok(1)
        }),
        "watch" => {
            client.write(WATCH_NODE, "x").map_err(err("write"))?;
            let monitor = client.monitor();
            monitor.watch(WATCH_DIR, "bench").map_err(err("watch"))?;
            monitor.wait().map_err(err("initial event"))?;
            timed(limit, warmup, || {
                client.write(WATCH_NODE, "x").map_err(err("write"))?;
                monitor.wait().map_err(err("wait"))?;
                Ok(1)
            })
        }
        "walk" => timed(limit, warmup, || {
            let nodes = client.walk(TREE_PATH).map_err(err("walk"))?;
            if nodes.len() != tree_nodes() {
                return Err(format!(
                    "walk saw {} nodes, expected {}",
                    nodes.len(),
                    tree_nodes()
                ));
            }
            Ok(1)
        }),
        w if w.starts_with("many") => {
            let batch: usize = w[4..]
                .parse()
                .map_err(|_| format!("bad batch size in {w:?}"))?;
            let paths = vec![READ_PATH; batch.max(1)];
            timed(limit, warmup, || {
                for r in client.read_many(&paths) {
                    r.map_err(err("read_many"))?;
                }
                Ok(paths.len() as u64)
            })
        }
        other => Err(format!("unknown workload {other:?}")),
    }
}

/// The raw pipelining load generator: `depthN` keeps N READs of
/// [`READ_PATH`] in flight on one connection (std `UnixStream`, frames made
/// with `xs-wire`), as fast as the daemon answers.
pub fn run_raw(workload: &str, limit: Limit, warmup: u64) -> Res<Timing> {
    let depth: usize = workload
        .strip_prefix("depth")
        .and_then(|d| d.parse().ok())
        .filter(|&d| (1..=MAX_RAW_DEPTH).contains(&d))
        .ok_or_else(|| {
            format!("workload must be depth1..depth{MAX_RAW_DEPTH}, not {workload:?}")
        })?;
    let stream = UnixStream::connect(socket_path()?).map_err(|e| format!("connect: {e}"))?;
    let mut gen = LoadGen::new(stream)?;
    if warmup > 0 {
        gen.run(depth, Limit::Ops(warmup))?;
    }
    gen.run(depth, limit)
}

/// Most requests the load generator keeps in flight: 1024 reads are 37 KB,
/// far below a socket buffer, so a blocking write of new requests can never
/// wait on a daemon that is itself waiting for us to read.
pub const MAX_RAW_DEPTH: usize = 1024;

struct LoadGen {
    stream: UnixStream,
    template: Vec<u8>,
    next_id: u32,
    expect_id: u32,
    inbuf: Vec<u8>,
    have: usize,
    out: Vec<u8>,
}

impl LoadGen {
    fn new(stream: UnixStream) -> Res<LoadGen> {
        let path = Path::new(READ_PATH).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 256];
        let n = Request::Read { path }
            .encode(Ids::new(0), &mut buf)
            .map_err(|e| e.to_string())?;
        Ok(LoadGen {
            stream,
            template: buf[..n].to_vec(),
            next_id: 1,
            expect_id: 1,
            inbuf: vec![0; 256 * 1024],
            have: 0,
            out: Vec::with_capacity(MAX_RAW_DEPTH * n),
        })
    }

    fn queue_request(&mut self) {
        let start = self.out.len();
        self.out.extend_from_slice(&self.template);
        self.out[start + 4..start + 8].copy_from_slice(&self.next_id.to_ne_bytes());
        self.next_id = self.next_id.wrapping_add(1);
    }

    fn flush(&mut self) -> Res<()> {
        if !self.out.is_empty() {
            self.stream
                .write_all(&self.out)
                .map_err(|e| format!("write: {e}"))?;
            self.out.clear();
        }
        Ok(())
    }

    /// Keeps `depth` requests in flight until `limit`, then drains. Returns
    /// the replies counted within the limit and the time they took.
    fn run(&mut self, depth: usize, limit: Limit) -> Res<Timing> {
        let (budget, deadline) = match limit {
            Limit::Ops(n) => (n, None),
            Limit::Secs(s) => (u64::MAX, Some(Duration::from_secs_f64(s.max(0.0)))),
        };
        let cpu = cpu_now_ns();
        let start = Instant::now();
        let mut issued = 0u64;
        let mut done = 0u64;
        let mut result: Option<Timing> = None;
        while issued < budget && (issued as usize) < depth {
            self.queue_request();
            issued += 1;
        }
        self.flush()?;
        while done < issued {
            let n = self
                .stream
                .read(&mut self.inbuf[self.have..])
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("daemon closed the connection".into());
            }
            self.have += n;
            let mut pos = 0;
            let mut replies = 0u64;
            while let Status::Complete((frame, used)) =
                decode(&self.inbuf[pos..self.have]).map_err(|e| e.to_string())?
            {
                if frame.header.op != Op::Read || frame.header.req_id != self.expect_id {
                    return Err(format!(
                        "unexpected reply {:?} id {} (expected READ id {}): {:?}",
                        frame.header.op,
                        frame.header.req_id,
                        self.expect_id,
                        String::from_utf8_lossy(frame.payload)
                    ));
                }
                self.expect_id = self.expect_id.wrapping_add(1);
                pos += used;
                replies += 1;
            }
            self.inbuf.copy_within(pos..self.have, 0);
            self.have -= pos;
            done += replies;
            if result.is_none() {
                if let Some(d) = deadline {
                    let elapsed = start.elapsed();
                    if elapsed >= d {
                        let used = cpu_now_ns().saturating_sub(cpu);
                        result = Some(Timing::new(done, elapsed.as_nanos() as u64, used));
                    }
                }
            }
            if result.is_none() {
                for _ in 0..replies {
                    if issued >= budget {
                        break;
                    }
                    self.queue_request();
                    issued += 1;
                }
                self.flush()?;
            }
        }
        Ok(result.unwrap_or_else(|| {
            let wall = start.elapsed().as_nanos() as u64;
            Timing::new(done, wall, cpu_now_ns().saturating_sub(cpu))
        }))
    }
}

/// Writes the nodes every workload expects (idempotent).
pub fn populate(client: &Client) -> Res<()> {
    let mut items: Vec<(String, String)> = vec![
        (READ_PATH.into(), READ_VALUE.into()),
        (WRITE_PATH.into(), READ_VALUE.into()),
        (TXN_PATH.into(), READ_VALUE.into()),
    ];
    for who in ["o", "c", "p", "r"] {
        items.push((format!("/bench/watch/{who}/node"), "x".into()));
    }
    for i in 0..100 {
        items.push((format!("{DIR_PATH}/c{i:03}"), "x".into()));
    }
    // The tree, breadth-first so parents are written (with a value) first.
    items.push((TREE_PATH.into(), "top".into()));
    let mut level = vec![TREE_PATH.to_owned()];
    for (depth, fanout) in TREE_FANOUT.into_iter().enumerate() {
        let letter = (b'a' + depth as u8) as char;
        let mut next = Vec::with_capacity(level.len() * fanout);
        for parent in &level {
            for i in 0..fanout {
                let path = format!("{parent}/{letter}{i}");
                items.push((path.clone(), format!("value of {letter}{i}")));
                next.push(path);
            }
        }
        level = next;
    }
    let refs: Vec<(&str, &[u8])> = items
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_bytes()))
        .collect();
    for (r, (p, _)) in client.write_many(&refs).into_iter().zip(&items) {
        r.map_err(|e| format!("populate {p}: {e}"))?;
    }
    let seen = client.walk(TREE_PATH).map_err(err("walk"))?.len();
    if seen != tree_nodes() {
        return Err(format!("tree has {seen} nodes, expected {}", tree_nodes()));
    }
    Ok(())
}
