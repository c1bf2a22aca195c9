//! Bad and hostile clients: oversized headers, garbage, unknown ops, deep
//! pipelines, clients that do not read, many clients.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use xs_server::{Quota, Server};
use xs_wire::{Header, Ids, Op, Request};

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn oversized_header_closes_only_that_connection() {
    let (server, mut good) = setup();
    let mut bad = Raw::new(server.connect().unwrap());
    assert_eq!(bad.write("/before", "x"), Ans::Ok);
    bad.send_raw(
        Header {
            op: Op::Read,
            req_id: 1,
            tx_id: 0,
            len: 4097,
        },
        b"/a\0",
    );
    assert!(bad.is_closed(), "no reply, just EOF");
    assert_eq!(good.read("/before"), val("x"));
    wait_for(|| server.stats().connections == 1);
    // Exactly 4096 is fine.
    let path = format!("/{}", "a".repeat(1000));
    let value = vec![b'v'; 4096 - path.len() - 1];
    let mut q = Raw::new(server.connect().unwrap());
    q.send_raw(
        Header {
            op: Op::Write,
            req_id: 2,
            tx_id: 0,
            len: 4096,
        },
        &[path.as_bytes(), b"\0", &value].concat(),
    );
    assert_eq!(
        q.reply(&Request::Write {
            path: p("/"),
            value: b""
        })
        .1,
        err("E2BIG")
    );
}

#[test]
fn garbage_payloads_are_einval_and_the_connection_lives() {
    let (_server, mut c) = setup();
    let mut seed = 0x1234_5678u32;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let ops = [
        Op::Read,
        Op::Write,
        Op::Mkdir,
        Op::Rm,
        Op::Directory,
        Op::GetPerms,
        Op::SetPerms,
        Op::Watch,
        Op::Unwatch,
        Op::TransactionEnd,
        Op::GetDomainPath,
        Op::Introduce,
        Op::Release,
        Op::SetTarget,
        Op::DirectoryPart,
    ];
    for round in 0..300 {
        let op = ops[round % ops.len()];
        let len = (rand() % 64) as usize;
        // Bytes from outside the path alphabet, so nothing parses.
        let payload: Vec<u8> = (0..len)
            .map(|_| b" !#$%&()*+,.:;<=>?[]^`{|}~"[rand() as usize % 26])
            .collect();
        c.send_raw(
            Header {
                op,
                req_id: round as u32,
                tx_id: 0,
                len: len as u32,
            },
            &payload,
        );
        let f = c.frame().unwrap();
        assert_eq!(f.header.req_id, round as u32);
        assert_eq!(f.payload, b"EINVAL\0", "{op} {payload:?}");
    }
    assert_eq!(c.read("/tool/xenstored"), val("xs-server"));
}

#[test]
fn unknown_ops_are_enosys() {
    // Ops 23-26 are answered by Xen 4.22 (tests/xen_422.rs); 4.17 mode: ENOSYS there.
    let (_server, mut c) = setup();
    for (i, code) in [20u32, 15, 16, 27, 99, 0xFFFF, u32::MAX]
        .into_iter()
        .enumerate()
    {
        c.send_raw(
            Header {
                op: Op::from_u32(code),
                req_id: i as u32,
                tx_id: 0,
                len: 3,
            },
            b"/a\0",
        );
        let f = c.frame().unwrap();
        assert_eq!((f.header.op, f.header.req_id), (Op::Error, i as u32));
        assert_eq!(f.payload, b"ENOSYS\0", "type {code}");
    }
    assert_eq!(c.read("/tool/xenstored"), val("xs-server"));
}

#[test]
fn thousand_pipelined_requests_are_answered_in_order() {
    let (server, mut c) = setup();
    c.write("/pipe", "v");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64];
    for i in 0..1000u32 {
        let req = if i % 3 == 0 {
            Request::Write {
                path: p("/pipe/n"),
                value: b"x",
            }
        } else {
            Request::Read { path: p("/pipe") }
        };
        let n = req.encode(Ids::new(i + 1), &mut buf).unwrap();
        bytes.extend_from_slice(&buf[..n]);
    }
    let mut writer = server.connect().unwrap();
    let mut reader = Raw::new(writer.try_clone().unwrap());
    let t = std::thread::spawn(move || writer.write_all(&bytes).unwrap());
    for i in 0..1000u32 {
        let f = reader.frame().unwrap();
        assert_eq!(f.header.req_id, i + 1);
        if i % 3 == 0 {
            assert_eq!((f.header.op, &f.payload[..]), (Op::Write, &b"OK\0"[..]));
        } else {
            assert_eq!((f.header.op, &f.payload[..]), (Op::Read, &b"v"[..]));
        }
    }
    t.join().unwrap();
    let _ = c.read("/pipe");
}

#[test]
fn a_client_that_does_not_read_is_throttled_not_buffered() {
    let server = Server::builder()
        .quota(Quota {
            max_outstanding: 64,
            ..Quota::default()
        })
        .spawn()
        .unwrap();
    let mut hog = server.connect().unwrap();
    hog.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = Request::Read {
        path: p("/tool/xenstored"),
    }
    .encode(Ids::new(1), &mut buf)
    .unwrap();
    // Write until the socket blocks: the server stopped reading.
    let mut sent = 0usize;
    let mut offset = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match hog.write(&buf[offset..n]) {
            Ok(written) => {
                offset += written;
                if offset == n {
                    offset = 0;
                    sent += 1;
                }
            }
            Err(_) => break,
        }
    }
    assert!(Instant::now() < deadline, "the server kept reading forever");
    // Its queue is bounded, and others are served meanwhile.
    let stats = server.stats();
    let queued = stats.per_connection.iter().map(|c| c.queued).max().unwrap();
    assert!(queued <= 64 + 1, "queued {queued}");
    let mut other = Raw::new(server.connect().unwrap());
    assert_eq!(other.read("/tool/xenstored"), val("xs-server"));
    // When the hog reads, everything it sent is answered.
    hog.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hog = Raw::new(hog);
    for _ in 0..sent {
        let f = hog.frame().unwrap();
        assert_eq!(f.payload, b"xs-server");
    }
}

#[test]
fn a_watcher_that_never_reads_is_disconnected() {
    let server = Server::builder()
        .quota(Quota {
            max_outstanding: 16,
            max_queued_events: 16,
            ..Quota::default()
        })
        .spawn()
        .unwrap();
    let mut lazy = Raw::new(server.connect().unwrap());
    lazy.watch("/", "all");
    let mut c = Raw::new(server.connect().unwrap());
    // Long paths make big events: enough to fill the socket buffers, the
    // transport's queue and then the server's backlog.
    let long = format!("/{}", "s".repeat(1000));
    for _ in 0..5000 {
        assert_eq!(c.write(&long, ""), Ans::Ok);
        if server.stats().connections == 1 {
            break;
        }
    }
    wait_for(|| server.stats().connections == 1);
    assert_eq!(c.read("/tool/xenstored"), val("xs-server"));
}

#[test]
fn truncated_frames_and_abrupt_closes_are_harmless() {
    let (server, mut good) = setup();
    for cut in [1usize, 8, 15, 16, 17, 20] {
        let mut s = server.connect().unwrap();
        let mut buf = [0u8; 64];
        let n = Request::Read {
            path: p("/tool/xenstored"),
        }
        .encode(Ids::new(1), &mut buf)
        .unwrap();
        s.write_all(&buf[..cut.min(n)]).unwrap();
        drop(s);
    }
    // Closing with unread replies and open transactions.
    let mut s = Raw::new(server.connect().unwrap());
    s.start();
    s.send(0, Request::Read { path: p("/") });
    drop(s);
    wait_for(|| server.stats().connections == 1);
    assert_eq!(server.stats().transactions, 0);
    assert_eq!(good.read("/tool/xenstored"), val("xs-server"));
}

#[test]
fn zero_length_payloads_are_answered_at_once() {
    let (_server, mut c) = setup();
    c.send_raw(
        Header {
            op: Op::TransactionStart,
            req_id: 1,
            tx_id: 0,
            len: 0,
        },
        b"",
    );
    assert_eq!(c.reply(&Request::TransactionStart).1, Ans::Tx(1));
    c.send_raw(
        Header {
            op: Op::Read,
            req_id: 2,
            tx_id: 0,
            len: 0,
        },
        b"",
    );
    assert_eq!(c.reply(&Request::Read { path: p("/") }).1, err("EINVAL"));
}

#[test]
fn many_clients_at_once() {
    let server = Server::spawn_temp();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let s = server.connect().unwrap();
            std::thread::spawn(move || {
                let mut c = Raw::new(s);
                for i in 0..50 {
                    let path = format!("/many/{t}/{i}");
                    assert_eq!(c.write(&path, &format!("{t}-{i}")), Ans::Ok);
                    assert_eq!(c.read(&path), val(&format!("{t}-{i}")));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = Raw::new(server.connect().unwrap());
    assert_eq!(
        c.dir("/many").clone(),
        names(&[
            "0", "1", "10", "11", "12", "13", "14", "15", "2", "3", "4", "5", "6", "7", "8", "9"
        ])
    );
}

#[test]
fn raw_bytes_of_a_read_reply_match_oxenstored() {
    // Golden bytes captured from oxenstored 4.17 (scripts/oxenstored).
    let (_server, mut c) = setup();
    c.write("/cap/hello", "hello");
    let mut s = c.sock.try_clone().unwrap();
    let req = [2u32, 10, 0, 11]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .chain(*b"/cap/hello\0")
        .collect::<Vec<u8>>();
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 21];
    s.read_exact(&mut reply).unwrap();
    let expected: Vec<u8> = [2u32, 10, 0, 5]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .chain(*b"hello")
        .collect();
    assert_eq!(&reply[..], &expected[..]);
    let _ = UnixStream::pair();
}
