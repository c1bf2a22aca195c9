//! Test daemons for the reliability suites.
//!
//! * [`Peer`]: a scripted fake xenstored on a raw Unix socket. It accepts
//!   one connection and runs a script against it in its own thread; the
//!   script reads frames (decoded with `xs_wire::decode`) and answers, or
//!   misbehaves, exactly as the scenario needs. [`Conn::serve`] answers like
//!   a tiny in-memory daemon, for checking that a connection is still usable.
//! * [`Oxenstored`]: the real oxenstored, started and stopped through
//!   `scripts/oxenstored/{start,stop}` in a private directory. If the script
//!   or the daemon is unavailable it panics: these tests never skip.
//! * Helpers to bound a scenario in time ([`bounded`], [`timed`]).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xs_wire::{decode, Header, Op, Status};

/// How long a script waits for the client before giving up (so a broken
/// client fails the test instead of hanging it).
pub const SCRIPT_PATIENCE: Duration = Duration::from_secs(10);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh private directory under the system temp dir; short, so that
/// a socket path inside it fits `sockaddr_un`.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("xs-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

// ---------------------------------------------------------------------------
// Time bounds

/// Runs `f` and returns its result and how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t0 = Instant::now();
    let out = f();
    (out, t0.elapsed())
}

/// Runs `f` in a thread and fails the test if it has not finished within
/// `limit` (a hang becomes a failure instead of a stuck test run). A panic
/// inside `f` is re-raised here.
pub fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("bounded".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn");
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("sender dropped without a value"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("scenario still running after {limit:?}: the client hangs")
        }
    }
}

/// Asserts `took < limit`, naming `what`.
#[track_caller]
pub fn assert_within(what: &str, took: Duration, limit: Duration) {
    assert!(took < limit, "{what} took {took:?}, limit {limit:?}");
}

// ---------------------------------------------------------------------------
// Scripted peer

/// A scripted fake daemon listening on a private socket.
pub struct Peer {
    dir: PathBuf,
    socket: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    /// Listens on a fresh socket; the first connection is handed to
    /// `script` in a new thread. The listener is closed once the connection
    /// is accepted (a second client cannot connect).
    pub fn start(script: impl FnOnce(Conn) + Send + 'static) -> Peer {
        let dir = temp_dir("peer");
        let socket = dir.join("sock");
        let listener = UnixListener::bind(&socket).expect("bind peer socket");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let thread = std::thread::Builder::new()
            .name("peer".into())
            .spawn(move || {
                let deadline = Instant::now() + SCRIPT_PATIENCE;
                let stream = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            if Instant::now() > deadline {
                                panic!("peer: nobody connected");
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => panic!("peer: accept: {e}"),
                    }
                };
                drop(listener);
                script(Conn::new(stream));
            })
            .expect("spawn peer");
        Peer {
            dir,
            socket,
            thread: Some(thread),
        }
    }

    /// The socket to connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits for the script to end and re-raises its panic, if any.
    pub fn finish(mut self) {
        if let Some(t) = self.thread.take() {
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The script thread is not joined here (it may be waiting for a
        // client that a failed test never connected); its reads time out.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A frame received from the client.
#[derive(Clone, Debug)]
pub struct Msg {
    pub header: Header,
    pub payload: Vec<u8>,
}

impl Msg {
    pub fn op(&self) -> Op {
        self.header.op
    }
    pub fn req_id(&self) -> u32 {
        self.header.req_id
    }
    pub fn tx_id(&self) -> u32 {
        self.header.tx_id
    }
    /// The NUL-terminated strings of the payload (a WRITE's value is the
    /// raw tail after the path, not included; see [`Msg::value`]).
    pub fn strings(&self) -> Vec<String> {
        let body = match self.op() {
            Op::Write => &self.payload[..=self.nul_at()],
            _ => &self.payload[..],
        };
        body.split(|&b| b == 0)
            .take(body.iter().filter(|&&b| b == 0).count())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }
    /// The first string: the path of most requests.
    pub fn path(&self) -> String {
        self.strings().into_iter().next().unwrap_or_default()
    }
    /// A WRITE's value.
    pub fn value(&self) -> &[u8] {
        &self.payload[self.nul_at() + 1..]
    }
    fn nul_at(&self) -> usize {
        self.payload
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.payload.len().saturating_sub(1))
    }
}

/// A slow daemon: every byte it sends is followed by a pause, until
/// `stop` is set (then the rest goes at once).
pub struct Trickle {
    pub per_byte: Duration,
    pub stop: Arc<AtomicBool>,
}

/// The fake daemon's end of the connection.
pub struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    /// What [`Conn::serve`] stores.
    pub store: BTreeMap<String, Vec<u8>>,
    next_tx: u32,
    /// If set, everything is sent a byte at a time.
    pub trickle: Option<Trickle>,
}

/// Builds one frame's bytes.
pub fn frame(op: Op, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let header = Header {
        op,
        req_id,
        tx_id,
        len: payload.len() as u32,
    };
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A WATCH_EVENT payload: `path\0token\0`.
pub fn event_payload(path: &str, token: &str) -> Vec<u8> {
    format!("{path}\0{token}\0").into_bytes()
}

impl Conn {
    fn new(stream: UnixStream) -> Conn {
        stream
            .set_write_timeout(Some(SCRIPT_PATIENCE))
            .expect("write timeout");
        Conn {
            stream,
            buf: Vec::new(),
            store: BTreeMap::new(),
            next_tx: 1,
            trickle: None,
        }
    }

    /// Bytes received that do not make a whole frame yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn take_buffered(&mut self) -> Option<Msg> {
        match decode(&self.buf).expect("client sent an undecodable frame") {
            Status::Complete((f, used)) => {
                let msg = Msg {
                    header: f.header,
                    payload: f.payload.to_vec(),
                };
                self.buf.drain(..used);
                Some(msg)
            }
            Status::Partial { .. } => None,
        }
    }

    /// The next frame from the client, waiting up to `timeout`: `Ok(None)`
    /// on timeout, `Err(())` on EOF (or a reset connection).
    /// A zero `timeout` polls: it reads what is there without waiting.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Msg>, ()> {
        let deadline = Instant::now() + timeout;
        let mut first = true;
        loop {
            if let Some(m) = self.take_buffered() {
                return Ok(Some(m));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && !first {
                return Ok(None);
            }
            first = false;
            let mut chunk = [0u8; 8192];
            let read = if left.is_zero() {
                self.stream.set_nonblocking(true).expect("nonblocking");
                let r = self.stream.read(&mut chunk);
                self.stream.set_nonblocking(false).expect("blocking");
                r
            } else {
                self.stream
                    .set_read_timeout(Some(left))
                    .expect("read timeout");
                self.stream.read(&mut chunk)
            };
            match read {
                Ok(0) => return Err(()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }

    /// The next frame; `None` on EOF. Panics if nothing comes in time.
    pub fn recv(&mut self) -> Option<Msg> {
        match self.recv_timeout(SCRIPT_PATIENCE) {
            Ok(Some(m)) => Some(m),
            Ok(None) => panic!("peer: client sent nothing for {SCRIPT_PATIENCE:?}"),
            Err(()) => None,
        }
    }

    /// The next frame, which must be of type `op`.
    #[track_caller]
    pub fn expect(&mut self, op: Op) -> Msg {
        let m = self
            .recv()
            .unwrap_or_else(|| panic!("peer: EOF while expecting {op}"));
        assert_eq!(m.op(), op, "peer: expected {op}, got {m:?}");
        m
    }

    /// Reads (and discards) frames until the client closes the connection;
    /// returns what it sent meanwhile. Panics if it is not closed in time.
    #[track_caller]
    pub fn expect_eof(&mut self, within: Duration) -> Vec<Msg> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "peer: client did not close within {within:?}"
            );
            match self.recv_timeout(left) {
                Ok(Some(m)) => got.push(m),
                Ok(None) => {}
                Err(()) => return got,
            }
        }
    }

    /// Writes raw bytes (trickled, if [`Conn::trickle`] is set); a client
    /// that has gone away is not an error here.
    pub fn send_raw(&mut self, bytes: &[u8]) -> bool {
        let Some(t) = &self.trickle else {
            return self.stream.write_all(bytes).is_ok();
        };
        for (i, b) in bytes.iter().enumerate() {
            if t.stop.load(Ordering::Relaxed) {
                return self.stream.write_all(&bytes[i..]).is_ok();
            }
            if self.stream.write_all(std::slice::from_ref(b)).is_err() {
                return false;
            }
            std::thread::sleep(t.per_byte);
        }
        true
    }

    /// Writes one frame.
    pub fn send(&mut self, op: Op, req_id: u32, tx_id: u32, payload: &[u8]) -> bool {
        self.send_raw(&frame(op, req_id, tx_id, payload))
    }

    /// Answers `req` with its own type, request id and transaction id.
    pub fn reply(&mut self, req: &Msg, payload: &[u8]) -> bool {
        self.send(req.op(), req.req_id(), req.tx_id(), payload)
    }

    /// Answers `OK\0`.
    pub fn ok(&mut self, req: &Msg) -> bool {
        self.reply(req, b"OK\0")
    }

    /// Answers with an error name.
    pub fn error(&mut self, req: &Msg, name: &str) -> bool {
        let payload = format!("{name}\0");
        self.send(Op::Error, req.req_id(), req.tx_id(), payload.as_bytes())
    }

    /// Sends a watch event.
    pub fn event(&mut self, path: &str, token: &str) -> bool {
        self.send(Op::WatchEvent, 0, 0, &event_payload(path, token))
    }

    /// Shuts the socket down both ways (the client sees EOF).
    pub fn hang_up(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Answers `req` like a minimal daemon: READ, WRITE, MKDIR, RM,
    /// DIRECTORY on [`Conn::store`] (no transactions' isolation), WATCH
    /// (OK plus the initial event), UNWATCH, TRANSACTION_START/END.
    pub fn serve(&mut self, req: &Msg) -> bool {
        match req.op() {
            Op::Read => match self.store.get(&req.path()).cloned() {
                Some(v) => self.reply(req, &v),
                None => self.error(req, "ENOENT"),
            },
            Op::Write => {
                self.store.insert(req.path(), req.value().to_vec());
                self.ok(req)
            }
            Op::Mkdir => {
                self.store.entry(req.path()).or_default();
                self.ok(req)
            }
            Op::Rm => {
                let p = req.path();
                self.store
                    .retain(|k, _| k != &p && !k.starts_with(&format!("{p}/")));
                self.ok(req)
            }
            Op::Directory => {
                let prefix = format!("{}/", req.path().trim_end_matches('/'));
                let mut names: Vec<String> = self
                    .store
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .map(|rest| rest.split('/').next().unwrap_or("").to_owned())
                    .collect();
                names.dedup();
                let mut payload = Vec::new();
                for n in names {
                    payload.extend_from_slice(n.as_bytes());
                    payload.push(0);
                }
                self.reply(req, &payload)
            }
            Op::Watch => {
                let s = req.strings();
                self.ok(req) && self.event(&s[0], &s[1])
            }
            Op::Unwatch | Op::TransactionEnd => self.ok(req),
            Op::TransactionStart => {
                let id = self.next_tx;
                self.next_tx += 1;
                self.reply(req, format!("{id}\0").as_bytes())
            }
            _ => self.error(req, "ENOSYS"),
        }
    }

    /// Serves every request until the client closes the connection (or
    /// nothing arrives for [`SCRIPT_PATIENCE`]); returns the frames seen.
    pub fn serve_until_eof(&mut self) -> Vec<Msg> {
        let mut seen = Vec::new();
        while let Some(m) = self.recv() {
            self.serve(&m);
            seen.push(m);
        }
        seen
    }
}

// ---------------------------------------------------------------------------
// The real oxenstored

/// A private oxenstored started with `scripts/oxenstored/start`.
pub struct Oxenstored {
    dir: PathBuf,
    socket: PathBuf,
    extra_conf: String,
    running: bool,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/oxenstored")
        .join(name)
}

impl Oxenstored {
    /// Starts one, with extra config lines (`""` for none). Panics with the
    /// script's output if it cannot: these tests need the real daemon.
    pub fn start(tag: &str, extra_conf: &str) -> Oxenstored {
        let dir = temp_dir(tag);
        let mut d = Oxenstored {
            socket: dir.join("socket"),
            dir,
            extra_conf: extra_conf.to_owned(),
            running: false,
        };
        d.launch();
        d
    }

    fn launch(&mut self) {
        let start = script("start");
        assert!(
            start.exists(),
            "{} is missing: cannot run the real oxenstored",
            start.display()
        );
        let out = Command::new(&start)
            .arg(&self.dir)
            .env("OXENSTORED_EXTRA_CONF", &self.extra_conf)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", start.display()));
        assert!(
            out.status.success(),
            "{} {} failed ({}):\n{}\n{}",
            start.display(),
            self.dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        let last = printed.lines().last().unwrap_or("").trim();
        assert_eq!(
            Path::new(last),
            self.socket,
            "start printed an unexpected socket path"
        );
        self.running = true;
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The instance directory (logs, config).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after the script's grace).
    pub fn stop(&mut self) {
        let out = Command::new(script("stop"))
            .arg(&self.dir)
            .output()
            .expect("run oxenstored/stop");
        assert!(
            out.status.success(),
            "oxenstored/stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }

    /// Kills the daemon at once with SIGKILL (a crash, not a shutdown);
    /// waits until the process is gone.
    pub fn kill(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("daemon.pid"))
            .expect("daemon.pid")
            .trim()
            .to_owned();
        let status = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(5);
        // Gone, or a zombie waiting for init to reap it.
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
        {
            assert!(Instant::now() < deadline, "pid {pid} survived SIGKILL");
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop(); // tidies daemon.pid and the socket
    }

    /// Starts it again in the same directory (same socket path).
    pub fn restart(&mut self) {
        if self.running {
            self.stop();
        }
        self.launch();
    }
}

impl Drop for Oxenstored {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new(script("stop")).arg(&self.dir).output();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
