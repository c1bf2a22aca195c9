//! The threaded driver over the xenbus device rules, with device stand-ins
//! (socket pairs marked as devices).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use xs_transport::Connection;
use xs_wire::{decode, Header, Op, Status};

use crate::{Client, Router, Store};

/// A stand-in for the xenbus device (one end of a socket pair, with the
/// device's rules): answers each READ with the path it named, after
/// checking that nothing else was written while it was unanswered.
/// Returns (frames answered, frames that arrived too early).
fn one_at_a_time_daemon(mut s: UnixStream) -> (usize, usize) {
    let (mut answered, mut early) = (0, 0);
    let mut buf = Vec::new();
    loop {
        let (header, payload) = loop {
            if let Ok(Status::Complete((f, used))) = decode(&buf) {
                let item = (f.header, f.payload.to_vec());
                buf.drain(..used);
                break item;
            }
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return (answered, early),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        // Give a pipelining client time to write more, then look.
        std::thread::sleep(Duration::from_millis(1));
        s.set_nonblocking(true).unwrap();
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(n) if n > 0 => {
                early += 1;
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() != ErrorKind::WouldBlock => return (answered, early),
            _ => {}
        }
        if !buf.is_empty() {
            early += 1;
        }
        s.set_nonblocking(false).unwrap();
        assert_eq!(header.op, Op::Read);
        let value = &payload[..payload.len() - 1];
        let reply = Header {
            len: value.len() as u32,
            ..header
        };
        let mut frame = reply.to_bytes().to_vec();
        frame.extend_from_slice(value);
        if s.write_all(&frame).is_err() {
            return (answered, early);
        }
        answered += 1;
    }
}

/// Pipelined batches from several threads reach the device one request
/// at a time, and every reply still goes to its own caller.
#[test]
fn the_device_gets_one_request_at_a_time() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let daemon = std::thread::spawn(move || one_at_a_time_daemon(theirs));
    let conn = Connection::from_xenbus_fd(ours.into()).unwrap();
    let client = Client::with_router(Router::new(conn).unwrap());
    std::thread::scope(|scope| {
        for t in 0..4 {
            let c = client.clone();
            scope.spawn(move || {
                let paths: Vec<String> = (0..20).map(|i| format!("/t{t}/n{i}")).collect();
                let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
                for (p, r) in refs.iter().zip(c.read_many(&refs)) {
                    assert_eq!(r.unwrap(), p.as_bytes());
                }
                for p in &refs[..5] {
                    assert_eq!(c.read(p).unwrap(), p.as_bytes());
                }
            });
        }
    });
    drop(client);
    let (answered, early) = daemon.join().unwrap();
    assert_eq!(answered, 100);
    assert_eq!(early, 0, "frames written while another was unanswered");
}

/// The device answers WATCH with req_id 0 (a kernel bug), sometimes after
/// the initial event. That reply must free the wire for the next request.
#[test]
fn a_watch_reply_with_req_id_zero_frees_the_device() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let daemon = std::thread::spawn(move || {
        let mut writer = theirs.try_clone().unwrap();
        let mut theirs = theirs;
        let mut buf = Vec::new();
        let mut next = || loop {
            if let Ok(Status::Complete((f, used))) = decode(&buf) {
                let item = (f.header, f.payload.to_vec());
                buf.drain(..used);
                return Some(item);
            }
            let mut chunk = [0u8; 4096];
            match theirs.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let frame = |h: Header, p: &[u8]| {
            let mut f = Header {
                len: p.len() as u32,
                ..h
            }
            .to_bytes()
            .to_vec();
            f.extend_from_slice(p);
            f
        };
        let mut out = Vec::new();
        while let Some((h, payload)) = next() {
            out.clear();
            match h.op {
                Op::Watch => {
                    // Initial event first, then OK with req_id 0.
                    let ev = Header {
                        op: Op::WatchEvent,
                        req_id: 0xdead,
                        tx_id: 0xbeef,
                        len: 0,
                    };
                    let mut body = payload.clone();
                    out.extend(frame(ev, &body));
                    body.clear();
                    out.extend(frame(Header { req_id: 0, ..h }, b"OK\0"));
                }
                Op::Read => out.extend(frame(h, b"v")),
                _ => out.extend(frame(h, b"OK\0")),
            }
            if writer.write_all(&out).is_err() {
                return;
            }
        }
    });
    let conn = Connection::from_xenbus_fd(ours.into()).unwrap();
    let router = Router::with_timeout(conn, Some(Duration::from_secs(2))).unwrap();
    let client = Client::with_router(router);
    let monitor = client.monitor();
    monitor.watch("/w", "tok").unwrap();
    assert_eq!(
        monitor
            .wait_timeout(Duration::from_secs(2))
            .unwrap()
            .unwrap()
            .path,
        "/w"
    );
    // This READ would wait forever behind a WATCH that never freed the wire.
    assert_eq!(client.read("/w").unwrap(), b"v");
    drop(monitor);
    drop(client);
    daemon.join().unwrap();
}
