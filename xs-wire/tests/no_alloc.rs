//! xs-wire is a no-alloc codec: decoding, parsing, encoding and iterating
//! must not touch the heap. This test binary installs a counting global
//! allocator (System plus an `AtomicUsize`) and measures the count before
//! and after each operation, on input buffers built beforehand.
//!
//! The test harness runs other threads that may allocate at any time, so
//! only allocations made by a thread inside [`count_allocations`] are
//! counted (a `const`-initialised thread-local flag, which itself never
//! allocates), and measurements take a lock so that two tests never count
//! at the same time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use xs_wire::{
    decode, decode_with_limit, Access, DirectoryChunk, ErrorReply, Frame, Header, Ids, Names, Op,
    Path, Perm, PermList, QuotaNames, QuotaQuery, Reply, ReplyKind, Request, Status, WatchEvent,
    FRAME_MAX, XENBUS_PAYLOAD_MAX,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result and how many allocations this thread
/// made meanwhile.
fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let result = black_box(f());
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(false));
    (result, after - before)
}

fn frame_bytes(op: Op, payload: &[u8]) -> Vec<u8> {
    let mut wire = Header {
        op,
        req_id: 1,
        tx_id: 0,
        len: payload.len() as u32,
    }
    .to_bytes()
    .to_vec();
    wire.extend_from_slice(payload);
    wire
}

fn frame(wire: &[u8]) -> Frame<'_> {
    decode(wire).unwrap().complete().unwrap().0
}

/// The counter must see allocations, or every other test here would pass
/// vacuously.
#[test]
fn the_counter_sees_allocations() {
    let (_, n) = count_allocations(|| Vec::<u8>::with_capacity(64));
    assert!(n >= 1, "allocation not counted");
    let (_, n) = count_allocations(|| Box::new([0u8; 32]));
    assert!(n >= 1, "allocation not counted");
    let (_, n) = count_allocations(|| 2 + 2);
    assert_eq!(n, 0);
}

#[test]
fn decode_allocates_nothing() {
    let whole = frame_bytes(Op::Read, &[b'v'; 4096]);
    let oversized = Header {
        op: Op::Read,
        req_id: 1,
        tx_id: 0,
        len: 5000,
    }
    .to_bytes();
    let (results, n) = count_allocations(|| {
        [
            decode(&whole).map(|s| s.is_complete()),
            decode(&whole[..10]).map(|s| s.is_complete()),
            decode(&whole[..100]).map(|s| s.is_complete()),
            decode_with_limit(&whole, XENBUS_PAYLOAD_MAX).map(|s| s.is_complete()),
            decode(&oversized).map(|s| s.is_complete()),
        ]
    });
    assert_eq!(n, 0, "decode allocated");
    assert_eq!(results[0], Ok(true));
    assert_eq!(results[1], Ok(false));
    assert!(results[3].is_err() && results[4].is_err());
}

#[test]
fn every_reply_parse_allocates_nothing() {
    #[rustfmt::skip]
    let inputs: Vec<(Op, ReplyKind, Vec<u8>)> = vec![
        (Op::Write,              ReplyKind::Ack,           frame_bytes(Op::Write, b"OK\0")),
        (Op::Read,               ReplyKind::Value,         frame_bytes(Op::Read, &[b'v'; 4096])),
        (Op::Directory,          ReplyKind::Directory,     frame_bytes(Op::Directory, b"backend\0device\0vm\0")),
        (Op::DirectoryPart,      ReplyKind::DirectoryPart, frame_bytes(Op::DirectoryPart, b"42\0a\0b\0\0")),
        (Op::GetPerms,           ReplyKind::Perms,         frame_bytes(Op::GetPerms, b"n0\0r5\0b0x10\0")),
        (Op::TransactionStart,   ReplyKind::TransactionId, frame_bytes(Op::TransactionStart, b"17\0")),
        (Op::IsDomainIntroduced, ReplyKind::Bool,          frame_bytes(Op::IsDomainIntroduced, b"T\0")),
        (Op::GetDomainPath,      ReplyKind::DomainPath,    frame_bytes(Op::GetDomainPath, b"/local/domain/3\0")),
        (Op::GetFeature,         ReplyKind::Number,        frame_bytes(Op::GetFeature, b"5\0")),
        (Op::GetQuota,           ReplyKind::QuotaNames,    frame_bytes(Op::GetQuota, b"nodes watches\0")),
        (Op::Control,            ReplyKind::Text,          frame_bytes(Op::Control, b"help text\0")),
        (Op::Read,               ReplyKind::Value,         frame_bytes(Op::Error, b"ENOENT\0")),
        (Op::Read,               ReplyKind::Value,         frame_bytes(Op::Error, b"EQUOTA\0")),
        (Op::Read,               ReplyKind::Value,         frame_bytes(Op::WatchEvent, b"/a/b\0tok\0")),
        // Refusals take no allocation either.
        (Op::Write,              ReplyKind::Ack,           frame_bytes(Op::Write, b"ok\0")),
        (Op::Directory,          ReplyKind::Directory,     frame_bytes(Op::Directory, b"a\0\0")),
        (Op::Read,               ReplyKind::Value,         frame_bytes(Op::Write, b"OK\0")),
    ];
    for (op, kind, wire) in &inputs {
        let (result, n) = count_allocations(|| Reply::parse(*op, *kind, &frame(wire)).is_ok());
        assert_eq!(n, 0, "Reply::parse {op} {kind:?} allocated");
        let _ = result;
    }
    let (parsed, n) = count_allocations(|| {
        inputs
            .iter()
            .take(14)
            .all(|(op, kind, wire)| Reply::parse(*op, *kind, &frame(wire)).is_ok())
    });
    assert_eq!(n, 0);
    assert!(parsed, "a valid input did not parse");
    // The sub-parsers on their own.
    let (ok, n) = count_allocations(|| {
        Names::parse(b"a\0b\0").is_ok()
            && DirectoryChunk::parse(b"1\0a\0\0").is_ok()
            && PermList::parse(b"n0\0").is_ok()
            && QuotaNames::parse(b"nodes\0").is_ok()
            && ErrorReply::parse(b"EAGAIN\0").is_ok()
            && WatchEvent::parse(b"/a\0t\0").is_ok()
            && Perm::parse(b"r0x7FF5").is_ok()
            && Path::from_bytes(b"/local/domain/0").is_ok()
    });
    assert_eq!(n, 0);
    assert!(ok);
}

fn all_requests<'a>(perms: &'a [Perm], value: &'a [u8]) -> Vec<(Request<'a>, Ids)> {
    let path = Path::new("/local/domain/1/name").unwrap();
    let special = Path::new("@releaseDomain").unwrap();
    let tx = Ids::in_transaction(1, 9);
    let plain = Ids::new(1);
    vec![
        (
            Request::Control {
                command: "print",
                args: b"x",
            },
            plain,
        ),
        (Request::Directory { path }, tx),
        (Request::Read { path }, tx),
        (Request::GetPerms { path: special }, plain),
        (
            Request::Watch {
                path,
                token: "t",
                depth: Some(2),
            },
            plain,
        ),
        (
            Request::Unwatch {
                path: special,
                token: "t",
            },
            plain,
        ),
        (Request::TransactionStart, plain),
        (Request::TransactionEnd { commit: true }, tx),
        (
            Request::Introduce {
                domid: 5,
                gfn: u64::MAX,
                evtchn: 7,
            },
            plain,
        ),
        (Request::Release { domid: 5 }, plain),
        (Request::GetDomainPath { domid: 5 }, plain),
        (Request::Write { path, value }, tx),
        (Request::Mkdir { path }, tx),
        (Request::Rm { path }, tx),
        (
            Request::SetPerms {
                path,
                perms: PermList::new(perms).unwrap(),
            },
            tx,
        ),
        (Request::IsDomainIntroduced { domid: 5 }, plain),
        (Request::Resume { domid: 5 }, plain),
        (
            Request::SetTarget {
                domid: 5,
                target: 6,
            },
            plain,
        ),
        (Request::ResetWatches, plain),
        (Request::DirectoryPart { path, offset: 10 }, tx),
        (Request::GetFeature { domid: Some(3) }, plain),
        (
            Request::SetFeature {
                domid: 3,
                features: 4,
            },
            plain,
        ),
        (
            Request::GetQuota(QuotaQuery::Domain {
                domid: 3,
                name: "nodes",
            }),
            plain,
        ),
        (
            Request::SetQuota {
                domid: Some(3),
                name: "nodes",
                value: 9,
            },
            plain,
        ),
    ]
}

#[test]
fn request_encode_and_parse_allocate_nothing() {
    let perms = [Perm::new(Access::None, 0), Perm::new(Access::Read, 5)];
    let value = [b'v'; 1000];
    let requests = all_requests(&perms, &value);
    assert_eq!(requests.len(), 24);
    let mut out = [0u8; FRAME_MAX];
    for (request, ids) in &requests {
        let (encoded, n) = count_allocations(|| request.encode(*ids, &mut out));
        assert_eq!(n, 0, "Request::encode {} allocated", request.op());
        let len = encoded.unwrap();
        let (parsed, n) = count_allocations(|| {
            let frame = frame(&out[..len]);
            Request::parse(&frame.header, frame.payload).map(|r| r == *request)
        });
        assert_eq!(n, 0, "Request::parse {} allocated", request.op());
        assert_eq!(parsed, Ok(true));
    }
    // A refused request costs nothing either.
    let (refused, n) = count_allocations(|| {
        Request::Read {
            path: Path::new("@releaseDomain").unwrap(),
        }
        .encode(Ids::new(1), &mut out)
    });
    assert_eq!(n, 0);
    assert!(refused.is_err());
}

#[test]
fn reply_encode_allocates_nothing() {
    let names = Names::parse(b"a\0b\0").unwrap();
    let perms = [Perm::new(Access::Both, 0)];
    let replies = [
        (Reply::Ack, Op::Write),
        (Reply::Value(&[b'v'; 4096]), Op::Read),
        (Reply::Directory(names), Op::Directory),
        (
            Reply::DirectoryPart(DirectoryChunk {
                generation: u64::MAX,
                names,
                complete: true,
            }),
            Op::DirectoryPart,
        ),
        (Reply::Perms(PermList::new(&perms).unwrap()), Op::GetPerms),
        (Reply::TransactionId(3), Op::TransactionStart),
        (Reply::Bool(false), Op::IsDomainIntroduced),
        (Reply::DomainPath("/local/domain/3"), Op::GetDomainPath),
        (Reply::Number(12345), Op::GetQuota),
        (
            Reply::QuotaNames(QuotaNames::new("nodes watches").unwrap()),
            Op::GetQuota,
        ),
        (Reply::Text(b"ok"), Op::Control),
        (Reply::Error(ErrorReply::Other("EQUOTA")), Op::Write),
        (
            Reply::WatchEvent(WatchEvent {
                path: "/a",
                token: "t",
            }),
            Op::Watch,
        ),
    ];
    let mut out = [0u8; FRAME_MAX];
    for (reply, op) in &replies {
        let (encoded, n) = count_allocations(|| reply.encode(*op, Ids::new(1), &mut out));
        assert_eq!(n, 0, "Reply::encode {reply:?} allocated");
        assert!(encoded.is_ok());
    }
}

#[test]
fn iterating_names_and_perms_allocates_nothing() {
    let directory = frame_bytes(Op::Directory, b"backend\0device\0vm\0name\0");
    let perms = frame_bytes(Op::GetPerms, b"n0\0r5\0w0x7\0b010\0");
    let chunk = frame_bytes(Op::DirectoryPart, b"9\0x\0y\0\0");
    let quota = frame_bytes(Op::GetQuota, b"nodes watches soft-nodes\0");
    let slice_perms = [Perm::new(Access::Read, 1), Perm::new(Access::Write, 2)];
    let (sums, n) = count_allocations(|| {
        let Ok(Reply::Directory(names)) =
            Reply::parse(Op::Directory, ReplyKind::Directory, &frame(&directory))
        else {
            return None;
        };
        let Ok(Reply::Perms(list)) = Reply::parse(Op::GetPerms, ReplyKind::Perms, &frame(&perms))
        else {
            return None;
        };
        let Ok(Reply::DirectoryPart(part)) =
            Reply::parse(Op::DirectoryPart, ReplyKind::DirectoryPart, &frame(&chunk))
        else {
            return None;
        };
        let Ok(Reply::QuotaNames(quotas)) =
            Reply::parse(Op::GetQuota, ReplyKind::QuotaNames, &frame(&quota))
        else {
            return None;
        };
        let from_slice = PermList::new(&slice_perms).ok()?;
        Some([
            names.iter().map(str::len).sum::<usize>(),
            names.into_iter().count() + names.len(),
            list.iter().map(|p| p.domid as usize).sum(),
            list.into_iter().count() + list.len() + list.owner().domid as usize,
            part.names.iter().count() + part.advance(),
            quotas.iter().count(),
            from_slice.iter().map(|p| p.domid as usize).sum(),
        ])
    });
    assert_eq!(n, 0, "iteration allocated");
    assert_eq!(
        sums,
        Some([
            7 + 6 + 2 + 4, // backend device vm name
            4 + 4,
            5 + 7 + 8, // r5, w0x7, b010 (octal 8)
            4 + 4,
            2 + 5, // two names, 4 bytes + end marker
            3,
            1 + 2,
        ])
    );
}

/// A single frame at the 4096 limit, decoded and matched as a whole, on a
/// buffer from before the measurement.
#[test]
fn the_largest_frame_allocates_nothing() {
    let wire = frame_bytes(Op::Read, &[b'x'; 4096]);
    let (len, n) = count_allocations(|| match decode(&wire) {
        Ok(Status::Complete((frame, _))) => {
            match Reply::parse(Op::Read, ReplyKind::Value, &frame) {
                Ok(Reply::Value(v)) => v.len(),
                _ => 0,
            }
        }
        _ => 0,
    });
    assert_eq!(n, 0);
    assert_eq!(len, 4096);
}
