//! Surviving the daemon: a reconnecting client across real restarts of
//! oxenstored and across connections closed by xs-server's fault injection.
//!
//! What is checked, in the terms of `ClientBuilder::reconnect`'s contract:
//! every call ends within its timeout, in success or one of the documented
//! errors (`MaybeApplied`, `TransactionLost` (retried by `transact`), a
//! timeout); monitors report `Reconnected` and their watches fire again;
//! nothing is applied twice or lost silently.

mod peer;
mod reconnecting;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use peer::{bounded, Oxenstored};
use reconnecting::{
    increment_threads, next_count, policy, reconnecting, sees_reconnection_then_events, Tally,
    TIMEOUT,
};
use xs_client::{Client, Error, Reconnect, Store};
use xs_server::{Fault, Server};

/// kill -9 oxenstored and start a new one on the same socket while 8
/// threads run `transact` increments and 2 monitors watch. The new daemon
/// starts empty: the counter on it must equal the commits that succeeded
/// against it (told apart by a marker node only the old daemon has, read
/// inside each transaction).
#[test]
fn oxenstored_killed_and_restarted_under_load() {
    bounded(Duration::from_secs(120), || {
        let mut daemon = Oxenstored::start("reconnect", "");
        let client = reconnecting(daemon.socket());
        client.write("/instance", "old").unwrap();
        let watchers: Vec<_> = ["one", "two"]
            .iter()
            .map(|token| {
                let m = client.monitor();
                m.watch("/watched", token).unwrap();
                m.wait_timeout(TIMEOUT).unwrap().expect("initial event");
                m
            })
            .collect();

        let stop = Arc::new(AtomicBool::new(false));
        let threads = increment_threads(&client, 8, &stop);

        thread::sleep(Duration::from_millis(300));
        daemon.kill();
        thread::sleep(Duration::from_millis(200));
        daemon.restart();
        thread::sleep(Duration::from_millis(700));
        stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for t in threads {
            tally.add(t.join().unwrap());
        }
        tally.check();
        assert!(client.router().reconnections() >= 1);
        assert_eq!(client.read_opt("/instance").unwrap(), None, "a new daemon");
        let counter: u64 = client.read_string("/counter").unwrap().parse().unwrap();
        assert_eq!(counter, tally.new_commits);
        assert!(counter > 0, "no commit reached the new daemon");
        for m in &watchers {
            sees_reconnection_then_events(m, &client, "/watched");
        }
    });
}

/// xs-server closes every connection after K requests (the store
/// survives): for many K, 2 threads add 1 ten times each. Successes are
/// applied exactly once; a `MaybeApplied` commit may or may not have been:
/// successes <= final <= successes + maybe-applied. Nothing hangs.
#[test]
fn connections_closed_after_k_requests_lose_nothing() {
    bounded(Duration::from_secs(120), || {
        for k in [4u64, 5, 6, 7, 9, 12, 17, 25, 40] {
            let server = Server::builder()
                .fault(Fault::CloseAfter(k))
                .spawn()
                .expect("server");
            let client = reconnecting(server.socket_path());
            let ok = Arc::new(AtomicU64::new(0));
            let maybe = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (client, ok, maybe) = (client.clone(), ok.clone(), maybe.clone());
                    thread::spawn(move || {
                        for _ in 0..10 {
                            let result = client.transact(|tx| {
                                tx.write("/counter", next_count(tx.read_opt("/counter")?))
                            });
                            match result {
                                Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                                Err(Error::MaybeApplied { .. }) => {
                                    maybe.fetch_add(1, Ordering::Relaxed)
                                }
                                Err(e) => panic!("K={k}: undocumented error {e:?}"),
                            };
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let (ok, maybe) = (ok.load(Ordering::Relaxed), maybe.load(Ordering::Relaxed));
            // A fresh connection's first request is always answered. Two
            // clients in step may lose every commit to the fault (each one
            // the request that closes the connection): no counter then.
            let fresh = Client::unix(server.socket_path()).unwrap();
            let last: u64 = fresh
                .read_opt("/counter")
                .unwrap()
                .map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap());
            assert!(
                ok <= last && last <= ok + maybe,
                "K={k}: {ok} successes, {maybe} maybe applied, counter {last}"
            );
            assert!(
                client.router().reconnections() > 0,
                "K={k}: never reconnected"
            );
        }
    });
}

/// Read-only requests in flight when the connection drops are sent again
/// and answered; writes in flight say they may have been applied.
#[test]
fn reads_are_sent_again_and_writes_report_maybe_applied() {
    // Every connection answers 2 requests, then closes on the third.
    let server = Server::builder()
        .fault(Fault::CloseAfter(2))
        .spawn()
        .expect("server");
    let setup = Client::unix(server.socket_path()).unwrap();
    setup.write("/r", "value").unwrap();
    let client = reconnecting(server.socket_path());
    // Reads only: each lost third read is sent again on a new connection.
    for _ in 0..10 {
        assert_eq!(client.read("/r").unwrap(), b"value");
    }
    assert!(client.router().reconnections() >= 4);
    // A write that is the third request of its connection is never
    // answered: it may or may not have been applied.
    let client = reconnecting(server.socket_path());
    client.read("/r").unwrap();
    client.read("/r").unwrap();
    let err = client.write("/w", "1").unwrap_err();
    assert!(matches!(err, Error::MaybeApplied { .. }), "{err:?}");
    assert_eq!(err.kind(), "maybe-applied");
}

/// A daemon that is not up yet: `connect` waits for its socket, bounded.
#[test]
fn connect_waits_for_a_daemon_that_starts_later() {
    let dir = peer::temp_dir("late");
    let socket = dir.join("socket");
    let server_socket = socket.clone();
    let starter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        Server::builder()
            .socket_path(&server_socket)
            .spawn()
            .expect("server")
    });
    let t0 = Instant::now();
    let client = reconnecting(&socket);
    assert!(t0.elapsed() >= Duration::from_millis(250));
    client.write("/up", "1").unwrap();
    drop(starter.join().unwrap());

    // Without the daemon ever coming, it gives up at the policy's bound.
    let t0 = Instant::now();
    let err = Client::builder()
        .unix(dir.join("never"))
        .reconnect(Reconnect {
            give_up_after: Some(Duration::from_millis(300)),
            ..policy()
        })
        .connect()
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
}

/// A daemon that accepts and closes every connection before answering is
/// not hammered: each such connection counts as a failed attempt, and the
/// back-off goes on (without it: thousands of connections a second).
#[test]
fn a_daemon_closing_at_once_is_not_hammered() {
    let server = Server::builder()
        .fault(Fault::CloseAfter(0))
        .spawn()
        .expect("server");
    let client = Client::builder()
        .unix(server.socket_path())
        .timeout(Duration::from_secs(1))
        .reconnect(policy())
        .connect()
        .unwrap();
    let err = client.read("/x").unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    let n = client.router().reconnections();
    assert!((3..30).contains(&n), "{n} connections in 1 s");
}

/// Without the option, behaviour is as before: the first failure is final.
#[test]
fn without_reconnect_the_client_fails_fast() {
    let server = Server::builder()
        .fault(Fault::CloseAfter(1))
        .spawn()
        .expect("server");
    let client = Client::unix(server.socket_path()).unwrap();
    client.read_opt("/x").unwrap();
    let err = client.read_opt("/x").unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    assert!(client.read_opt("/x").unwrap_err().is_disconnected());
}
