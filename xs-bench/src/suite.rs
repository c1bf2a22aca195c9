//! The whole benchmark: start the daemon(s), run every client on every
//! workload in both CPU modes, interleaved, several times; count client
//! instructions with callgrind; write the report.
//!
//! Every measurement is a separate client process (ours, the raw load
//! generator, the C program on the C library and on xs-capi's, the pyxs
//! script, `xenstore-ls`), so the clients are started, connected and pinned the same way. Within a
//! repetition the two modes alternate, and within a workload the order of
//! the clients rotates from one repetition to the next, so slow drift of
//! the machine or the daemon spreads over all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::loaded_lib;
use crate::report::{self, Facts, Results};
use crate::{workload, xenstore_rs};

/// Settings, from the command line and the environment.
#[derive(Clone, Debug)]
pub struct Config {
    pub self_exe: PathBuf,
    pub c_bench: PathBuf,
    pub pyxs_script: PathBuf,
    pub python: PathBuf,
    pub xs_server: Option<PathBuf>,
    /// A directory holding xs-capi's `libxenstore.so.4`: the C benchmark
    /// runs on it too (`LD_LIBRARY_PATH`).
    pub capi_lib: Option<PathBuf>,
    pub out: PathBuf,
    pub quick: bool,
    pub reps: usize,
    pub secs: f64,
    pub callgrind_reads: u64,
    pub cpus: usize,
}

/// CPU placement of daemon and clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Daemon and client both on CPU 0 (`taskset`).
    Pinned,
    /// Wherever the scheduler puts them.
    Unpinned,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Pinned, Mode::Unpinned];

    pub fn label(self) -> &'static str {
        match self {
            Mode::Pinned => "pinned",
            Mode::Unpinned => "unpinned",
        }
    }
}

/// The daemons measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DaemonKind {
    Oxenstored,
    XsServer,
}

impl DaemonKind {
    pub fn label(self) -> &'static str {
        match self {
            DaemonKind::Oxenstored => "oxenstored",
            DaemonKind::XsServer => "xs-server",
        }
    }
}

/// The client programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientKind {
    /// xs-client through `xs-bench run ours`.
    Ours,
    /// The raw load generator, `xs-bench run raw`.
    Raw,
    /// `bench/libxenstore_bench.c`.
    Libxenstore,
    /// `bench/libxenstore_bench.c` on xs-capi's `libxenstore.so.4`.
    Capi,
    /// `bench/pyxs_bench.py`.
    Pyxs,
    /// The `xenstore-ls` tool, timed as a whole process.
    XenstoreLs,
    /// The `xenstore-rs` 0.8 crate's blocking client, `xs-bench run xenstore-rs`.
    XenstoreRs,
    /// The `xenstore-rs` 0.8 crate's tokio client, `xs-bench run xenstore-rs-tokio`.
    XenstoreRsTokio,
    /// xs-client's tokio client inside one runtime, `xs-bench run async`.
    Async,
    /// The `xenstore-rs` 0.8 crate's tokio client inside one runtime, `xs-bench run xenstore-rs-async`.
    XenstoreRsAsync,
}

impl ClientKind {
    pub fn label(self) -> &'static str {
        match self {
            ClientKind::Ours => "xs-client",
            ClientKind::Raw => "raw load generator",
            ClientKind::Libxenstore => "libxenstore",
            ClientKind::Capi => "libxenstore on xs-capi",
            ClientKind::Pyxs => "pyxs",
            ClientKind::XenstoreLs => "xenstore-ls",
            ClientKind::XenstoreRs => "xenstore-rs",
            ClientKind::XenstoreRsTokio => "xenstore-rs tokio",
            ClientKind::Async => "xs-client async",
            ClientKind::XenstoreRsAsync => "xenstore-rs async",
        }
    }
}

/// One cell of the results: which daemon, mode, workload and client.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub daemon: DaemonKind,
    pub mode: Mode,
    pub workload: String,
    pub client: ClientKind,
}

/// A measurement to repeat.
#[derive(Clone, Debug)]
struct Job {
    daemon: DaemonKind,
    workload: String,
    client: ClientKind,
    warmup: u64,
}

/// The sequential workloads, in report order.
pub const SEQUENTIAL: [&str; 5] = ["read", "write", "dir100", "txn", "watch"];
/// Pipeline depths (raw generator) and batch sizes (`read_many`).
pub const DEPTHS: [usize; 3] = [1, 8, 64];
/// The async workloads (`asyncload.rs`): sequential reads in one task, and
/// reads by 64 tasks sharing one connection.
pub const ASYNC: [&str; 2] = ["aread", "tasks64"];

/// `read_many` with one big batch: the library's own sliding window.
pub const WINDOW_BATCH: usize = 1024;

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let quick = env_flag("BENCH_QUICK");
    let mut cfg = Config {
        self_exe: std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?,
        c_bench: PathBuf::new(),
        pyxs_script: PathBuf::new(),
        python: PathBuf::from("/usr/bin/python3"),
        xs_server: None,
        capi_lib: None,
        out: PathBuf::from("target/bench-results.md"),
        quick,
        reps: env_num("BENCH_REPS").unwrap_or(if quick { 1 } else { 5 }),
        secs: env_num("BENCH_SECS").unwrap_or(if quick { 0.05 } else { 0.4 }),
        callgrind_reads: env_num("BENCH_CALLGRIND_READS").unwrap_or(if quick {
            1000
        } else {
            10_000
        }),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--c-bench" => cfg.c_bench = value()?,
            "--pyxs-script" => cfg.pyxs_script = value()?,
            "--python" => cfg.python = value()?,
            "--xs-server" => cfg.xs_server = Some(value()?),
            "--capi-lib" => cfg.capi_lib = Some(value()?),
            "--out" => cfg.out = value()?,
            "--quick" => cfg.quick = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if cfg.c_bench.as_os_str().is_empty() || cfg.pyxs_script.as_os_str().is_empty() {
        return Err("--c-bench and --pyxs-script are required".into());
    }
    cfg.reps = cfg.reps.max(1);
    Ok(cfg)
}

/// A running daemon, stopped on drop.
struct Daemon {
    kind: DaemonKind,
    socket: String,
    pid: u32,
    dir: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn start_oxenstored() -> Result<Daemon, String> {
        let dir = temp_dir("xs-bench-ox")?;
        let out = Command::new("scripts/oxenstored/start")
            .arg(&dir)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("scripts/oxenstored/start: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let socket = stdout.lines().last().unwrap_or("").trim().to_owned();
        if !out.status.success() || socket.is_empty() {
            return Err(format!("scripts/oxenstored/start failed: {stdout}"));
        }
        let pid = std::fs::read_to_string(dir.join("daemon.pid"))
            .map_err(|e| format!("daemon.pid: {e}"))?
            .trim()
            .parse()
            .map_err(|e| format!("daemon.pid: {e}"))?;
        Ok(Daemon {
            kind: DaemonKind::Oxenstored,
            socket,
            pid,
            dir,
            child: None,
        })
    }

    /// Hook for the in-tree server: `xs-server --socket PATH`.
    fn start_xs_server(bin: &Path) -> Result<Daemon, String> {
        let dir = temp_dir("xs-bench-xss")?;
        let socket = dir.join("socket").to_string_lossy().into_owned();
        let log = std::fs::File::create(dir.join("daemon.out")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .arg("--socket")
            .arg(&socket)
            .arg("--quiet")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut d = Daemon {
            kind: DaemonKind::XsServer,
            socket,
            pid: child.id(),
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(c) = d.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let log = std::fs::read_to_string(d.dir.join("daemon.out")).unwrap_or_default();
                    return Err(format!("xs-server exited at start-up ({status}): {log}"));
                }
            }
            if Path::new(&d.socket).exists() {
                if let Ok(c) = xs_client::Client::unix(&d.socket) {
                    if xs_client::Store::list(&c, "/").is_ok() {
                        return Ok(d);
                    }
                }
            }
            if Instant::now() > deadline {
                d.stop();
                return Err("xs-server did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pin(&self, cpus: &str) -> Result<(), String> {
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &self.pid.to_string()])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("taskset: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("taskset -a -p -c {cpus} {} failed", self.pid))
        }
    }

    fn stop(&mut self) {
        match self.child.take() {
            Some(mut child) => {
                // SIGTERM first (a clean stop), SIGKILL after 3 s. The child
                // is not reaped yet, so its pid cannot have been reused.
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(3);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            None if self.kind == DaemonKind::Oxenstored => {
                let _ = Command::new("scripts/oxenstored/stop")
                    .arg(&self.dir)
                    .stdout(Stdio::null())
                    .status();
            }
            None => {}
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

fn temp_dir(prefix: &str) -> Result<PathBuf, String> {
    let out = Command::new("mktemp")
        .args(["-d", &format!("/tmp/{prefix}.XXXXXX")])
        .output()
        .map_err(|e| format!("mktemp: {e}"))?;
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    ))
}

/// The argv of one client run (before any `taskset`).
fn argv(cfg: &Config, job: &Job, limit: (&str, String)) -> Vec<String> {
    let (mode, value) = limit;
    let tail = |w: &str| {
        vec![
            w.to_owned(),
            mode.to_owned(),
            value.clone(),
            job.warmup.to_string(),
        ]
    };
    let path = |p: &Path| p.to_string_lossy().into_owned();
    match job.client {
        ClientKind::Ours
        | ClientKind::Raw
        | ClientKind::XenstoreRs
        | ClientKind::XenstoreRsTokio
        | ClientKind::Async
        | ClientKind::XenstoreRsAsync => {
            // The `CLIENT` argument of `xs-bench run`.
            let who = match job.client {
                ClientKind::Ours => "ours",
                ClientKind::Raw => "raw",
                ClientKind::XenstoreRs => "xenstore-rs",
                ClientKind::XenstoreRsTokio => "xenstore-rs-tokio",
                ClientKind::Async => "async",
                _ => "xenstore-rs-async",
            };
            let mut v = vec![path(&cfg.self_exe), "run".into(), who.into()];
            v.extend(tail(&job.workload));
            v
        }
        ClientKind::Libxenstore | ClientKind::Capi => {
            let mut v = vec![path(&cfg.c_bench)];
            v.extend(tail(&job.workload));
            v
        }
        ClientKind::Pyxs => {
            let mut v = vec![path(&cfg.python), path(&cfg.pyxs_script)];
            v.extend(tail(&job.workload));
            v
        }
        ClientKind::XenstoreLs => vec!["xenstore-ls".into(), workload::TREE_PATH.into()],
    }
}

/// The environment a client runs with, beyond `XENSTORED_PATH`: the C
/// benchmark on xs-capi finds its library through `LD_LIBRARY_PATH`.
fn env_for(cfg: &Config, client: ClientKind) -> Vec<(String, String)> {
    match (client, &cfg.capi_lib) {
        (ClientKind::Capi, Some(dir)) => vec![(
            "LD_LIBRARY_PATH".to_owned(),
            dir.to_string_lossy().into_owned(),
        )],
        _ => Vec::new(),
    }
}

fn with_taskset(mode: Mode, argv: Vec<String>) -> Vec<String> {
    match mode {
        Mode::Pinned => {
            let mut v = vec!["taskset".to_owned(), "-c".into(), "0".into()];
            v.extend(argv);
            v
        }
        Mode::Unpinned => argv,
    }
}

/// What one run printed, or how long the process took (`xenstore-ls`).
struct Outcome {
    ops: u64,
    nanos: u64,
    /// CPU time of the client process in the timed part, if it said.
    cpu_nanos: Option<u64>,
    /// p50 and p99 nanoseconds of one operation, if it said.
    latency: Option<(u64, u64)>,
}

const JOB_TIMEOUT: Duration = Duration::from_secs(120);

fn run_process(
    argv: &[String],
    env: &[(String, String)],
    socket: &str,
    wall: bool,
) -> Result<Outcome, String> {
    let start = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("XENSTORED_PATH", socket)
        .stdin(Stdio::null())
        .stdout(if wall { Stdio::null() } else { Stdio::piped() })
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    // Poll rather than block so a hung client cannot hang the suite; the
    // clients time themselves, and for the whole-process timing of
    // xenstore-ls 200 µs of polling slack is noise on a ~1 s walk.
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > JOB_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {JOB_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_micros(200)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let elapsed = start.elapsed();
    let out = child
        .wait_with_output()
        .map_err(|e| format!("output: {e}"))?;
    if !status.success() {
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if wall {
        return Ok(Outcome {
            ops: 1,
            nanos: elapsed.as_nanos() as u64,
            cpu_nanos: None,
            latency: None,
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_line(&text).ok_or_else(|| format!("unexpected output {text:?}"))
}

/// A client's line: `OPS NANOSECONDS [CPU_NANOSECONDS [P50_NS P99_NS]]`.
fn parse_line(text: &str) -> Option<Outcome> {
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let (&[ops, nanos], rest) = fields.split_first_chunk::<2>()?;
    let (cpu_nanos, latency) = match *rest {
        [] => (None, None),
        [cpu] => (Some(cpu), None),
        [cpu, p50, p99] => (Some(cpu), Some((p50, p99))),
        _ => return None,
    };
    (nanos > 0).then_some(Outcome {
        ops,
        nanos,
        cpu_nanos,
        latency,
    })
}

fn jobs(cfg: &Config, have_xs_server: bool) -> Vec<Vec<Job>> {
    // Groups: the clients of one group are rotated together.
    let mut groups = Vec::new();
    let job = |daemon, workload: String, client, warmup| Job {
        daemon,
        workload,
        client,
        warmup,
    };
    let ox = DaemonKind::Oxenstored;
    for w in SEQUENTIAL {
        let warm = if w == "watch" { 50 } else { 200 };
        let mut group = vec![
            job(ox, w.into(), ClientKind::Ours, warm),
            job(ox, w.into(), ClientKind::Libxenstore, warm),
            job(ox, w.into(), ClientKind::Pyxs, warm / 2),
        ];
        if cfg.capi_lib.is_some() {
            group.push(job(ox, w.into(), ClientKind::Capi, warm));
        }
        if xenstore_rs::SYNC_WORKLOADS.contains(&w) {
            group.push(job(ox, w.into(), ClientKind::XenstoreRs, warm));
        }
        if xenstore_rs::TOKIO_WORKLOADS.contains(&w) {
            group.push(job(ox, w.into(), ClientKind::XenstoreRsTokio, warm));
        }
        if w == "dir100" {
            // The same listing through `list` (`Vec<String>`).
            group.push(job(ox, "dir100-vec".into(), ClientKind::Ours, warm));
        }
        if w == "read" {
            // Async sequential reads rotate with the sync ones they are
            // compared with.
            for client in [ClientKind::Async, ClientKind::XenstoreRsAsync] {
                group.push(job(ox, ASYNC[0].into(), client, warm));
            }
        }
        groups.push(group);
    }
    groups.push(
        [ClientKind::Async, ClientKind::XenstoreRsAsync]
            .map(|client| job(ox, ASYNC[1].into(), client, 1000))
            .to_vec(),
    );
    for d in DEPTHS {
        groups.push(vec![
            job(ox, format!("depth{d}"), ClientKind::Raw, 1000),
            job(ox, format!("many{d}"), ClientKind::Ours, 1024),
        ]);
    }
    groups.push(vec![job(
        ox,
        format!("many{WINDOW_BATCH}"),
        ClientKind::Ours,
        2048,
    )]);
    let mut walk = vec![
        job(ox, "walk".into(), ClientKind::Ours, 1),
        job(ox, "walk".into(), ClientKind::XenstoreLs, 0),
        job(ox, "walk".into(), ClientKind::Pyxs, 0),
    ];
    if !cfg.quick {
        walk.push(job(ox, "walk".into(), ClientKind::Libxenstore, 0));
    }
    groups.push(walk);
    if have_xs_server {
        let xs = DaemonKind::XsServer;
        for w in ["read", "write"] {
            groups.push(vec![job(xs, w.into(), ClientKind::Ours, 200)]);
        }
        for d in DEPTHS {
            groups.push(vec![
                job(xs, format!("depth{d}"), ClientKind::Raw, 1000),
                job(xs, format!("many{d}"), ClientKind::Ours, 1024),
            ]);
        }
        groups.push(vec![
            job(xs, "walk".into(), ClientKind::Ours, 1),
            job(xs, "walk".into(), ClientKind::XenstoreLs, 0),
            job(xs, "walk".into(), ClientKind::Pyxs, 0),
        ]);
    }
    groups
}

/// How a job is timed: walks are one (or a few) whole walks, everything
/// else runs for the configured time.
fn limit_for(cfg: &Config, job: &Job) -> (&'static str, String) {
    if job.workload == "walk" {
        match job.client {
            // Ours takes ~0.1-0.3 s a walk: average over the usual window.
            ClientKind::Ours => ("secs", cfg.secs.to_string()),
            _ => ("ops", "1".into()),
        }
    } else {
        ("secs", cfg.secs.to_string())
    }
}

/// The command line shown in the report for a job (socket as `$SOCK`).
pub fn display_command(argv: &[String], env: &[(String, String)], root: &Path) -> String {
    let root = root.to_string_lossy();
    let relative = |a: &str| a.replace(&format!("{root}/"), "");
    let shown: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={}", relative(v)))
        .chain(argv.iter().map(|a| relative(a)))
        .collect();
    format!("XENSTORED_PATH=$SOCK {}", shown.join(" "))
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn facts(cfg: &Config, load_at_start: String) -> Facts {
    let lscpu = command_output("lscpu", &[]);
    let model = lscpu
        .lines()
        .find_map(|l| l.strip_prefix("Model name:"))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let hypervisor = lscpu
        .lines()
        .find_map(|l| l.strip_prefix("Hypervisor vendor:"))
        .map(|m| m.trim().to_owned());
    let pkg = |p: &str| {
        let v = command_output("dpkg-query", &["-W", "-f", "${Version}", p]);
        if v.is_empty() {
            format!("{p} (not installed)")
        } else {
            format!("{p} {v}")
        }
    };
    let mut commit = command_output("git", &["rev-parse", "--short", "HEAD"]);
    if !command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        commit.push_str(" (with uncommitted changes)");
    }
    Facts {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        nproc: command_output("nproc", &[]),
        model,
        hypervisor,
        kernel: command_output("uname", &["-r"]),
        rustc: command_output("rustc", &["-V"]),
        packages: vec![
            pkg("xen-utils-4.17"),
            pkg("libxenstore4"),
            pkg("python3-pyxs"),
            command_output(&cfg.python.to_string_lossy(), &["-V"]),
            command_output("cc", &["--version"])
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
            command_output("valgrind", &["--version"]),
        ],
        commit,
        quick: cfg.quick,
        reps: cfg.reps,
        secs: cfg.secs,
        load: (load_at_start, loadavg()),
    }
}

/// Instruction counts for N reads and for none, per client.
#[derive(Clone, Debug)]
pub struct Callgrind {
    pub client: ClientKind,
    pub reads: u64,
    pub total: u64,
    pub baseline: u64,
    pub command: String,
}

fn callgrind_total(file: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no totals in {}", file.display()))
}

fn callgrind(cfg: &Config, socket: &str, root: &Path) -> Result<Vec<Callgrind>, String> {
    let dir = root.join("target/bench-callgrind");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for client in [ClientKind::Ours, ClientKind::Libxenstore] {
        let mut counts = Vec::new();
        let mut shown = String::new();
        for reads in [cfg.callgrind_reads, 0] {
            let job = Job {
                daemon: DaemonKind::Oxenstored,
                workload: "read".into(),
                client,
                warmup: 100,
            };
            let name = match client {
                ClientKind::Ours => "xs-client",
                _ => "libxenstore",
            };
            let file = dir.join(format!("{name}.{reads}.out"));
            let mut v = vec![
                "valgrind".to_owned(),
                "--tool=callgrind".into(),
                "-q".into(),
                format!("--callgrind-out-file={}", file.display()),
            ];
            v.extend(argv(cfg, &job, ("ops", reads.to_string())));
            if reads != 0 {
                shown = display_command(&v, &[], root);
            }
            let o = run_process(&v, &[], socket, false)
                .map_err(|e| format!("callgrind {name} {reads}: {e}"))?;
            if o.ops != reads {
                return Err(format!(
                    "callgrind {name}: did {} reads, not {reads}",
                    o.ops
                ));
            }
            counts.push(callgrind_total(&file)?);
        }
        out.push(Callgrind {
            client,
            reads: cfg.callgrind_reads,
            total: counts[0],
            baseline: counts[1],
            command: shown,
        });
    }
    Ok(out)
}

/// Once per suite: the C benchmark with `LD_LIBRARY_PATH=dir` must load
/// xs-capi's library from `dir`, and without it another one; an error
/// stops the suite before anything is measured.
fn check_capi(cfg: &Config, dir: &Path, socket: &str) -> Result<loaded_lib::Checked, String> {
    let job = Job {
        daemon: DaemonKind::Oxenstored,
        workload: "read".into(),
        client: ClientKind::Capi,
        warmup: 0,
    };
    // Long enough to be looked at; stopped as soon as its maps are read.
    let v = argv(cfg, &job, ("secs", "30".into()));
    let checked = loaded_lib::check(&v, &env_for(cfg, ClientKind::Capi), dir, socket)
        .map_err(|e| format!("libxenstore on xs-capi: {e}"))?;
    eprintln!(
        "bench: the C benchmark loads {} (C libxenstore) and, with LD_LIBRARY_PATH={}, {} (xs-capi)",
        checked.c.display(),
        dir.display(),
        checked.capi.display()
    );
    Ok(checked)
}

/// Entry point of `xs-bench suite`.
pub fn main(args: &[String]) -> Result<(), String> {
    let cfg = parse_args(args)?;
    let root = std::env::current_dir().map_err(|e| e.to_string())?;
    let all_cpus = format!("0-{}", cfg.cpus.saturating_sub(1));
    let started = Instant::now();
    let load_at_start = loadavg();

    eprintln!("bench: starting oxenstored");
    let ox = Daemon::start_oxenstored()?;
    let populate = |socket: &str| -> Result<(), String> {
        let c = xs_client::Client::unix(socket).map_err(|e| format!("connect {socket}: {e}"))?;
        workload::populate(&c)
    };
    populate(&ox.socket)?;

    let mut notes = Vec::new();
    let xs = match &cfg.xs_server {
        None => {
            notes.push(
                "xs-server: not measured (no `xs-server` binary was built; the hook in \
                 scripts/bench builds it when the crate has one)."
                    .to_owned(),
            );
            None
        }
        Some(bin) => match Daemon::start_xs_server(bin).and_then(|d| {
            populate(&d.socket)?;
            Ok(d)
        }) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("bench: xs-server skipped: {e}");
                notes.push(format!("xs-server: not measured ({e})."));
                None
            }
        },
    };
    let daemons: Vec<&Daemon> = std::iter::once(&ox).chain(xs.as_ref()).collect();
    let socket_of = |k: DaemonKind| {
        daemons
            .iter()
            .find(|d| d.kind == k)
            .map(|d| d.socket.clone())
            .unwrap_or_default()
    };

    // Untimed once: the first xenstore-ls pays for page-cache misses.
    let _ = run_process(
        &["xenstore-ls".into(), workload::TREE_PATH.into()],
        &[],
        &ox.socket,
        true,
    );

    let capi_check = match &cfg.capi_lib {
        Some(dir) => Some(check_capi(&cfg, dir, &ox.socket)?),
        None => {
            notes.push(
                "libxenstore on xs-capi: not measured (no `--capi-lib DIR`; scripts/bench \
                 passes it)."
                    .to_owned(),
            );
            None
        }
    };

    let groups = jobs(&cfg, xs.is_some());
    let mut results = Results::default();
    let mut commands: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    for rep in 0..cfg.reps {
        for mode in Mode::ALL {
            let cpus = if mode == Mode::Pinned { "0" } else { &all_cpus };
            for d in &daemons {
                d.pin(cpus)?;
            }
            eprintln!(
                "bench: repetition {}/{} {} ({:.0} s so far)",
                rep + 1,
                cfg.reps,
                mode.label(),
                started.elapsed().as_secs_f64()
            );
            for group in &groups {
                let n = group.len();
                for i in 0..n {
                    let job = &group[(i + rep) % n];
                    let v = with_taskset(mode, argv(&cfg, job, limit_for(&cfg, job)));
                    let env = env_for(&cfg, job.client);
                    let shown = display_command(&v, &env, &root);
                    if mode == Mode::Unpinned {
                        commands.insert(
                            format!(
                                "{}, {}, {}",
                                job.daemon.label(),
                                job.workload,
                                job.client.label()
                            ),
                            shown,
                        );
                    }
                    let key = Key {
                        daemon: job.daemon,
                        mode,
                        workload: job.workload.clone(),
                        client: job.client,
                    };
                    let wall = job.client == ClientKind::XenstoreLs;
                    match run_process(&v, &env, &socket_of(job.daemon), wall) {
                        Ok(o) => {
                            if let Some(cpu) = o.cpu_nanos.filter(|_| o.ops > 0) {
                                results.add_cpu(key.clone(), cpu as f64 / o.ops as f64);
                            }
                            if let Some((p50, p99)) = o.latency {
                                results.add_latency(key.clone(), p50 as f64, p99 as f64);
                            }
                            results.add(key, o.ops as f64 * 1e9 / o.nanos as f64)
                        }
                        Err(e) => {
                            let msg = format!(
                                "{} {} {} {}: {e}",
                                job.daemon.label(),
                                mode.label(),
                                job.workload,
                                job.client.label()
                            );
                            eprintln!("bench: FAILED {msg}");
                            failures.push(msg);
                        }
                    }
                }
            }
        }
    }

    for d in &daemons {
        d.pin(&all_cpus)?;
    }
    eprintln!("bench: callgrind ({} reads)", cfg.callgrind_reads);
    let cg = match callgrind(&cfg, &ox.socket, &root) {
        Ok(cg) => cg,
        Err(e) => {
            eprintln!("bench: FAILED {e}");
            failures.push(e);
            Vec::new()
        }
    };
    drop(xs);
    drop(ox);

    let elapsed = started.elapsed().as_secs_f64();
    let text = report::render(&report::Input {
        facts: facts(&cfg, load_at_start),
        results: &results,
        callgrind: &cg,
        capi_check: capi_check.as_ref(),
        commands: &commands,
        notes: &notes,
        failures: &failures,
        elapsed,
    });
    println!("{text}");
    if let Some(parent) = cfg.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&cfg.out, &text).map_err(|e| format!("{}: {e}", cfg.out.display()))?;
    eprintln!("bench: wrote {} ({elapsed:.0} s)", cfg.out.display());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} measurement(s) failed", failures.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_lines() {
        // (line, ops, nanos, cpu, latency); None: rejected.
        type Parsed = (u64, u64, Option<u64>, Option<(u64, u64)>);
        let table: [(&str, Option<Parsed>); 8] = [
            ("10 2000\n", Some((10, 2000, None, None))),
            ("10 2000 900\n", Some((10, 2000, Some(900), None))),
            (
                "10 2000 900 150 400\n",
                Some((10, 2000, Some(900), Some((150, 400)))),
            ),
            ("10 2000 900 150\n", None),
            ("10 0 900\n", None),
            ("10\n", None),
            ("10 2000 900 150 400 7\n", None),
            ("10 2000 x\n", None),
        ];
        for (line, want) in table {
            let got = parse_line(line).map(|o| (o.ops, o.nanos, o.cpu_nanos, o.latency));
            assert_eq!(got, want, "{line:?}");
        }
    }
}
