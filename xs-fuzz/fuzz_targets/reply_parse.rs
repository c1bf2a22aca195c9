//! Every reply shape, and every typed payload parser, on arbitrary bytes.
//!
//! Input layout: `[type, payload...]`. The payload is parsed as every
//! (request op, [`ReplyKind`]) pair a request can produce
//! (`Request::reply_kind`), as an `ERROR` and a `WATCH_EVENT` payload, and
//! through [`Reply::parse`] with a header of type `type`.
//!
//! Asserted:
//!
//! * a successful parse re-encodes ([`Reply::encode`]) without error (or
//!   is refused only for a payload over 4096 bytes), the frame decodes back
//!   with the same header fields and `len == payload_len()`, and
//!   [`Reply::parse`] of it gives an equal value;
//! * the encoding is canonical: encoding the re-parsed value gives the same
//!   bytes, and for the shapes without numbers (ack, value, directory,
//!   bool, domain path, quota names, text, error, event) it is exactly the
//!   input payload;
//! * a refusal is [`WireError::Malformed`] naming the frame's op (or an
//!   invalid permission for GET_PERMS);
//! * the typed parsers (`Names`, `DirectoryChunk`, `PermList`,
//!   `ErrorReply`, `WatchEvent`, `QuotaNames`) agree with `parse_payload`
//!   and their values keep their documented invariants;
//! * [`Reply::parse`] routes `ERROR`/`WATCH_EVENT` frames to their parsers
//!   whatever was expected, and any other type mismatch is
//!   `UnexpectedType`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xs_wire::{
    decode, DirectoryChunk, Errno, ErrorReply, Frame, Header, Ids, Names, Op, Perm, PermList,
    QuotaNames, Reply, ReplyKind, Status, WatchEvent, WireError, FRAME_MAX, PAYLOAD_MAX,
};

/// Every (request op, success shape) pair `Request::reply_kind` produces.
const PAIRS: [(Op, ReplyKind); 25] = [
    (Op::Control, ReplyKind::Text),
    (Op::Directory, ReplyKind::Directory),
    (Op::Read, ReplyKind::Value),
    (Op::GetPerms, ReplyKind::Perms),
    (Op::TransactionStart, ReplyKind::TransactionId),
    (Op::GetDomainPath, ReplyKind::DomainPath),
    (Op::IsDomainIntroduced, ReplyKind::Bool),
    (Op::DirectoryPart, ReplyKind::DirectoryPart),
    (Op::GetFeature, ReplyKind::Number),
    (Op::GetQuota, ReplyKind::QuotaNames),
    (Op::GetQuota, ReplyKind::Number),
    (Op::Watch, ReplyKind::Ack),
    (Op::Unwatch, ReplyKind::Ack),
    (Op::TransactionEnd, ReplyKind::Ack),
    (Op::Introduce, ReplyKind::Ack),
    (Op::Release, ReplyKind::Ack),
    (Op::Write, ReplyKind::Ack),
    (Op::Mkdir, ReplyKind::Ack),
    (Op::Rm, ReplyKind::Ack),
    (Op::SetPerms, ReplyKind::Ack),
    (Op::Resume, ReplyKind::Ack),
    (Op::SetTarget, ReplyKind::Ack),
    (Op::ResetWatches, ReplyKind::Ack),
    (Op::SetFeature, ReplyKind::Ack),
    (Op::SetQuota, ReplyKind::Ack),
];

/// Whether the wire form of this shape has exactly one spelling (no
/// numbers, which may arrive with leading zeros or in octal/hex).
fn canonical(kind: ReplyKind) -> bool {
    !matches!(
        kind,
        ReplyKind::DirectoryPart | ReplyKind::Perms | ReplyKind::TransactionId | ReplyKind::Number
    )
}

/// Encodes `reply`, decodes the frame and parses it back; returns the
/// encoded payload.
fn roundtrip(reply: &Reply<'_>, op: Op, kind: ReplyKind, ids: Ids) -> Option<Vec<u8>> {
    let mut out = vec![0u8; FRAME_MAX + 64];
    let n = match reply.encode(op, ids, &mut out) {
        Ok(n) => n,
        Err(WireError::PayloadTooLarge { len, max }) => {
            assert_eq!(max, PAYLOAD_MAX);
            assert!(len > PAYLOAD_MAX);
            assert_eq!(len, reply.payload_len());
            return None;
        }
        Err(e) => panic!("{reply:?} parsed but does not encode: {e:?}"),
    };
    assert_eq!(n, 16 + reply.payload_len());
    let Ok(Status::Complete((frame, used))) = decode(&out[..n]) else {
        panic!("encoded {reply:?} does not decode");
    };
    assert_eq!(used, n);
    assert_eq!(frame.header.op, reply.wire_op(op));
    assert_eq!(frame.header.req_id, ids.req_id);
    assert_eq!(frame.header.tx_id, ids.tx_id);
    assert_eq!(frame.header.len as usize, reply.payload_len());
    let back = Reply::parse(op, kind, &frame)
        .unwrap_or_else(|e| panic!("encoded {reply:?} does not parse back: {e:?}"));
    assert_eq!(&back, reply, "reply changed in a round trip");
    // Canonical: the re-parsed value encodes to the same bytes.
    let mut again = vec![0u8; n];
    assert_eq!(back.encode(op, ids, &mut again), Ok(n));
    assert!(again == out[..n], "re-encoding is not canonical");
    Some(frame.payload.to_vec())
}

/// What a canonical re-encoding must give: the payload, if it fits.
fn fits(payload: &[u8]) -> Option<&[u8]> {
    (payload.len() <= PAYLOAD_MAX).then_some(payload)
}

fn check_names(names: &Names<'_>) {
    let mut joined = Vec::new();
    for name in names.iter() {
        assert!(!name.is_empty() && !name.contains('/') && !name.contains('\0'));
        joined.extend_from_slice(name.as_bytes());
        joined.push(0);
    }
    assert!(
        joined == names.as_bytes(),
        "names do not join back to the payload"
    );
    assert_eq!(names.iter().count(), names.len());
    assert_eq!(names.is_empty(), names.len() == 0);
}

fn check_perms(perms: &PermList<'_>, payload: &[u8]) {
    assert!(perms.len() >= 1 && !perms.is_empty());
    assert_eq!(perms.len(), payload.iter().filter(|&&b| b == 0).count());
    assert_eq!(Some(perms.owner()), perms.iter().next());
    for p in perms.iter() {
        assert_eq!(Perm::parse(p.to_string().as_bytes()), Ok(p));
    }
}

fn check_typed(op: Op, kind: ReplyKind, payload: &[u8], reply: &Result<Reply<'_>, WireError>) {
    match kind {
        ReplyKind::Directory => {
            let typed = Names::parse(payload);
            assert_eq!(typed.map(Reply::Directory), *reply);
            if let Ok(names) = typed {
                check_names(&names);
            }
        }
        ReplyKind::DirectoryPart => {
            let typed = DirectoryChunk::parse(payload);
            assert_eq!(typed.map(Reply::DirectoryPart), *reply);
            if let Ok(chunk) = typed {
                check_names(&chunk.names);
                assert_eq!(
                    chunk.advance(),
                    chunk.names.as_bytes().len() + usize::from(chunk.complete)
                );
            }
        }
        ReplyKind::Perms => {
            let typed = PermList::parse(payload);
            assert_eq!(typed.map(Reply::Perms), *reply);
            if let Ok(perms) = typed {
                check_perms(&perms, payload);
            }
        }
        ReplyKind::QuotaNames if op == Op::GetQuota => {
            let typed = QuotaNames::parse(payload);
            assert_eq!(typed.map(Reply::QuotaNames), *reply);
            if let Ok(names) = typed {
                assert!(!names.as_str().contains('\0'));
                assert_eq!(QuotaNames::new(names.as_str()), Ok(names));
                for n in names.iter() {
                    assert!(!n.is_empty() && !n.contains(' '));
                }
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let [ty, payload @ ..] = data else {
        return;
    };
    let ids = Ids::in_transaction(data.len() as u32, u32::from(*ty) * 0x0101);

    // 1. Every success shape.
    for (op, kind) in PAIRS {
        let parsed = Reply::parse_payload(op, kind, payload);
        check_typed(op, kind, payload, &parsed);
        match parsed {
            Ok(reply) => {
                assert!(!matches!(reply, Reply::Error(_) | Reply::WatchEvent(_)));
                if let Some(encoded) = roundtrip(&reply, op, kind, ids) {
                    if canonical(kind) {
                        assert!(encoded == payload, "{op} {kind:?} not re-encoded as sent");
                    }
                }
            }
            Err(WireError::Malformed { op: got, .. }) => {
                assert_eq!(got, op, "{kind:?} malformed error names the wrong op");
            }
            Err(WireError::InvalidPerm(_)) if kind == ReplyKind::Perms => {}
            Err(e) => panic!("{op} {kind:?}: unexpected error kind {e:?}"),
        }
    }

    // 2. ERROR payloads.
    let error = ErrorReply::parse(payload);
    match error {
        Ok(e) => {
            let name = e.name();
            assert!(!name.is_empty() && !name.contains('\0'));
            assert_eq!([name.as_bytes(), b"\0"].concat(), payload);
            match e {
                ErrorReply::Known(errno) => {
                    assert_eq!(errno.name(), name);
                    assert_eq!(e.errno(), Some(errno));
                    assert_eq!(Errno::from_errno(errno.errno()), Some(errno));
                }
                ErrorReply::Other(other) => {
                    assert_eq!(Errno::from_name(other.as_bytes()), None);
                    assert_eq!(e.errno(), None);
                }
            }
            let encoded = roundtrip(&Reply::Error(e), Op::Read, ReplyKind::Value, ids);
            assert!(
                encoded.as_deref() == fits(payload),
                "ERROR not re-encoded as sent"
            );
        }
        Err(WireError::Malformed { op, .. }) => assert_eq!(op, Op::Error),
        Err(e) => panic!("ERROR payload: unexpected error kind {e:?}"),
    }

    // 3. WATCH_EVENT payloads.
    let event = WatchEvent::parse(payload);
    match event {
        Ok(ev) => {
            assert!(!ev.path.is_empty() && !ev.path.contains('\0') && !ev.token.contains('\0'));
            let encoded = roundtrip(&Reply::WatchEvent(ev), Op::Watch, ReplyKind::Ack, ids);
            assert!(
                encoded.as_deref() == fits(payload),
                "event not re-encoded as sent"
            );
        }
        Err(WireError::Malformed { op, .. }) => assert_eq!(op, Op::WatchEvent),
        Err(e) => panic!("WATCH_EVENT payload: unexpected error kind {e:?}"),
    }

    // 4. Reply::parse with a header of an arbitrary type.
    let code = u32::from(*ty % 32);
    let got = match code {
        27 => Op::Invalid,
        28..=31 => Op::Unknown(code * 1000),
        c => Op::from_u32(c),
    };
    let frame = Frame {
        header: Header {
            op: got,
            req_id: ids.req_id,
            tx_id: ids.tx_id,
            len: payload.len() as u32,
        },
        payload,
    };
    for (op, kind) in PAIRS {
        let parsed = Reply::parse(op, kind, &frame);
        let want = match got {
            Op::Error => error.map(Reply::Error),
            Op::WatchEvent => event.map(Reply::WatchEvent),
            _ if got != op => Err(WireError::UnexpectedType { expected: op, got }),
            _ => Reply::parse_payload(op, kind, payload),
        };
        assert_eq!(
            parsed, want,
            "Reply::parse({op}, {kind:?}) with a {got} frame"
        );
    }
});
