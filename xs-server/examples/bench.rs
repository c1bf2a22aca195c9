//! Requests per second on one connection: sequential and pipelined READs,
//! against xs-server and, when `scripts/oxenstored/start` can start it,
//! against the real oxenstored in the same run.
//!
//! ```text
//! cargo run --release -p xs-server --example bench [-- SECONDS]
//! ```
//!
//! Each measurement runs for SECONDS (default 2) after a short warm-up.
//! "sequential" waits for every reply before sending the next request;
//! "pipelined" keeps 64 requests in flight.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xs_wire::{decode, Ids, Path as XsPath, Request, Status};

const DEPTH: usize = 64;

struct Client {
    sock: UnixStream,
    buf: Vec<u8>,
    request: Vec<u8>,
}

impl Client {
    fn new(path: &Path) -> Client {
        let mut sock = UnixStream::connect(path).expect("connect");
        let mut out = [0u8; 128];
        let write = Request::Write {
            path: XsPath::new("/bench/key").unwrap(),
            value: b"some value of moderate length",
        };
        let n = write.encode(Ids::new(1), &mut out).unwrap();
        sock.write_all(&out[..n]).unwrap();
        let mut c = Client {
            sock,
            buf: Vec::new(),
            request: Vec::new(),
        };
        c.recv();
        let read = Request::Read {
            path: XsPath::new("/bench/key").unwrap(),
        };
        let n = read.encode(Ids::new(2), &mut out).unwrap();
        c.request = out[..n].to_vec();
        c
    }

    fn recv(&mut self) {
        loop {
            if let Status::Complete((_, used)) = decode(&self.buf).expect("frame") {
                self.buf.drain(..used);
                return;
            }
            let mut chunk = [0u8; 65536];
            let n = self.sock.read(&mut chunk).expect("read");
            assert!(n > 0, "server closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn sequential(&mut self, duration: Duration) -> f64 {
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < duration {
            for _ in 0..100 {
                self.sock.write_all(&self.request).unwrap();
                self.recv();
            }
            done += 100;
        }
        done as f64 / start.elapsed().as_secs_f64()
    }

    fn pipelined(&mut self, duration: Duration) -> f64 {
        let batch: Vec<u8> = self.request.repeat(DEPTH);
        self.sock.write_all(&batch).unwrap();
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed() < duration {
            // Take half the window's replies, then refill: DEPTH/2 to DEPTH
            // requests stay in flight.
            for _ in 0..DEPTH / 2 {
                self.recv();
            }
            self.sock.write_all(&batch[..batch.len() / 2]).unwrap();
            done += (DEPTH / 2) as u64;
        }
        for _ in 0..DEPTH {
            self.recv();
        }
        done as f64 / start.elapsed().as_secs_f64()
    }
}

fn measure(name: &str, socket: &Path, seconds: Duration) {
    let mut c = Client::new(socket);
    c.sequential(Duration::from_millis(200));
    let seq = c.sequential(seconds);
    c.pipelined(Duration::from_millis(200));
    let pipe = c.pipelined(seconds);
    println!("| {name} | {seq:>10.0} | {pipe:>10.0} |");
}

fn start_oxenstored(dir: &Path) -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/oxenstored/start");
    if !script.exists() {
        return None;
    }
    let out = Command::new(&script).arg(dir).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "oxenstored did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().last().map(PathBuf::from)
}

fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(2), Duration::from_secs_f64);
    println!("| daemon | sequential READ/s | pipelined (depth {DEPTH}) READ/s |");
    println!("|---|---:|---:|");
    let server = xs_server::Server::spawn_temp();
    measure("xs-server", server.socket_path(), seconds);
    drop(server);
    let dir = std::env::temp_dir().join(format!("xs-server-bench-ox-{}", std::process::id()));
    if let Some(socket) = start_oxenstored(&dir) {
        measure("oxenstored 4.17", &socket, seconds);
        let stop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/oxenstored/stop");
        let _ = Command::new(stop).arg(&dir).output();
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("(oxenstored not available)");
    }
}
