//! `xs_wire::decode` / `decode_with_limit` on arbitrary byte streams.
//!
//! Input layout: `[split, mode, stream...]`.
//!
//! * `mode & 3` picks the payload limit: `decode` (4096), the xenbus
//!   device's 4080, a small limit (`mode` itself), or no limit at all.
//! * `split` picks where the stream is cut in two for the streaming check
//!   (scaled over the stream's length), and a chunk size for a third,
//!   many-chunk feed.
//!
//! Asserted, for every frame consumed in a loop over the stream:
//!
//! * `used == 16 + payload.len()` == `frame.wire_len()`, never past the input;
//! * the header is the first 16 bytes (and re-encodes to them), the payload
//!   the next `len` bytes, `len <= limit`;
//! * `Partial { needed }` is exact: > 0, and (for a header-complete buffer)
//!   appending exactly `needed` bytes completes the frame;
//! * `PayloadTooLarge` only for a whole header announcing `len > limit`;
//! * `decode_bounded` at the same limit frames identically, refusing with
//!   `FrameTooLarge` carrying that whole header;
//! * feeding the same stream in two pieces (or many small chunks), as a
//!   socket reader would, yields exactly the same frames and the same final
//!   state as decoding it in one piece.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xs_wire::{
    decode, decode_bounded, decode_with_limit, Header, Status, WireError, HEADER_SIZE, PAYLOAD_MAX,
    XENBUS_PAYLOAD_MAX,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Default,
    Xenbus,
    Small(usize),
    Unlimited,
}

impl Limit {
    fn value(self) -> usize {
        match self {
            Limit::Default => PAYLOAD_MAX,
            Limit::Xenbus => XENBUS_PAYLOAD_MAX,
            Limit::Small(n) => n,
            Limit::Unlimited => usize::MAX,
        }
    }

    fn decode(self, buf: &[u8]) -> Result<Status<(xs_wire::Frame<'_>, usize)>, WireError> {
        match self {
            Limit::Default => decode(buf),
            other => decode_with_limit(buf, other.value()),
        }
    }
}

/// How a stream ended after every whole frame was taken out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// Bytes are missing; `needed` more at least.
    Partial(usize),
    /// The stream is broken (the header is kept to compare).
    TooLarge(Header),
}

type Frames = Vec<(Header, Vec<u8>)>;

/// Decodes one frame at the front of `buf` and checks everything the
/// result claims against the bytes (`verify_needed`: also that `needed`
/// more bytes complete a partial frame; skipped in the chunked feeds,
/// where it would be quadratic). Returns the frame and bytes used, or
/// the end state.
fn step(limit: Limit, buf: &[u8], verify_needed: bool) -> Result<(Header, Vec<u8>, usize), End> {
    let decoded = limit.decode(buf);
    match (decode_bounded(buf, limit.value()), &decoded) {
        (
            Err(WireError::FrameTooLarge { header, max }),
            Err(WireError::PayloadTooLarge { len, .. }),
        ) => {
            assert_eq!((header.len as usize, max), (*len, limit.value()));
            assert_eq!(&header.to_bytes()[..], &buf[..HEADER_SIZE]);
        }
        (bounded, decoded) => assert_eq!(&bounded, decoded, "decode_bounded disagrees"),
    }
    match decoded {
        Ok(Status::Complete((frame, used))) => {
            assert!(used <= buf.len(), "used {used} > available {}", buf.len());
            assert_eq!(used, HEADER_SIZE + frame.payload.len());
            assert_eq!(used, frame.wire_len());
            assert_eq!(frame.header.len as usize, frame.payload.len());
            assert!(frame.payload.len() <= limit.value());
            let head: &[u8; HEADER_SIZE] = buf[..HEADER_SIZE].try_into().unwrap();
            assert_eq!(frame.header, Header::from_bytes(head));
            assert_eq!(&frame.header.to_bytes(), head, "header does not re-encode");
            assert_eq!(frame.payload, &buf[HEADER_SIZE..used]);
            Ok((frame.header, frame.payload.to_vec(), used))
        }
        Ok(Status::Partial { needed }) => {
            assert!(needed > 0, "Partial with needed 0");
            if buf.len() < HEADER_SIZE {
                assert_eq!(needed, HEADER_SIZE - buf.len());
            } else {
                let head: &[u8; HEADER_SIZE] = buf[..HEADER_SIZE].try_into().unwrap();
                let len = Header::from_bytes(head).len as usize;
                assert!(len <= limit.value());
                assert_eq!(HEADER_SIZE + len, buf.len() + needed, "needed is not exact");
                // Exactly `needed` more bytes complete the frame.
                if verify_needed && needed <= 2 * PAYLOAD_MAX {
                    let mut more = buf.to_vec();
                    more.resize(buf.len() + needed, 0xA5);
                    match limit.decode(&more) {
                        Ok(Status::Complete((f, used))) => {
                            assert_eq!(used, more.len());
                            assert_eq!(f.header, Header::from_bytes(head));
                        }
                        other => panic!("{needed} more bytes did not complete: {other:?}"),
                    }
                }
            }
            Err(End::Partial(needed))
        }
        Err(WireError::PayloadTooLarge { len, max }) => {
            assert!(buf.len() >= HEADER_SIZE, "too large before a whole header");
            let head: &[u8; HEADER_SIZE] = buf[..HEADER_SIZE].try_into().unwrap();
            let header = Header::from_bytes(head);
            assert_eq!(len, header.len as usize);
            assert_eq!(max, limit.value());
            assert!(len > max);
            Err(End::TooLarge(header))
        }
        Err(other) => panic!("decode returned an unexpected error {other:?}"),
    }
}

/// Decodes a whole buffer at once.
fn one_shot(limit: Limit, stream: &[u8]) -> (Frames, End) {
    let mut frames = Vec::new();
    let mut pos = 0;
    loop {
        match step(limit, &stream[pos..], true) {
            Ok((h, p, used)) => {
                assert!(pos + used <= stream.len());
                pos += used;
                frames.push((h, p));
            }
            Err(end) => return (frames, end),
        }
    }
}

/// Feeds `stream` in the given pieces into a growing buffer, taking out
/// every whole frame after each piece, like a socket reader.
fn streamed(limit: Limit, stream: &[u8], cuts: &[usize]) -> (Frames, End) {
    let mut frames = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut ends = cuts.to_vec();
    ends.push(stream.len());
    for end in ends {
        buf.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            match step(limit, &buf, false) {
                Ok((h, p, used)) => {
                    buf.drain(..used);
                    frames.push((h, p));
                }
                Err(End::TooLarge(h)) => return (frames, End::TooLarge(h)),
                Err(End::Partial(needed)) => {
                    if start == stream.len() {
                        return (frames, End::Partial(needed));
                    }
                    break;
                }
            }
        }
    }
    unreachable!("the last piece always returns")
}

fuzz_target!(|data: &[u8]| {
    let [split, mode, stream @ ..] = data else {
        return;
    };
    let limit = match mode & 3 {
        0 => Limit::Default,
        1 => Limit::Xenbus,
        2 => Limit::Small(usize::from(*mode)),
        _ => Limit::Unlimited,
    };

    let whole = one_shot(limit, stream);

    // The frames tile the stream exactly up to where decoding stopped.
    let consumed: usize = whole.0.iter().map(|(_, p)| HEADER_SIZE + p.len()).sum();
    assert!(consumed <= stream.len());
    if let End::Partial(needed) = whole.1 {
        let left = stream.len() - consumed;
        assert!(left < HEADER_SIZE || needed + left > HEADER_SIZE);
    }

    // One cut, anywhere (scaled so short and long inputs both get every
    // position range).
    let cut = usize::from(*split) * stream.len() / 255;
    assert_eq!(streamed(limit, stream, &[cut]), whole, "split at {cut}");

    // Many small chunks of 1..=16 bytes.
    let chunk = usize::from(split % 16) + 1;
    let cuts: Vec<usize> = (chunk..stream.len()).step_by(chunk).collect();
    assert_eq!(streamed(limit, stream, &cuts), whole, "chunks of {chunk}");
});
