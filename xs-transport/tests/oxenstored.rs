//! Against a real xenstored: runs only when `XENSTORED_PATH` is set (e.g.
//! `XENSTORED_PATH=$(scripts/oxenstored/start /tmp/xs1) cargo test -p
//! xs-transport --test oxenstored`); otherwise it starts nothing and
//! returns, saying it was skipped.
//!
//! Raw frames built with xs_wire go through a discovered connection: a
//! WRITE, then a READ of the same node, then a READ of a missing node
//! (an `ENOENT` error reply), checked byte for byte.

mod common;

use std::time::Duration;

use common::{poll_for, recv_until, Got};
use mio::Interest;
use xs_transport::{Connection, Endpoint, TransportKind};
use xs_wire::{Errno, ErrorReply, Ids, Op, Path, Reply, Request, FRAME_MAX};

fn encode(req: Request<'_>, req_id: u32) -> Vec<u8> {
    let mut buf = vec![0; FRAME_MAX];
    let n = req.encode(Ids::new(req_id), &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn round_trip(conn: &mut Connection, poll: &mut mio::Poll, frame: &[u8], req_id: u32) -> Got {
    conn.send(frame).unwrap();
    while !conn.flush().unwrap() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let got = recv_until(poll, conn, |g| g.iter().any(|f| f.req_id == req_id)).unwrap();
    got.into_iter()
        .find(|f| f.req_id == req_id && f.op != Op::WatchEvent)
        .unwrap()
}

#[test]
fn write_then_read_against_a_real_daemon() {
    if std::env::var_os("XENSTORED_PATH")
        .filter(|p| !p.is_empty())
        .is_none()
    {
        println!(
            "skipped: XENSTORED_PATH is not set (start a daemon with scripts/oxenstored/start DIR)"
        );
        return;
    }
    let endpoint = Endpoint::discover();
    println!("connecting to {endpoint:?}");
    let mut conn = endpoint.connect().unwrap();
    let mut poll = poll_for(&mut conn);
    assert_eq!(conn.interest(), Interest::READABLE);

    let node = format!("/xs-transport-test/{}", std::process::id());
    let path = Path::new(&node).unwrap();
    let value = b"hello from xs-transport";

    let write = encode(Request::Write { path, value }, 1);
    let reply = round_trip(&mut conn, &mut poll, &write, 1);
    assert_eq!((reply.op, reply.tx_id), (Op::Write, 0), "{reply:?}");
    assert_eq!(reply.payload, b"OK\0");

    let read = encode(Request::Read { path }, 2);
    let reply = round_trip(&mut conn, &mut poll, &read, 2);
    assert_eq!(reply.op, Op::Read, "{reply:?}");
    assert_eq!(reply.payload, value);
    let encoded = reply.encoded();
    let frame = xs_wire::decode(&encoded).unwrap().complete().unwrap().0;
    assert_eq!(
        Reply::parse(Op::Read, xs_wire::ReplyKind::Value, &frame).unwrap(),
        Reply::Value(value)
    );

    let missing = format!("{node}/missing");
    let read = encode(
        Request::Read {
            path: Path::new(&missing).unwrap(),
        },
        3,
    );
    let reply = round_trip(&mut conn, &mut poll, &read, 3);
    assert_eq!(reply.op, Op::Error);
    assert_eq!(
        ErrorReply::parse(&reply.payload).unwrap(),
        ErrorReply::Known(Errno::ENOENT)
    );

    // Pipelined: several requests in flight, replies matched by req_id.
    let frames: Vec<Vec<u8>> = (10..20)
        .map(|id| encode(Request::Read { path }, id))
        .collect();
    for f in &frames {
        conn.send(f).unwrap();
    }
    let got = recv_until(&mut poll, &mut conn, |g| g.len() >= 10).unwrap();
    let mut ids: Vec<u32> = got.iter().map(|g| g.req_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (10..20).collect::<Vec<_>>());
    assert!(got.iter().all(|g| g.payload == value));

    let rm = encode(
        Request::Rm {
            path: Path::new("/xs-transport-test").unwrap(),
        },
        4,
    );
    let reply = round_trip(&mut conn, &mut poll, &rm, 4);
    assert_eq!(reply.payload, b"OK\0");

    // Split halves work against the daemon too.
    let (mut rx, mut tx) = conn.split().unwrap();
    assert_eq!(tx.kind(), TransportKind::Socket);
    xs_transport::blocking::send_all(
        &mut tx,
        &encode(Request::Read { path }, 5),
        Some(Duration::from_secs(10)),
    )
    .unwrap();
    let mut poll = mio::Poll::new().unwrap();
    poll.registry()
        .register(&mut rx, mio::Token(0), Interest::READABLE)
        .unwrap();
    let got = common::recv_half_until(&mut poll, &mut rx, |g| !g.is_empty()).unwrap();
    assert_eq!(
        (got[0].op, got[0].req_id),
        (Op::Error, 5),
        "node was removed"
    );
}
