//! Dropped clients, transactions and monitors leave nothing behind on the
//! server, checked on xs-server's side.

mod common;

use std::time::{Duration, Instant};

use xs_client::Store;

fn settle(h: &common::Harness, done: impl Fn(&xs_server::Stats) -> bool) -> xs_server::Stats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = h.server().stats();
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn embedded_only_dropped_transactions_and_monitors_leave_nothing() {
    let h = common::setup_with("leftovers", xs_server::Server::builder());
    let c = h.client();
    {
        let _tx1 = c.transaction().unwrap();
        let tx2 = c.transaction().unwrap();
        tx2.write(&h.path("x"), "1").unwrap();
        let m = c.monitor();
        m.watch(&h.path("a"), "1").unwrap();
        m.watch("@releaseDomain", "2").unwrap();
        let s = h.server().stats();
        assert_eq!((s.transactions, s.watches), (2, 2));
    }
    // The client is still connected; its drops were sent on the wire.
    c.read_opt(&h.path("x")).unwrap();
    let s = h.server().stats();
    assert_eq!((s.transactions, s.watches), (0, 0));
}

#[test]
fn embedded_only_a_dropped_client_closes_its_connection() {
    let h = common::setup_with("dropped_client", xs_server::Server::builder());
    let before = h.server().stats().connections;
    for _ in 0..20 {
        let c = h.client();
        let m = c.monitor();
        m.watch(&h.path("w"), "t").unwrap();
        std::mem::forget(c.transaction().unwrap());
        drop(m);
        drop(c);
    }
    let s = settle(&h, |s| s.connections == before);
    assert_eq!(s.connections, before);
    assert_eq!((s.transactions, s.watches), (0, 0));
}

#[test]
fn embedded_only_increments_are_exact_under_injected_conflicts() {
    let h = common::setup_with("injected", xs_server::Server::builder());
    let c = h.client();
    let p = h.path("counter");
    c.write(&p, "0").unwrap();
    let (threads, each) = (4, 25);
    std::thread::scope(|s| {
        // Keep injecting conflicts while the workers run.
        let injector = s.spawn(|| {
            for _ in 0..20 {
                h.server().fail_next_commits(3);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        for _ in 0..threads {
            let c = c.clone();
            let p = &p;
            s.spawn(move || {
                for _ in 0..each {
                    c.transact(|tx| {
                        let n: u64 = tx.read_string(p)?.parse().unwrap();
                        tx.write(p, (n + 1).to_string())
                    })
                    .unwrap();
                }
            });
        }
        injector.join().unwrap();
    });
    assert_eq!(c.read_string(&p).unwrap(), (threads * each).to_string());
}
