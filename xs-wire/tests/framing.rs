//! Framing (protocol notes section 1): a stream is a sequence of 16-byte
//! headers each followed by exactly `len` payload bytes, `len <= 4096`
//! (4080 through `/dev/xen/xenbus`, section 10). However the stream is cut
//! into reads, `decode` must find the same frames; `Partial { needed }`
//! must name exactly the bytes still missing.

use proptest::collection::vec;
use proptest::prelude::*;
use xs_wire::{
    decode, decode_bounded, decode_with_limit, Header, Ids, Op, Path, Reply, Request, Status,
    WatchEvent, WireError, PAYLOAD_MAX, XENBUS_PAYLOAD_MAX,
};

/// A frame as plain data: header words and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RawFrame {
    op: u32,
    req_id: u32,
    tx_id: u32,
    payload: Vec<u8>,
}

impl RawFrame {
    /// The wire form, built by hand: four native-endian u32s, then the
    /// payload (section 1).
    fn wire(&self) -> Vec<u8> {
        let len = self.payload.len() as u32;
        let mut out = Vec::with_capacity(16 + self.payload.len());
        for word in [self.op, self.req_id, self.tx_id, len] {
            out.extend_from_slice(&word.to_ne_bytes());
        }
        out.extend_from_slice(&self.payload);
        out
    }
}

fn stream_of(frames: &[RawFrame]) -> Vec<u8> {
    frames.iter().flat_map(RawFrame::wire).collect()
}

/// Takes every whole frame off the front of `buf`, as a reader would.
fn drain(buf: &mut Vec<u8>, out: &mut Vec<RawFrame>) {
    loop {
        match decode(buf).expect("valid stream") {
            Status::Complete((frame, used)) => {
                assert_eq!(used, 16 + frame.payload.len());
                out.push(RawFrame {
                    op: frame.header.op.to_u32(),
                    req_id: frame.header.req_id,
                    tx_id: frame.header.tx_id,
                    payload: frame.payload.to_vec(),
                });
                buf.drain(..used);
            }
            Status::Partial { needed } => {
                assert!(needed > 0, "Partial with nothing needed");
                return;
            }
        }
    }
}

/// Feeds `stream` in pieces of the given sizes (cycled), decoding after
/// each piece.
fn feed_in_chunks(stream: &[u8], sizes: &[usize]) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    let mut rest = stream;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
        buf.extend_from_slice(piece);
        rest = tail;
        drain(&mut buf, &mut frames);
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frames
}

/// A realistic stream: encoded requests and replies of every size class,
/// including empty payloads and one at the 4096 limit.
fn sample_stream() -> Vec<RawFrame> {
    let mut frames = Vec::new();
    let mut push = |wire: &[u8]| {
        let Status::Complete((frame, used)) = decode(wire).unwrap() else {
            panic!("sample frame does not decode")
        };
        assert_eq!(used, wire.len());
        frames.push(RawFrame {
            op: frame.header.op.to_u32(),
            req_id: frame.header.req_id,
            tx_id: frame.header.tx_id,
            payload: frame.payload.to_vec(),
        });
    };
    let mut buf = vec![0u8; 16 + PAYLOAD_MAX];
    let path = Path::new("/local/domain/1/device/vif/0/state").unwrap();
    let big = vec![b'v'; PAYLOAD_MAX - 3];
    let requests = [
        Request::Read { path },
        Request::TransactionStart,
        Request::GetFeature { domid: None }, // len 0
        Request::Write {
            path: Path::new("/a").unwrap(),
            value: &big, // len 4096
        },
        Request::Watch {
            path,
            token: "tok",
            depth: None,
        },
    ];
    for (i, request) in requests.iter().enumerate() {
        let n = request.encode(Ids::new(i as u32), &mut buf).unwrap();
        push(&buf[..n]);
    }
    let replies = [
        (Reply::Value(b""), Op::Read), // len 0
        (Reply::Value(b"4"), Op::Read),
        (Reply::Ack, Op::Write),
        (
            Reply::WatchEvent(WatchEvent {
                path: path.as_str(),
                token: "tok",
            }),
            Op::Watch,
        ),
        (Reply::TransactionId(7), Op::TransactionStart),
    ];
    for (i, (reply, op)) in replies.iter().enumerate() {
        let n = reply
            .encode(*op, Ids::new(100 + i as u32), &mut buf)
            .unwrap();
        push(&buf[..n]);
    }
    frames
}

#[test]
fn one_byte_at_a_time_gives_the_same_frames_as_all_at_once() {
    let frames = sample_stream();
    let stream = stream_of(&frames);
    let whole = feed_in_chunks(&stream, &[stream.len()]);
    let bytewise = feed_in_chunks(&stream, &[1]);
    assert_eq!(whole, frames);
    assert_eq!(bytewise, frames);
}

#[test]
fn needed_is_exact_for_every_prefix_of_every_frame() {
    for frame in sample_stream() {
        let wire = frame.wire();
        let total = wire.len();
        for k in 0..total {
            // Short of the header: the rest of the header. Then: the rest
            // of the payload the header announced.
            let needed = if k < 16 { 16 - k } else { total - k };
            assert_eq!(
                decode(&wire[..k]),
                Ok(Status::Partial { needed }),
                "prefix {k} of a {total}-byte frame"
            );
        }
        assert!(decode(&wire).unwrap().is_complete());
    }
}

#[test]
fn adding_exactly_needed_bytes_always_makes_progress() {
    for frame in sample_stream() {
        let wire = frame.wire();
        // Start anywhere; add exactly what decode asks for, never more.
        for start in [0, 1, 15, 16, 17, wire.len() - 1] {
            let mut have = start.min(wire.len() - 1);
            let mut steps = 0;
            loop {
                match decode(&wire[..have]).unwrap() {
                    Status::Complete((_, used)) => {
                        assert_eq!(used, wire.len());
                        assert_eq!(have, wire.len(), "asked for more than the frame");
                        break;
                    }
                    Status::Partial { needed } => {
                        assert!(needed > 0);
                        have += needed;
                        assert!(have <= wire.len(), "asked for more than the frame");
                    }
                }
                steps += 1;
                // At most: finish the header, then finish the payload.
                assert!(steps <= 2, "no progress from {start}");
            }
        }
    }
}

#[test]
fn frames_followed_by_more_bytes_use_only_their_own() {
    let frames = sample_stream();
    let stream = stream_of(&frames);
    let mut offset = 0;
    for frame in &frames {
        let Status::Complete((decoded, used)) = decode(&stream[offset..]).unwrap() else {
            panic!("frame at {offset} incomplete")
        };
        assert_eq!(decoded.payload, &frame.payload[..]);
        offset += used;
    }
    assert_eq!(offset, stream.len());
}

/// `(description, announced len, limit, result)` with only the 16 header
/// bytes present: an oversized length is refused at once, without waiting
/// for the payload (xenstored drops the connection, section 1).
#[test]
fn announced_length_against_the_limit() {
    type Row = (&'static str, u32, usize, Result<Status<usize>, WireError>);
    let too_large = |len: usize, max| Err(WireError::PayloadTooLarge { len, max });
    #[rustfmt::skip]
    let cases: Vec<Row> = vec![
        // description                     len            limit                  result
        ("empty payload",                  0,             PAYLOAD_MAX,           Ok(Status::Complete(16))),
        ("4096 at 4096: wait for it",      4096,          PAYLOAD_MAX,           Ok(Status::Partial { needed: 4096 })),
        ("4097 at 4096",                   4097,          PAYLOAD_MAX,           too_large(4097, 4096)),
        ("2^31 at 4096",                   0x8000_0000,   PAYLOAD_MAX,           too_large(0x8000_0000, 4096)),
        ("u32::MAX at 4096",               u32::MAX,      PAYLOAD_MAX,           too_large(u32::MAX as usize, 4096)),
        ("4080 at 4080: wait for it",      4080,          XENBUS_PAYLOAD_MAX,    Ok(Status::Partial { needed: 4080 })),
        ("4081 at 4080",                   4081,          XENBUS_PAYLOAD_MAX,    too_large(4081, 4080)),
        ("4096 at 4080",                   4096,          XENBUS_PAYLOAD_MAX,    too_large(4096, 4080)),
    ];
    for (what, len, limit, want) in cases {
        let header = Header {
            op: Op::Read,
            req_id: 1,
            tx_id: 0,
            len,
        }
        .to_bytes();
        let got = decode_with_limit(&header, limit).map(|s| match s {
            Status::Complete((_, used)) => Status::Complete(used),
            Status::Partial { needed } => Status::Partial { needed },
        });
        assert_eq!(got, want, "{what}");
        if limit == PAYLOAD_MAX {
            assert_eq!(decode(&header).is_err(), want.is_err(), "{what}: decode");
        }
    }
}

/// `decode_bounded` with limits above the protocol's 4096 (a client
/// reading oxenstored's oversized replies): `(description, announced len,
/// limit, result)`, header bytes only. Refusals carry the whole header.
#[test]
fn bounded_decoding_above_4096() {
    type Row = (&'static str, u32, usize, Result<Status<usize>, WireError>);
    let header = |len| Header {
        op: Op::Directory,
        req_id: 0x0102_0304,
        tx_id: 9,
        len,
    };
    let too_large = |len, max| {
        Err(WireError::FrameTooLarge {
            header: header(len),
            max,
        })
    };
    #[rustfmt::skip]
    let cases: Vec<Row> = vec![
        // description                        len          limit     result
        ("4200 at 64 KiB: wait for it",       4200,        65536,    Ok(Status::Partial { needed: 4200 })),
        ("64 KiB at 64 KiB: wait for it",     65536,       65536,    Ok(Status::Partial { needed: 65536 })),
        ("64 KiB + 1 at 64 KiB",              65537,       65536,    too_large(65537, 65536)),
        ("u32::MAX at 64 KiB",                u32::MAX,    65536,    too_large(u32::MAX, 65536)),
        ("4097 at 4096, header kept",         4097,        PAYLOAD_MAX, too_large(4097, 4096)),
        ("empty payload at 0",                0,           0,        Ok(Status::Complete(16))),
    ];
    for (what, len, limit, want) in cases {
        let bytes = header(len).to_bytes();
        let got = decode_bounded(&bytes, limit).map(|s| match s {
            Status::Complete((_, used)) => Status::Complete(used),
            Status::Partial { needed } => Status::Partial { needed },
        });
        assert_eq!(got, want, "{what}");
        // decode_with_limit agrees, naming only the length.
        assert_eq!(
            decode_with_limit(&bytes, limit).is_err(),
            want.is_err(),
            "{what}: decode_with_limit"
        );
    }
    // Golden text: the facts a log line needs.
    assert_eq!(
        WireError::FrameTooLarge { header: header(70000), max: 65536 }.to_string(),
        "DIRECTORY frame (req_id 16909060, tx_id 9) announces 70000 payload bytes, over the limit of 65536"
    );
    // A whole 4200-byte listing decodes in one piece.
    let mut wire = header(4200).to_bytes().to_vec();
    wire.extend_from_slice(&[b'n'; 4200]);
    let (frame, used) = decode_bounded(&wire, 65536).unwrap().complete().unwrap();
    assert_eq!(
        (frame.header, frame.payload.len(), used),
        (header(4200), 4200, 4216)
    );
}

#[test]
fn frames_at_the_limit_decode_whole() {
    for (limit, len) in [(PAYLOAD_MAX, 4096usize), (XENBUS_PAYLOAD_MAX, 4080)] {
        let frame = RawFrame {
            op: 2,
            req_id: 9,
            tx_id: 0,
            payload: vec![b'x'; len],
        };
        let wire = frame.wire();
        let Status::Complete((decoded, used)) = decode_with_limit(&wire, limit).unwrap() else {
            panic!("{len} at {limit} incomplete")
        };
        assert_eq!((decoded.payload.len(), used), (len, 16 + len));
        // One byte more than the device allows is refused by the device
        // limit but fine for the socket limit.
        let over = RawFrame {
            payload: vec![b'x'; XENBUS_PAYLOAD_MAX + 1],
            ..frame.clone()
        }
        .wire();
        assert!(decode_with_limit(&over, XENBUS_PAYLOAD_MAX).is_err());
        assert!(decode(&over).unwrap().is_complete());
    }
}

/// An oversized header in the middle of a stream stops the reader there:
/// the frames before it are delivered, then the error.
#[test]
fn an_oversized_frame_mid_stream_is_an_error_after_the_good_frames() {
    let good = sample_stream();
    let mut stream = stream_of(&good[..3]);
    let bad = Header {
        op: Op::Read,
        req_id: 1,
        tx_id: 0,
        len: 4097,
    };
    stream.extend_from_slice(&bad.to_bytes());
    let mut rest = &stream[..];
    let mut delivered = 0;
    let err = loop {
        match decode(rest) {
            Ok(Status::Complete((_, used))) => {
                rest = &rest[used..];
                delivered += 1;
            }
            Ok(Status::Partial { .. }) => panic!("partial before the bad header"),
            Err(e) => break e,
        }
    };
    assert_eq!(delivered, 3);
    assert_eq!(
        err,
        WireError::PayloadTooLarge {
            len: 4097,
            max: 4096
        }
    );
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn raw_frame(max_len: usize) -> impl Strategy<Value = RawFrame> {
    let payload = prop_oneof![
        8 => vec(any::<u8>(), 0..64),
        1 => vec(any::<u8>(), 0..=max_len),
        1 => Just(vec![0u8; max_len]),
    ];
    (any::<u32>(), any::<u32>(), any::<u32>(), payload).prop_map(|(op, req_id, tx_id, payload)| {
        RawFrame {
            op,
            req_id,
            tx_id,
            payload,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random frames cut into random chunks come out whole and in order.
    #[test]
    fn random_chunking_yields_the_same_frames(
        frames in vec(raw_frame(PAYLOAD_MAX), 0..12),
        sizes in vec(1usize..300, 1..20),
    ) {
        let stream = stream_of(&frames);
        prop_assert_eq!(feed_in_chunks(&stream, &sizes), frames.clone());
        prop_assert_eq!(feed_in_chunks(&stream, &[stream.len().max(1)]), frames);
    }

    /// Partial { needed } for any cut of any stream: exactly the bytes to
    /// the end of the current header or frame.
    #[test]
    fn needed_is_exact_at_any_cut(frames in vec(raw_frame(256), 1..6), cut in any::<prop::sample::Index>()) {
        let stream = stream_of(&frames);
        let cut = cut.index(stream.len() + 1);
        // The frame the cut falls in: decode starts at its first byte.
        let mut start = 0;
        let mut len = None;
        for frame in &frames {
            let end = start + 16 + frame.payload.len();
            if end > cut {
                len = Some(end - start);
                break;
            }
            start = end;
        }
        let have = cut - start;
        let needed = match len {
            None => 16, // cut at the very end: the next header
            Some(_) if have < 16 => 16 - have,
            Some(len) => len - have,
        };
        let got = match decode_with_limit(&stream[start..cut], 256).unwrap() {
            Status::Complete((_, used)) => Status::Complete(used),
            Status::Partial { needed } => Status::Partial { needed },
        };
        prop_assert_eq!(got, Status::Partial { needed });
    }
}
