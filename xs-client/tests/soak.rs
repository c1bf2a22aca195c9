//! Soak: one shared connection used at once by threads (or tasks) making
//! batches, single calls, transactions and watches, round after round,
//! each on a fresh client with a short timeout. Every call must be
//! answered well within it: a reply left unread, a waiter not woken or a
//! daemon that holds a reply back shows up as `Timeout`.
//!
//! Each body runs twice: on a slow embedded daemon (every reply held back
//! 300 µs, so requests pile up and the reader role keeps changing hands),
//! and on the daemon the suite runs against (`XENSTORED_PATH`: a real
//! oxenstored or C xenstored, over the socket or the xenbus device).
//!
//! A few rounds run with the suite. Timing bugs show under load: run many
//! rounds beside other work, e.g. a release build of the workspace in
//! another target directory, with `XS_SOAK_ROUNDS=2000` (see
//! docs/reliability.md). This is how xs-server's delayed-reply stall was
//! found: one round in a hundred, under a parallel build, never idle.

mod common;

use std::time::{Duration, Instant};

use xs_client::{Client, Store};

/// Rounds per test: `XS_SOAK_ROUNDS`, else a few.
fn rounds() -> usize {
    std::env::var("XS_SOAK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// Each call's timeout, and the bound of a round: short, so a stall fails
/// the test quickly; longer on a real daemon, which may be in an emulated
/// machine (the dom0 run) and takes the device's requests one at a time.
fn timeout(h: &common::Harness) -> Duration {
    Duration::from_secs(if h.is_real() { 20 } else { 3 })
}

/// 30 nodes whose values are their paths.
fn populate(h: &common::Harness) -> Vec<String> {
    let paths: Vec<String> = (0..30).map(|i| h.path(&format!("n{i}"))).collect();
    let c = h.client();
    let items: Vec<(&str, &[u8])> = paths.iter().map(|p| (p.as_str(), p.as_bytes())).collect();
    assert!(c.write_many(&items).iter().all(Result::is_ok));
    paths
}

/// A slow embedded daemon.
fn slow_daemon(name: &str) -> common::Harness {
    let slow = xs_server::Fault::DelayReplies(Duration::from_micros(300));
    common::setup_with(name, xs_server::Server::builder().fault(slow))
}

/// A fresh client of the test's daemon, with the soak's timeout.
fn client(h: &common::Harness) -> Client {
    let builder = Client::builder().timeout(timeout(h));
    match h.is_real() {
        true => builder, // found as libxenstore finds it
        false => builder.unix(&h.socket),
    }
    .connect()
    .expect("connect")
}

#[test]
fn embedded_only_soak_threads_share_one_connection() {
    soak_threads(&slow_daemon("soak_sync"));
}

#[test]
fn soak_threads_share_one_connection() {
    soak_threads(&common::setup("soak_sync_any"));
}

#[cfg(feature = "tokio")]
#[test]
fn embedded_only_soak_tasks_share_one_connection() {
    soak_tasks(&slow_daemon("soak_tokio"));
}

#[cfg(feature = "tokio")]
#[test]
fn soak_tasks_share_one_connection() {
    soak_tasks(&common::setup("soak_tokio_any"));
}

fn soak_threads(h: &common::Harness) {
    let paths = populate(h);
    let timeout = timeout(h);
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    for round in 0..rounds() {
        let c = client(h);
        let watched = h.path("w");
        let m = c.monitor();
        m.watch(&watched, "t").unwrap();
        assert!(m.wait_timeout(timeout).unwrap().is_some(), "round {round}");
        let t0 = Instant::now();
        std::thread::scope(|s| {
            // Events: a writer, and the monitor waiting in short windows
            // (the reader role changes hands between callers, the monitor
            // and the background thread).
            let (w, at) = (c.clone(), watched.clone());
            s.spawn(move || {
                for i in 0..15 {
                    w.write(&at, format!("{i}")).unwrap();
                    std::thread::sleep(Duration::from_micros(500));
                }
            });
            let m = &m;
            s.spawn(move || {
                for _ in 0..5 {
                    let event = m.wait_timeout(timeout).unwrap();
                    assert!(event.is_some(), "round {round}: no event");
                }
            });
            for t in 0..3 {
                let (c, refs) = (c.clone(), &refs);
                s.spawn(move || {
                    // Each thread its own order, so replies interleave.
                    let mine: Vec<&str> =
                        refs.iter().cycle().skip(t * 7).take(30).copied().collect();
                    for (p, r) in mine.iter().zip(c.read_many(&mine)) {
                        let value = r.unwrap_or_else(|e| panic!("round {round} batch {t}: {e}"));
                        assert_eq!(value, p.as_bytes());
                    }
                });
            }
            for t in 0..3 {
                let (c, refs) = (c.clone(), &refs);
                s.spawn(move || {
                    for p in refs.iter().skip(t).step_by(4) {
                        let value = c
                            .read(p)
                            .unwrap_or_else(|e| panic!("round {round} reader {t}: {e}"));
                        assert_eq!(value, p.as_bytes());
                    }
                });
            }
            let (c, p) = (c.clone(), h.path("tx"));
            s.spawn(move || {
                for _ in 0..3 {
                    c.transact(|tx| tx.write(&p, "v"))
                        .unwrap_or_else(|e| panic!("round {round} transaction: {e}"));
                }
            });
        });
        assert!(t0.elapsed() < timeout, "round {round}: {:?}", t0.elapsed());
    }
}

#[cfg(feature = "tokio")]
fn soak_tasks(h: &common::Harness) {
    use xs_client::tokio::Client;
    let paths = populate(h);
    let timeout = timeout(h);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        for round in 0..rounds() {
            let builder = Client::builder().timeout(timeout);
            let c = match h.is_real() {
                true => builder,
                false => builder.unix(&h.socket),
            }
            .connect()
            .expect("connect");
            let watched = h.path("w");
            let mut m = c.monitor();
            m.watch(&watched, "t").await.unwrap();
            let t0 = Instant::now();
            let mut tasks = Vec::new();
            let (w, at) = (c.clone(), watched.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..15 {
                    w.write(&at, format!("{i}")).await.unwrap();
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
            }));
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    m.wait().await.unwrap();
                }
            }));
            for t in 0..8 {
                let (c, paths) = (c.clone(), paths.clone());
                tasks.push(tokio::spawn(async move {
                    for p in paths.iter().skip(t).step_by(4) {
                        // Some requests are given up at once (cancelled).
                        if t % 3 == 0 {
                            let hurry = Duration::from_micros(50 * (t as u64 + 1));
                            let _ = tokio::time::timeout(hurry, c.read(p)).await;
                        }
                        let value = c
                            .read(p)
                            .await
                            .unwrap_or_else(|e| panic!("round {round} task {t}: {e}"));
                        assert_eq!(value, p.as_bytes());
                    }
                }));
            }
            for t in 0..3 {
                let (c, paths) = (c.clone(), paths.clone());
                tasks.push(tokio::spawn(async move {
                    let refs: Vec<&str> = paths
                        .iter()
                        .map(String::as_str)
                        .cycle()
                        .skip(t * 7)
                        .take(30)
                        .collect();
                    for r in c.read_many(&refs).await {
                        r.unwrap_or_else(|e| panic!("round {round} batch {t}: {e}"));
                    }
                }));
            }
            let (c, p) = (c.clone(), h.path("tx"));
            tasks.push(tokio::spawn(async move {
                for _ in 0..3 {
                    let tx = c.transaction().await.unwrap();
                    tx.write(&p, "v").await.unwrap();
                    // Ok(false), a conflict, is an answer too.
                    tx.commit()
                        .await
                        .unwrap_or_else(|e| panic!("round {round} commit: {e}"));
                }
            }));
            for task in tasks {
                task.await.expect("the task finished");
            }
            assert!(t0.elapsed() < timeout, "round {round}: {:?}", t0.elapsed());
        }
    });
}
