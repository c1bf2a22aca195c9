//! FrameReader and FrameWriter over in-memory readers and writers: no fds.

mod common;

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use common::{frame, header_only, split_frames, Got};
use xs_transport::{
    check_frame, error_reply, FrameReader, FrameWriter, TransportError, TransportKind, READ_CHUNK,
    RECV_LIMIT_CEILING,
};
use xs_wire::{Errno, Header, Op, FRAME_MAX, HEADER_SIZE, PAYLOAD_MAX, XENBUS_PAYLOAD_MAX};

/// A reader that hands out scripted chunks. `None` in the script is a
/// WouldBlock; the end of the script is EOF (or WouldBlock forever if
/// `eof` is false). It also records the largest buffer it was offered.
struct Script {
    steps: VecDeque<Option<Vec<u8>>>,
    eof: bool,
    largest_offer: usize,
}

impl Script {
    fn new(steps: impl IntoIterator<Item = Option<Vec<u8>>>, eof: bool) -> Script {
        Script {
            steps: steps.into_iter().collect(),
            eof,
            largest_offer: 0,
        }
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest_offer = self.largest_offer.max(buf.len());
        match self.steps.pop_front() {
            Some(Some(mut chunk)) => {
                let n = chunk.len().min(buf.len());
                buf[..n].copy_from_slice(&chunk[..n]);
                if n < chunk.len() {
                    chunk.drain(..n);
                    self.steps.push_front(Some(chunk));
                }
                Ok(n)
            }
            Some(None) => Err(io::ErrorKind::WouldBlock.into()),
            None if self.eof => Ok(0),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// A deterministic pseudo-random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn sample_frames(rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let len = match rng.below(10) {
                0 => PAYLOAD_MAX,
                1 => 0,
                _ => rng.below(300),
            };
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            frame(Op::Read, i as u32, rng.next() as u32, &payload)
        })
        .collect()
}

fn collect(
    reader: &mut FrameReader,
    source: &mut impl Read,
) -> (Vec<Got>, Result<(), TransportError>) {
    let mut got = Vec::new();
    let result = reader.read_from(source, |f| got.push(Got::of(f)));
    (got, result)
}

#[test]
fn one_byte_per_read_with_would_block_between() {
    let frames = [
        frame(Op::Read, 1, 0, b"value"),
        frame(Op::Write, 2, 7, b"OK\0"),
        frame(Op::Directory, 3, 0, b""),
    ];
    let stream: Vec<u8> = frames.concat();
    let mut steps = Vec::new();
    for b in &stream {
        steps.push(Some(vec![*b]));
        steps.push(None);
    }
    let mut source = Script::new(steps, false);
    let mut reader = FrameReader::new();
    let mut got = Vec::new();
    let mut calls = 0;
    while !source.steps.is_empty() {
        reader
            .read_from(&mut source, |f| got.push(Got::of(f)))
            .unwrap();
        calls += 1;
    }
    assert_eq!(calls, stream.len());
    assert_eq!(got, split_frames(&stream));
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn many_frames_in_one_read() {
    let frames: Vec<Vec<u8>> = (0..200)
        .map(|i| frame(Op::WatchEvent, i, 0, b"/a\0tok\0"))
        .collect();
    let stream = frames.concat();
    // All of it in a single chunk (the reader takes it in buffer-sized bites).
    let mut source = Script::new([Some(stream.clone())], false);
    let mut reader = FrameReader::new();
    let (got, result) = collect(&mut reader, &mut source);
    result.unwrap();
    assert_eq!(got.len(), 200);
    assert_eq!(got, split_frames(&stream));
}

#[test]
fn frame_split_across_reads_and_calls() {
    let f = frame(Op::Read, 9, 0, &[0x5a; 1000]);
    let mut reader = FrameReader::new();
    // First call: header and part of the payload, then WouldBlock.
    let mut first = Script::new([Some(f[..10].to_vec()), Some(f[10..500].to_vec())], false);
    let (got, result) = collect(&mut reader, &mut first);
    result.unwrap();
    assert!(got.is_empty());
    assert_eq!(reader.buffered(), 500);
    // Second call: the rest plus the start of the next frame.
    let next = frame(Op::Read, 10, 0, b"x");
    let mut tail = f[500..].to_vec();
    tail.extend_from_slice(&next[..3]);
    let mut second = Script::new([Some(tail)], false);
    let (got, result) = collect(&mut reader, &mut second);
    result.unwrap();
    assert_eq!(got, split_frames(&f));
    assert_eq!(reader.buffered(), 3);
}

#[test]
fn random_chunking_preserves_frames() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20 {
        let frames = sample_frames(&mut rng, 60);
        let stream = frames.concat();
        let mut steps = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            let n = 1 + rng.below(if round % 2 == 0 { 20 } else { 9000 });
            let end = (at + n).min(stream.len());
            steps.push(Some(stream[at..end].to_vec()));
            if rng.below(3) == 0 {
                steps.push(None);
            }
            at = end;
        }
        let mut source = Script::new(steps, true);
        let mut reader = FrameReader::new();
        let mut got = Vec::new();
        let end = loop {
            match reader.read_from(&mut source, |f| got.push(Got::of(f))) {
                Ok(()) => continue,
                Err(e) => break e,
            }
        };
        assert!(matches!(end, TransportError::Closed), "{end:?}");
        assert_eq!(got, split_frames(&stream), "round {round}");
        assert!(source.largest_offer <= reader.capacity());
    }
}

#[test]
fn buffer_is_bounded_by_one_frame_plus_one_chunk() {
    let reader = FrameReader::new();
    assert_eq!(reader.capacity(), FRAME_MAX + READ_CHUNK);
    // A peer sending endless maximum-size frames in huge chunks never makes
    // the reader offer more than its fixed buffer.
    let big = frame(Op::Read, 1, 0, &[1; PAYLOAD_MAX]);
    let stream = big.repeat(50);
    let mut source = Script::new([Some(stream)], false);
    let mut reader = FrameReader::new();
    let (got, result) = collect(&mut reader, &mut source);
    result.unwrap();
    assert_eq!(got.len(), 50);
    assert!(source.largest_offer <= FRAME_MAX + READ_CHUNK);
    // A huge limit is lowered to the ceiling, and allocates nothing up
    // front: the buffer grows only for a frame that needs it.
    let huge = FrameReader::with_limit(1 << 30);
    assert_eq!(huge.max_payload(), RECV_LIMIT_CEILING);
    assert_eq!(huge.capacity(), FRAME_MAX + READ_CHUNK);
}

/// Frames over 4096 bytes within a larger limit (oxenstored's long
/// listings): delivered whole, the buffer grows to one such frame plus a
/// chunk while reading it and shrinks back after; one over the limit is
/// refused with its header.
#[test]
fn payloads_over_4096_up_to_the_limit() {
    const LIMIT: usize = 64 * 1024;
    let sizes = [4097, 4200, 10_000, LIMIT, 3, PAYLOAD_MAX];
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(Op::Directory, i as u32, 0, &vec![b'a' + i as u8; len]))
        .collect();
    let stream = frames.concat();
    for chunk in [1usize, 777, 5000, usize::MAX] {
        let steps: Vec<Option<Vec<u8>>> = stream
            .chunks(chunk.min(stream.len()))
            .map(|c| Some(c.to_vec()))
            .collect();
        let mut source = Script::new(steps, false);
        let mut reader = FrameReader::with_limit(LIMIT);
        let mut got = Vec::new();
        let mut largest = 0;
        while !source.steps.is_empty() {
            reader
                .read_from(&mut source, |f| got.push(Got::of(f)))
                .unwrap();
            largest = largest.max(reader.capacity());
        }
        assert_eq!(got, split_frames(&stream), "chunk {chunk}");
        assert!(source.largest_offer <= HEADER_SIZE + LIMIT + READ_CHUNK);
        assert!(largest <= HEADER_SIZE + LIMIT + READ_CHUNK, "{largest}");
        assert_eq!(reader.capacity(), FRAME_MAX + READ_CHUNK, "shrunk back");
    }
    // One byte over: refused at the header, naming it.
    let mut over = frame(Op::Read, 1, 0, b"ok");
    over.extend_from_slice(&header_only(Op::Directory, 77, LIMIT as u32 + 1));
    let mut source = Script::new([Some(over)], false);
    let (got, result) = collect(&mut FrameReader::with_limit(LIMIT), &mut source);
    assert_eq!(got.len(), 1);
    match result {
        Err(TransportError::Protocol(xs_wire::WireError::FrameTooLarge { header, max })) => {
            assert_eq!(
                (header.op, header.req_id, header.len, max),
                (Op::Directory, 77, 65537, LIMIT)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn clean_eof_is_closed() {
    let f = frame(Op::Read, 1, 0, b"v");
    let mut source = Script::new([Some(f.clone())], true);
    let mut reader = FrameReader::new();
    let (got, result) = collect(&mut reader, &mut source);
    assert_eq!(got, split_frames(&f));
    assert!(matches!(result, Err(TransportError::Closed)));
}

#[test]
fn eof_mid_header_is_truncated() {
    let mut source = Script::new([Some(vec![1, 2, 3, 4, 5])], true);
    let mut reader = FrameReader::new();
    let (got, result) = collect(&mut reader, &mut source);
    assert!(got.is_empty());
    match result {
        Err(TransportError::Truncated {
            have: 5,
            needed: 16,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn eof_mid_payload_is_truncated() {
    let f = frame(Op::Read, 1, 0, b"0123456789");
    let mut stream = frame(Op::Read, 0, 0, b"first");
    stream.extend_from_slice(&f[..HEADER_SIZE + 3]);
    let mut source = Script::new([Some(stream)], true);
    let mut reader = FrameReader::new();
    let (got, result) = collect(&mut reader, &mut source);
    assert_eq!(got.len(), 1, "the complete frame before is delivered");
    match result {
        Err(TransportError::Truncated {
            have: 19,
            needed: 26,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_length_is_a_protocol_error() {
    let mut stream = frame(Op::Read, 1, 0, b"ok");
    stream.extend_from_slice(&header_only(Op::Read, 2, PAYLOAD_MAX as u32 + 1));
    stream.extend_from_slice(&[0; 64]);
    let mut source = Script::new([Some(stream)], false);
    let mut reader = FrameReader::new();
    let (got, result) = collect(&mut reader, &mut source);
    assert_eq!(got.len(), 1);
    // The error names the frame: which request's reply overflowed.
    match result {
        Err(TransportError::Protocol(xs_wire::WireError::FrameTooLarge { header, max: 4096 })) => {
            assert_eq!((header.op, header.req_id, header.len), (Op::Read, 2, 4097));
        }
        other => panic!("{other:?}"),
    }
    // A length near u32::MAX is refused the same way (no allocation).
    let mut source = Script::new([Some(header_only(Op::Read, 3, u32::MAX))], false);
    let (_, result) = collect(&mut FrameReader::new(), &mut source);
    assert!(matches!(result, Err(TransportError::Protocol(_))));
}

#[test]
fn largest_payload_is_accepted() {
    let f = frame(Op::Read, 1, 0, &[7; PAYLOAD_MAX]);
    let mut source = Script::new([Some(f.clone())], false);
    let (got, result) = collect(&mut FrameReader::new(), &mut source);
    result.unwrap();
    assert_eq!(got, split_frames(&f));
}

#[test]
fn interrupted_is_retried_and_errors_are_io() {
    struct Flaky(u32);
    impl Read for Flaky {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            self.0 += 1;
            match self.0 {
                1 | 2 => Err(io::ErrorKind::Interrupted.into()),
                _ => Err(io::Error::from_raw_os_error(libc::ECONNRESET)),
            }
        }
    }
    let mut flaky = Flaky(0);
    let result = FrameReader::new().read_from(&mut flaky, |_| {});
    assert_eq!(flaky.0, 3);
    match result {
        Err(TransportError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET)),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- writer

/// A writer that takes at most `per_call` bytes per call and says
/// WouldBlock on every other call.
struct Trickle {
    out: Vec<u8>,
    per_call: usize,
    calls: usize,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 2 == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.per_call);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn no_refusal(h: Header, e: io::Error) {
    panic!("unexpected refusal of {h:?}: {e}");
}

#[test]
fn socket_writer_drains_one_byte_at_a_time() {
    let frames = [
        frame(Op::Read, 1, 0, b"/a\0"),
        frame(Op::Write, 2, 0, b"/b\0value"),
        frame(Op::Directory, 3, 0, b"/\0"),
    ];
    let mut writer = FrameWriter::new(TransportKind::Socket);
    for f in &frames {
        writer.push(f).unwrap();
    }
    let total: usize = frames.iter().map(Vec::len).sum();
    assert_eq!(writer.queued_bytes(), total);
    let mut sink = Trickle {
        out: Vec::new(),
        per_call: 1,
        calls: 0,
    };
    let mut rounds = 0;
    while !writer.write_to(&mut sink, no_refusal).unwrap() {
        rounds += 1;
        // Frames can be added while others are half written.
        if rounds == 5 {
            writer.push(&frame(Op::Rm, 4, 0, b"/c\0")).unwrap();
        }
    }
    let mut expected = frames.concat();
    expected.extend_from_slice(&frame(Op::Rm, 4, 0, b"/c\0"));
    assert_eq!(sink.out, expected);
    assert_eq!(writer.queued_bytes(), 0);
    assert!(writer.is_empty());
}

#[test]
fn socket_writer_coalesces() {
    let mut writer = FrameWriter::new(TransportKind::Socket);
    for i in 0..10 {
        writer.push(&frame(Op::Read, i, 0, b"/a\0")).unwrap();
    }
    let mut sink = Trickle {
        out: Vec::new(),
        per_call: usize::MAX,
        calls: 0,
    };
    assert!(writer.write_to(&mut sink, no_refusal).unwrap());
    assert_eq!(sink.calls, 1, "a socket gets everything in one write");
}

#[test]
fn push_refuses_malformed_and_oversized_frames() {
    let mut writer = FrameWriter::new(TransportKind::Socket);
    let f = frame(Op::Read, 1, 0, b"/a\0");
    let mut two = f.clone();
    two.extend_from_slice(&f);
    for (bytes, len, expected) in [
        (&f[..3], 3, 16),
        (&f[..17], 17, 19),
        (&two[..], 38, 19),
        (&[][..], 0, 16),
    ] {
        match writer.push(bytes) {
            Err(TransportError::MalformedFrame {
                len: l,
                expected: e,
            }) => {
                assert_eq!((l, e), (len, expected))
            }
            other => panic!("{other:?}"),
        }
    }
    let big = frame(Op::Write, 1, 0, &[0; PAYLOAD_MAX + 1]);
    assert!(matches!(
        writer.push(&big),
        Err(TransportError::PayloadTooLarge {
            len: 4097,
            max: 4096
        })
    ));
    writer
        .push(&frame(Op::Write, 1, 0, &[0; PAYLOAD_MAX]))
        .unwrap();
    assert_eq!(writer.queued_frames(), 1);
    assert_eq!(check_frame(&f, 3).unwrap().req_id, 1);
}

#[test]
fn queue_limit_refuses_when_full() {
    let mut writer = FrameWriter::with_queue_limit(TransportKind::Socket, 10);
    assert_eq!(
        writer.queue_limit(),
        FRAME_MAX,
        "raised to one largest frame"
    );
    let f = frame(Op::Write, 1, 0, &[0; 2000]);
    writer.push(&f).unwrap();
    writer.push(&f).unwrap();
    match writer.push(&f) {
        Err(TransportError::QueueFull {
            queued: 4032,
            limit: 4112,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        writer.queued_bytes(),
        4032,
        "nothing of the refused frame queued"
    );
    // Draining makes room again.
    let mut out = Vec::new();
    assert!(writer.write_to(&mut out, no_refusal).unwrap());
    writer.push(&f).unwrap();
    writer.set_queue_limit(100_000);
    for _ in 0..40 {
        writer.push(&f).unwrap();
    }
    assert!(writer.queued_bytes() <= 100_000);
}

#[test]
fn writer_memory_stays_bounded_under_steady_load() {
    // Push and partially drain many times; queued bytes never exceed the
    // limit, and everything arrives in order.
    let mut writer = FrameWriter::with_queue_limit(TransportKind::Socket, 20_000);
    let mut sink = Trickle {
        out: Vec::new(),
        per_call: 777,
        calls: 0,
    };
    let mut expected = Vec::new();
    for i in 0..2000u32 {
        let f = frame(Op::Write, i, 0, &vec![i as u8; (i % 300) as usize]);
        match writer.push(&f) {
            Ok(()) => expected.extend_from_slice(&f),
            Err(TransportError::QueueFull { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(writer.queued_bytes() <= 20_000);
        let _ = writer.write_to(&mut sink, no_refusal).unwrap();
    }
    while !writer.write_to(&mut sink, no_refusal).unwrap() {}
    assert_eq!(sink.out, expected);
}

#[test]
fn write_zero_is_an_error() {
    struct Zero;
    impl Write for Zero {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut writer = FrameWriter::new(TransportKind::Socket);
    writer.push(&frame(Op::Read, 1, 0, b"/a\0")).unwrap();
    match writer.write_to(&mut Zero, no_refusal) {
        Err(TransportError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::WriteZero),
        other => panic!("{other:?}"),
    }
}

#[test]
fn socket_write_errors_are_io_even_for_watch() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::EPIPE))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut writer = FrameWriter::new(TransportKind::Socket);
    writer.push(&frame(Op::Watch, 1, 0, b"/a\0t\0")).unwrap();
    assert!(matches!(
        writer.write_to(&mut Broken, no_refusal),
        Err(TransportError::Io(_))
    ));
}

// ------------------------------------------------- the xenbus device double

/// A stand-in for the Linux xenbus device's write side, enforcing its
/// rules: a 4096-byte message buffer, one message per `write()` (a call
/// that carries bytes past the end of the current message fails the test:
/// the real driver would silently drop them), optional partial acceptance,
/// and WATCH/UNWATCH failures reported as a failed `write()`.
struct XenbusDouble {
    /// Bytes of the message being assembled.
    partial: Vec<u8>,
    /// Complete messages, in order.
    messages: Vec<Vec<u8>>,
    /// At most this many bytes accepted per call.
    per_call: usize,
    /// errno to fail WATCH/UNWATCH messages with, if any.
    watch_errno: Option<i32>,
    /// Number of write() calls.
    calls: usize,
    /// Say WouldBlock on every n-th call (0: never).
    block_every: usize,
}

impl XenbusDouble {
    fn new() -> XenbusDouble {
        XenbusDouble {
            partial: Vec::new(),
            messages: Vec::new(),
            per_call: usize::MAX,
            watch_errno: None,
            calls: 0,
            block_every: 0,
        }
    }
}

impl Write for XenbusDouble {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.block_every != 0 && self.calls % self.block_every == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        assert!(!buf.is_empty(), "empty write");
        let n = buf.len().min(self.per_call);
        // How many bytes does the current message still need? Unknown
        // until its header is complete: then no more than the header's rest.
        let mut held = self.partial.clone();
        held.extend_from_slice(&buf[..n]);
        if held.len() > 4096 {
            panic!("device buffer overflow: {} bytes (EINVAL)", held.len());
        }
        if held.len() >= HEADER_SIZE {
            let header = Header::from_bytes(held[..HEADER_SIZE].try_into().unwrap());
            let total = HEADER_SIZE + header.len as usize;
            assert!(total <= 4096, "E2BIG: message of {total} bytes");
            assert!(
                held.len() <= total,
                "one write() carried bytes of two messages: {} bytes held, message is {total}",
                held.len()
            );
            if held.len() == total {
                self.partial.clear();
                if matches!(header.op, Op::Watch | Op::Unwatch) {
                    if let Some(errno) = self.watch_errno {
                        return Err(io::Error::from_raw_os_error(errno));
                    }
                }
                self.messages.push(held);
                return Ok(n);
            }
        }
        self.partial = held;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn device_writer_sends_one_message_per_write() {
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|i| frame(Op::Write, i, 0, &vec![b'x'; (i as usize * 37) % 500]))
        .collect();
    let mut writer = FrameWriter::new(TransportKind::Xenbus);
    for f in &frames {
        writer.push(f).unwrap();
    }
    let mut dev = XenbusDouble::new();
    assert!(writer.write_to(&mut dev, no_refusal).unwrap());
    assert_eq!(dev.messages, frames);
    assert_eq!(dev.calls, frames.len());
}

#[test]
fn device_writer_handles_partial_writes_and_would_block() {
    let frames: Vec<Vec<u8>> = (0..12)
        .map(|i| frame(Op::Write, i, 0, &vec![i as u8; 3 + i as usize * 11]))
        .collect();
    for per_call in [1, 2, 5, 16, 17, 100] {
        let mut writer = FrameWriter::new(TransportKind::Xenbus);
        for f in &frames {
            writer.push(f).unwrap();
        }
        let mut dev = XenbusDouble::new();
        dev.per_call = per_call;
        dev.block_every = 3;
        while !writer.write_to(&mut dev, no_refusal).unwrap() {}
        assert_eq!(dev.messages, frames, "per_call {per_call}");
    }
}

#[test]
fn device_writer_refuses_over_4080_before_sending() {
    let mut writer = FrameWriter::new(TransportKind::Xenbus);
    assert_eq!(writer.max_payload(), XENBUS_PAYLOAD_MAX);
    let too_big = frame(Op::Write, 1, 0, &[0; XENBUS_PAYLOAD_MAX + 1]);
    assert!(matches!(
        writer.push(&too_big),
        Err(TransportError::PayloadTooLarge {
            len: 4081,
            max: 4080
        })
    ));
    assert_eq!(writer.queued_bytes(), 0);
    let largest = frame(Op::Write, 2, 0, &[0; XENBUS_PAYLOAD_MAX]);
    writer.push(&largest).unwrap();
    let mut dev = XenbusDouble::new();
    assert!(writer.write_to(&mut dev, no_refusal).unwrap());
    assert_eq!(dev.messages, [largest]);
}

#[test]
fn device_watch_failure_is_reported_and_writing_continues() {
    let before = frame(Op::Read, 1, 0, b"/a\0");
    let watch = frame(Op::Watch, 2, 5, b"/local/domain\0tok\0");
    let unwatch = frame(Op::Unwatch, 3, 0, b"/x\0tok\0");
    let after = frame(Op::Read, 4, 0, b"/b\0");
    for per_call in [usize::MAX, 1, 7] {
        let mut writer = FrameWriter::new(TransportKind::Xenbus);
        for f in [&before, &watch, &unwatch, &after] {
            writer.push(f).unwrap();
        }
        let mut dev = XenbusDouble::new();
        dev.per_call = per_call;
        dev.watch_errno = Some(libc::EACCES);
        let mut refused = Vec::new();
        while !writer
            .write_to(&mut dev, |h, e| refused.push((h, e.raw_os_error())))
            .unwrap()
        {}
        assert_eq!(dev.messages, [before.clone(), after.clone()]);
        let ids: Vec<(Op, u32, u32, Option<i32>)> = refused
            .iter()
            .map(|(h, e)| (h.op, h.req_id, h.tx_id, *e))
            .collect();
        assert_eq!(
            ids,
            [
                (Op::Watch, 2, 5, Some(libc::EACCES)),
                (Op::Unwatch, 3, 0, Some(libc::EACCES))
            ]
        );
    }
}

#[test]
fn device_non_watch_write_error_is_io() {
    struct Enomem;
    impl Write for Enomem {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOMEM))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut writer = FrameWriter::new(TransportKind::Xenbus);
    writer.push(&frame(Op::Read, 1, 0, b"/a\0")).unwrap();
    assert!(matches!(
        writer.write_to(&mut Enomem, no_refusal),
        Err(TransportError::Io(_))
    ));
}

#[test]
fn error_reply_matches_what_xenstored_sends() {
    let request = Header {
        op: Op::Watch,
        req_id: 0xdead_beef,
        tx_id: 42,
        len: 9,
    };
    let got = split_frames(&error_reply(&request, Errno::ENOSPC));
    assert_eq!(
        got,
        [Got {
            op: Op::Error,
            req_id: 0xdead_beef,
            tx_id: 42,
            payload: b"ENOSPC\0".to_vec()
        }]
    );
    let parsed = xs_wire::ErrorReply::parse(&got[0].payload).unwrap();
    assert_eq!(parsed.errno(), Some(Errno::ENOSPC));
}

#[test]
#[should_panic(expected = "two messages")]
fn the_double_catches_two_frames_in_one_write() {
    // A socket-mode writer coalesces frames; the device double must notice.
    let mut writer = FrameWriter::new(TransportKind::Socket);
    writer.push(&frame(Op::Read, 1, 0, b"/a\0")).unwrap();
    writer.push(&frame(Op::Read, 2, 0, b"/b\0")).unwrap();
    let _ = writer.write_to(&mut XenbusDouble::new(), no_refusal);
}
