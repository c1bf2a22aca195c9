//! The server does not spin: a test binary of its own, because it measures
//! the whole process's CPU time (the server runs in it as a thread), which
//! other tests running beside it in the same process would add to.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;
use xs_server::{Fault, Server};
use xs_wire::Request;

/// The process's CPU time so far (user and system, every thread: the
/// server runs in this process), from `/proc/self/stat` in clock ticks of
/// 10 ms.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command's closing parenthesis: utime is the 12th
    // (field 14 of the whole line), stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_millis(10 * (fields[0] + fields[1]))
}

/// Delayed replies that fall due while the client reads none: once the
/// socket and the transport are full, the server waits for writability
/// instead of looking again at once (a due reply it cannot hand on is no
/// reason to wake), and every reply still comes once the client reads.
#[test]
fn delayed_replies_to_a_client_not_reading_do_not_spin_the_server() {
    let server = Server::builder()
        .fault(Fault::DelayReplies(Duration::from_micros(50)))
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    assert_eq!(c.write("/big", &"x".repeat(2000)), Ans::Ok);
    // About 2 MB of replies, far more than the socket and the transport
    // hold; nothing read yet.
    let ids: Vec<u32> = (0..1000)
        .map(|_| c.send(0, Request::Read { path: p("/big") }))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_time();
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_time() - before;
    assert!(
        used < Duration::from_millis(150),
        "{used:?} of CPU in 500 ms"
    );
    for id in ids {
        assert_eq!(c.frame().unwrap().header.req_id, id);
    }
}
