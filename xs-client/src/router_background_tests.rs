//! Who reads while watches exist: the caller, when it keeps coming back
//! within the background thread's grace period; the background thread, when
//! nobody waits.

use std::time::{Duration, Instant};

use xs_transport::Connection;

use super::BACKGROUND_GRACE;
use crate::{Client, Monitor, Router, Store};

fn connect(xs: &xs_server::ServerHandle) -> Client {
    Client::with_router(Router::new(Connection::unix(xs.socket_path()).unwrap()).unwrap())
}

/// A daemon, a client of it, and a monitor of the client watching `path`.
fn watching(path: &str) -> (xs_server::ServerHandle, Client, Monitor) {
    let xs = xs_server::Server::spawn_temp();
    let client = connect(&xs);
    let monitor = client.monitor();
    monitor.watch(path, "t").unwrap();
    (xs, client, monitor)
}

fn caller_reads(client: &Client) -> u64 {
    client.router().inner.shared.lock().caller_reads
}

#[test]
fn a_busy_caller_reads_its_own_replies_while_a_watch_exists() {
    let (_xs, client, monitor) = watching("/busy");
    monitor.wait().unwrap(); // the initial event
    let before = caller_reads(&client);
    for i in 0..200 {
        client.write("/busy/node", i.to_string()).unwrap();
        monitor.wait().unwrap();
    }
    // Each round waits up to twice (the WRITE's reply, the event unless it
    // came with the reply). Had the background thread kept the reader role,
    // callers would only sleep (5 times in 200 rounds, measured); a loaded
    // machine may pause a caller past the grace period now and then.
    let by_callers = caller_reads(&client) - before;
    assert!(
        by_callers >= 100,
        "callers took the reader role {by_callers} times in 200 rounds"
    );
}

#[test]
fn events_are_read_with_nobody_waiting_once_the_grace_period_is_over() {
    let (xs, _client, monitor) = watching("/idle");
    // Nobody waits from here on: only the background thread can read the
    // initial event and the next one.
    std::thread::sleep(BACKGROUND_GRACE * 3);
    let writer = connect(&xs);
    writer.write("/idle/node", "x").unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let mut taken = Vec::new();
    while taken.len() < 2 && Instant::now() < until {
        taken.extend(monitor.take_ready());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(taken.len(), 2, "events read with nobody waiting: {taken:?}");
}

#[test]
fn a_caller_waiting_long_for_events_does_not_make_the_background_thread_tick() {
    let (_xs, client, monitor) = watching("/long");
    monitor.wait().unwrap(); // the initial event
    let wakes = || client.router().inner.shared.lock().background_wakes;
    let before = wakes();
    // This thread holds the reader role for the whole wait.
    assert_eq!(
        monitor.wait_timeout(Duration::from_millis(300)).unwrap(),
        None
    );
    // A timer of BACKGROUND_GRACE would have woken it about 300 times.
    let during = wakes() - before;
    assert!(during <= 10, "the background thread woke {during} times");
}
