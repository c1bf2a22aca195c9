//! Tests that need a real Xen dom0: the C `xenstored` (or `oxenstored`)
//! started by Xen's tools, reached through `/run/xenstored/socket` or the
//! kernel's `/dev/xen/xenbus`, whichever `XENSTORED_PATH` names.
//!
//! They run only with `XS_TEST_XEN=1` (set by `scripts/xen-qemu/ci`, which
//! boots Xen + a Debian dom0 under QEMU and runs this binary there once per
//! transport); otherwise each test prints a skip line and passes. Every test
//! works in a private subtree `/xs-xen-test/<name>-<pid>` and removes it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use xs_client::{Client, Error, Store, TransportKind};
use xs_wire::{decode, Errno, Header, Op, Status, PAYLOAD_MAX, XENBUS_PAYLOAD_MAX};

const T: Duration = Duration::from_secs(10);

/// The connection for one test, or `None` (after a skip line) off Xen.
fn xen(name: &str) -> Option<Xen> {
    if std::env::var_os("XS_TEST_XEN").is_none_or(|v| v != "1") {
        println!("skipped {name}: needs a Xen dom0 (XS_TEST_XEN=1, see scripts/xen-qemu)");
        return None;
    }
    let client = connect();
    let kind = client.router().kind();
    println!("{name}: {kind:?} {}", client.router().peer());
    let root = format!("/xs-xen-test/{name}-{}", std::process::id());
    let _ = client.delete(&root);
    Some(Xen { client, root, kind })
}

/// Discovery as libxenstore does it: `XENSTORED_PATH` may be the socket or
/// the device.
fn connect() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .connect()
        .expect("connect to xenstored (XENSTORED_PATH)")
}

struct Xen {
    client: Client,
    root: String,
    kind: TransportKind,
}

impl Xen {
    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }
}

impl Drop for Xen {
    fn drop(&mut self) {
        let _ = self.client.delete(&self.root);
    }
}

// ---------------------------------------------------------------------------
// Domains

#[test]
fn dom0_is_introduced_and_has_its_home_path() {
    let Some(x) = xen("dom0_home") else { return };
    let c = &x.client;
    assert_eq!(c.get_domain_path(0).unwrap(), "/local/domain/0");
    assert_eq!(c.get_domain_path(7).unwrap(), "/local/domain/7");
    assert!(c.is_domain_introduced(0).unwrap());
    assert!(!c.is_domain_introduced(4242).unwrap());
    // xen-init-dom0 filled in dom0's home.
    assert_eq!(c.read_string("/local/domain/0/domid").unwrap(), "0");
    assert_eq!(c.read_string("/local/domain/0/name").unwrap(), "Domain-0");
    // A relative path resolves against dom0's home, on both transports.
    c.write("xs-xen-test-rel", "r").unwrap();
    assert_eq!(c.read("/local/domain/0/xs-xen-test-rel").unwrap(), b"r");
    c.delete("/local/domain/0/xs-xen-test-rel").unwrap();
}

#[test]
fn domain_watches_fire_once_at_registration() {
    let Some(x) = xen("domain_watches") else {
        return;
    };
    let m = x.client.monitor();
    m.watch("@introduceDomain", "intro").unwrap();
    m.watch("@releaseDomain", "release").unwrap();
    let mut seen = BTreeSet::new();
    for _ in 0..2 {
        let ev = m.wait_timeout(T).unwrap().expect("an initial event");
        seen.insert((ev.path, ev.token));
    }
    let want: BTreeSet<_> = [
        ("@introduceDomain".to_owned(), "intro".to_owned()),
        ("@releaseDomain".to_owned(), "release".to_owned()),
    ]
    .into();
    assert_eq!(seen, want);
    // Nothing else fires without a domain coming or going.
    assert_eq!(m.wait_timeout(Duration::from_millis(300)).unwrap(), None);
    m.unwatch("@introduceDomain", "intro").unwrap();
    m.unwatch("@releaseDomain", "release").unwrap();
    // Releasing a domain that does not exist changes nothing.
    let err = x.client.release_domain(4242).unwrap_err();
    assert!(err.errno().is_some(), "{err:?}");
}

// ---------------------------------------------------------------------------
// DIRECTORY_PART and sizes

#[test]
fn a_listing_over_4096_bytes_falls_back_to_directory_part() {
    let Some(x) = xen("directory_part") else {
        return;
    };
    let c = &x.client;
    let dir = x.path("big");
    // 200 names of 40 bytes: 8,200 bytes of NUL-separated names.
    let names: Vec<String> = (0..200)
        .map(|i| format!("child-{i:03}-{}", "x".repeat(30)))
        .collect();
    let paths: Vec<String> = names.iter().map(|n| format!("{dir}/{n}")).collect();
    let items: Vec<(&str, &[u8])> = paths.iter().map(|p| (p.as_str(), &b"v"[..])).collect();
    for r in c.write_many(&items) {
        r.unwrap();
    }
    // A plain DIRECTORY is refused as too big...
    let direct = c.list_many(&[dir.as_str()]).pop().unwrap();
    assert_eq!(direct.unwrap_err().errno(), Some(Errno::E2BIG));
    // ...and list() fetches it in parts, outside and inside a transaction.
    let mut got = c.list(&dir).unwrap();
    got.sort();
    assert_eq!(got, names);
    let tx = c.transaction().unwrap();
    let mut in_tx = tx.list(&dir).unwrap();
    in_tx.sort();
    assert_eq!(in_tx, names);
    tx.commit().unwrap();
}

#[test]
fn payload_limit_is_4080_on_the_device_and_4096_on_the_socket() {
    let Some(x) = xen("payload_limit") else {
        return;
    };
    let c = &x.client;
    let limit = match x.kind {
        TransportKind::Xenbus => XENBUS_PAYLOAD_MAX,
        TransportKind::Socket => PAYLOAD_MAX,
    };
    assert_eq!(c.router().max_payload(), limit);
    // WRITE's payload is path, NUL, value.
    let write_of = |name: &str, payload: usize| {
        let path = x.path(name);
        let value = vec![b'v'; payload - path.len() - 1];
        (path, c.write(&x.path(name), &value), value)
    };
    for payload in [4000, 4080, 4081, 4095, 4096, 4097] {
        let name = format!("p{payload}");
        let (path, result, value) = write_of(&name, payload);
        if payload <= limit {
            result.unwrap_or_else(|e| panic!("{payload}-byte payload: {e:?}"));
            assert_eq!(c.read(&path).unwrap(), value, "{payload}-byte payload");
        } else {
            assert!(
                matches!(result, Err(Error::Invalid(_))),
                "{payload}-byte payload over {:?}: {result:?}",
                x.kind
            );
            // Refused before sending: nothing was created.
            assert!(!c.exists(&path).unwrap(), "{payload}-byte payload");
        }
    }
    // The connection is still fine.
    assert!(c.is_connected());
    c.write(&x.path("after"), "ok").unwrap();
}

// ---------------------------------------------------------------------------
// Concurrency and pipelining

#[test]
fn many_threads_share_one_client() {
    let Some(x) = xen("threads") else { return };
    const THREADS: usize = 16;
    const OPS: usize = 40;
    thread::scope(|s| {
        for t in 0..THREADS {
            let c = x.client.clone();
            let base = x.path(&format!("t{t}"));
            s.spawn(move || {
                for i in 0..OPS {
                    let p = format!("{base}/n{i}");
                    c.write(&p, format!("{t}:{i}")).unwrap();
                    assert_eq!(c.read_string(&p).unwrap(), format!("{t}:{i}"));
                }
                assert_eq!(c.list(&base).unwrap().len(), OPS);
            });
        }
    });
    assert_eq!(x.client.list(&x.root).unwrap().len(), THREADS);
}

#[test]
fn a_pipelined_batch_of_500_reads() {
    let Some(x) = xen("batch") else { return };
    let c = &x.client;
    let paths: Vec<String> = (0..500).map(|i| x.path(&format!("n/{i}"))).collect();
    let values: Vec<Vec<u8>> = (0..500)
        .map(|i| format!("value {i}").into_bytes())
        .collect();
    let items: Vec<(&str, &[u8])> = paths
        .iter()
        .zip(&values)
        .map(|(p, v)| (p.as_str(), v.as_slice()))
        .collect();
    for r in c.write_many(&items) {
        r.unwrap();
    }
    let mut refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    refs.push("/xs-xen-test/missing-node");
    let got = c.read_many(&refs);
    assert_eq!(got.len(), 501);
    for (i, r) in got[..500].iter().enumerate() {
        assert_eq!(r.as_ref().unwrap(), &values[i], "node {i}");
    }
    assert!(got[500].as_ref().unwrap_err().is_not_found());
}

// ---------------------------------------------------------------------------
// Transactions

#[test]
fn a_forced_conflict_fails_the_commit_and_transact_retries() {
    let Some(x) = xen("conflict") else { return };
    let c = &x.client;
    // A second client: its own socket connection, or its own device fd
    // (which shares the kernel's one connection to xenstored).
    let other = connect();
    let p = x.path("counter");
    c.write(&p, "0").unwrap();

    let tx = c.transaction().unwrap();
    assert_eq!(tx.read_string(&p).unwrap(), "0");
    other.write(&p, "changed").unwrap();
    tx.write(&p, "1").unwrap();
    assert!(!tx.commit().unwrap(), "the commit must conflict");
    assert_eq!(c.read_string(&p).unwrap(), "changed");

    let mut attempts = 0;
    let n = c
        .transact(|tx| {
            attempts += 1;
            let v = tx.read_string(&p)?;
            if attempts == 1 {
                other.write(&p, "interfering")?;
            }
            tx.write(&p, format!("{v}+1"))?;
            Ok::<_, Error>(attempts)
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(c.read_string(&p).unwrap(), "interfering+1");

    // A rolled-back transaction leaves nothing.
    let tx = c.transaction().unwrap();
    tx.write(&x.path("ghost"), "x").unwrap();
    tx.rollback().unwrap();
    assert!(!c.exists(&x.path("ghost")).unwrap());
}

// ---------------------------------------------------------------------------
// Watches

#[test]
fn every_watch_gets_its_initial_event_whatever_the_order() {
    let Some(x) = xen("watch_order") else { return };
    let c = &x.client;
    const WATCHES: usize = 50;
    let m = c.monitor();
    for i in 0..WATCHES {
        let p = x.path(&format!("w{i}"));
        m.watch(&p, &format!("tok{i}")).unwrap();
    }
    let mut seen = BTreeSet::new();
    for _ in 0..WATCHES {
        let ev = m.wait_timeout(T).unwrap().expect("an initial event");
        assert!(
            seen.insert(ev.token.clone()),
            "duplicate initial event {ev}"
        );
    }
    assert_eq!(m.wait_timeout(Duration::from_millis(300)).unwrap(), None);
    // Then a change under one watched path reaches its token only.
    c.write(&x.path("w7/child"), "1").unwrap();
    let ev = m.wait_timeout(T).unwrap().expect("an event");
    assert_eq!(ev, (x.path("w7/child").as_str(), "tok7"));
    for i in 0..WATCHES {
        m.unwatch(&x.path(&format!("w{i}")), &format!("tok{i}"))
            .unwrap();
    }
    c.write(&x.path("w7/child"), "2").unwrap();
    assert_eq!(m.wait_timeout(Duration::from_millis(300)).unwrap(), None);
}

/// Which came first after a raw WATCH: the reply or the initial event?
/// Through the device either may (the kernel queues the event from its
/// xenwatch thread); over the socket the reply comes first. This probes the
/// raw transport without xs-client, prints the counts, and checks that
/// every probe got exactly one of each.
#[test]
fn raw_watch_reply_and_initial_event_order() {
    let Some(x) = xen("raw_order") else { return };
    let path = std::env::var_os("XENSTORED_PATH")
        .map(std::path::PathBuf::from)
        .expect("XENSTORED_PATH");
    let kind = x.kind;
    let root = x.root.clone();
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let mut stream = open_raw(kind, &path);
        let mut buf = Vec::new();
        let (mut event_first, mut reply_first) = (0, 0);
        for i in 0..20u32 {
            let token = format!("raw{i}");
            let payload = format!("{root}/raw\0{token}\0");
            send(&mut *stream, Op::Watch, 100 + i, payload.as_bytes());
            let mut order = Vec::new();
            while order.len() < 2 {
                let (h, p) = recv(&mut *stream, &mut buf);
                match h.op {
                    Op::WatchEvent => {
                        assert_eq!(p, format!("{root}/raw\0{token}\0").as_bytes());
                        order.push("event");
                    }
                    Op::Watch => {
                        assert_eq!(h.req_id, 100 + i);
                        assert_eq!(p, b"OK\0");
                        order.push("reply");
                    }
                    other => panic!("unexpected {other} {p:?}"),
                }
            }
            match order[0] {
                "event" => event_first += 1,
                _ => reply_first += 1,
            }
            send(&mut *stream, Op::Unwatch, 200 + i, payload.as_bytes());
            let (h, p) = recv(&mut *stream, &mut buf);
            assert_eq!(
                (h.op, h.req_id, p.as_slice()),
                (Op::Unwatch, 200 + i, &b"OK\0"[..])
            );
        }
        done.send((event_first, reply_first)).unwrap();
    });
    let (event_first, reply_first) = result
        .recv_timeout(Duration::from_secs(60))
        .expect("the raw probe finished in time");
    println!(
        "raw_order {kind:?}: initial event first {event_first}x, WATCH reply first {reply_first}x"
    );
    assert_eq!(event_first + reply_first, 20);
    if kind == TransportKind::Socket {
        assert_eq!(event_first, 0, "a daemon's socket sends the reply first");
    }
}

/// Two READs written back to back, each in its own `write()`, before either
/// reply is read. Over a socket each reply carries its own node's value.
/// Through the Linux device (at least 6.1), the kernel keeps a pointer to
/// the request body inside the fd's single write buffer and copies it to the
/// ring later, from its xenbus thread: the second `write()` can overwrite
/// the first request's body before that, so the first request reaches
/// xenstored with the second one's path. This probe counts how often that
/// happens (it is why the client sends one request at a time on the device).
#[test]
fn raw_pipelined_requests_keep_their_bodies() {
    let Some(x) = xen("raw_pipelining") else {
        return;
    };
    let path = std::env::var_os("XENSTORED_PATH")
        .map(std::path::PathBuf::from)
        .expect("XENSTORED_PATH");
    let (a, b) = (x.path("a"), x.path("b"));
    x.client.write(&a, "value of a").unwrap();
    x.client.write(&b, "value of b").unwrap();
    let kind = x.kind;
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let mut stream = open_raw(kind, &path);
        let mut buf = Vec::new();
        let mut swapped = 0;
        for i in 0..50u32 {
            send(
                &mut *stream,
                Op::Read,
                1000 + 2 * i,
                format!("{a}\0").as_bytes(),
            );
            send(
                &mut *stream,
                Op::Read,
                1001 + 2 * i,
                format!("{b}\0").as_bytes(),
            );
            for _ in 0..2 {
                let (h, p) = recv(&mut *stream, &mut buf);
                assert_eq!(h.op, Op::Read, "{p:?}");
                let want: &[u8] = if h.req_id % 2 == 0 {
                    b"value of a"
                } else {
                    b"value of b"
                };
                if p != want {
                    swapped += 1;
                }
            }
        }
        done.send(swapped).unwrap();
    });
    let swapped = result
        .recv_timeout(Duration::from_secs(60))
        .expect("the raw probe finished in time");
    println!("raw_pipelining {kind:?}: {swapped} of 100 replies answered another request's path");
    if kind == TransportKind::Socket {
        assert_eq!(swapped, 0);
    }
}

fn open_raw(kind: TransportKind, path: &std::path::Path) -> Box<dyn ReadWrite> {
    match kind {
        TransportKind::Xenbus => Box::new(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .expect("open the device"),
        ),
        TransportKind::Socket => {
            Box::new(std::os::unix::net::UnixStream::connect(path).expect("connect the socket"))
        }
    }
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// One frame, in one `write()` (the device handles one message per write).
fn send(stream: &mut dyn ReadWrite, op: Op, req_id: u32, payload: &[u8]) {
    let header = Header {
        op,
        req_id,
        tx_id: 0,
        len: payload.len() as u32,
    };
    let mut frame = header.to_bytes().to_vec();
    frame.extend_from_slice(payload);
    let n = stream.write(&frame).expect("write a frame");
    assert_eq!(n, frame.len(), "short write");
}

fn recv(stream: &mut dyn ReadWrite, buf: &mut Vec<u8>) -> (Header, Vec<u8>) {
    loop {
        if let Status::Complete((frame, used)) = decode(buf).expect("a decodable frame") {
            let item = (frame.header, frame.payload.to_vec());
            buf.drain(..used);
            return item;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "EOF");
        buf.extend_from_slice(&chunk[..n]);
    }
}
