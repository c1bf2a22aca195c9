//! xs-server's sans-IO engine (`xs_server::Engine`) fed arbitrary client
//! byte streams and templated requests on three connections, the way its
//! I/O layer drives it (no sockets).
//!
//! Input layout: `[flags, record...]`. `flags` bit 0 applies the
//! "unprivileged" quotas to dom0 too, bit 1 turns DIRECTORY_PART on, bit 2
//! makes the engine answer like Xen 4.22 (features, quotas over the
//! protocol, watch depth) instead of 4.17, bit 3 starts it with dom0's tree. Each
//! record starts with a byte `t`: connection `(t >> 4) % 3` (0: dom0,
//! 1: domain 1 unprivileged, both read after every step; 2: dom0 that reads
//! its replies only when told, to reach flow control), action `t & 15`:
//!
//! * 0..=3: `[len, bytes...]` appended to the connection's input stream,
//!   which is cut into frames with `xs_wire::decode` (a broken stream
//!   closes the connection, as xenstored does);
//! * 4..=9, 14, 15: a templated request
//!   `[op, path, aux, tx, vlen, value...]` from small tables (so the
//!   engine's deeper states, transactions, watches, domains, permissions,
//!   are reached);
//! * 10: read everything queued for the connection; 11: reconnect it;
//!   12: `[n]` make the next `n % 3` commits fail.
//!
//! Like the I/O layer, a connection is not read from while
//! `should_pause()`, and is closed once `overflowed()`.
//!
//! Asserted: no panic; every output frame decodes exactly (header + at most
//! 4096 bytes); each request gets exactly one reply, in order, echoing its
//! req_id and tx_id (0 for WATCH/UNWATCH) with its own type or `ERROR`;
//! a request `Request::parse` refuses gets `ERROR`, one it accepts gets
//! `ERROR` or a payload of the op's reply shape; error names are Xen's or
//! `EQUOTA`; every other frame is a well-formed `WATCH_EVENT` with ids 0;
//! a connection's queue never exceeds `max_outstanding +
//! max_queued_events`; per-connection watches and transactions never
//! exceed their quotas where they apply (until a `SET_QUOTA` may have
//! changed them).
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use xs_server::{Config, ConnId, ConnInfo, Engine, Quota, XenVersion};
use xs_wire::{
    decode, Access, Errno, ErrorReply, Header, Ids, Op, Path, Perm, PermList, QuotaQuery, Reply,
    ReplyKind, Request, Status, WatchEvent, HEADER_SIZE, PAYLOAD_MAX,
};

const QUOTA_WATCHES: usize = 3;
const QUOTA_TRANSACTIONS: usize = 2;

fn quota(apply_to_privileged: bool) -> Quota {
    Quota {
        max_value_size: Some(64),
        max_path_len: Some(64),
        max_watches: Some(QUOTA_WATCHES),
        max_transactions: Some(QUOTA_TRANSACTIONS),
        max_nodes_per_domain: Some(24),
        max_requests_per_transaction: Some(8),
        max_nodes_per_transaction: Some(8),
        max_perms_per_node: Some(3),
        apply_to_privileged,
        max_outstanding: 6,
        max_queued_events: 6,
    }
}

const PATHS: [&str; 13] = [
    "/",
    "/local/domain/1",
    "/local/domain/1/data",
    "data",
    "data/x",
    "/vm",
    "/vm/a",
    "/vm/a/b",
    "@introduceDomain",
    "@releaseDomain",
    "/tool/xenstored",
    "/local/domain/2/device",
    "@releaseDomain/1",
];
const TOKENS: [&str; 3] = ["t", "u", ""];
const DOMIDS: [u32; 5] = [0, 1, 2, 3, 0x7FF0];
const PERMS: [&[Perm]; 5] = [
    &[Perm::new(Access::None, 0)],
    &[Perm::new(Access::Read, 1)],
    &[Perm::new(Access::Both, 1), Perm::new(Access::None, 2)],
    &[Perm::new(Access::Write, 2), Perm::new(Access::Read, 1)],
    &[Perm::new(Access::None, 1)],
];
const OPS: [u32; 29] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 0xFFFF, 99,
];

fn pick<T: Copy>(table: &[T], i: u8) -> T {
    table[usize::from(i) % table.len()]
}

/// A byte reader that yields zeros once the input is used up.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// What the harness expects back for one request, in order.
struct Expect {
    header: Header,
    /// The reply shape if `Request::parse` accepts the request.
    kind: Option<ReplyKind>,
}

struct Conn {
    id: ConnId,
    info: ConnInfo,
    /// Read after every step (else only on a drain record).
    eager: bool,
    stream: Vec<u8>,
    expect: VecDeque<Expect>,
    /// Transaction ids the engine gave this connection.
    txs: Vec<u32>,
}

struct Harness {
    engine: Engine,
    conns: [Conn; 3],
    quota: Quota,
    /// A `SET_QUOTA` went through: the limits may no longer be `quota`'s.
    quotas_changed: bool,
}

fn check_error(e: &ErrorReply<'_>) {
    match e {
        ErrorReply::Known(errno) => assert!(Errno::ALL.contains(errno)),
        ErrorReply::Other(name) => assert_eq!(*name, "EQUOTA", "unknown error name"),
    }
}

impl Harness {
    fn new(flags: u8) -> Harness {
        let quota = quota(flags & 1 != 0);
        let version = if flags & 4 != 0 {
            XenVersion::V4_22
        } else {
            XenVersion::V4_17
        };
        let mut engine = Engine::new(Config {
            quota,
            directory_part: flags & 2 != 0,
            fail_commits: 0,
            version,
            dom0: flags & 8 != 0,
            event_timeout: None,
        });
        let infos = [ConnInfo::DOM0, ConnInfo::domain(1), ConnInfo::DOM0];
        let conns = infos.map(|info| Conn {
            id: engine.connect(info),
            info,
            eager: true,
            stream: Vec::new(),
            expect: VecDeque::new(),
            txs: Vec::new(),
        });
        let mut h = Harness {
            engine,
            conns,
            quota,
            quotas_changed: false,
        };
        h.conns[2].eager = false;
        h
    }

    fn reconnect(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        self.engine.disconnect(conn.id);
        assert_eq!(self.engine.queued(conn.id), 0);
        assert!(self.engine.pop_output(conn.id).is_none());
        conn.id = self.engine.connect(conn.info);
        conn.stream.clear();
        conn.expect.clear();
        conn.txs.clear();
    }

    /// Reads and checks everything queued for connection `c`.
    fn drain(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        while let Some(out) = self.engine.pop_output(conn.id) {
            let Ok(Status::Complete((frame, used))) = decode(&out) else {
                panic!("output frame does not decode");
            };
            assert_eq!(used, out.len(), "output frame has trailing bytes");
            assert!(frame.payload.len() <= PAYLOAD_MAX);
            let h = frame.header;
            if h.op == Op::WatchEvent {
                assert_eq!((h.req_id, h.tx_id), (0, 0), "event ids");
                let ev = WatchEvent::parse(frame.payload).expect("malformed event");
                assert!(!ev.path.is_empty());
                continue;
            }
            let want = conn
                .expect
                .pop_front()
                .unwrap_or_else(|| panic!("reply {h:?} to no request"));
            let rq = want.header;
            assert_eq!(h.req_id, rq.req_id, "reply req_id");
            let tx = if matches!(rq.op, Op::Watch | Op::Unwatch) {
                0
            } else {
                rq.tx_id
            };
            assert_eq!(h.tx_id, tx, "reply tx_id");
            assert!(
                h.op == rq.op || h.op == Op::Error,
                "reply type {} to {}",
                h.op,
                rq.op
            );
            match want.kind {
                None => {
                    assert_eq!(h.op, Op::Error, "refused request answered with {}", h.op);
                    let e = ErrorReply::parse(frame.payload).expect("malformed error");
                    check_error(&e);
                }
                Some(kind) => match Reply::parse(rq.op, kind, &frame) {
                    Ok(Reply::Error(e)) => check_error(&e),
                    Ok(Reply::WatchEvent(_)) => unreachable!(),
                    Ok(Reply::TransactionId(id)) => conn.txs.push(id),
                    Ok(_) => {}
                    Err(e) => panic!("{} reply does not parse as {kind:?}: {e:?}", rq.op),
                },
            }
        }
        assert_eq!(self.engine.queued(conn.id), 0);
    }

    /// Hands one frame to the engine, as the I/O layer does.
    fn handle(&mut self, c: usize, header: &Header, payload: &[u8]) {
        let kind = Request::parse(header, payload).ok().map(|r| r.reply_kind());
        self.quotas_changed |= kind.is_some() && header.op == Op::SetQuota;
        let conn = &mut self.conns[c];
        conn.expect.push_back(Expect {
            header: *header,
            kind,
        });
        self.engine.handle(conn.id, header, payload);
        self.after_step();
    }

    fn after_step(&mut self) {
        let limit = self.quota.max_outstanding + self.quota.max_queued_events;
        for c in 0..3 {
            let conn = &self.conns[c];
            let queued = self.engine.queued(conn.id);
            assert!(queued <= limit, "{queued} frames queued, limit {limit}");
            let applies = self.quota.apply_to_privileged || !conn.info.privileged;
            if applies && !self.quotas_changed {
                assert!(self.engine.watches_of(conn.id) <= QUOTA_WATCHES);
                assert!(self.engine.transactions_of(conn.id) <= QUOTA_TRANSACTIONS);
            }
            if self.engine.overflowed(conn.id) {
                self.reconnect(c);
            } else if conn.eager {
                self.drain(c);
            }
        }
        let stats = self.engine.stats();
        assert_eq!(stats.connections, 3);
        assert_eq!(
            stats.transactions,
            self.conns
                .iter()
                .map(|c| self.engine.transactions_of(c.id))
                .sum::<usize>()
        );
    }

    /// Cuts whole frames off the connection's input stream while it may be
    /// read.
    fn pump(&mut self, c: usize) {
        loop {
            let conn = &mut self.conns[c];
            if self.engine.should_pause(conn.id) {
                return;
            }
            let (header, payload, used) = match decode(&conn.stream) {
                Ok(Status::Complete((f, used))) => (f.header, f.payload.to_vec(), used),
                Ok(Status::Partial { .. }) => return,
                Err(_) => {
                    // xenstored drops a connection announcing > 4096 bytes.
                    self.reconnect(c);
                    return;
                }
            };
            conn.stream.drain(..used);
            self.handle(c, &header, &payload);
        }
    }

    fn template(&mut self, c: usize, cur: &mut Cursor<'_>) {
        let [op, path, aux, tx, vlen] = [(); 5].map(|()| cur.byte().unwrap_or(0));
        let value = cur.bytes(usize::from(vlen % 80));
        let op = Op::from_u32(pick(&OPS, op));
        let tx_id = match tx {
            0..=127 => 0,
            128..=223 => self.conns[c].txs.last().copied().unwrap_or(0),
            t => u32::from(t - 223),
        };
        let path_text = pick(&PATHS, path);
        let domid = pick(&DOMIDS, aux);
        let token = pick(&TOKENS, aux);
        let p = Path::new(path_text).unwrap();
        let node = if p.is_special() {
            Path::new("/vm").unwrap()
        } else {
            p
        };
        let perms = PermList::new(pick(&PERMS, aux)).unwrap();
        let request = match op {
            Op::Control => Request::Control {
                command: "print",
                args: value,
            },
            Op::Directory => Request::Directory { path: node },
            Op::Read => Request::Read { path: node },
            Op::GetPerms => Request::GetPerms { path: p },
            Op::Watch => Request::Watch {
                path: p,
                token,
                depth: (vlen == 1).then_some(1),
            },
            Op::Unwatch => Request::Unwatch { path: p, token },
            Op::TransactionStart => Request::TransactionStart,
            Op::TransactionEnd => Request::TransactionEnd {
                commit: aux & 1 == 0,
            },
            Op::Introduce => Request::Introduce {
                domid,
                gfn: 1,
                evtchn: u32::from(vlen % 3),
            },
            Op::Release => Request::Release { domid },
            Op::GetDomainPath => Request::GetDomainPath { domid },
            Op::Write => Request::Write { path: node, value },
            Op::Mkdir => Request::Mkdir { path: node },
            Op::Rm => Request::Rm { path: node },
            Op::SetPerms => Request::SetPerms { path: p, perms },
            Op::IsDomainIntroduced => Request::IsDomainIntroduced { domid },
            Op::Resume => Request::Resume { domid },
            Op::SetTarget => Request::SetTarget {
                domid,
                target: pick(&DOMIDS, vlen),
            },
            Op::ResetWatches => Request::ResetWatches,
            Op::DirectoryPart => Request::DirectoryPart {
                path: node,
                offset: u32::from(vlen),
            },
            Op::GetFeature => Request::GetFeature { domid: Some(domid) },
            Op::SetFeature => Request::SetFeature { domid, features: 1 },
            Op::GetQuota => Request::GetQuota(QuotaQuery::Names),
            Op::SetQuota => Request::SetQuota {
                domid: None,
                name: "nodes",
                value: 5,
            },
            // Types only the server sends, and unknown ones: the value as
            // the payload.
            _ => {
                let header = Header {
                    op,
                    req_id: u32::from(path),
                    tx_id,
                    len: value.len() as u32,
                };
                self.submit(c, &header, value);
                return;
            }
        };
        let mut buf = vec![0u8; HEADER_SIZE + PAYLOAD_MAX];
        let ids = Ids::in_transaction(u32::from(path) << 8 | u32::from(aux), 1);
        let n = match request.encode(Ids::new(ids.req_id), &mut buf) {
            Ok(n) => n,
            // TRANSACTION_END needs a tx id to encode; the header's is
            // replaced below anyway.
            Err(_) => request
                .encode(ids, &mut buf)
                .expect("template does not encode"),
        };
        let Ok(Status::Complete((frame, _))) = decode(&buf[..n]) else {
            unreachable!()
        };
        let header = Header {
            tx_id,
            ..frame.header
        };
        let payload = frame.payload.to_vec();
        self.submit(c, &header, &payload);
    }

    /// Sends one whole frame through the connection's stream.
    fn submit(&mut self, c: usize, header: &Header, payload: &[u8]) {
        let conn = &mut self.conns[c];
        conn.stream.extend_from_slice(&header.to_bytes());
        conn.stream.extend_from_slice(payload);
        self.pump(c);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut cur = Cursor(data);
    let Some(flags) = cur.byte() else {
        return;
    };
    let mut h = Harness::new(flags);
    let mut steps = 0;
    while let Some(t) = cur.byte() {
        steps += 1;
        if steps > 512 {
            break;
        }
        let c = usize::from(t >> 4) % 3;
        match t & 15 {
            0..=3 => {
                let len = cur.byte().unwrap_or(0);
                let chunk = cur.bytes(usize::from(len));
                h.conns[c].stream.extend_from_slice(chunk);
                h.pump(c);
            }
            10 => {
                h.drain(c);
                h.pump(c);
            }
            11 => h.reconnect(c),
            12 => h
                .engine
                .fail_next_commits(u64::from(cur.byte().unwrap_or(0) % 3)),
            _ => h.template(c, &mut cur),
        }
    }
    // Everything queued is well-formed, and every request was answered.
    for c in 0..3 {
        h.drain(c);
        h.pump(c);
        h.drain(c);
        assert!(h.conns[c].expect.is_empty(), "requests left unanswered");
    }
});
