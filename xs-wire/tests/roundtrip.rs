//! Property tests: encode then parse gives back the same value, for every
//! request and reply; parsers never panic on arbitrary bytes; `Path` agrees
//! with an independent checker of the section 1 rules; `Perm` text round-trips.
//!
//! Rules are from `/work/shared/reference/protocol.md` (sections 1-7).

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use xs_wire::{
    decode, decode_bounded, decode_with_limit, Access, DirectoryChunk, Errno, ErrorReply, Header,
    Ids, Names, Op, Path, PathError, PathKind, Perm, PermList, QuotaNames, QuotaQuery, Reply,
    ReplyKind, Request, Status, WatchEvent, WireError, FRAME_MAX,
};

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// One path component: bytes from `A-Z a-z 0-9 - _ @` (section 1).
fn component() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_@-]{1,12}"
}

/// `/` or `/c1/c2/...`.
fn absolute_path() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("/".to_string()),
        9 => vec(component(), 1..6).prop_map(|c| format!("/{}", c.join("/"))),
    ]
}

/// `c1/c2/...`, the first component not starting with `@`.
fn relative_path() -> impl Strategy<Value = String> {
    ("[A-Za-z0-9_-][A-Za-z0-9_@-]{0,11}", vec(component(), 0..5)).prop_map(|(first, rest)| {
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("/")
    })
}

/// `@introduceDomain` / `@releaseDomain`, optionally `/<domid>`.
fn special_path() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["@introduceDomain", "@releaseDomain"]),
        prop::option::of(any::<u16>()),
    )
        .prop_map(|(name, domid)| match domid {
            Some(d) => format!("{name}/{d}"),
            None => name.to_string(),
        })
}

/// A path READ, WRITE and the other tree ops accept.
fn node_path() -> impl Strategy<Value = String> {
    prop_oneof![absolute_path(), relative_path()]
}

/// A path WATCH, UNWATCH, GET_PERMS and SET_PERMS accept.
fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![absolute_path(), relative_path(), special_path()]
}

/// Any text without NUL (tokens, quota names, commands).
fn nul_free() -> impl Strategy<Value = String> {
    "[^\\x00]{0,16}"
}

/// Text that sometimes has a NUL inside.
fn maybe_nul() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => nul_free(),
        1 => (nul_free(), nul_free()).prop_map(|(a, b)| format!("{a}\0{b}")),
    ]
}

fn access() -> impl Strategy<Value = Access> {
    prop::sample::select(vec![
        Access::None,
        Access::Read,
        Access::Write,
        Access::Both,
    ])
}

fn perm() -> impl Strategy<Value = Perm> {
    (access(), any::<u32>()).prop_map(|(a, d)| Perm::new(a, d))
}

fn perms() -> impl Strategy<Value = Vec<Perm>> {
    vec(perm(), 1..6)
}

/// Raw values: any bytes, NULs included.
fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..256)
}

/// `<name>\0` entries: names are non-empty, UTF-8, without `/` or NUL.
fn names_payload() -> impl Strategy<Value = Vec<u8>> {
    vec("[^/\\x00]{1,8}", 0..10)
        .prop_map(|names| names.iter().flat_map(|n| n.bytes().chain([0])).collect())
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// Owned material a [`Request`] of any variant can borrow from.
#[derive(Clone, Debug)]
struct RequestData {
    /// Which of the 24 variants.
    variant: usize,
    node: String,
    any: String,
    token: String,
    text: String,
    bytes: Vec<u8>,
    perms: Vec<Perm>,
    numbers: [u32; 2],
    gfn: u64,
    flag: bool,
    choice: u8,
    req_id: u32,
    tx_id: u32,
}

fn request_data<S: Strategy<Value = String>>(
    node: impl Strategy<Value = String>,
    watchable: impl Strategy<Value = String>,
    text: impl Fn() -> S,
) -> impl Strategy<Value = RequestData> {
    (
        (
            0usize..24,
            node,
            watchable,
            text(),
            text(),
            value(),
            perms(),
        ),
        (any::<[u32; 2]>(), any::<u64>(), any::<bool>(), 0u8..3),
        (any::<u32>(), prop_oneof![Just(0u32), any::<u32>()]),
    )
        .prop_map(
            |(
                (variant, node, any, token, text, bytes, perms),
                (numbers, gfn, flag, choice),
                (req_id, tx_id),
            )| RequestData {
                variant,
                node,
                any,
                token,
                text,
                bytes,
                perms,
                numbers,
                gfn,
                flag,
                choice,
                req_id,
                tx_id,
            },
        )
}

/// Valid requests: node paths where only node paths are allowed, NUL-free
/// strings.
fn valid_request_data() -> impl Strategy<Value = RequestData> {
    request_data(node_path(), any_path(), nul_free)
}

/// Requests that may break the rules: `@` paths anywhere, NULs in
/// strings, any `tx_id`.
fn any_request_data() -> impl Strategy<Value = RequestData> {
    request_data(any_path(), any_path(), maybe_nul)
}

fn build_request(d: &RequestData) -> Request<'_> {
    let node = Path::new(&d.node).unwrap();
    let any = Path::new(&d.any).unwrap();
    let [a, b] = d.numbers;
    let maybe_a = d.flag.then_some(a);
    match d.variant {
        0 => Request::Control {
            command: &d.text,
            args: &d.bytes,
        },
        1 => Request::Directory { path: node },
        2 => Request::Read { path: node },
        3 => Request::GetPerms { path: any },
        4 => Request::Watch {
            path: any,
            token: &d.token,
            depth: d.flag.then_some(b),
        },
        5 => Request::Unwatch {
            path: any,
            token: &d.token,
        },
        6 => Request::TransactionStart,
        7 => Request::TransactionEnd { commit: d.flag },
        8 => Request::Introduce {
            domid: a,
            gfn: d.gfn,
            evtchn: b,
        },
        9 => Request::Release { domid: a },
        10 => Request::GetDomainPath { domid: a },
        11 => Request::Write {
            path: node,
            value: &d.bytes,
        },
        12 => Request::Mkdir { path: node },
        13 => Request::Rm { path: node },
        14 => Request::SetPerms {
            path: any,
            perms: PermList::new(&d.perms).unwrap(),
        },
        15 => Request::IsDomainIntroduced { domid: a },
        16 => Request::Resume { domid: a },
        17 => Request::SetTarget {
            domid: a,
            target: b,
        },
        18 => Request::ResetWatches,
        19 => Request::DirectoryPart {
            path: node,
            offset: b,
        },
        20 => Request::GetFeature { domid: maybe_a },
        21 => Request::SetFeature {
            domid: a,
            features: b,
        },
        22 => Request::GetQuota(match d.choice {
            0 => QuotaQuery::Names,
            1 => QuotaQuery::Global(&d.text),
            _ => QuotaQuery::Domain {
                domid: a,
                name: &d.text,
            },
        }),
        23 => Request::SetQuota {
            domid: maybe_a,
            name: &d.text,
            value: b,
        },
        v => unreachable!("variant {v}"),
    }
}

/// Section 2, "Which ops take a transaction", written out independently of
/// `Op::takes_transaction`.
const TREE_OPS_AND_END: [Op; 9] = [
    Op::Directory,
    Op::DirectoryPart,
    Op::Read,
    Op::GetPerms,
    Op::Write,
    Op::Mkdir,
    Op::Rm,
    Op::SetPerms,
    Op::TransactionEnd,
];

/// The header ids for a valid request: a transaction only where allowed,
/// always one on TRANSACTION_END.
fn valid_ids(d: &RequestData, op: Op) -> Ids {
    let tx = match op {
        Op::TransactionEnd => d.tx_id.max(1),
        op if TREE_OPS_AND_END.contains(&op) => d.tx_id,
        _ => 0,
    };
    Ids::in_transaction(d.req_id, tx)
}

/// Whether a request breaks a rule `encode` must enforce (sections 1, 2, 5),
/// checked from the spec's wording rather than from the codec.
fn breaks_a_rule(request: &Request<'_>, tx_id: u32) -> bool {
    let op = request.op();
    let special_where_not_allowed = request.path().is_some_and(|p| {
        p.as_str().starts_with('@')
            && !matches!(op, Op::Watch | Op::Unwatch | Op::GetPerms | Op::SetPerms)
    });
    let nul_in_string = match request {
        Request::Watch { token, .. } | Request::Unwatch { token, .. } => token.contains('\0'),
        Request::Control { command, .. } => command.contains('\0'),
        Request::GetQuota(QuotaQuery::Global(name) | QuotaQuery::Domain { name, .. })
        | Request::SetQuota { name, .. } => name.contains('\0'),
        _ => false,
    };
    let end_without_tx = op == Op::TransactionEnd && tx_id == 0;
    let tx_not_allowed = tx_id != 0 && !TREE_OPS_AND_END.contains(&op);
    special_where_not_allowed || nul_in_string || end_without_tx || tx_not_allowed
}

#[test]
fn request_builder_reaches_all_24_variants() {
    let mut runner = TestRunner::deterministic();
    let d = valid_request_data()
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let ops: BTreeSet<u32> = (0..24)
        .map(|variant| {
            build_request(&RequestData {
                variant,
                ..d.clone()
            })
            .op()
            .to_u32()
        })
        .collect();
    // One op per variant: the 24 client ops (0-26 without 15, 16, 20).
    let expected: BTreeSet<u32> = (0..=26).filter(|c| ![15, 16, 20].contains(c)).collect();
    assert_eq!(ops, expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Request::encode, then decode, then Request::parse gives back the
    /// request and its ids.
    #[test]
    fn every_request_round_trips(d in valid_request_data()) {
        let request = build_request(&d);
        let ids = valid_ids(&d, request.op());
        let mut buf = vec![0u8; FRAME_MAX];
        let n = request.encode(ids, &mut buf);
        prop_assert!(n.is_ok(), "{:?} refused: {:?}", request, n);
        let n = n.unwrap();
        let Ok(Status::Complete((frame, used))) = decode(&buf[..n]) else {
            return Err(TestCaseError::fail("encoded frame does not decode"));
        };
        prop_assert_eq!(used, n);
        prop_assert_eq!(
            frame.header,
            Header { op: request.op(), req_id: ids.req_id, tx_id: ids.tx_id, len: (n - 16) as u32 }
        );
        prop_assert_eq!(Request::parse(&frame.header, frame.payload), Ok(request));
        // The variant that also gives the type: the same bytes, the type
        // in the header.
        let mut again = vec![0u8; FRAME_MAX];
        let got = request.encode_op_with_limit(ids, xs_wire::PAYLOAD_MAX, &mut again);
        prop_assert_eq!(got, Ok((request.op(), n)));
        prop_assert_eq!(&again[..n], &buf[..n]);
    }

    /// For any request, even one breaking the rules: encode refuses (writing
    /// nothing) exactly when a rule is broken or the buffer is too small,
    /// and otherwise the bytes parse back to the same request.
    #[test]
    fn encode_refuses_or_round_trips(
        d in any_request_data(),
        tx_id in prop_oneof![Just(0u32), 1u32..5],
        buf_len in prop_oneof![0usize..40, Just(FRAME_MAX)],
    ) {
        let request = build_request(&d);
        let ids = Ids::in_transaction(d.req_id, tx_id);
        let mut buf = vec![0xA5u8; buf_len];
        let fits = 16 + request.payload_len() <= buf_len;
        match request.encode(ids, &mut buf) {
            Ok(n) => {
                prop_assert!(!breaks_a_rule(&request, tx_id) && fits, "{:?} accepted", request);
                let frame = decode(&buf[..n]).unwrap().complete().unwrap().0;
                prop_assert_eq!(Request::parse(&frame.header, frame.payload), Ok(request));
            }
            Err(e) => {
                prop_assert!(breaks_a_rule(&request, tx_id) || !fits, "{:?} refused: {}", request, e);
                prop_assert!(buf.iter().all(|&b| b == 0xA5), "refused but wrote");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// Owned material a [`Reply`] of any variant can borrow from.
#[derive(Clone, Debug)]
struct ReplyData {
    /// Which of the 13 variants.
    variant: usize,
    bytes: Vec<u8>,
    names: Vec<u8>,
    generation: u64,
    flag: bool,
    perms: Vec<Perm>,
    number: u64,
    tx: u32,
    text: String,
    token: String,
    /// 0..16: a table name; 16: `text` as an unknown name.
    errno: usize,
    /// Picks the request op (and reply kind) where several fit.
    pick: usize,
    ids: Ids,
}

fn reply_data<S: Strategy<Value = String>>(
    tx: impl Strategy<Value = u32>,
    text: impl Fn() -> S,
) -> impl Strategy<Value = ReplyData> {
    (
        (
            0usize..13,
            value(),
            names_payload(),
            any::<u64>(),
            any::<bool>(),
        ),
        (perms(), any::<u64>(), tx, text(), text()),
        (0usize..17, any::<usize>(), any::<u32>(), any::<u32>()),
    )
        .prop_map(
            |(
                (variant, bytes, names, generation, flag),
                (perms, number, tx, text, token),
                (errno, pick, req_id, tx_id),
            )| ReplyData {
                variant,
                bytes,
                names,
                generation,
                flag,
                perms,
                number,
                tx,
                text,
                token,
                errno,
                pick,
                ids: Ids::in_transaction(req_id, tx_id),
            },
        )
}

/// Replies that satisfy every rule: non-zero transaction ids, NUL-free
/// strings, non-empty event paths and unknown error names.
fn valid_reply_data() -> impl Strategy<Value = ReplyData> {
    reply_data(1u32.., || "[^\\x00]{1,16}").prop_filter("unknown error names only", |d| {
        Errno::from_name(d.text.as_bytes()).is_none()
    })
}

/// Replies that may break the rules.
fn any_reply_data() -> impl Strategy<Value = ReplyData> {
    reply_data(prop_oneof![Just(0u32), any::<u32>()], || {
        prop_oneof![
            4 => maybe_nul(),
            1 => prop::sample::select(vec!["EINVAL".to_string(), "EAGAIN".to_string()]),
        ]
    })
}

/// Ops whose success reply is `OK\0` (section 2).
const ACK_OPS: [Op; 14] = [
    Op::Watch,
    Op::Unwatch,
    Op::TransactionEnd,
    Op::Introduce,
    Op::Release,
    Op::Write,
    Op::Mkdir,
    Op::Rm,
    Op::SetPerms,
    Op::Resume,
    Op::SetTarget,
    Op::ResetWatches,
    Op::SetFeature,
    Op::SetQuota,
];

const KINDS: [ReplyKind; 11] = [
    ReplyKind::Ack,
    ReplyKind::Value,
    ReplyKind::Directory,
    ReplyKind::DirectoryPart,
    ReplyKind::Perms,
    ReplyKind::TransactionId,
    ReplyKind::Bool,
    ReplyKind::DomainPath,
    ReplyKind::Number,
    ReplyKind::QuotaNames,
    ReplyKind::Text,
];

/// A reply, the op of the request it answers and the kind that request
/// expects. ERROR and WATCH_EVENT may answer anything.
fn build_reply(d: &ReplyData) -> (Reply<'_>, Op, ReplyKind) {
    let any_op = Op::ALL[d.pick % Op::ALL.len()];
    let any_kind = KINDS[d.pick % KINDS.len()];
    match d.variant {
        0 => (Reply::Ack, ACK_OPS[d.pick % ACK_OPS.len()], ReplyKind::Ack),
        1 => (Reply::Value(&d.bytes), Op::Read, ReplyKind::Value),
        2 => (
            Reply::Directory(Names::parse(&d.names).unwrap()),
            Op::Directory,
            ReplyKind::Directory,
        ),
        3 => (
            Reply::DirectoryPart(DirectoryChunk {
                generation: d.generation,
                names: Names::parse(&d.names).unwrap(),
                complete: d.flag,
            }),
            Op::DirectoryPart,
            ReplyKind::DirectoryPart,
        ),
        4 => (
            Reply::Perms(PermList::new(&d.perms).unwrap()),
            Op::GetPerms,
            ReplyKind::Perms,
        ),
        5 => (
            Reply::TransactionId(d.tx),
            Op::TransactionStart,
            ReplyKind::TransactionId,
        ),
        6 => (Reply::Bool(d.flag), Op::IsDomainIntroduced, ReplyKind::Bool),
        7 => (
            Reply::DomainPath(&d.text),
            Op::GetDomainPath,
            ReplyKind::DomainPath,
        ),
        8 => (
            Reply::Number(d.number),
            [Op::GetFeature, Op::GetQuota][d.pick % 2],
            ReplyKind::Number,
        ),
        9 => match QuotaNames::new(&d.text) {
            Ok(names) => (
                Reply::QuotaNames(names),
                Op::GetQuota,
                ReplyKind::QuotaNames,
            ),
            // A NUL in the text: QuotaNames::new refuses it, nothing to send.
            Err(_) => (Reply::Ack, Op::Write, ReplyKind::Ack),
        },
        10 => (Reply::Text(&d.bytes), Op::Control, ReplyKind::Text),
        11 => {
            let error = match Errno::ALL.get(d.errno) {
                Some(&errno) => ErrorReply::Known(errno),
                None => ErrorReply::Other(&d.text),
            };
            (Reply::Error(error), any_op, any_kind)
        }
        12 => (
            Reply::WatchEvent(WatchEvent {
                path: &d.text,
                token: &d.token,
            }),
            any_op,
            any_kind,
        ),
        v => unreachable!("variant {v}"),
    }
}

/// What a reply looks like after a trip over the wire: an unknown-looking
/// error name that is in fact in the table comes back as that entry.
fn on_the_wire(reply: Reply<'_>) -> Reply<'_> {
    match reply {
        Reply::Error(ErrorReply::Other(name)) => match Errno::from_name(name.as_bytes()) {
            Some(errno) => Reply::Error(ErrorReply::Known(errno)),
            None => reply,
        },
        _ => reply,
    }
}

/// Whether a reply breaks a rule its parser enforces (sections 2-4).
fn reply_breaks_a_rule(reply: &Reply<'_>) -> bool {
    match *reply {
        Reply::TransactionId(id) => id == 0,
        Reply::DomainPath(path) => path.contains('\0'),
        Reply::Error(e) => e.name().is_empty() || e.name().contains('\0'),
        Reply::WatchEvent(ev) => {
            ev.path.is_empty() || ev.path.contains('\0') || ev.token.contains('\0')
        }
        _ => false,
    }
}

#[test]
fn reply_builder_reaches_all_13_variants() {
    let mut runner = TestRunner::deterministic();
    let d = valid_reply_data().new_tree(&mut runner).unwrap().current();
    let variants: BTreeSet<String> = (0..13)
        .map(|variant| {
            let data = ReplyData {
                variant,
                ..d.clone()
            };
            let (reply, _, _) = build_reply(&data);
            let debug = format!("{reply:?}");
            debug[..debug.find(['(', ' ']).unwrap_or(debug.len())].to_string()
        })
        .collect();
    assert_eq!(variants.len(), 13, "{variants:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Reply::encode, then decode, then Reply::parse with the request's op
    /// and kind gives back the reply and its ids.
    #[test]
    fn every_reply_round_trips(d in valid_reply_data()) {
        let (reply, op, kind) = build_reply(&d);
        let mut buf = vec![0u8; FRAME_MAX];
        let n = reply.encode(op, d.ids, &mut buf);
        prop_assert!(n.is_ok(), "{:?} refused: {:?}", reply, n);
        let n = n.unwrap();
        let Ok(Status::Complete((frame, used))) = decode(&buf[..n]) else {
            return Err(TestCaseError::fail("encoded frame does not decode"));
        };
        prop_assert_eq!(used, n);
        prop_assert_eq!(frame.header.op, reply.wire_op(op));
        prop_assert_eq!((frame.header.req_id, frame.header.tx_id), (d.ids.req_id, d.ids.tx_id));
        prop_assert_eq!(Reply::parse(op, kind, &frame), Ok(reply));
    }

    /// For any reply: encode refuses (writing nothing) exactly when the
    /// parser would reject the result, and otherwise it parses back.
    #[test]
    fn reply_encode_refuses_or_round_trips(d in any_reply_data()) {
        let (reply, op, kind) = build_reply(&d);
        let mut buf = vec![0xA5u8; FRAME_MAX];
        match reply.encode(op, d.ids, &mut buf) {
            Ok(n) => {
                prop_assert!(!reply_breaks_a_rule(&reply), "{:?} accepted", reply);
                let frame = decode(&buf[..n]).unwrap().complete().unwrap().0;
                prop_assert_eq!(Reply::parse(op, kind, &frame), Ok(on_the_wire(reply)));
            }
            Err(e) => {
                prop_assert!(reply_breaks_a_rule(&reply), "{:?} refused: {}", reply, e);
                prop_assert!(buf.iter().all(|&b| b == 0xA5), "refused but wrote");
            }
        }
    }

    /// Names iterate as they were sent, and `len` counts them.
    #[test]
    fn names_iterate_in_order(names in vec("[^/\\x00]{1,8}", 0..10)) {
        let payload: Vec<u8> = names.iter().flat_map(|n| n.bytes().chain([0])).collect();
        let parsed = Names::parse(&payload).unwrap();
        prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), names.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(parsed.len(), names.len());
        prop_assert_eq!(parsed.is_empty(), names.is_empty());
    }
}

// ---------------------------------------------------------------------------
// Arbitrary bytes never panic
// ---------------------------------------------------------------------------

/// Bytes drawn mostly from the protocol's alphabet, so that parsers get
/// past their first checks more often than with uniform bytes.
fn protocol_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"\0\0\0/a@0159TFOKnrwbx-".to_vec()),
        1 => any::<u8>(),
    ];
    prop_oneof![vec(byte, 0..48), vec(any::<u8>(), 0..48)]
}

/// Op codes: mostly defined ones, some unknown.
fn op_code() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..28, 1 => Just(0xFFFF), 1 => any::<u32>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..64), limit in any::<usize>()) {
        for result in [decode(&bytes), decode_with_limit(&bytes, limit)] {
            if let Ok(Status::Complete((frame, used))) = result {
                // A frame is a header plus exactly `len` bytes of the input.
                prop_assert_eq!(used, 16 + frame.header.len as usize);
                prop_assert_eq!(frame.payload, &bytes[16..used]);
            }
        }
    }

    /// `decode_bounded` frames exactly like `decode_with_limit` at any
    /// limit; only a refusal differs, carrying the whole header.
    #[test]
    fn bounded_decode_agrees_with_decode_with_limit(
        code in op_code(),
        req_id in any::<u32>(),
        len in prop_oneof![0u32..9000, any::<u32>()],
        limit in prop_oneof![0usize..70_000, any::<usize>()],
        extra in 0usize..64,
    ) {
        let header = Header { op: Op::from_u32(code), req_id, tx_id: 3, len };
        let mut bytes = header.to_bytes().to_vec();
        let have = (len as usize).min(9000) + extra;
        bytes.resize(16 + have, 0x5a);
        match (decode_bounded(&bytes, limit), decode_with_limit(&bytes, limit)) {
            (Err(WireError::FrameTooLarge { header: h, max }), Err(WireError::PayloadTooLarge { len: l, max: m })) => {
                prop_assert_eq!((h, max), (header, limit));
                prop_assert_eq!((l, m), (len as usize, limit));
                prop_assert!(len as usize > limit);
            }
            (Ok(a), Ok(b)) => {
                prop_assert!(len as usize <= limit);
                prop_assert_eq!(a, b);
            }
            other => prop_assert!(false, "disagree: {:?}", other),
        }
    }

    #[test]
    fn decode_of_a_header_and_some_payload_never_panics(
        code in op_code(),
        len in prop_oneof![0u32..64, any::<u32>()],
        payload in protocol_bytes(),
    ) {
        let mut bytes = Header { op: Op::from_u32(code), req_id: 1, tx_id: 2, len }.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        match decode(&bytes) {
            Ok(Status::Complete((frame, _))) => prop_assert_eq!(frame.payload, &payload[..len as usize]),
            Ok(Status::Partial { needed }) => prop_assert_eq!(needed, len as usize - payload.len()),
            Err(e) => prop_assert_eq!(e, WireError::PayloadTooLarge { len: len as usize, max: 4096 }),
        }
    }

    #[test]
    fn request_parse_never_panics(code in op_code(), payload in protocol_bytes()) {
        let header = Header { op: Op::from_u32(code), req_id: 0, tx_id: 0, len: payload.len() as u32 };
        if let Ok(request) = Request::parse(&header, &payload) {
            prop_assert_eq!(request.op(), header.op);
            // Whatever parses carries no `@` path where it is not allowed.
            prop_assert!(request.validate(0).is_ok() || request.op() == Op::TransactionEnd);
        }
    }

    #[test]
    fn reply_parse_never_panics(code in op_code(), kind in prop::sample::select(KINDS.to_vec()), payload in protocol_bytes()) {
        let op = Op::from_u32(code);
        if let Ok(reply) = Reply::parse_payload(op, kind, &payload) {
            // Iterating what parsed never fails either.
            match reply {
                Reply::Directory(names) => prop_assert_eq!(names.iter().count(), names.len()),
                Reply::DirectoryPart(chunk) => {
                    prop_assert_eq!(chunk.names.iter().count(), chunk.names.len());
                    prop_assert!(chunk.advance() < payload.len());
                }
                Reply::Perms(perms) => prop_assert_eq!(perms.iter().count(), perms.len()),
                Reply::QuotaNames(names) => prop_assert!(names.iter().all(|n| !n.is_empty())),
                _ => {}
            }
        }
        let mut bytes = Header { op, req_id: 0, tx_id: 0, len: payload.len() as u32 }.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let frame = decode(&bytes).unwrap().complete().unwrap().0;
        let _ = Reply::parse(Op::Read, kind, &frame);
    }
}

// ---------------------------------------------------------------------------
// Paths against an independent checker
// ---------------------------------------------------------------------------

/// Section 1, each rule checked on its own: the kind of a valid path, or
/// every rule an invalid one breaks.
fn section_1(path: &[u8]) -> Result<PathKind, Vec<PathError>> {
    const ALLOWED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/_@";
    let Some(&first) = path.first() else {
        return Err(vec![PathError::Empty]);
    };
    let mut broken = Vec::new();
    if let Some(index) = path.iter().position(|b| !ALLOWED.contains(b)) {
        broken.push(PathError::BadChar { index });
    }
    if path.windows(2).any(|w| w == b"//") {
        broken.push(PathError::DoubleSlash);
    }
    if path.len() > 1 && path.ends_with(b"/") {
        broken.push(PathError::TrailingSlash);
    }
    let max = if first == b'/' { 3072 } else { 2048 };
    if path.len() > max {
        broken.push(PathError::TooLong {
            len: path.len(),
            max,
        });
    }
    if first == b'@' {
        // @introduceDomain or @releaseDomain, optionally /<domid>.
        let mut parts = path[1..].split(|&b| b == b'/');
        let name = parts.next().unwrap_or_default();
        let domid = parts.next();
        let known = name == b"introduceDomain" || name == b"releaseDomain";
        let domid_ok = match domid {
            None => true,
            Some(d) => !d.is_empty() && d.iter().all(u8::is_ascii_digit),
        };
        if !(known && domid_ok && parts.next().is_none()) {
            broken.push(PathError::UnknownSpecial);
        }
    }
    match (broken.is_empty(), first) {
        (false, _) => Err(broken),
        (true, b'/') => Ok(PathKind::Absolute),
        (true, b'@') => Ok(PathKind::Special),
        (true, _) => Ok(PathKind::Relative),
    }
}

fn path_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        &b"/"[..],
        b"/",
        b"a",
        b"Z9",
        b"-_",
        b"@",
        b"@introduceDomain",
        b"@releaseDomain",
        b"introduceDomain",
        b"17",
        b" ",
        b".",
        b"\0",
        "\u{e9}".as_bytes(),
        b"\xff",
    ]);
    let long = (any::<bool>(), 2040usize..3080, any::<bool>()).prop_map(|(abs, n, slash)| {
        let mut p = if abs { b"/".to_vec() } else { Vec::new() };
        p.resize(n, b'a');
        if slash {
            p[n / 2] = b'/';
        }
        p
    });
    let special_long = (2030usize..2060).prop_map(|n| {
        let mut p = b"@releaseDomain/".to_vec();
        p.resize(n, b'7');
        p
    });
    prop_oneof![
        16 => vec(piece, 0..8).prop_map(|pieces| pieces.concat()),
        1 => long,
        1 => special_long,
    ]
}

/// A label for each outcome, to check the strategy reaches all of them.
fn outcome(result: &Result<PathKind, Vec<PathError>>) -> String {
    match result {
        Ok(kind) => format!("{kind:?}"),
        Err(errors) => errors
            .iter()
            .map(|e| {
                format!("{e:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("+"),
    }
}

#[test]
fn path_strategy_reaches_every_outcome() {
    let mut runner = TestRunner::deterministic();
    let strategy = path_like_bytes();
    let mut seen = BTreeSet::new();
    for _ in 0..10_000 {
        let bytes = strategy.new_tree(&mut runner).unwrap().current();
        for label in outcome(&section_1(&bytes)).split('+') {
            seen.insert(label.to_string());
        }
    }
    let all = [
        "Absolute",
        "Relative",
        "Special",
        "Empty",
        "BadChar",
        "DoubleSlash",
        "TrailingSlash",
        "TooLong",
        "UnknownSpecial",
    ];
    for label in all {
        assert!(seen.contains(label), "{label} never generated: {seen:?}");
    }
}

/// Path::from_bytes against section 1 for `bytes`: the same verdict, and
/// for a bad byte the first one.
fn agrees_with_section_1(bytes: &[u8]) {
    match (Path::from_bytes(bytes), section_1(bytes)) {
        (Ok(path), Ok(kind)) => assert_eq!(path.kind(), kind, "{bytes:?}"),
        (Err(WireError::InvalidPath(e)), Err(broken)) => {
            assert_eq!(e, broken[0], "{bytes:?}: all broken: {broken:?}");
        }
        (got, want) => panic!("{bytes:?}: got {got:?}, want {want:?}"),
    }
}

/// The validator reads eight bytes at a time (and the last eight again):
/// every byte value in every lane of paths up to three words long, and
/// `//` straddling every lane and word boundary.
#[test]
fn path_bytes_in_every_position() {
    for len in 1..=24 {
        for at in 0..len {
            for byte in 0..=255u8 {
                let mut path = vec![b'a'; len];
                path[at] = byte;
                agrees_with_section_1(&path);
                path[0] = b'/';
                agrees_with_section_1(&path);
            }
            if at + 1 < len {
                let mut path = vec![b'x'; len];
                path[0] = b'/';
                path[at] = b'/';
                path[at + 1] = b'/';
                agrees_with_section_1(&path);
                // Two slashes apart are fine.
                if at + 2 < len {
                    path[at + 1] = b'y';
                    path[at + 2] = b'/';
                    agrees_with_section_1(&path);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Path::from_bytes accepts exactly what section 1 accepts, with the
    /// same kind, and names a rule the path really breaks.
    #[test]
    fn path_agrees_with_section_1(bytes in path_like_bytes()) {
        match (Path::from_bytes(&bytes), section_1(&bytes)) {
            (Ok(path), Ok(kind)) => {
                prop_assert_eq!(path.kind(), kind);
                prop_assert_eq!(path.as_bytes(), &bytes[..]);
            }
            (Err(WireError::InvalidPath(e)), Err(broken)) => {
                prop_assert!(broken.contains(&e), "reported {:?}, broken {:?}", e, broken);
            }
            (got, want) => {
                let why = format!("{bytes:?}: got {got:?}, want {want:?}");
                return Err(TestCaseError::fail(why));
            }
        }
    }

    #[test]
    fn generated_paths_are_valid(a in absolute_path(), r in relative_path(), s in special_path()) {
        prop_assert_eq!(Path::new(&a).map(|p| p.kind()), Ok(PathKind::Absolute));
        prop_assert_eq!(Path::new(&r).map(|p| p.kind()), Ok(PathKind::Relative));
        prop_assert_eq!(Path::new(&s).map(|p| p.kind()), Ok(PathKind::Special));
    }
}

// ---------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------

/// Section 6: a letter and a number parsed like `strtol(s, &end, 0)` with a
/// full match: `0x`/`0X` hexadecimal, a leading `0` octal, else decimal; no
/// sign, no blanks.
fn section_6(text: &[u8]) -> Option<Perm> {
    let (&letter, number) = text.split_first()?;
    let access = match letter {
        b'n' => Access::None,
        b'r' => Access::Read,
        b'w' => Access::Write,
        b'b' => Access::Both,
        _ => return None,
    };
    let number = std::str::from_utf8(number).ok()?;
    let (digits, radix) = if let Some(hex) = number
        .strip_prefix("0x")
        .or_else(|| number.strip_prefix("0X"))
    {
        (hex, 16)
    } else if number.len() > 1 && number.starts_with('0') {
        (&number[1..], 8)
    } else {
        (number, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let domid = u32::from_str_radix(digits, radix).ok()?;
    Some(Perm::new(access, domid))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn perm_formats_as_letter_and_decimal_and_parses_back(p in perm()) {
        let letter = match p.access {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        };
        let text = p.to_string();
        prop_assert_eq!(&text, &format!("{letter}{}", p.domid));
        let mut buf = [0u8; 11];
        let n = p.write_to(&mut buf);
        prop_assert_eq!(&buf[..n], text.as_bytes());
        prop_assert_eq!(Perm::parse(text.as_bytes()), Ok(p));
        prop_assert_eq!(text.parse::<Perm>(), Ok(p));
        // strtol(…, 0) forms of the same number.
        for form in [
            format!("{letter}{:#x}", p.domid),
            format!("{letter}0X{:X}", p.domid),
            format!("{letter}0{:o}", p.domid),
        ] {
            prop_assert_eq!(Perm::parse(form.as_bytes()), Ok(p), "{}", form);
        }
    }

    #[test]
    fn perm_parse_agrees_with_section_6(
        text in prop_oneof![
            vec(prop::sample::select(b"nrwbx0178aAfFX+- \0".to_vec()), 0..8),
            vec(any::<u8>(), 0..12),
            "[nrwb][0-9]{9,11}".prop_map(String::into_bytes),
        ],
    ) {
        prop_assert_eq!(Perm::parse(&text).ok(), section_6(&text), "{:?}", String::from_utf8_lossy(&text));
    }

    #[test]
    fn perm_lists_parse_back_and_iterate(list in perms()) {
        let wire: Vec<u8> = list.iter().flat_map(|p| p.to_string().into_bytes().into_iter().chain([0])).collect();
        let parsed = PermList::parse(&wire).unwrap();
        prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), list.clone());
        prop_assert_eq!(parsed.owner(), list[0]);
        prop_assert_eq!(parsed.len(), list.len());
        prop_assert_eq!(parsed, PermList::new(&list).unwrap());
    }
}
