//! Cancellation: dropping a future at any await point leaves the
//! connection usable, and leaks nothing on the daemon (checked with the
//! embedded server's counters; a real daemon checks the usability only).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use xs_client::aio::{AsyncClient, Runtime};

use super::{client, common, join_all, Spawn};

/// Polls `fut` `n` times, pausing between polls so that the daemon can
/// answer, then drops it; its output if it finished first.
async fn poll_then_drop<R: Runtime, F: Future>(fut: F, n: usize) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..n {
        if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(v);
        }
        pause::<R>(Duration::from_micros(300)).await;
    }
    None
}

async fn pause<R: Runtime>(d: Duration) {
    R::timer(Instant::now() + d).await;
}

/// `fut`, or a panic after five seconds (a hang is a failure).
async fn within<R: Runtime, F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut timer = R::timer(Instant::now() + Duration::from_secs(5));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        if std::pin::Pin::new(&mut timer).poll(cx).is_ready() {
            panic!("hung");
        }
        Poll::Pending
    })
    .await
}

/// Waits (up to two seconds) until the embedded server's counters say
/// `check`; a real daemon has no counters, so this passes there. The
/// client keeps being used meanwhile: with no task waiting on it, nothing
/// reads the late replies whose cleanups are checked here.
async fn eventually<R: Runtime>(
    c: &AsyncClient<R>,
    h: &common::Harness,
    check: impl Fn(&xs_server::Stats) -> bool,
) {
    let Some(server) = &h.server else { return };
    let until = Instant::now() + Duration::from_secs(2);
    while !check(&server.stats()) {
        assert!(Instant::now() < until, "{:?}", server.stats());
        within::<R, _>(c.exists("/")).await.unwrap();
        pause::<R>(Duration::from_millis(5)).await;
    }
}

/// Each of `n` nodes holds its own name: a reply given to the wrong
/// request shows.
async fn numbered<R: Runtime>(c: &AsyncClient<R>, h: &common::Harness, n: usize) -> Vec<String> {
    let paths: Vec<String> = (0..n).map(|i| h.path(&format!("n{i}"))).collect();
    for p in &paths {
        c.write(p, p).await.unwrap();
    }
    paths
}

async fn check_numbered<R: Runtime>(c: &AsyncClient<R>, paths: &[String]) {
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    for (p, v) in paths.iter().zip(within::<R, _>(c.read_many(&refs)).await) {
        assert_eq!(v.unwrap(), p.as_bytes());
    }
    for p in paths {
        assert_eq!(within::<R, _>(c.read(p)).await.unwrap(), p.as_bytes());
    }
}

pub async fn a_read_dropped_at_every_await_point_leaves_the_connection_usable<
    R: Runtime,
    S: Spawn,
>() {
    let h = common::setup("cancel_read");
    let c = client::<R>(&h);
    let paths = numbered(&c, &h, 4).await;
    for n in 0..8 {
        if let Some(v) = poll_then_drop::<R, _>(c.read(&paths[n % 4]), n).await {
            assert_eq!(v.unwrap(), paths[n % 4].as_bytes());
        }
        check_numbered(&c, &paths).await;
    }
    assert!(c.is_connected());
}

pub async fn concurrent_requests_dropped_midway_leave_the_others_right<R: Runtime, S: Spawn>() {
    let h = common::setup("cancel_many");
    let c = client::<R>(&h);
    let paths = numbered(&c, &h, 16).await;
    for n in 0..6 {
        let reads = paths.iter().map(|p| c.read(p)).collect();
        poll_then_drop::<R, _>(join_all(reads), n).await;
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        poll_then_drop::<R, _>(c.read_many(&refs), n).await;
        poll_then_drop::<R, _>(c.walk(&h.path("")), n).await;
        check_numbered(&c, &paths).await;
    }
    let walked = within::<R, _>(c.walk(&h.path(""))).await.unwrap();
    assert_eq!(walked.len(), 17);
}

pub async fn dropping_the_driving_request_hands_the_connection_on<R: Runtime, S: Spawn>() {
    let h = common::setup("cancel_driver");
    let c = client::<R>(&h);
    let paths = numbered(&c, &h, 2).await;
    for _ in 0..20 {
        let mut first = Box::pin(c.read(&paths[0]));
        let mut second = Box::pin(c.read(&paths[1]));
        // The first poll of each: the first drives, the second follows.
        let polled = poll_fn(|cx| {
            let a = first.as_mut().poll(cx).is_ready();
            let b = second.as_mut().poll(cx);
            Poll::Ready((a, b))
        })
        .await;
        drop(first);
        let second = match polled {
            (_, Poll::Ready(v)) => v,
            (_, Poll::Pending) => within::<R, _>(second).await,
        };
        assert_eq!(second.unwrap(), paths[1].as_bytes());
    }
}

pub async fn a_transaction_start_dropped_at_every_await_point_leaks_nothing<
    R: Runtime,
    S: Spawn,
>() {
    let h = common::setup("cancel_tx_start");
    let c = client::<R>(&h);
    let paths = numbered(&c, &h, 2).await;
    for n in 0..6 {
        // If it finished, the transaction itself is dropped: aborted.
        let tx = poll_then_drop::<R, _>(c.transaction(), n).await;
        drop(tx);
        check_numbered(&c, &paths).await;
        eventually::<R>(&c, &h, |s| s.transactions == 0).await;
    }
}

pub async fn a_dropped_transaction_is_aborted_without_waiting<R: Runtime, S: Spawn>() {
    let h = common::setup("cancel_tx");
    let c = client::<R>(&h);
    let p = h.path("x");
    c.mkdir(&h.path("")).await.unwrap();
    for n in 0..6 {
        let tx = c.transaction().await.unwrap();
        poll_then_drop::<R, _>(tx.write(&p, "in tx"), n).await;
        drop(tx);
        eventually::<R>(&c, &h, |s| s.transactions == 0).await;
        assert!(!c.exists(&p).await.unwrap());
    }
    // A transaction dropped inside a transact closure's future too.
    let fut = c.transact(|tx| {
        let p = p.clone();
        async move { tx.write(&p, "in tx").await }
    });
    poll_then_drop::<R, _>(fut, 2).await;
    eventually::<R>(&c, &h, |s| s.transactions == 0).await;
}

pub async fn a_dropped_commit_still_goes_out<R: Runtime, S: Spawn>() {
    let h = common::setup("cancel_commit");
    let c = client::<R>(&h);
    for n in 1..5 {
        let p = h.path(&format!("c{n}"));
        let tx = c.transaction().await.unwrap();
        tx.write(&p, "committed").await.unwrap();
        poll_then_drop::<R, _>(tx.commit(), n).await;
        let until = Instant::now() + Duration::from_secs(2);
        while !c.exists(&p).await.unwrap() {
            assert!(Instant::now() < until, "the commit was lost");
            pause::<R>(Duration::from_millis(5)).await;
        }
        eventually::<R>(&c, &h, |s| s.transactions == 0).await;
    }
}

pub async fn a_watch_dropped_at_every_await_point_leaks_no_watch<R: Runtime, S: Spawn>() {
    let h = common::setup("cancel_watch");
    let c = client::<R>(&h);
    let paths = numbered(&c, &h, 2).await;
    for n in 0..6 {
        let m = c.monitor();
        poll_then_drop::<R, _>(m.watch(&paths[0], "t"), n).await;
        assert!(n > 0 || m.watched().is_empty());
        drop(m);
        check_numbered(&c, &paths).await;
        eventually::<R>(&c, &h, |s| s.watches == 0).await;
    }
    // A monitor's wait dropped while pending loses no event.
    let mut m = c.monitor();
    m.watch(&paths[1], "t").await.unwrap();
    assert_eq!(m.wait().await.unwrap().path, paths[1]);
    poll_then_drop::<R, _>(m.wait(), 3).await;
    c.write(&paths[1], "changed").await.unwrap();
    let ev = within::<R, _>(m.wait()).await.unwrap();
    assert_eq!(ev.path, paths[1]);
}
