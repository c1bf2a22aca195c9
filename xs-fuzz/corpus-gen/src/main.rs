//! Writes the seed corpora of the xs-fuzz targets: every request and reply
//! shape encoded with xs-wire, laid out in each target's input format.
//!
//! ```text
//! cargo run --manifest-path xs-fuzz/corpus-gen/Cargo.toml -- xs-fuzz/corpus
//! ```
//!
//! Files are named `<kind>-<n>` and rewritten each run (the output is
//! deterministic), so `git status` shows whether the committed seeds are
//! current. `router_state` seeds are not generated here: its input is an
//! `arbitrary`-encoded action list, seeded from a minimised fuzzing corpus
//! (see the README).

use std::fs;
use std::path::{Path as FsPath, PathBuf};

use xs_wire::{
    Access, DirectoryChunk, Errno, ErrorReply, Header, Ids, Names, Op, Path, Perm, PermList,
    QuotaNames, QuotaQuery, Reply, Request, WatchEvent, FRAME_MAX,
};

fn p(text: &'static str) -> Path<'static> {
    Path::new(text).expect("seed path")
}

const PERMS: [Perm; 2] = [Perm::new(Access::None, 0), Perm::new(Access::Read, 5)];
const PERMS_ANY: [Perm; 2] = [Perm::new(Access::None, 0), Perm::new(Access::Both, 0x7FF5)];

/// (ids, request) for every request variant, some more than once.
fn requests() -> Vec<(Ids, Request<'static>)> {
    let perms = PermList::new(&PERMS).unwrap();
    let perms_any = PermList::new(&PERMS_ANY).unwrap();
    vec![
        (Ids::new(91), Request::Control { command: "print", args: b"hi\0" }),
        (Ids::new(1), Request::Directory { path: p("/local/domain") }),
        (Ids::in_transaction(2, 7), Request::Directory { path: p("device") }),
        (Ids::new(0x0A0B_0C0D), Request::Read { path: p("/local/domain/0/name") }),
        (Ids::in_transaction(3, 9), Request::Read { path: p("name") }),
        (Ids::new(4), Request::GetPerms { path: p("@releaseDomain") }),
        (Ids::new(5), Request::Watch { path: p("/local/domain/1"), token: "tok", depth: None }),
        (Ids::new(6), Request::Watch { path: p("@introduceDomain"), token: "", depth: Some(1) }),
        (Ids::new(7), Request::Unwatch { path: p("/vm"), token: "tok" }),
        (Ids::new(8), Request::TransactionStart),
        (Ids::in_transaction(9, 12), Request::TransactionEnd { commit: true }),
        (Ids::in_transaction(10, 12), Request::TransactionEnd { commit: false }),
        (Ids::new(11), Request::Introduce { domid: 3, gfn: 0x1_0000_0001, evtchn: 7 }),
        (Ids::new(12), Request::Release { domid: 3 }),
        (Ids::new(13), Request::GetDomainPath { domid: 0x7FF0 }),
        (Ids::new(14), Request::Write { path: p("/vm/name"), value: b"guest" }),
        (Ids::in_transaction(15, 4), Request::Write { path: p("data/x"), value: b"a\0b" }),
        (Ids::new(16), Request::Write { path: p("/empty"), value: b"" }),
        (Ids::new(17), Request::Mkdir { path: p("/vm/1/device") }),
        (Ids::new(18), Request::Rm { path: p("/vm/1") }),
        (Ids::new(19), Request::SetPerms { path: p("/vm/1"), perms }),
        (Ids::new(20), Request::SetPerms { path: p("@releaseDomain"), perms: perms_any }),
        (Ids::new(21), Request::IsDomainIntroduced { domid: 1 }),
        (Ids::new(22), Request::Resume { domid: 1 }),
        (Ids::new(23), Request::SetTarget { domid: 5, target: 1 }),
        (Ids::new(24), Request::ResetWatches),
        (Ids::new(25), Request::DirectoryPart { path: p("/local/domain"), offset: 4095 }),
        (Ids::new(26), Request::GetFeature { domid: None }),
        (Ids::new(27), Request::GetFeature { domid: Some(2) }),
        (Ids::new(28), Request::SetFeature { domid: 2, features: 1 }),
        (Ids::new(29), Request::GetQuota(QuotaQuery::Names)),
        (Ids::new(30), Request::GetQuota(QuotaQuery::Global("nodes"))),
        (Ids::new(31), Request::GetQuota(QuotaQuery::Domain { domid: 1, name: "watches" })),
        (Ids::new(32), Request::SetQuota { domid: None, name: "nodes", value: 100 }),
        (Ids::new(33), Request::SetQuota { domid: Some(1), name: "soft-nodes", value: 0 }),
    ]
}

/// (request op, reply) for every reply variant.
fn replies() -> Vec<(Op, Reply<'static>)> {
    vec![
        (Op::Write, Reply::Ack),
        (Op::Read, Reply::Value(b"Domain-0")),
        (Op::Read, Reply::Value(b"")),
        (Op::Directory, Reply::Directory(Names::parse(b"backend\0device\0").unwrap())),
        (Op::Directory, Reply::Directory(Names::EMPTY)),
        (Op::DirectoryPart, Reply::DirectoryPart(DirectoryChunk::parse(b"7\0a\0b\0\0").unwrap())),
        (Op::DirectoryPart, Reply::DirectoryPart(DirectoryChunk::parse(b"18446744073709551615\0a\0").unwrap())),
        (Op::GetPerms, Reply::Perms(PermList::parse(b"n0\0r5\0b32757\0").unwrap())),
        (Op::TransactionStart, Reply::TransactionId(4294967295)),
        (Op::IsDomainIntroduced, Reply::Bool(true)),
        (Op::IsDomainIntroduced, Reply::Bool(false)),
        (Op::GetDomainPath, Reply::DomainPath("/local/domain/7")),
        (Op::GetFeature, Reply::Number(1)),
        (Op::GetQuota, Reply::QuotaNames(QuotaNames::new("nodes watches soft-nodes").unwrap())),
        (Op::Control, Reply::Text(b"Quota settings:\0")),
        (Op::Read, Reply::Error(ErrorReply::Known(Errno::ENOENT))),
        (Op::Write, Reply::Error(ErrorReply::Known(Errno::E2BIG))),
        (Op::Write, Reply::Error(ErrorReply::Other("EQUOTA"))),
        (Op::Watch, Reply::WatchEvent(WatchEvent { path: "/local/domain/1/name", token: "tok" })),
        (Op::Watch, Reply::WatchEvent(WatchEvent { path: "@releaseDomain", token: "" })),
    ]
}

fn encode_request(ids: Ids, req: &Request<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; FRAME_MAX];
    let n = req.encode(ids, &mut buf).expect("seed request encodes");
    buf.truncate(n);
    buf
}

fn encode_reply(op: Op, reply: &Reply<'_>, ids: Ids) -> Vec<u8> {
    let mut buf = vec![0u8; FRAME_MAX];
    let n = reply.encode(op, ids, &mut buf).expect("seed reply encodes");
    buf.truncate(n);
    buf
}

struct Out {
    dir: PathBuf,
    n: usize,
}

impl Out {
    fn new(root: &FsPath, target: &str) -> Out {
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap();
        // Start clean so removed seeds do not linger.
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                fs::remove_file(path).unwrap();
            }
        }
        Out { dir, n: 0 }
    }

    fn put(&mut self, kind: &str, bytes: &[u8]) {
        self.n += 1;
        fs::write(self.dir.join(format!("{kind}-{:03}", self.n)), bytes).unwrap();
    }
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "xs-fuzz/corpus".into()));
    let reqs: Vec<(Ids, Request<'static>, Vec<u8>)> = requests()
        .into_iter()
        .map(|(ids, r)| {
            let wire = encode_request(ids, &r);
            (ids, r, wire)
        })
        .collect();
    let reps: Vec<(Op, Reply<'static>, Vec<u8>)> = replies()
        .into_iter()
        .enumerate()
        .map(|(i, (op, r))| {
            let wire = encode_reply(op, &r, Ids::new(i as u32));
            (op, r, wire)
        })
        .collect();

    // frame_decode: [split, mode, stream...]
    let mut out = Out::new(&root, "frame_decode");
    for (i, (_, _, wire)) in reqs.iter().enumerate() {
        out.put("request", &[[(i * 37 % 256) as u8, (i % 4) as u8].as_slice(), wire].concat());
    }
    for (i, (_, _, wire)) in reps.iter().enumerate() {
        out.put("reply", &[[(i * 53 % 256) as u8, 0].as_slice(), wire].concat());
    }
    let stream: Vec<u8> = reqs.iter().take(8).flat_map(|(_, _, w)| w.clone()).collect();
    out.put("stream", &[&[128, 0][..], &stream].concat());
    out.put("stream-xenbus", &[&[7, 1][..], &stream].concat());
    out.put("stream-small-limit", &[&[200, 2 | (16 << 2)][..], &stream].concat());
    out.put("partial", &[&[90, 0][..], &stream[..stream.len() - 3]].concat());
    let big = Header { op: Op::Read, req_id: 1, tx_id: 0, len: 4097 }.to_bytes();
    out.put("too-large", &[&[3, 0][..], &big[..]].concat());
    out.put("too-large-xenbus", &[&[3, 1][..], &Header { len: 4081, ..Header::from_bytes(&big) }.to_bytes()[..]].concat());
    let full = Reply::Value(&[b'v'; 4096]);
    out.put("largest", &[&[255, 3][..], &encode_reply(Op::Read, &full, Ids::new(9))].concat());
    println!("frame_decode: {}", out.n);

    // reply_parse: [type, payload...]
    let mut out = Out::new(&root, "reply_parse");
    for (_, _, wire) in &reps {
        let header_op = wire[0];
        out.put("reply", &[&[header_op][..], &wire[16..]].concat());
    }
    for extra in [&b"0\0"[..], b"00012\0", b"b0x10\0r010\0", b"7\0\0", b"7\0", b"T\0", b"EQUOTA\0"] {
        out.put("payload", &[&[2][..], extra].concat());
    }
    println!("reply_parse: {}", out.n);

    // path_perm: [mode, bytes...]
    let mut out = Out::new(&root, "path_perm");
    let paths: [&[u8]; 24] = [
        b"/", b"/local/domain/0", b"device/vif/0", b"@introduceDomain", b"@releaseDomain",
        b"@releaseDomain/7", b"@introduceDomain/", b"@foo", b"/a//b", b"/a/", b"", b"/a b",
        b"/A-Z_a-z_0-9", b"a@b", b"/ab/", b"//", b"@releaseDomain/x", b"@releaseDomainX",
        b"r5", b"b0x10", b"n017", b"w4294967295", b"w4294967296", b"x1",
    ];
    for path in paths {
        out.put("raw", &[&[0][..], path].concat());
    }
    // Padded to the limits (mode bits 2-3) and mapped onto the alphabet.
    out.put("rel-limit", &[&[4][..], b"abc\x03"].concat());
    out.put("abs-limit", &[&[8][..], b"/abc\x04"].concat());
    out.put("mapped", &[&[1][..], b"\x00\x02\x03\x00\x04"].concat());
    out.put("special-digits", &[&[3][..], b"\x00\x07\x07"].concat());
    println!("path_perm: {}", out.n);

    // request_roundtrip, raw mode: [1, op index, req_id, tx_id, payload...]
    let mut out = Out::new(&root, "request_roundtrip");
    for (ids, req, wire) in &reqs {
        let code = req.op().to_u32() as u8; // OPS[i] == i for 0..=26
        let mut seed = vec![1, code];
        seed.extend_from_slice(&ids.req_id.to_le_bytes());
        seed.extend_from_slice(&ids.tx_id.to_le_bytes());
        seed.extend_from_slice(&wire[16..]);
        out.put("raw", &seed);
    }
    println!("request_roundtrip: {}", out.n);

    // server_input: [flags, record...]; raw records carry at most 255 bytes.
    let mut out = Out::new(&root, "server_input");
    let raw_records = |conn: u8, bytes: &[u8]| -> Vec<u8> {
        let mut v = Vec::new();
        for chunk in bytes.chunks(255) {
            v.push(conn << 4);
            v.push(chunk.len() as u8);
            v.extend_from_slice(chunk);
        }
        v
    };
    for (i, (_, _, wire)) in reqs.iter().enumerate() {
        let conn = (i % 3) as u8;
        out.put("request", &[&[2u8][..], &raw_records(conn, wire)].concat());
    }
    // A session: watch, write (fires), transaction, read inside it, commit.
    let session: Vec<u8> = [
        (5usize, Request::Watch { path: p("/vm"), token: "t", depth: None }, 0u32),
        (6, Request::Write { path: p("/vm/a"), value: b"1" }, 0),
        (7, Request::TransactionStart, 0),
        (8, Request::Read { path: p("/vm/a") }, 1),
        (9, Request::TransactionEnd { commit: true }, 1),
    ]
    .iter()
    .flat_map(|(id, req, tx)| encode_request(Ids::in_transaction(*id as u32, *tx), req))
    .collect();
    for conn in 0..3u8 {
        out.put("session", &[&[2u8][..], &raw_records(conn, &session)].concat());
    }
    // Templated records: [t, op, path, aux, tx, vlen, value...].
    let templates: [[u8; 6]; 8] = [
        [4, 4, 5, 0, 0, 0],        // WATCH /vm t
        [4 | 16, 4, 1, 0, 0, 0],   // WATCH from domain 1
        [5, 11, 6, 0, 0, 2],       // WRITE /vm/a
        [6, 6, 0, 0, 0, 0],        // TRANSACTION_START
        [7, 11, 6, 0, 200, 1],     // WRITE inside the last transaction
        [8, 7, 0, 0, 200, 0],      // TRANSACTION_END commit
        [9, 8, 0, 3, 0, 1],        // INTRODUCE domain 3
        [14, 14, 6, 2, 0, 0],      // SET_PERMS /vm/a
    ];
    let mut script = vec![2u8];
    for t in templates {
        script.extend_from_slice(&t);
        if t[5] > 0 {
            script.extend(std::iter::repeat_n(b'x', usize::from(t[5])));
        }
    }
    out.put("templates", &script);
    let mut flood = vec![0u8, 0x24, 4, 5, 0, 0, 0];
    for _ in 0..20 {
        flood.extend_from_slice(&[5, 11, 6, 0, 0, 0]);
    }
    out.put("flow-control", &flood);
    println!("server_input: {}", out.n);
}
