//! Requests: encode → decode → `Request::parse` gives back the request, and
//! `Request::parse` on arbitrary (header, payload) never panics and is
//! consistent with the encoder.
//!
//! The input is read with `arbitrary`: first a mode.
//!
//! * **Structured** (`ArbRequest`, a fuzz-local owned mirror of
//!   `xs_wire::Request`). Paths are built from components (or taken raw);
//!   requests whose path does not validate are skipped. Asserted: `encode`
//!   refuses exactly what `validate` refuses plus payloads over the limit,
//!   writing nothing when it refuses; otherwise the frame decodes whole,
//!   its header carries op, ids and `payload_len()`, `Request::parse` gives
//!   an equal request with the same `reply_kind()` and `path()`, and the
//!   4080-byte device limit is applied at exactly 4080.
//! * **Raw**: an arbitrary header type (mostly 0..=26) and payload. Asserted:
//!   no panic; a refusal is one of the documented errors; an accepted
//!   request has the header's op, passes `validate` (with a transaction id
//!   its op allows), re-encodes (the canonical form is at most one byte
//!   longer: an empty TRANSACTION_START/RESET_WATCHES payload gains its
//!   NUL), and the canonical form parses back to the same request.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use xs_wire::{
    decode, Access, Header, Ids, Op, Path, Perm, PermList, QuotaQuery, Request, Status, WireError,
    FRAME_MAX, HEADER_SIZE, PAYLOAD_MAX, XENBUS_PAYLOAD_MAX,
};

const COMPONENTS: [&str; 12] = [
    "local", "domain", "0", "7", "vm", "device", "vif", "a", "b-c", "d_e", "x@y", "Z9",
];

#[derive(Arbitrary, Debug)]
enum ArbPath {
    /// A path from component indices.
    Built { absolute: bool, comps: Vec<u8> },
    /// `@introduceDomain` / `@releaseDomain`, optionally `/<domid>`.
    Special { release: bool, domid: Option<u32> },
    /// Anything; usually refused.
    Raw(String),
    /// A long path, to reach the payload limits.
    Long { absolute: bool, len: u16 },
}

impl ArbPath {
    fn text(&self) -> String {
        match self {
            ArbPath::Built { absolute, comps } => {
                let names: Vec<&str> = comps
                    .iter()
                    .map(|&c| COMPONENTS[usize::from(c) % COMPONENTS.len()])
                    .collect();
                let joined = names.join("/");
                match (absolute, joined.is_empty()) {
                    (true, _) => format!("/{joined}"),
                    (false, true) => "a".to_owned(),
                    (false, false) => joined,
                }
            }
            ArbPath::Special { release, domid } => {
                let name = if *release {
                    "@releaseDomain"
                } else {
                    "@introduceDomain"
                };
                match domid {
                    Some(d) => format!("{name}/{d}"),
                    None => name.to_owned(),
                }
            }
            ArbPath::Raw(s) => s.clone(),
            ArbPath::Long { absolute, len } => {
                let n = usize::from(*len % 3200).max(1);
                let body = "a".repeat(n);
                if *absolute {
                    format!("/{body}")
                } else {
                    body
                }
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum ArbQuota {
    Names,
    Global(String),
    Domain { domid: u32, name: String },
}

/// Owned mirror of every `xs_wire::Request` variant.
#[derive(Arbitrary, Debug)]
enum ArbRequest {
    Control {
        command: String,
        args: Vec<u8>,
    },
    Directory {
        path: ArbPath,
    },
    Read {
        path: ArbPath,
    },
    GetPerms {
        path: ArbPath,
    },
    Watch {
        path: ArbPath,
        token: String,
        depth: Option<u32>,
    },
    Unwatch {
        path: ArbPath,
        token: String,
    },
    TransactionStart,
    TransactionEnd {
        commit: bool,
    },
    Introduce {
        domid: u32,
        gfn: u64,
        evtchn: u32,
    },
    Release {
        domid: u32,
    },
    GetDomainPath {
        domid: u32,
    },
    Write {
        path: ArbPath,
        value: Vec<u8>,
        pad: u16,
    },
    Mkdir {
        path: ArbPath,
    },
    Rm {
        path: ArbPath,
    },
    SetPerms {
        path: ArbPath,
        perms: Vec<(u8, u32)>,
    },
    IsDomainIntroduced {
        domid: u32,
    },
    Resume {
        domid: u32,
    },
    SetTarget {
        domid: u32,
        target: u32,
    },
    ResetWatches,
    DirectoryPart {
        path: ArbPath,
        offset: u32,
    },
    GetFeature {
        domid: Option<u32>,
    },
    SetFeature {
        domid: u32,
        features: u32,
    },
    GetQuota(ArbQuota),
    SetQuota {
        domid: Option<u32>,
        name: String,
        value: u32,
    },
}

/// Owned storage the borrowed `Request` points into.
struct Owned {
    path: String,
    text: String,
    bytes: Vec<u8>,
    perms: Vec<Perm>,
}

fn access(b: u8) -> Access {
    [Access::None, Access::Read, Access::Write, Access::Both][usize::from(b % 4)]
}

impl ArbRequest {
    fn owned(&self) -> Owned {
        let mut o = Owned {
            path: String::new(),
            text: String::new(),
            bytes: Vec::new(),
            perms: Vec::new(),
        };
        match self {
            ArbRequest::Directory { path }
            | ArbRequest::Read { path }
            | ArbRequest::GetPerms { path }
            | ArbRequest::Mkdir { path }
            | ArbRequest::Rm { path }
            | ArbRequest::DirectoryPart { path, .. } => o.path = path.text(),
            ArbRequest::Watch { path, token, .. } | ArbRequest::Unwatch { path, token } => {
                o.path = path.text();
                o.text = token.clone();
            }
            ArbRequest::Write { path, value, pad } => {
                o.path = path.text();
                o.bytes = value.clone();
                // Occasionally a value long enough to reach the limits.
                if *pad > 60000 {
                    o.bytes
                        .resize(usize::from(*pad - 60000) % 4200 + value.len(), b'v');
                }
            }
            ArbRequest::SetPerms { path, perms } => {
                o.path = path.text();
                o.perms = perms
                    .iter()
                    .map(|&(a, d)| Perm::new(access(a), d))
                    .collect();
            }
            ArbRequest::Control { command, args } => {
                o.text = command.clone();
                o.bytes = args.clone();
            }
            ArbRequest::GetQuota(ArbQuota::Global(name) | ArbQuota::Domain { name, .. })
            | ArbRequest::SetQuota { name, .. } => o.text = name.clone(),
            _ => {}
        }
        o
    }

    /// The borrowed request, or `None` when the path or perms do not
    /// validate.
    fn request<'a>(&self, o: &'a Owned) -> Option<Request<'a>> {
        let path = || Path::new(&o.path).ok();
        Some(match self {
            ArbRequest::Control { .. } => Request::Control {
                command: &o.text,
                args: &o.bytes,
            },
            ArbRequest::Directory { .. } => Request::Directory { path: path()? },
            ArbRequest::Read { .. } => Request::Read { path: path()? },
            ArbRequest::GetPerms { .. } => Request::GetPerms { path: path()? },
            ArbRequest::Watch { depth, .. } => Request::Watch {
                path: path()?,
                token: &o.text,
                depth: *depth,
            },
            ArbRequest::Unwatch { .. } => Request::Unwatch {
                path: path()?,
                token: &o.text,
            },
            ArbRequest::TransactionStart => Request::TransactionStart,
            ArbRequest::TransactionEnd { commit } => Request::TransactionEnd { commit: *commit },
            ArbRequest::Introduce { domid, gfn, evtchn } => Request::Introduce {
                domid: *domid,
                gfn: *gfn,
                evtchn: *evtchn,
            },
            ArbRequest::Release { domid } => Request::Release { domid: *domid },
            ArbRequest::GetDomainPath { domid } => Request::GetDomainPath { domid: *domid },
            ArbRequest::Write { .. } => Request::Write {
                path: path()?,
                value: &o.bytes,
            },
            ArbRequest::Mkdir { .. } => Request::Mkdir { path: path()? },
            ArbRequest::Rm { .. } => Request::Rm { path: path()? },
            ArbRequest::SetPerms { .. } => Request::SetPerms {
                path: path()?,
                perms: PermList::new(&o.perms).ok()?,
            },
            ArbRequest::IsDomainIntroduced { domid } => {
                Request::IsDomainIntroduced { domid: *domid }
            }
            ArbRequest::Resume { domid } => Request::Resume { domid: *domid },
            ArbRequest::SetTarget { domid, target } => Request::SetTarget {
                domid: *domid,
                target: *target,
            },
            ArbRequest::ResetWatches => Request::ResetWatches,
            ArbRequest::DirectoryPart { offset, .. } => Request::DirectoryPart {
                path: path()?,
                offset: *offset,
            },
            ArbRequest::GetFeature { domid } => Request::GetFeature { domid: *domid },
            ArbRequest::SetFeature { domid, features } => Request::SetFeature {
                domid: *domid,
                features: *features,
            },
            ArbRequest::GetQuota(q) => Request::GetQuota(match q {
                ArbQuota::Names => QuotaQuery::Names,
                ArbQuota::Global(_) => QuotaQuery::Global(&o.text),
                ArbQuota::Domain { domid, .. } => QuotaQuery::Domain {
                    domid: *domid,
                    name: &o.text,
                },
            }),
            ArbRequest::SetQuota { domid, value, .. } => Request::SetQuota {
                domid: *domid,
                name: &o.text,
                value: *value,
            },
        })
    }
}

const SENTINEL: u8 = 0xA5;

/// Encodes with `limit`, checking refusals; returns the frame on success.
fn encode_checked(req: &Request<'_>, ids: Ids, limit: usize) -> Option<Vec<u8>> {
    let mut out = vec![SENTINEL; FRAME_MAX + 64];
    let result = if limit == PAYLOAD_MAX {
        req.encode(ids, &mut out)
    } else {
        req.encode_with_limit(ids, limit, &mut out)
    };
    let valid = req.validate(ids.tx_id);
    let len = req.payload_len();
    match result {
        Ok(n) => {
            assert_eq!(valid, Ok(()), "encoded a request validate refuses");
            assert!(len <= limit);
            assert_eq!(n, HEADER_SIZE + len);
            assert!(
                out[n..].iter().all(|&b| b == SENTINEL),
                "wrote past the frame"
            );
            out.truncate(n);
            Some(out)
        }
        Err(e) => {
            assert!(
                out.iter().all(|&b| b == SENTINEL),
                "refused encode wrote bytes"
            );
            match valid {
                Err(v) => assert_eq!(e, v, "encode and validate disagree"),
                Ok(()) => {
                    assert_eq!(e, WireError::PayloadTooLarge { len, max: limit });
                    assert!(len > limit);
                }
            }
            None
        }
    }
}

/// A transaction id the op accepts (TRANSACTION_END needs one).
fn tx_for(op: Op, tx: u32) -> u32 {
    match op {
        Op::TransactionEnd => tx.max(1),
        op if op.takes_transaction() => tx,
        _ => 0,
    }
}

fn structured(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let arb = ArbRequest::arbitrary(u)?;
    let req_id = u32::arbitrary(u)?;
    let tx_raw = u32::arbitrary(u)?;
    let tx_mode = u8::arbitrary(u)?;
    let owned = arb.owned();
    let Some(req) = arb.request(&owned) else {
        return Ok(());
    };
    // Mostly a transaction id the op allows; sometimes any id, to check
    // the refusals.
    let tx_id = if tx_mode < 200 {
        tx_for(req.op(), tx_raw)
    } else {
        tx_raw
    };
    let ids = Ids::in_transaction(req_id, tx_id);

    let Some(frame) = encode_checked(&req, ids, PAYLOAD_MAX) else {
        return Ok(());
    };
    let xenbus = encode_checked(&req, ids, XENBUS_PAYLOAD_MAX);
    assert_eq!(xenbus.is_some(), req.payload_len() <= XENBUS_PAYLOAD_MAX);
    if let Some(x) = xenbus {
        assert!(x == frame, "the device limit changed the bytes");
    }

    let Ok(Status::Complete((decoded, used))) = decode(&frame) else {
        panic!("encoded frame does not decode");
    };
    assert_eq!(used, frame.len());
    assert_eq!(
        decoded.header,
        Header {
            op: req.op(),
            req_id,
            tx_id,
            len: req.payload_len() as u32,
        }
    );
    let back = Request::parse(&decoded.header, decoded.payload)
        .unwrap_or_else(|e| panic!("encoded {} does not parse back: {e:?}", req.op()));
    assert_eq!(back, req, "request changed in a round trip");
    assert_eq!(back.reply_kind(), req.reply_kind());
    assert_eq!(back.path(), req.path());
    Ok(())
}

const OPS: [u32; 32] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
    26,
    0xFFFF,
    27,
    28,
    1000,
    u32::MAX,
];

fn raw(mut u: Unstructured<'_>) -> arbitrary::Result<()> {
    let op = Op::from_u32(OPS[usize::from(u8::arbitrary(&mut u)?) % OPS.len()]);
    let req_id = u32::arbitrary(&mut u)?;
    let tx_id = u32::arbitrary(&mut u)?;
    let payload = u.take_rest();
    let header = Header {
        op,
        req_id,
        tx_id,
        len: payload.len() as u32,
    };
    match Request::parse(&header, payload) {
        Ok(req) => {
            assert_eq!(req.op(), op);
            let ids = Ids::in_transaction(req_id, tx_for(op, tx_id));
            assert_eq!(
                req.validate(ids.tx_id),
                Ok(()),
                "parsed a request validate refuses"
            );
            let len = req.payload_len();
            if payload.len() <= PAYLOAD_MAX {
                assert!(
                    len <= payload.len() + 1,
                    "canonical form grew by more than a NUL"
                );
            }
            let Some(frame) = encode_checked(&req, ids, PAYLOAD_MAX) else {
                assert!(len > PAYLOAD_MAX);
                return Ok(());
            };
            let Ok(Status::Complete((decoded, _))) = decode(&frame) else {
                panic!("re-encoded frame does not decode");
            };
            let again = Request::parse(&decoded.header, decoded.payload)
                .unwrap_or_else(|e| panic!("canonical {op} does not parse: {e:?}"));
            assert_eq!(again, req, "canonical form parses to another request");
        }
        Err(WireError::UnsupportedOp(got)) => {
            assert_eq!(got, op);
            assert!(matches!(
                op,
                Op::WatchEvent | Op::Error | Op::Restrict | Op::Invalid | Op::Unknown(_)
            ));
        }
        Err(WireError::Malformed { op: got, .. }) => assert_eq!(got, op),
        Err(WireError::InvalidPath(_) | WireError::InvalidPerm(_)) => {}
        Err(e) => panic!("{op}: unexpected error kind {e:?}"),
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(true) => raw(u),
        Ok(false) => structured(&mut u),
        Err(_) => return,
    };
});
