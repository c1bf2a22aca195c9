//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use xs_transport::{Connection, FrameReceiver, TransportError};
use xs_wire::{decode_bounded, Header, Op, Status, HEADER_SIZE};

/// One encoded frame.
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

/// A frame whose header announces `len` bytes, without the payload.
pub fn header_only(op: Op, req_id: u32, len: u32) -> Vec<u8> {
    Header {
        op,
        req_id,
        tx_id: 0,
        len,
    }
    .to_bytes()
    .to_vec()
}

/// What the tests keep of a received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub op: Op,
    pub req_id: u32,
    pub tx_id: u32,
    pub payload: Vec<u8>,
}

impl Got {
    pub fn of(frame: xs_wire::Frame<'_>) -> Got {
        Got {
            op: frame.header.op,
            req_id: frame.header.req_id,
            tx_id: frame.header.tx_id,
            payload: frame.payload.to_vec(),
        }
    }

    pub fn encoded(&self) -> Vec<u8> {
        frame(self.op, self.req_id, self.tx_id, &self.payload)
    }
}

/// Splits a byte stream into frames (for checking what a peer received),
/// whatever their length.
pub fn split_frames(mut bytes: &[u8]) -> Vec<Got> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        match decode_bounded(bytes, usize::MAX).expect("valid stream") {
            Status::Complete((f, used)) => {
                out.push(Got::of(f));
                bytes = &bytes[used..];
            }
            Status::Partial { .. } => panic!("stream ends mid-frame"),
        }
    }
    out
}

/// Polls `conn` (already registered under `token`) until `done` says so,
/// collecting frames; fails the test after 10 s.
pub fn recv_until(
    poll: &mut Poll,
    conn: &mut Connection,
    done: impl Fn(&[Got]) -> bool,
) -> Result<Vec<Got>, TransportError> {
    poll_frames(poll, |on_frame| conn.recv(on_frame), done)
}

/// Like [`recv_until`] for a receiver half.
pub fn recv_half_until(
    poll: &mut Poll,
    rx: &mut FrameReceiver,
    done: impl Fn(&[Got]) -> bool,
) -> Result<Vec<Got>, TransportError> {
    poll_frames(poll, |on_frame| rx.recv(on_frame), done)
}

fn poll_frames(
    poll: &mut Poll,
    mut recv: impl FnMut(&mut dyn FnMut(xs_wire::Frame<'_>)) -> Result<(), TransportError>,
    done: impl Fn(&[Got]) -> bool,
) -> Result<Vec<Got>, TransportError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = Events::with_capacity(16);
    let mut got = Vec::new();
    loop {
        recv(&mut |f| got.push(Got::of(f)))?;
        if done(&got) {
            return Ok(got);
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("timed out waiting for frames");
        poll.poll(&mut events, Some(left))?;
    }
}

/// A poll with `conn` registered READABLE under token 0.
pub fn poll_for(conn: &mut Connection) -> Poll {
    let poll = Poll::new().unwrap();
    poll.registry()
        .register(conn, Token(0), Interest::READABLE)
        .unwrap();
    poll
}

/// Reads exactly `n` bytes from a blocking stream, with a 10 s timeout.
pub fn read_n(stream: &mut std::os::unix::net::UnixStream, n: usize) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// A private directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("xs-transport-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `SOCK_SEQPACKET` socket pair: every `write()` is one record and every
/// `read()` returns one record, so record boundaries show exactly what
/// each `write()` call carried. Used as a stand-in for the xenbus device.
pub fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a live two-element array, as socketpair() requires.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: socketpair() succeeded, so both fds are open and owned by
    // nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Reads one record from a blocking seqpacket fd (10 s timeout).
pub fn read_record(fd: &OwnedFd) -> Vec<u8> {
    let mut file = std::fs::File::from(fd.try_clone().unwrap());
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(fd),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one live pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(rc, 1, "no record within 10 s");
    let mut buf = vec![0; 65536];
    let n = file.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Writes one record to a seqpacket fd.
pub fn write_record(fd: &OwnedFd, bytes: &[u8]) {
    let mut file = std::fs::File::from(fd.try_clone().unwrap());
    assert_eq!(file.write(bytes).unwrap(), bytes.len());
}

/// `fcntl(F_GETFD) & FD_CLOEXEC` and `fcntl(F_GETFL) & O_NONBLOCK`.
pub fn fd_flags(fd: std::os::fd::BorrowedFd<'_>) -> (bool, bool) {
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: the fd is open for the lifetime of `fd`.
    let fdf = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    // SAFETY: as above.
    let flf = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    assert!(fdf >= 0 && flf >= 0);
    (fdf & libc::FD_CLOEXEC != 0, flf & libc::O_NONBLOCK != 0)
}

pub const H: usize = HEADER_SIZE;
