//! Replies over the protocol's 4096 bytes (issue 15).
//!
//! oxenstored answers `DIRECTORY` of a big node in one reply over 4096
//! bytes on its socket (it has no `DIRECTORY_PART`). The transport accepts
//! received payloads up to [`xs_transport::DEFAULT_RECV_LIMIT`] (64 KiB),
//! so such a listing reaches the caller and the connection lives on; only
//! a reply announcing more than that fails, naming the frame (type,
//! request id, length, limit).
//!
//! Against the real oxenstored (`scripts/oxenstored/start`, installed by
//! `scripts/install-deps`) and against a scripted fake daemon.

mod peer;

use std::collections::BTreeSet;
use std::time::Duration;

use peer::{assert_within, bounded, timed, Oxenstored, Peer};
use xs_client::{Client, Error, Store};
use xs_transport::DEFAULT_RECV_LIMIT;
use xs_wire::{Header, Op, PAYLOAD_MAX};

const LIMIT: Duration = Duration::from_secs(60);
const FAST: Duration = Duration::from_secs(1);

/// `child-000` ... : 700 names of 9 bytes, a 7,000-byte listing.
fn child_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("child-{i:03}")).collect()
}

fn listing(names: &[String]) -> Vec<u8> {
    names
        .iter()
        .flat_map(|n| [n.as_bytes(), b"\0"].concat())
        .collect()
}

#[test]
fn list_of_700_children_on_oxenstored() {
    bounded(LIMIT, || {
        let daemon = Oxenstored::start("oversize", "");
        let client = Client::unix(daemon.socket()).expect("connect to oxenstored");
        let names = child_names(700);
        let writes: Vec<(String, &[u8])> = names
            .iter()
            .map(|n| (format!("/oversize/{n}"), &b"v"[..]))
            .collect();
        let pairs: Vec<(&str, &[u8])> = writes.iter().map(|(p, v)| (p.as_str(), *v)).collect();
        for r in client.write_many(&pairs) {
            r.expect("write a child");
        }
        assert!(
            listing(&names).len() > PAYLOAD_MAX,
            "the test needs an oversized reply"
        );
        let got = client.list("/oversize").expect("list a 700-child node");
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            names.into_iter().collect::<BTreeSet<_>>()
        );
        // The connection is still fine.
        assert!(client.is_connected());
        client.write("/oversize/after", "ok").unwrap();
        assert_eq!(client.read("/oversize/after").unwrap(), b"ok");
        drop(daemon);
    })
}

#[test]
fn a_4200_byte_listing_from_a_fake_daemon_is_returned() {
    bounded(LIMIT, || {
        // 420 names of 9 bytes plus NUL: 4,200 bytes, as seen from oxenstored.
        let names: Vec<String> = (0..420).map(|i| format!("node-{i:04}")).collect();
        let payload = listing(&names);
        assert_eq!(payload.len(), 4200);
        let peer = Peer::start(move |mut c| {
            let req = c.expect(Op::Directory);
            c.reply(&req, &payload);
            // Still usable: serve whatever comes next.
            c.serve_until_eof();
        });
        let client = Client::unix(peer.socket()).unwrap();
        let (got, took) = timed(|| client.list("/big"));
        assert_eq!(got.unwrap(), names);
        assert_within("a 4200-byte listing", took, FAST);
        client.write("/after", "ok").unwrap();
        assert_eq!(client.read("/after").unwrap(), b"ok");
        drop(client);
        peer.finish();
    })
}

#[test]
fn a_reply_over_the_bound_fails_naming_the_frame() {
    bounded(LIMIT, || {
        let over = DEFAULT_RECV_LIMIT as u32 + 1;
        let peer = Peer::start(move |mut c| {
            let req = c.expect(Op::Directory);
            let header = Header {
                op: Op::Directory,
                req_id: req.req_id(),
                tx_id: 0,
                len: over,
            };
            c.send_raw(&header.to_bytes());
            c.send_raw(&[b'x'; 100]);
            c.expect_eof(FAST);
        });
        let client = Client::unix(peer.socket()).unwrap();
        let (got, took) = timed(|| client.list("/huge"));
        assert_within("an oversized reply", took, FAST);
        match got {
            Err(Error::UnexpectedPacket(u)) => {
                assert_eq!(u.problem, xs_client::Problem::TooLong { max: 65536 });
                let h = u.header.expect("the header's facts");
                assert_eq!((h.op, h.req_id, h.len), (Op::Directory, h.req_id, 65537));
                let text = u.to_string();
                for fact in ["DIRECTORY", "req_id", "65537", "65536"] {
                    assert!(text.contains(fact), "{fact} missing from {text:?}");
                }
            }
            other => panic!("expected UnexpectedPacket, got {other:?}"),
        }
        assert!(!client.is_connected());
        peer.finish();
    })
}
