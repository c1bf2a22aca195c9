//! Fault injection, observed through the socket.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use xs_server::{Fault, Server};
use xs_wire::{decode, Ids, Op, Request};

#[test]
fn faults_are_off_by_default() {
    let (_server, mut c) = setup();
    for _ in 0..5 {
        let tx = c.start();
        c.call_tx(
            tx,
            Request::Write {
                path: p("/f"),
                value: b"",
            },
        );
        assert_eq!(c.end(tx, true), Ans::Ok);
    }
}

#[test]
fn fail_commits_from_the_builder_and_at_runtime() {
    let server = Server::builder()
        .fault(Fault::FailCommits(2))
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    let attempt = |c: &mut Raw| {
        let tx = c.start();
        c.call_tx(
            tx,
            Request::Write {
                path: p("/counter"),
                value: b"1",
            },
        );
        c.end(tx, true)
    };
    assert_eq!(attempt(&mut c), err("EAGAIN"));
    assert_eq!(attempt(&mut c), err("EAGAIN"));
    assert_eq!(c.read("/counter"), err("ENOENT"));
    assert_eq!(attempt(&mut c), Ans::Ok);
    assert_eq!(server.stats().transactions, 0);
    server.fail_next_commits(1);
    assert_eq!(attempt(&mut c), err("EAGAIN"));
    assert_eq!(attempt(&mut c), Ans::Ok);
    // Aborts are unaffected.
    server.fail_next_commits(1);
    let tx = c.start();
    assert_eq!(c.end(tx, false), Ans::Ok);
    assert_eq!(attempt(&mut c), err("EAGAIN"));
}

#[test]
fn delayed_replies() {
    let delay = Duration::from_millis(150);
    let server = Server::builder()
        .fault(Fault::DelayReplies(delay))
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    let t0 = Instant::now();
    assert_eq!(c.read("/tool/xenstored"), val("xs-server"));
    assert!(t0.elapsed() >= delay, "{:?}", t0.elapsed());
    // Pipelined requests are delayed together, not one after the other.
    let t0 = Instant::now();
    let ids: Vec<u32> = (0..5)
        .map(|_| c.send(0, Request::Read { path: p("/tool") }))
        .collect();
    for id in ids {
        assert_eq!(c.frame().unwrap().header.req_id, id);
    }
    let took = t0.elapsed();
    assert!(took >= delay && took < delay * 4, "{took:?}");
    // Watch events are delayed too.
    let mut w = Raw::new(server.connect().unwrap());
    w.watch("/d", "t");
    w.event();
    let t0 = Instant::now();
    c.write("/d", "");
    w.event();
    assert!(t0.elapsed() >= delay);
}

#[test]
fn close_after_k_requests() {
    let server = Server::builder()
        .fault(Fault::CloseAfter(3))
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    for _ in 0..3 {
        assert_eq!(c.read("/tool/xenstored"), val("xs-server"));
    }
    c.send(
        0,
        Request::Read {
            path: p("/tool/xenstored"),
        },
    );
    assert!(c.is_closed());
    // Each connection has its own count.
    let mut d = Raw::new(server.connect().unwrap());
    assert_eq!(d.read("/tool/xenstored"), val("xs-server"));
}

#[test]
fn close_after_answers_the_pipelined_first_k() {
    let server = Server::builder()
        .fault(Fault::CloseAfter(2))
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    // One write, so the server's close cannot race the client's writes.
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64];
    for id in 1..=4u32 {
        let n = Request::Read { path: p("/tool") }
            .encode(Ids::new(id), &mut buf)
            .unwrap();
        bytes.extend_from_slice(&buf[..n]);
    }
    c.sock.write_all(&bytes).unwrap();
    assert_eq!(c.frame().unwrap().header.req_id, 1);
    assert_eq!(c.frame().unwrap().header.req_id, 2);
    assert!(c.is_closed());
}

#[test]
fn reordered_replies() {
    let server = Server::builder()
        .fault(Fault::ReorderReplies)
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    // Four requests in one write: read together, answered 2 1 4 3.
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64];
    for id in 1..=4u32 {
        let n = Request::GetDomainPath { domid: id }
            .encode(Ids::new(id), &mut buf)
            .unwrap();
        bytes.extend_from_slice(&buf[..n]);
    }
    c.sock.write_all(&bytes).unwrap();
    let order: Vec<u32> = (0..4).map(|_| c.frame().unwrap().header.req_id).collect();
    assert_eq!(order, [2, 1, 4, 3]);
    // Each reply still matches its request.
    let id = c.send(0, Request::GetDomainPath { domid: 9 });
    let f = c.frame().unwrap();
    assert_eq!(f.header.req_id, id);
    assert_eq!(f.payload, b"/local/domain/9\0");
    // A WATCH reply keeps its initial event right behind it.
    let mut bytes = Vec::new();
    let n = Request::Watch {
        path: p("/w"),
        token: "t",
        depth: None,
    }
    .encode(Ids::new(20), &mut buf)
    .unwrap();
    bytes.extend_from_slice(&buf[..n]);
    let n = Request::Read { path: p("/tool") }
        .encode(Ids::new(21), &mut buf)
        .unwrap();
    bytes.extend_from_slice(&buf[..n]);
    c.sock.write_all(&bytes).unwrap();
    let frames: Vec<(Op, u32)> = (0..3)
        .map(|_| {
            let f = c.frame().unwrap();
            (f.header.op, f.header.req_id)
        })
        .collect();
    assert_eq!(
        frames,
        [(Op::Read, 21), (Op::Watch, 20), (Op::WatchEvent, 0)]
    );
}

#[test]
fn malformed_reply_then_close() {
    let server = Server::builder()
        .fault(Fault::MalformedReply(2))
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    assert_eq!(c.read("/tool/xenstored"), val("xs-server"));
    let id = c.send(
        0,
        Request::Read {
            path: p("/tool/xenstored"),
        },
    );
    // Read the raw bytes up to EOF: a header claiming 5000 bytes, some
    // filler, then the server closes.
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut c.sock, &mut raw).unwrap();
    assert!(raw.len() >= 16 && raw.len() < 5016, "{} bytes", raw.len());
    let header = xs_wire::Header::from_bytes(raw[..16].try_into().unwrap());
    assert_eq!((header.op, header.req_id, header.len), (Op::Read, id, 5000));
    assert!(matches!(
        decode(&raw),
        Err(xs_wire::WireError::PayloadTooLarge { len: 5000, .. })
    ));
}

/// A delayed reply is sent when its time comes, however late the server's
/// loop looks at the clock: a reply found already due when the loop goes to
/// sleep must not wait for the next request (there may be none; this hung a
/// client until its timeout).
#[test]
fn delayed_replies_come_when_due_not_at_the_next_request() {
    for us in [20u64, 50, 200] {
        let server = Server::builder()
            .fault(Fault::DelayReplies(Duration::from_micros(us)))
            .spawn()
            .unwrap();
        let mut c = Raw::new(server.connect().unwrap());
        c.set_timeout(Duration::from_secs(1));
        for n in 0..1000 {
            let id = c.send(0, Request::Read { path: p("/tool") });
            match c.frame() {
                Ok(reply) => assert_eq!(reply.header.req_id, id),
                Err(e) => panic!("delay {us} µs, read {n}: no reply within 1 s: {e}"),
            }
        }
    }
}
