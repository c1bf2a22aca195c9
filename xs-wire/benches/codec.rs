//! Codec throughput: frame decode + reply parse for the common replies, and
//! request encoding. Each iteration handles one packet, so criterion's time
//! per iteration is the time per packet.
//!
//! ```sh
//! cargo bench -p xs-wire --bench codec -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xs_wire::{decode, Header, Ids, Op, Path, Reply, ReplyKind, Request, Status, FRAME_MAX};

fn frame(op: Op, payload: &[u8]) -> Vec<u8> {
    let header = Header {
        op,
        req_id: 7,
        tx_id: 0,
        len: payload.len() as u32,
    };
    let mut wire = header.to_bytes().to_vec();
    wire.extend_from_slice(payload);
    wire
}

/// `device-0\0device-1\0...device-99\0`: 100 names, 990 bytes.
fn hundred_names() -> Vec<u8> {
    (0..100)
        .flat_map(|i| format!("device-{i}\0").into_bytes())
        .collect()
}

fn decode_and_parse(c: &mut Criterion) {
    let cases = [
        (
            "READ value 8 B",
            Op::Read,
            ReplyKind::Value,
            frame(Op::Read, b"Domain-0"),
        ),
        (
            "READ value 4 KiB",
            Op::Read,
            ReplyKind::Value,
            frame(Op::Read, &[b'v'; 4096]),
        ),
        (
            "DIRECTORY 100 names",
            Op::Directory,
            ReplyKind::Directory,
            frame(Op::Directory, &hundred_names()),
        ),
        (
            "WATCH_EVENT",
            Op::Read,
            ReplyKind::Value,
            frame(
                Op::WatchEvent,
                b"/local/domain/1/device/vif/0/state\0backend-vif\0",
            ),
        ),
        (
            "ERROR",
            Op::Read,
            ReplyKind::Value,
            frame(Op::Error, b"ENOENT\0"),
        ),
    ];
    let mut group = c.benchmark_group("decode+parse");
    group.throughput(Throughput::Elements(1));
    for (name, op, kind, wire) in &cases {
        // Check once that the input is what the name says.
        let Status::Complete((f, _)) = decode(wire).unwrap() else {
            panic!("{name}: incomplete")
        };
        Reply::parse(*op, *kind, &f).unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| {
                let Ok(Status::Complete((frame, used))) = decode(black_box(wire)) else {
                    unreachable!()
                };
                let reply = Reply::parse(*op, *kind, &frame);
                black_box((reply, used))
            })
        });
    }
    // A listing is usually iterated right away.
    let wire = frame(Op::Directory, &hundred_names());
    group.bench_function("DIRECTORY 100 names + iterate", |b| {
        b.iter(|| {
            let Ok(Status::Complete((frame, _))) = decode(black_box(&wire)) else {
                unreachable!()
            };
            let Ok(Reply::Directory(names)) =
                Reply::parse(Op::Directory, ReplyKind::Directory, &frame)
            else {
                unreachable!()
            };
            black_box(names.iter().map(str::len).sum::<usize>())
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let path = Path::new("/local/domain/1/device/vif/0/state").unwrap();
    let big = [b'v'; 4000];
    let cases = [
        ("READ", Request::Read { path }),
        ("WRITE 1 B", Request::Write { path, value: b"4" }),
        ("WRITE 4000 B", Request::Write { path, value: &big }),
    ];
    let mut group = c.benchmark_group("Request::encode");
    group.throughput(Throughput::Elements(1));
    let mut out = [0u8; FRAME_MAX];
    for (name, request) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(black_box(request).encode(Ids::new(7), &mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, decode_and_parse, encode);
criterion_main!(benches);
