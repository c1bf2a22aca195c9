//! Transactions through the socket: isolation, commit, abort, conflicts,
//! id rules, quotas.

mod common;

use common::*;
use xs_server::{Quota, Server, XenVersion};
use xs_wire::{Header, Op, Request};

#[test]
fn isolation_and_commit() {
    let (server, mut a) = setup();
    let mut b = Raw::new(server.connect().unwrap());
    a.write("/x", "1");
    let tx = a.start();
    assert_eq!(
        a.call_tx(
            tx,
            Request::Write {
                path: p("/x"),
                value: b"tx"
            }
        ),
        Ans::Ok
    );
    assert_eq!(a.call_tx(tx, Request::Read { path: p("/x") }), val("tx"));
    assert_eq!(
        a.call_tx(tx, Request::Mkdir { path: p("/newdir") }),
        Ans::Ok
    );
    assert_eq!(b.read("/x"), val("1"), "not visible outside before commit");
    assert_eq!(b.read("/newdir"), err("ENOENT"));
    assert_eq!(server.stats().transactions, 1);
    assert_eq!(a.end(tx, true), Ans::Ok);
    assert_eq!(b.read("/x"), val("tx"));
    assert_eq!(b.read("/newdir"), val(""));
    assert_eq!(server.stats().transactions, 0);
}

#[test]
fn snapshot_does_not_see_later_changes() {
    let (server, mut a) = setup();
    let mut b = Raw::new(server.connect().unwrap());
    a.write("/s", "before");
    let tx = a.start();
    b.write("/s", "after");
    b.write("/s2", "new");
    assert_eq!(
        a.call_tx(tx, Request::Read { path: p("/s") }),
        val("before")
    );
    assert_eq!(
        a.call_tx(tx, Request::Read { path: p("/s2") }),
        err("ENOENT")
    );
    assert_eq!(a.end(tx, false), Ans::Ok);
}

#[test]
fn conflict_gives_eagain_and_consumes_the_transaction() {
    let (server, mut a) = setup();
    let mut b = Raw::new(server.connect().unwrap());
    a.write("/c", "0");
    let tx = a.start();
    assert_eq!(a.call_tx(tx, Request::Read { path: p("/c") }), val("0"));
    a.call_tx(
        tx,
        Request::Write {
            path: p("/c"),
            value: b"1",
        },
    );
    b.write("/c", "other");
    assert_eq!(a.end(tx, true), err("EAGAIN"));
    assert_eq!(a.read("/c"), val("other"));
    assert_eq!(a.end(tx, true), err("EIO"), "gone after EAGAIN");
    assert_eq!(server.stats().transactions, 0);
    // A retry from scratch succeeds.
    let tx = a.start();
    a.call_tx(tx, Request::Read { path: p("/c") });
    a.call_tx(
        tx,
        Request::Write {
            path: p("/c"),
            value: b"retried",
        },
    );
    assert_eq!(a.end(tx, true), Ans::Ok);
    assert_eq!(b.read("/c"), val("retried"));
}

#[test]
fn concurrent_transactions_on_different_nodes_both_commit() {
    let (server, mut a) = setup();
    let mut b = Raw::new(server.connect().unwrap());
    let ta = a.start();
    let tb = b.start();
    a.call_tx(ta, Request::Read { path: p("/tool") });
    a.call_tx(
        ta,
        Request::Write {
            path: p("/ta"),
            value: b"a",
        },
    );
    b.call_tx(
        tb,
        Request::Write {
            path: p("/tb"),
            value: b"b",
        },
    );
    assert_eq!(b.end(tb, true), Ans::Ok);
    assert_eq!(a.end(ta, true), Ans::Ok);
    assert_eq!(a.read("/tb"), val("b"));
    assert_eq!(b.read("/ta"), val("a"));
}

#[test]
fn abort_discards() {
    let (_server, mut a) = setup();
    let tx = a.start();
    a.call_tx(
        tx,
        Request::Write {
            path: p("/gone"),
            value: b"x",
        },
    );
    a.call_tx(tx, Request::Rm { path: p("/tool") });
    assert_eq!(a.end(tx, false), Ans::Ok);
    assert_eq!(a.read("/gone"), err("ENOENT"));
    assert_eq!(a.read("/tool/xenstored"), val("xs-server"));
}

#[test]
fn id_and_payload_rules() {
    let (server, mut a) = setup();
    let tx = a.start();
    let cases: Vec<(u32, Request<'_>, Ans)> = vec![
        (tx, Request::TransactionStart, err("EBUSY")),
        (999, Request::TransactionStart, err("EIO")),
        (999, Request::Read { path: p("/") }, err("EIO")),
        (999, Request::TransactionEnd { commit: false }, err("EIO")),
        (0, Request::TransactionEnd { commit: true }, err("ENOENT")),
        (
            tx,
            Request::GetDomainPath { domid: 2 },
            Ans::Path("/local/domain/2".into()),
        ),
        (
            tx,
            Request::Read {
                path: p("/tool/xenstored"),
            },
            val("xs-server"),
        ),
        (
            tx,
            Request::Watch {
                path: p("/w"),
                token: "t",
                depth: None,
            },
            Ans::Ok,
        ),
    ];
    for (i, (t, req, expected)) in cases.into_iter().enumerate() {
        assert_eq!(a.call_tx(t, req), expected, "case {i}: {req:?} in {t}");
    }
    assert_eq!(a.event(), ev("/w", "t"));
    // Another connection cannot use it.
    let mut b = Raw::new(server.connect().unwrap());
    assert_eq!(b.call_tx(tx, Request::Read { path: p("/") }), err("EIO"));
    // A bad END payload is EINVAL and keeps the transaction.
    a.send_raw(
        Header {
            op: Op::TransactionEnd,
            req_id: 50,
            tx_id: tx,
            len: 2,
        },
        b"X\0",
    );
    assert_eq!(
        a.reply(&Request::TransactionEnd { commit: true }).1,
        err("EINVAL")
    );
    assert_eq!(a.end(tx, false), Ans::Ok);
    // Ids count up per connection.
    assert_eq!(a.start(), tx + 1);
    assert_eq!(b.start(), 1);
}

#[test]
fn reply_headers_echo_the_transaction() {
    let (_server, mut a) = setup();
    let tx = a.start();
    let id = a.send(tx, Request::Read { path: p("/tool") });
    let (h, _) = a.reply(&Request::Read { path: p("/tool") });
    assert_eq!((h.op, h.req_id, h.tx_id), (Op::Read, id, tx));
    a.send(
        tx,
        Request::Read {
            path: p("/missing"),
        },
    );
    let (h, _) = a.reply(&Request::Read { path: p("/") });
    assert_eq!((h.op, h.tx_id), (Op::Error, tx));
}

#[test]
fn reset_watches_and_disconnect_drop_transactions() {
    let (server, mut a) = setup();
    a.start();
    a.start();
    a.watch("/w", "t");
    assert_eq!(server.stats().transactions, 2);
    assert_eq!(a.call(Request::ResetWatches), Ans::Ok);
    let s = server.stats();
    assert_eq!((s.transactions, s.watches), (0, 0));
    let mut b = Raw::new(server.connect().unwrap());
    b.start();
    b.watch("/w", "t");
    assert_eq!(server.stats().transactions, 1);
    drop(b);
    // The server notices the close on its next loop turn.
    for _ in 0..100 {
        if server.stats().connections == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let s = server.stats();
    assert_eq!((s.connections, s.transactions, s.watches), (1, 0, 0));
}

#[test]
fn transaction_quota_is_equota() {
    let server = Server::builder()
        .xen_version(XenVersion::V4_17)
        .quota(Quota {
            max_transactions: Some(3),
            ..Quota::default()
        })
        .spawn()
        .unwrap();
    let mut d = Raw::new(server.connect_as(3).unwrap());
    for _ in 0..3 {
        d.start();
    }
    assert_eq!(d.call(Request::TransactionStart), err("EQUOTA"));
    // dom0 is not limited (oxenstored)
    let mut c = Raw::new(server.connect().unwrap());
    for _ in 0..5 {
        c.start();
    }
}

#[test]
fn default_transaction_quota_is_ten_for_domains() {
    // oxenstored says EQUOTA; C xenstored 4.22 ENOSPC.
    for (version, hit) in [(XenVersion::V4_17, "EQUOTA"), (XenVersion::V4_22, "ENOSPC")] {
        let server = Server::builder().xen_version(version).spawn().unwrap();
        let mut d = Raw::new(server.connect_as(3).unwrap());
        for _ in 0..10 {
            d.start();
        }
        assert_eq!(d.call(Request::TransactionStart), err(hit), "{version}");
    }
}
