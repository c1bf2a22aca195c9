//! The results as Markdown: tables, ratios, targets, commands, machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::loaded_lib::Checked;
use crate::suite::{
    Callgrind, ClientKind, DaemonKind, Key, Mode, ASYNC, DEPTHS, SEQUENTIAL, WINDOW_BATCH,
};
use crate::workload;

/// Facts about the machine and the run.
#[derive(Clone, Debug)]
pub struct Facts {
    pub date: String,
    pub nproc: String,
    pub model: String,
    pub hypervisor: Option<String>,
    pub kernel: String,
    pub rustc: String,
    pub packages: Vec<String>,
    pub commit: String,
    pub quick: bool,
    pub reps: usize,
    pub secs: f64,
    /// `/proc/loadavg` when the run started and when it ended.
    pub load: (String, String),
}

/// Every sample (ops/s) of every cell.
#[derive(Clone, Debug, Default)]
pub struct Results {
    samples: BTreeMap<Key, Vec<f64>>,
    /// Client CPU nanoseconds per operation.
    cpu: BTreeMap<Key, Vec<f64>>,
    /// Per run: p50 and p99 nanoseconds of one operation.
    p50: BTreeMap<Key, Vec<f64>>,
    p99: BTreeMap<Key, Vec<f64>>,
}

/// Which latency percentile.
#[derive(Clone, Copy, Debug)]
enum Pct {
    P50,
    P99,
}

impl Results {
    pub fn add(&mut self, key: Key, ops_per_sec: f64) {
        self.samples.entry(key).or_default().push(ops_per_sec);
    }

    pub fn add_cpu(&mut self, key: Key, nanos_per_op: f64) {
        self.cpu.entry(key).or_default().push(nanos_per_op);
    }

    pub fn add_latency(&mut self, key: Key, p50_nanos: f64, p99_nanos: f64) {
        self.p50.entry(key.clone()).or_default().push(p50_nanos);
        self.p99.entry(key).or_default().push(p99_nanos);
    }

    fn latencies(
        &self,
        pct: Pct,
        daemon: DaemonKind,
        mode: Mode,
        workload: &str,
        client: ClientKind,
    ) -> Option<&[f64]> {
        let map = match pct {
            Pct::P50 => &self.p50,
            Pct::P99 => &self.p99,
        };
        map.get(&Key {
            daemon,
            mode,
            workload: workload.to_owned(),
            client,
        })
        .map(Vec::as_slice)
    }

    /// Median over the runs of a cell's per-run p50 (or p99) nanoseconds.
    fn latency_median(
        &self,
        pct: Pct,
        daemon: DaemonKind,
        mode: Mode,
        workload: &str,
        client: ClientKind,
    ) -> Option<f64> {
        self.latencies(pct, daemon, mode, workload, client)
            .and_then(median)
    }

    /// Median client CPU nanoseconds per operation of a cell.
    fn cpu_median(
        &self,
        daemon: DaemonKind,
        mode: Mode,
        workload: &str,
        client: ClientKind,
    ) -> Option<f64> {
        self.cpu
            .get(&Key {
                daemon,
                mode,
                workload: workload.to_owned(),
                client,
            })
            .and_then(|v| median(v))
    }

    fn get(
        &self,
        daemon: DaemonKind,
        mode: Mode,
        workload: &str,
        client: ClientKind,
    ) -> Option<&[f64]> {
        self.samples
            .get(&Key {
                daemon,
                mode,
                workload: workload.to_owned(),
                client,
            })
            .map(Vec::as_slice)
    }

    /// The median ops/s of a cell.
    fn median(
        &self,
        daemon: DaemonKind,
        mode: Mode,
        workload: &str,
        client: ClientKind,
    ) -> Option<f64> {
        self.get(daemon, mode, workload, client).and_then(median)
    }

    /// (max - min) / median of a cell, in percent.
    fn spread(
        &self,
        daemon: DaemonKind,
        mode: Mode,
        workload: &str,
        client: ClientKind,
    ) -> Option<f64> {
        spread(self.get(daemon, mode, workload, client)?)
    }
}

/// (max - min) / median of samples, in percent.
fn spread(s: &[f64]) -> Option<f64> {
    let m = median(s)?;
    let max = s.iter().cloned().fold(f64::MIN, f64::max);
    let min = s.iter().cloned().fold(f64::MAX, f64::min);
    Some((max - min) / m * 100.0)
}

/// Median of the samples (mean of the middle two for an even count).
pub fn median(s: &[f64]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let mut v = s.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Everything the report is made of.
pub struct Input<'a> {
    pub facts: Facts,
    pub results: &'a Results,
    pub callgrind: &'a [Callgrind],
    /// The libraries the C benchmark loaded, if xs-capi's was measured.
    pub capi_check: Option<&'a Checked>,
    pub commands: &'a BTreeMap<String, String>,
    pub notes: &'a [String],
    pub failures: &'a [String],
    pub elapsed: f64,
}

fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n.round());
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn ops(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{} ({:.1} µs)", thousands(v), 1e6 / v),
        None => "—".into(),
    }
}

fn rate(v: Option<f64>) -> String {
    v.map_or("—".into(), thousands)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn x(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.2}x"))
}

fn ms(ops_per_sec: Option<f64>) -> String {
    ops_per_sec.map_or("—".into(), |v| format!("{:.0} ms", 1e3 / v))
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "—",
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.0}%"))
}

fn max_opt(vals: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    vals.into_iter().flatten().reduce(f64::max)
}

/// Worst (lowest) ratio over rows, with the row's name.
fn worst(rows: &[(String, Option<f64>)]) -> Option<(String, f64)> {
    rows.iter()
        .filter_map(|(n, r)| r.map(|r| (n.clone(), r)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// The `xenstore-rs` 0.8 clients beside ours and libxenstore, same
/// daemon, same run. Returns ours / xenstore-rs per row, for the targets.
fn xenstore_rs_section(w: &mut String, r: &Results) -> Vec<(String, Option<f64>)> {
    let ox = DaemonKind::Oxenstored;
    let (rs, tokio) = (ClientKind::XenstoreRs, ClientKind::XenstoreRsTokio);
    let _ = writeln!(w, "\n### xenstore-rs 0.8 beside ours (ops/s, µs per op)\n");
    let _ = writeln!(
        w,
        "The `xenstore-rs` crate 0.8 from crates.io, interleaved with the clients above in the \
         same repetitions. *blocking*: `XsUnix` (read, write, directory; it has no \
         transactions and no watches), which waits in a blocking `read` like libxenstore; \
         *tokio*: `XsTokio` on a current-thread runtime, one `block_on` per operation (it adds \
         watches; no transactions), which waits for readiness. CPU: client CPU µs per \
         operation (user + system).\n"
    );
    let _ = writeln!(
        w,
        "| workload | mode | xs-client | xenstore-rs | xenstore-rs tokio | libxenstore | ours / xenstore-rs | ours / xenstore-rs tokio | xenstore-rs / libxenstore | CPU µs: ours, xenstore-rs, tokio | spread |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}", v / 1e3));
    let mut rows = Vec::new();
    for wl in SEQUENTIAL {
        for mode in Mode::ALL {
            let m = |k| r.median(ox, mode, wl, k);
            let (ours, a, b, c) = (
                m(ClientKind::Ours),
                m(rs),
                m(tokio),
                m(ClientKind::Libxenstore),
            );
            if a.is_none() && b.is_none() {
                continue;
            }
            let (ra, rb) = (ratio(ours, a), ratio(ours, b));
            rows.push((format!("{wl} {} vs blocking", mode.label()), ra));
            rows.push((format!("{wl} {} vs tokio", mode.label()), rb));
            let cpu = |k| us(r.cpu_median(ox, mode, wl, k));
            let spread = max_opt([ClientKind::Ours, rs, tokio].map(|k| r.spread(ox, mode, wl, k)));
            let _ = writeln!(
                w,
                "| {wl} | {} | {} | {} | {} | {} | {} | {} | {} | {}, {}, {} | {} |",
                mode.label(),
                ops(ours),
                ops(a),
                ops(b),
                ops(c),
                x(ra),
                x(rb),
                x(ratio(a, c)),
                cpu(ClientKind::Ours),
                cpu(rs),
                cpu(tokio),
                pct(spread)
            );
        }
    }
    rows
}

/// The C benchmark on xs-capi's `libxenstore.so.4` beside the same binary
/// on the C library, same daemon, same run. Returns xs-capi / C per row,
/// for the target.
fn capi_section(
    w: &mut String,
    r: &Results,
    check: Option<&Checked>,
) -> Vec<(String, Option<f64>)> {
    let ox = DaemonKind::Oxenstored;
    let (c, capi) = (ClientKind::Libxenstore, ClientKind::Capi);
    let _ = writeln!(
        w,
        "\n### The C benchmark on xs-capi's libxenstore.so.4 (ops/s, µs per op)\n"
    );
    let Some(check) = check else {
        let _ = writeln!(
            w,
            "**Not measured in this run** (`xs-bench suite --capi-lib DIR`, which \
             `scripts/bench` passes, runs it).\n"
        );
        return Vec::new();
    };
    let _ = writeln!(
        w,
        "The same `bench/libxenstore_bench` binary, unchanged, on two libraries: *C \
         libxenstore* as linked (`{}`), *xs-capi* with `LD_LIBRARY_PATH` at xs-capi's release \
         build (`{}`; both files read from `/proc/PID/maps` of a running benchmark before the \
         first measurement). Interleaved with the sequential clients above in the same \
         repetitions. Target: ≥ 1.0x. CPU: client CPU µs per operation (user + system).\n",
        check.c.display(),
        check.capi.display()
    );
    let _ = writeln!(
        w,
        "| workload | mode | C libxenstore | libxenstore on xs-capi | xs-capi / C libxenstore | target (≥ 1.0x) | CPU µs: C, xs-capi | spread |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---|---|---:|");
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}", v / 1e3));
    let mut rows = Vec::new();
    for wl in SEQUENTIAL {
        for mode in Mode::ALL {
            let (a, b) = (r.median(ox, mode, wl, c), r.median(ox, mode, wl, capi));
            let rr = ratio(b, a);
            rows.push((format!("{wl} {}", mode.label()), rr));
            let _ = writeln!(
                w,
                "| {wl} | {} | {} | {} | {} | {} | {}, {} | {} |",
                mode.label(),
                ops(a),
                ops(b),
                x(rr),
                verdict(rr.map(|v| v >= 1.0)),
                us(r.cpu_median(ox, mode, wl, c)),
                us(r.cpu_median(ox, mode, wl, capi)),
                pct(max_opt([c, capi].map(|k| r.spread(ox, mode, wl, k))))
            );
        }
    }
    rows
}

/// Per-operation latency of the sequential clients: the median over the
/// runs of each run's p50 (and p99). Returns ours / libxenstore p50 per
/// unpinned row, for the target.
fn latency_section(w: &mut String, r: &Results) -> Vec<(String, Option<f64>)> {
    let ox = DaemonKind::Oxenstored;
    let _ = writeln!(w, "\n### Latency per operation (p50 / p99, µs)\n");
    let _ = writeln!(
        w,
        "From the same runs as the tables above: every client limited by time records the \
         wall time of each operation (the clock it reads after every operation to know when \
         to stop, minus the previous reading; samples into a buffer allocated before the \
         timed part) and prints that run's p50 and p99 (nearest rank). Each cell is the \
         **median over the runs of the per-run p50 / p99**; lower is better, so a ratio \
         ours / other **≤ 1.0x** means ours is at least as fast. *xenstore-rs*: 0.8's \
         blocking `XsUnix`; *tokio*: its `XsTokio`; *async*: `aread` (one task, sequential \
         reads) of xs-client's tokio client against xenstore-rs's, on the read row. Target: \
         unpinned p50 ≤ libxenstore's. *spread*: (max − min) / median of the per-run p50s \
         of the noisiest client in the row.\n"
    );
    let _ = writeln!(
        w,
        "| workload | mode | xs-client | libxenstore | xs-capi | xenstore-rs | xenstore-rs tokio | pyxs | ours / libxenstore | ours / xenstore-rs | ours / xenstore-rs tokio | async: ours, xenstore-rs | spread |"
    );
    let _ = writeln!(
        w,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}", v / 1e3));
    let mut rows = Vec::new();
    for wl in SEQUENTIAL {
        for mode in Mode::ALL {
            let at = |pct, wl: &str, k| r.latency_median(pct, ox, mode, wl, k);
            let cell = |wl: &str, k| match (at(Pct::P50, wl, k), at(Pct::P99, wl, k)) {
                (None, None) => "—".to_owned(),
                (a, b) => format!("{} / {}", us(a), us(b)),
            };
            let vs = |k| {
                let (p50, p99) = (
                    ratio(at(Pct::P50, wl, ClientKind::Ours), at(Pct::P50, wl, k)),
                    ratio(at(Pct::P99, wl, ClientKind::Ours), at(Pct::P99, wl, k)),
                );
                (p50, format!("{} / {}", x(p50), x(p99)))
            };
            let (vs_c, vs_c_shown) = vs(ClientKind::Libxenstore);
            if mode == Mode::Unpinned {
                rows.push((format!("{wl} {}", mode.label()), vs_c));
            }
            let clients = [
                ClientKind::Ours,
                ClientKind::Libxenstore,
                ClientKind::Capi,
                ClientKind::XenstoreRs,
                ClientKind::XenstoreRsTokio,
                ClientKind::Pyxs,
            ];
            let async_cell = if wl == "read" {
                let a = ASYNC[0];
                format!(
                    "{}, {}",
                    cell(a, ClientKind::Async),
                    cell(a, ClientKind::XenstoreRsAsync)
                )
            } else {
                "—".into()
            };
            let spread =
                max_opt(clients.map(|k| r.latencies(Pct::P50, ox, mode, wl, k).and_then(spread)));
            let cells: Vec<String> = clients.iter().map(|&k| cell(wl, k)).collect();
            let _ = writeln!(
                w,
                "| {wl} | {} | {} | {} | {} | {} | {async_cell} | {} |",
                mode.label(),
                cells.join(" | "),
                vs_c_shown,
                vs(ClientKind::XenstoreRs).1,
                vs(ClientKind::XenstoreRsTokio).1,
                pct(spread)
            );
        }
    }
    rows
}

/// Ratios of the async clients, one list per target.
#[derive(Default)]
struct AsyncRatios {
    /// `aread`: ours / xenstore-rs.
    seq_vs_rs: Vec<(String, Option<f64>)>,
    /// `tasks64`: ours / xenstore-rs.
    tasks_vs_rs: Vec<(String, Option<f64>)>,
    /// `aread` (ours, async) / `read` (ours, sync).
    seq_vs_sync: Vec<(String, Option<f64>)>,
}

/// The async clients on tokio, ours and xenstore-rs 0.8's, beside our
/// sync client, same daemon, same run.
fn async_section(w: &mut String, r: &Results) -> AsyncRatios {
    let ox = DaemonKind::Oxenstored;
    let (ours, rs, sync) = (
        ClientKind::Async,
        ClientKind::XenstoreRsAsync,
        ClientKind::Ours,
    );
    let _ = writeln!(
        w,
        "\n### Async on tokio: xs-client vs xenstore-rs 0.8 (reads/s, µs per read)\n"
    );
    let _ = writeln!(
        w,
        "Interleaved with the clients above in the same repetitions. `aread`: one task reading \
         the 22-byte node sequentially inside one `block_on` (current-thread runtime), rotated \
         with the sequential `read` clients; `tasks64`: 64 tasks reading it concurrently over \
         one shared connection (two-worker runtime). *xs-client async*: `xs_client::tokio::Client`; \
         *xenstore-rs async*: 0.8's `XsTokio` (crates.io), the same loop; *sync*: xs-client's \
         blocking `read` of the sequential table. Targets: `aread` ≥ 1.0x xenstore-rs and \
         ≥ 0.9x sync; `tasks64` ≥ 1.5x xenstore-rs. CPU: client CPU µs per read (user + \
         system, all threads).\n"
    );
    let _ = writeln!(
        w,
        "| workload | mode | xs-client async | xenstore-rs async | sync | async / xenstore-rs | async / sync | target | CPU µs: async, xenstore-rs, sync | spread |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---|---|---:|");
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}", v / 1e3));
    let mut out = AsyncRatios::default();
    for wl in ASYNC {
        let sequential = wl == ASYNC[0];
        for mode in Mode::ALL {
            let (a, b) = (r.median(ox, mode, wl, ours), r.median(ox, mode, wl, rs));
            // Only the sequential workload has a sync counterpart.
            let s = sequential
                .then(|| r.median(ox, mode, "read", sync))
                .flatten();
            let (vs_rs, vs_sync) = (ratio(a, b), ratio(a, s));
            let row = format!("{wl} {}", mode.label());
            let ok = if sequential {
                out.seq_vs_rs.push((row.clone(), vs_rs));
                out.seq_vs_sync.push((row, vs_sync));
                vs_rs.zip(vs_sync).map(|(t, u)| t >= 1.0 && u >= 0.9)
            } else {
                out.tasks_vs_rs.push((row, vs_rs));
                vs_rs.map(|t| t >= 1.5)
            };
            let cpu_sync = sequential
                .then(|| r.cpu_median(ox, mode, "read", sync))
                .flatten();
            let mut noisy = vec![r.spread(ox, mode, wl, ours), r.spread(ox, mode, wl, rs)];
            if sequential {
                noisy.push(r.spread(ox, mode, "read", sync));
            }
            let _ = writeln!(
                w,
                "| {wl} | {} | {} | {} | {} | {} | {} | {} | {}, {}, {} | {} |",
                mode.label(),
                ops(a),
                ops(b),
                ops(s),
                x(vs_rs),
                x(vs_sync),
                verdict(ok),
                us(r.cpu_median(ox, mode, wl, ours)),
                us(r.cpu_median(ox, mode, wl, rs)),
                us(cpu_sync),
                pct(max_opt(noisy))
            );
        }
    }
    out
}

/// Renders the Markdown report.
pub fn render(input: &Input<'_>) -> String {
    let f = &input.facts;
    let r = input.results;
    let ox = DaemonKind::Oxenstored;
    let mut s = String::new();
    let w = &mut s;

    let _ = writeln!(
        w,
        "## Results: xs-client vs libxenstore, pyxs and xenstore-rs (`scripts/bench`)\n"
    );
    let _ = writeln!(
        w,
        "Measured {} at commit {}{}. Machine: {} CPUs (`nproc`), {}{}, kernel {}; {}. {}.\n",
        f.date,
        f.commit,
        if f.quick {
            " in **quick mode** (`BENCH_QUICK=1`: smoke test, not for comparison)"
        } else {
            ""
        },
        f.nproc,
        f.model,
        f.hypervisor
            .as_ref()
            .map(|h| format!(" (virtualised, {h})"))
            .unwrap_or_default(),
        f.kernel,
        f.rustc,
        f.packages.join(", ")
    );
    let _ = writeln!(
        w,
        "Every client is its own process, run against **one** oxenstored (the unmodified \
         Debian daemon under `scripts/oxenstored/start`). Each cell is the **median of {} runs** \
         of {} s each (connection set-up and warm-up not timed; walks: whole walks). Clients, \
         workloads and the two modes are interleaved within each repetition, and the client \
         order rotates between repetitions. *pinned*: daemon (`taskset -a -p -c 0 PID`) and \
         client (`taskset -c 0`) share CPU 0; *unpinned*: no affinity. *spread* is \
         (max − min) / median of the noisiest client in the row. Whole run: {:.0} s. Load \
         average (1, 5, 15 min) at the start: {}; at the end: {} (anything well above 0 means \
         other work shared the CPUs).\n",
        f.reps, f.secs, input.elapsed, f.load.0, f.load.1
    );

    let busy = |l: &str| {
        l.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v >= 1.0)
    };
    if busy(&f.load.0) || busy(&f.load.1) {
        let _ = writeln!(
            w,
            "> **Other work shared this machine during the run** (1-minute load average ≥ 1 on \
             {} CPUs). Wall-clock numbers (ops/s, walk times) are then noisy, see *spread*; the \
             client CPU per operation and the callgrind counts are not affected much.\n",
            f.nproc
        );
    }

    // Sequential.
    let _ = writeln!(w, "### Sequential operations (ops/s, µs per op)\n");
    let _ = writeln!(
        w,
        "`read` 22-byte value; `write` same size; `dir100` DIRECTORY of a node with 100 \
         children (xs-client: `list_names`, the names in one buffer as libxenstore's \
         `xs_directory` gives them; `list`'s `Vec<String>` is `xs-bench run ours dir100-vec`); \
         `txn` TRANSACTION_START + WRITE + TRANSACTION_END(commit); `watch` WRITE \
         of a watched node, then wait for its event (one round trip plus the event).\n"
    );
    let _ = writeln!(
        w,
        "| workload | mode | xs-client | libxenstore | pyxs | ours / libxenstore | ours / pyxs | target (≥ 1.0x, ≥ 3x) | spread |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---|---:|");
    let mut vs_c = Vec::new();
    let mut vs_py = Vec::new();
    for wl in SEQUENTIAL {
        for mode in Mode::ALL {
            let ours = r.median(ox, mode, wl, ClientKind::Ours);
            let c = r.median(ox, mode, wl, ClientKind::Libxenstore);
            let py = r.median(ox, mode, wl, ClientKind::Pyxs);
            let (rc, rp) = (ratio(ours, c), ratio(ours, py));
            vs_c.push((format!("{wl} {}", mode.label()), rc));
            vs_py.push((format!("{wl} {}", mode.label()), rp));
            let ok = match (rc, rp) {
                (Some(a), Some(b)) => Some(a >= 1.0 && b >= 3.0),
                _ => None,
            };
            let spread = max_opt(
                [ClientKind::Ours, ClientKind::Libxenstore, ClientKind::Pyxs]
                    .map(|k| r.spread(ox, mode, wl, k)),
            );
            let _ = writeln!(
                w,
                "| {wl} | {} | {} | {} | {} | {} | {} | {} | {} |",
                mode.label(),
                ops(ours),
                ops(c),
                ops(py),
                x(rc),
                x(rp),
                verdict(ok),
                pct(spread)
            );
        }
    }

    // `list` beside the dir100 row's `list_names`, from the same rounds.
    let list_vec: Vec<String> = Mode::ALL
        .iter()
        .map(|&mode| {
            let v = r.median(ox, mode, "dir100-vec", ClientKind::Ours);
            let c = r.median(ox, mode, "dir100", ClientKind::Libxenstore);
            format!(
                "{} {}, {} libxenstore",
                mode.label(),
                ops(v),
                x(ratio(v, c))
            )
        })
        .collect();
    let _ = writeln!(
        w,
        "
xs-client's `list` (a `String` per name; `dir100-vec`) in the same rounds: {}.",
        list_vec.join("; ")
    );

    let capi_vs_c = capi_section(w, r, input.capi_check);
    let vs_rs = xenstore_rs_section(w, r);
    let p50_vs_c = latency_section(w, r);
    let vs_async = async_section(w, r);

    // Client CPU.
    let _ = writeln!(w, "\n### Client CPU per operation (µs, user + system)\n");
    let _ = writeln!(
        w,
        "CPU time of the client process (all its threads, kernel time for its system calls \
         included) during the timed part, divided by the operations: what a request costs the \
         client, much less sensitive to other load than ops/s. Median of the same runs.\n"
    );
    let _ = writeln!(
        w,
        "| workload | mode | xs-client | libxenstore | pyxs | ours / libxenstore |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|");
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.1}", v / 1e3));
    for wl in SEQUENTIAL {
        for mode in Mode::ALL {
            let ours = r.cpu_median(ox, mode, wl, ClientKind::Ours);
            let c = r.cpu_median(ox, mode, wl, ClientKind::Libxenstore);
            let py = r.cpu_median(ox, mode, wl, ClientKind::Pyxs);
            let _ = writeln!(
                w,
                "| {wl} | {} | {} | {} | {} | {} |",
                mode.label(),
                us(ours),
                us(c),
                us(py),
                x(ratio(ours, c))
            );
        }
    }
    for d in DEPTHS {
        for mode in Mode::ALL {
            let raw = r.cpu_median(ox, mode, &format!("depth{d}"), ClientKind::Raw);
            let ours = r.cpu_median(ox, mode, &format!("many{d}"), ClientKind::Ours);
            let _ = writeln!(
                w,
                "| pipelined read, depth/batch {d} | {} | {} | (raw generator: {}) | — | {} vs raw |",
                mode.label(),
                us(ours),
                us(raw),
                x(ratio(ours, raw))
            );
        }
    }

    // Pipelined.
    let _ = writeln!(w, "\n### Pipelined reads (reads/s)\n");
    let _ = writeln!(
        w,
        "*raw load generator*: `xs-bench run raw depthN`, std `UnixStream` + `xs-wire`, keeps \
         exactly N READs in flight (one `write` of new requests per `read` of replies): the \
         daemon's limit. *xs-client*: `read_many` with batches of N paths (each batch is sent \
         pipelined and drained before the next: xs-client has no depth knob, so batch size \
         stands in for depth). The last row is one `read_many` of {WINDOW_BATCH} paths, i.e. \
         the library's own sliding window (`MAX_DEPTH` = {}), compared with raw depth 64.\n",
        xs_client::MAX_DEPTH
    );
    let _ = writeln!(
        w,
        "| depth / batch | mode | raw load generator | xs-client `read_many` | ours / raw | target | spread |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---|---:|");
    let mut pipe64 = Vec::new();
    for d in DEPTHS {
        for mode in Mode::ALL {
            let raw = r.median(ox, mode, &format!("depth{d}"), ClientKind::Raw);
            let ours = r.median(ox, mode, &format!("many{d}"), ClientKind::Ours);
            let rr = ratio(ours, raw);
            let target = if d == 64 {
                pipe64.push((format!("depth 64 {}", mode.label()), rr));
                verdict(rr.map(|v| v >= 0.9)).to_owned() + " (≥ 0.9x)"
            } else {
                "—".into()
            };
            let spread = max_opt([
                r.spread(ox, mode, &format!("depth{d}"), ClientKind::Raw),
                r.spread(ox, mode, &format!("many{d}"), ClientKind::Ours),
            ]);
            let _ = writeln!(
                w,
                "| {d} | {} | {} | {} | {} | {target} | {} |",
                mode.label(),
                rate(raw),
                rate(ours),
                x(rr),
                pct(spread)
            );
        }
    }
    for mode in Mode::ALL {
        let raw = r.median(ox, mode, "depth64", ClientKind::Raw);
        let many = format!("many{WINDOW_BATCH}");
        let ours = r.median(ox, mode, &many, ClientKind::Ours);
        let _ = writeln!(
            w,
            "| window ({WINDOW_BATCH} paths) | {} | {} (depth 64) | {} | {} | — | {} |",
            mode.label(),
            rate(raw),
            rate(ours),
            x(ratio(ours, raw)),
            pct(r.spread(ox, mode, &many, ClientKind::Ours))
        );
    }

    // Walk.
    let _ = writeln!(
        w,
        "\n### Walk of a {}-node tree (time per walk)\n",
        thousands(workload::tree_nodes() as f64)
    );
    let _ = writeln!(
        w,
        "`{}`: 4 levels below the top, fan-out {:?}, every node with a short value. \
         *xs-client*: `Store::walk` (a level at a time, pipelined). *xenstore-ls*: the C tool, \
         timed as a whole process (exec + connect are ~1 ms of it), output to /dev/null. *pyxs*: \
         `Client.walk`. *libxenstore DFS*: `bench/libxenstore_bench.c walk`, the same \
         READ + DIRECTORY per node in-process (no exec, no printing), for reference. *daemon \
         floor*: the time the daemon needs for the walk's 2 requests per node at the raw \
         generator's depth-64 rate: no client can walk faster against this daemon.\n",
        workload::TREE_PATH,
        workload::TREE_FANOUT
    );
    let _ = writeln!(
        w,
        "| mode | xs-client | xenstore-ls | pyxs | libxenstore DFS | daemon floor | xenstore-ls / ours | pyxs / ours | target (≥ 5x, ≥ 20x) | spread |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    let mut walk_ls = Vec::new();
    let mut walk_py = Vec::new();
    for mode in Mode::ALL {
        let ours = r.median(ox, mode, "walk", ClientKind::Ours);
        let ls = r.median(ox, mode, "walk", ClientKind::XenstoreLs);
        let py = r.median(ox, mode, "walk", ClientKind::Pyxs);
        let c = r.median(ox, mode, "walk", ClientKind::Libxenstore);
        // Faster = fewer seconds: ours' rate over theirs.
        let (rl, rp) = (ratio(ours, ls), ratio(ours, py));
        walk_ls.push((format!("walk {}", mode.label()), rl));
        walk_py.push((format!("walk {}", mode.label()), rp));
        let ok = match (rl, rp) {
            (Some(a), Some(b)) => Some(a >= 5.0 && b >= 20.0),
            _ => None,
        };
        let spread = max_opt(
            [
                ClientKind::Ours,
                ClientKind::XenstoreLs,
                ClientKind::Pyxs,
                ClientKind::Libxenstore,
            ]
            .map(|k| r.spread(ox, mode, "walk", k)),
        );
        // 2 requests per node at the raw generator's depth-64 rate.
        let floor = r
            .median(ox, mode, "depth64", ClientKind::Raw)
            .map(|rate| rate / (2.0 * workload::tree_nodes() as f64));
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            mode.label(),
            ms(ours),
            ms(ls),
            ms(py),
            ms(c),
            ms(floor),
            x(rl),
            x(rp),
            verdict(ok),
            pct(spread)
        );
    }

    // xs-server.
    let _ = writeln!(w, "\n### xs-server beside oxenstored (requests/s)\n");
    let xs = DaemonKind::XsServer;
    let have_xs = r.samples.keys().any(|k| k.daemon == xs);
    if have_xs {
        let _ = writeln!(
            w,
            "Same clients, same commands, against the in-tree `xs-server --socket PATH` (pinned \
             like oxenstored, all its threads).\n"
        );
        let _ = writeln!(
            w,
            "| client / workload | mode | oxenstored | xs-server | xs-server / oxenstored |"
        );
        let _ = writeln!(w, "|---|---|---:|---:|---:|");
        let mut rows: Vec<(String, String, ClientKind)> = vec![
            ("xs-client read".into(), "read".into(), ClientKind::Ours),
            ("xs-client write".into(), "write".into(), ClientKind::Ours),
        ];
        for d in DEPTHS {
            rows.push((
                format!("raw depth {d}"),
                format!("depth{d}"),
                ClientKind::Raw,
            ));
        }
        for d in DEPTHS {
            rows.push((
                format!("xs-client read_many({d})"),
                format!("many{d}"),
                ClientKind::Ours,
            ));
        }
        for (name, wl, client) in rows {
            for mode in Mode::ALL {
                let a = r.median(ox, mode, &wl, client);
                let b = r.median(xs, mode, &wl, client);
                let _ = writeln!(
                    w,
                    "| {name} | {} | {} | {} | {} |",
                    mode.label(),
                    rate(a),
                    rate(b),
                    x(ratio(b, a))
                );
            }
        }
        let _ = writeln!(
            w,
            "\nWalk of the same {}-node tree on xs-server (time per walk):\n",
            thousands(workload::tree_nodes() as f64)
        );
        let _ = writeln!(
            w,
            "| mode | xs-client | xenstore-ls | pyxs | xenstore-ls / ours | pyxs / ours |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
        for mode in Mode::ALL {
            let ours = r.median(xs, mode, "walk", ClientKind::Ours);
            let ls = r.median(xs, mode, "walk", ClientKind::XenstoreLs);
            let py = r.median(xs, mode, "walk", ClientKind::Pyxs);
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} |",
                mode.label(),
                ms(ours),
                ms(ls),
                ms(py),
                x(ratio(ours, ls)),
                x(ratio(ours, py))
            );
        }
    } else {
        let _ = writeln!(
            w,
            "**Not measured in this run** (hook in place: `scripts/bench` builds the \
             `xs-server` binary when the crate has one and passes `--xs-server BIN`; the suite \
             then starts `xs-server --socket DIR/socket`, populates it and runs the raw load \
             generator and xs-client against it beside oxenstored).\n"
        );
    }

    // Callgrind.
    let _ = writeln!(w, "\n### Client instructions per read (callgrind)\n");
    let mut instr_ok = None;
    if input.callgrind.len() == 2 {
        let per = |c: &Callgrind| (c.total as f64 - c.baseline as f64) / c.reads.max(1) as f64;
        let (o, c) = (&input.callgrind[0], &input.callgrind[1]);
        let _ = writeln!(
            w,
            "`valgrind --tool=callgrind` on the client process only (user-space instructions, \
             libc and the library included, kernel not), {} sequential reads minus a run with \
             0 reads (same connect and 100-read warm-up), divided by {}. Deterministic up to a \
             few instructions.\n",
            thousands(o.reads as f64),
            thousands(o.reads as f64)
        );
        let _ = writeln!(
            w,
            "| client | instructions, {} reads | instructions, 0 reads | **per read** |",
            thousands(o.reads as f64)
        );
        let _ = writeln!(w, "|---|---:|---:|---:|");
        for cg in [o, c] {
            let _ = writeln!(
                w,
                "| {} | {} | {} | **{}** |",
                cg.client.label(),
                thousands(cg.total as f64),
                thousands(cg.baseline as f64),
                thousands(per(cg))
            );
        }
        let rr = per(o) / per(c);
        instr_ok = Some(rr <= 1.0);
        let _ = writeln!(w, "\nxs-client / libxenstore: {rr:.2}x.");
    } else {
        let _ = writeln!(w, "Not measured (callgrind failed; see failures).");
    }

    // Targets.
    let _ = writeln!(w, "\n### Targets\n");
    let _ = writeln!(w, "| target | worst case (row) | result |");
    let _ = writeln!(w, "|---|---|---|");
    let mut target = |name: &str, rows: &[(String, Option<f64>)], need: f64| {
        let wst = worst(rows);
        let ok = wst.as_ref().map(|(_, v)| *v >= need);
        let _ = writeln!(
            w,
            "| {name} | {} | {} |",
            wst.map_or("—".into(), |(n, v)| format!("{v:.2}x ({n})")),
            verdict(ok)
        );
    };
    target("every sequential op ≥ 1.0x libxenstore ops/s", &vs_c, 1.0);
    target("every sequential op ≥ 3x pyxs ops/s", &vs_py, 3.0);
    target(
        "C benchmark on xs-capi ≥ 1.0x on the C libxenstore, every sequential op",
        &capi_vs_c,
        1.0,
    );
    target(
        "every sequential op ≥ 1.0x xenstore-rs 0.8 ops/s (blocking and tokio, where it has the op)",
        &vs_rs,
        1.0,
    );
    target(
        "async sequential reads ≥ 1.0x xenstore-rs 0.8 tokio",
        &vs_async.seq_vs_rs,
        1.0,
    );
    target(
        "async reads by 64 tasks ≥ 1.5x xenstore-rs 0.8 tokio",
        &vs_async.tasks_vs_rs,
        1.5,
    );
    target(
        "async sequential reads ≥ 0.9x our sync client",
        &vs_async.seq_vs_sync,
        0.9,
    );
    target(
        "pipelined reads, depth 64 ≥ 0.9x raw load generator",
        &pipe64,
        0.9,
    );
    target("walk ≥ 5x faster than xenstore-ls", &walk_ls, 5.0);
    target("walk ≥ 20x faster than pyxs", &walk_py, 20.0);
    // Latency: lower is better, so the worst row is the highest ratio.
    let wst = p50_vs_c
        .iter()
        .filter_map(|(n, r)| r.map(|r| (n, r)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let _ = writeln!(
        w,
        "| unpinned p50 latency ≤ libxenstore's, every sequential op (ours / libxenstore) | {} | {} |",
        wst.map_or("—".into(), |(n, v)| format!("{v:.2}x ({n})")),
        verdict(wst.map(|(_, v)| v <= 1.0))
    );
    let _ = writeln!(
        w,
        "| client instructions per read ≤ libxenstore's | see above | {} |",
        verdict(instr_ok)
    );
    // What the daemon allows at best: a client with no cost at all.
    let mut bounds = Vec::new();
    for mode in Mode::ALL {
        let raw1 = r.median(ox, mode, "depth1", ClientKind::Raw);
        let py = r.median(ox, mode, "read", ClientKind::Pyxs);
        let floor = r
            .median(ox, mode, "depth64", ClientKind::Raw)
            .map(|rate| rate / (2.0 * workload::tree_nodes() as f64));
        let ls = r.median(ox, mode, "walk", ClientKind::XenstoreLs);
        let pyw = r.median(ox, mode, "walk", ClientKind::Pyxs);
        bounds.push(format!(
            "{}: raw depth-1 read / pyxs read = {}, daemon-floor walk vs xenstore-ls = {}, vs pyxs = {}",
            mode.label(),
            x(ratio(raw1, py)),
            x(ratio(floor, ls)),
            x(ratio(floor, pyw))
        ));
    }
    let _ = writeln!(
        w,
        "\nUpper bounds on oxenstored (what a client with zero cost would reach): {}.",
        bounds.join("; ")
    );

    if !input.notes.is_empty() || !input.failures.is_empty() {
        let _ = writeln!(w, "\n### Notes\n");
        for n in input.notes {
            let _ = writeln!(w, "- {n}");
        }
        for e in input.failures {
            let _ = writeln!(w, "- FAILED: {e}");
        }
    }

    // Commands.
    let _ = writeln!(w, "\n### Commands\n");
    let _ = writeln!(
        w,
        "Everything: `scripts/bench` (`BENCH_QUICK=1` for a smoke run; `BENCH_REPS`, \
         `BENCH_SECS`, `BENCH_CALLGRIND_READS` override). It builds `xs-bench` and `xs-capi` \
         (release; `target/bench/capi-lib/libxenstore.so.4` links to the latter), compiles \
         `cc -O2 bench/libxenstore_bench.c -lxenstore`, then runs `xs-bench suite`, \
         which starts oxenstored with `scripts/oxenstored/start DIR` (`$SOCK` = its last \
         line), writes the tree (`xs-bench populate $SOCK`), and runs, per cell (shown \
         unpinned; pinned adds `taskset -c 0` in front and pins the daemon with \
         `taskset -a -p -c 0 $(cat DIR/daemon.pid)`):\n"
    );
    let _ = writeln!(w, "```sh");
    for (k, v) in input.commands {
        let _ = writeln!(w, "# {k}\n{v}");
    }
    for cg in input.callgrind {
        let _ = writeln!(
            w,
            "# callgrind, {} (and the same with `ops 0`)\n{}",
            cg.client.label(),
            cg.command
        );
    }
    let _ = writeln!(w, "```");

    // Raw samples.
    let _ = writeln!(w, "\n### Raw samples (ops/s per run, in run order)\n");
    let _ = writeln!(w, "| daemon | mode | workload | client | samples |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    raw_rows(w, &r.samples, thousands);
    let _ = writeln!(
        w,
        "\n### Raw latency samples (p50 µs per run, in run order)\n"
    );
    let _ = writeln!(w, "| daemon | mode | workload | client | samples |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    // Timed runs of the walk and of `read_many` record a latency per call
    // (a whole walk, a whole batch): not shown.
    let per_op: BTreeMap<Key, Vec<f64>> = r
        .p50
        .iter()
        .filter(|(k, _)| SEQUENTIAL.contains(&k.workload.as_str()) || k.workload == ASYNC[0])
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    raw_rows(w, &per_op, |v| format!("{:.1}", v / 1e3));
    s
}

/// One table row per cell: its samples, in run order.
fn raw_rows(w: &mut String, cells: &BTreeMap<Key, Vec<f64>>, show: impl Fn(f64) -> String) {
    for (k, v) in cells {
        let list: Vec<String> = v.iter().map(|x| show(*x)).collect();
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            k.daemon.label(),
            k.mode.label(),
            k.workload,
            k.client.label(),
            list.join(", ")
        );
    }
}
