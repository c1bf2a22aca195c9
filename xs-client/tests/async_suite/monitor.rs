//! Watches through `Monitor`: initial events, routing, unwatch, overflow.

use std::time::Duration;

use xs_client::aio::{AsyncMonitor, Runtime};
use xs_client::{Error, MonitorOptions};

use super::{client, common, Spawn};

const T: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(200);

pub async fn the_initial_event_arrives_after_watching<R: Runtime, S: Spawn>() {
    let h = common::setup("initial");
    let c = client::<R>(&h);
    let mut m = c.monitor();
    m.watch(&h.path("w"), "tok").await.unwrap();
    let ev = m.wait_timeout(T).await.unwrap().expect("initial event");
    assert_eq!(ev, (h.path("w").as_str(), "tok"));
    assert_eq!(m.watched(), [(h.path("w"), "tok".to_owned())]);
}

pub async fn events_fire_for_the_node_and_its_children<R: Runtime, S: Spawn>() {
    let h = common::setup("children");
    let c = client::<R>(&h);
    let mut m = c.monitor();
    m.watch(&h.path("w"), "tok").await.unwrap();
    m.wait_timeout(T).await.unwrap().unwrap();
    c.write(&h.path("w/child/grandchild"), "1").await.unwrap();
    c.write(&h.path("wx"), "not covered").await.unwrap();
    let mut paths = Vec::new();
    while let Some(ev) = m.wait_timeout(QUIET).await.unwrap() {
        paths.push(ev.path);
    }
    assert!(paths.contains(&h.path("w/child/grandchild")), "{paths:?}");
    assert!(!paths.contains(&h.path("wx")), "{paths:?}");
}

pub async fn tokens_keep_monitors_apart<R: Runtime, S: Spawn>() {
    let h = common::setup("isolation");
    let c = client::<R>(&h);
    let (mut a, mut b) = (c.monitor(), c.monitor());
    a.watch(&h.path("a"), "ta").await.unwrap();
    b.watch(&h.path("b"), "tb").await.unwrap();
    assert_eq!(a.wait_timeout(T).await.unwrap().unwrap().token, "ta");
    assert_eq!(b.wait_timeout(T).await.unwrap().unwrap().token, "tb");
    c.write(&h.path("a/x"), "1").await.unwrap();
    assert_eq!(
        a.wait_timeout(T).await.unwrap().unwrap().path,
        h.path("a/x")
    );
    assert_eq!(b.wait_timeout(QUIET).await.unwrap(), None);
}

pub async fn two_tokens_on_one_path_both_fire<R: Runtime, S: Spawn>() {
    let h = common::setup("two_tokens");
    let c = client::<R>(&h);
    let mut m = c.monitor();
    m.watch(&h.path("p"), "one").await.unwrap();
    m.watch(&h.path("p"), "two").await.unwrap();
    // Take both initial events before writing. C xenstored drops an event
    // identical to one still queued for the connection, so a write racing an
    // unsent initial event may legitimately yield one event, not two (seen
    // through the xenbus device in a dom0 under emulation).
    assert_eq!(tokens(&mut m, 2).await, ["one", "two"], "initial events");
    c.write(&h.path("p"), "v").await.unwrap();
    assert_eq!(
        tokens(&mut m, 2).await,
        ["one", "two"],
        "one event per token for the write"
    );
    assert_eq!(
        m.wait_timeout(QUIET).await.unwrap(),
        None,
        "and nothing more"
    );
}

async fn tokens<R: Runtime>(m: &mut AsyncMonitor<R>, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        if let Some(ev) = m.wait_timeout(T).await.unwrap() {
            seen.push(ev.token);
        }
    }
    seen.sort();
    seen
}

pub async fn two_monitors_may_watch_the_same_path_and_token<R: Runtime, S: Spawn>() {
    let h = common::setup("shared_watch");
    let c = client::<R>(&h);
    let (mut a, mut b) = (c.monitor(), c.monitor());
    a.watch(&h.path("s"), "t").await.unwrap();
    b.watch(&h.path("s"), "t").await.unwrap();
    assert!(a.wait_timeout(T).await.unwrap().is_some());
    assert!(
        b.wait_timeout(T).await.unwrap().is_some(),
        "each gets an initial event"
    );
    drop(a);
    c.write(&h.path("s"), "v").await.unwrap();
    assert_eq!(b.wait_timeout(T).await.unwrap().unwrap().path, h.path("s"));
}

pub async fn events_left_after_unwatch_are_dropped<R: Runtime, S: Spawn>() {
    let h = common::setup("leftovers");
    let c = client::<R>(&h);
    let mut m = c.monitor();
    m.watch(&h.path("u"), "t").await.unwrap();
    c.write(&h.path("u"), "1").await.unwrap();
    c.write(&h.path("u"), "2").await.unwrap();
    m.unwatch(&h.path("u"), "t").await.unwrap();
    assert!(m.watched().is_empty());
    assert_eq!(m.wait_timeout(QUIET).await.unwrap(), None);
    // Unwatching again is fine.
    m.unwatch(&h.path("u"), "t").await.unwrap();
}

pub async fn kept_unwatched_events_are_delivered<R: Runtime, S: Spawn>() {
    let h = common::setup("kept");
    let c = client::<R>(&h);
    let mut m = c.monitor_with(MonitorOptions {
        keep_unwatched: true,
        ..Default::default()
    });
    m.watch(&h.path("k"), "t").await.unwrap();
    c.write(&h.path("k"), "1").await.unwrap();
    // Make sure the write's event is in before unwatching.
    c.read(&h.path("k")).await.unwrap();
    m.unwatch(&h.path("k"), "t").await.unwrap();
    let mut n = 0;
    while m.wait_timeout(QUIET).await.unwrap().is_some() {
        n += 1;
    }
    assert!(n >= 1);
}

pub async fn a_slow_consumer_gets_an_overflow_error_and_other_requests_go_on<
    R: Runtime,
    S: Spawn,
>() {
    let h = common::setup("overflow");
    let c = client::<R>(&h);
    let mut m = c.monitor_with(MonitorOptions {
        capacity: 4,
        ..Default::default()
    });
    m.watch(&h.path("o"), "t").await.unwrap();
    for i in 0..50 {
        c.write(&h.path(&format!("o/{i}")), "x").await.unwrap();
    }
    // Requests kept flowing while the queue was full; now drain.
    c.read(&h.path("o/49")).await.unwrap();
    match m.wait_timeout(T).await {
        Err(Error::Overflow { dropped }) => assert!(dropped >= 40, "{dropped}"),
        other => panic!("expected overflow, got {other:?}"),
    }
    let mut rest = 0;
    while m.wait_timeout(QUIET).await.unwrap().is_some() {
        rest += 1;
    }
    assert_eq!(rest, 4);
}

pub async fn dropping_a_monitor_unwatches_on_the_daemon<R: Runtime, S: Spawn>() {
    let h = common::setup("drop_unwatch");
    let c = client::<R>(&h);
    {
        let m = c.monitor();
        m.watch(&h.path("d"), "t1").await.unwrap();
        m.watch(&h.path("e"), "t2").await.unwrap();
        if let Some(s) = &h.server {
            assert_eq!(s.stats().watches, 2);
        }
    }
    // A round trip after the drop makes sure the UNWATCHes were processed.
    c.read_opt(&h.path("x")).await.unwrap();
    if let Some(s) = &h.server {
        assert_eq!(s.stats().watches, 0);
    }
}

pub async fn relative_and_special_watch_paths<R: Runtime, S: Spawn>() {
    let h = common::setup("relative_watch");
    let c = client::<R>(&h);
    let mut m = c.monitor();
    let rel = format!("{}-rel", h.root.trim_start_matches('/').replace('/', "-"));
    m.watch(&rel, "r").await.unwrap();
    assert_eq!(m.wait_timeout(T).await.unwrap().unwrap().path, rel);
    c.write(&format!("{rel}/x"), "1").await.unwrap();
    assert_eq!(
        m.wait_timeout(T).await.unwrap().unwrap().path,
        format!("{rel}/x")
    );
    c.delete(&format!("/local/domain/0/{rel}")).await.unwrap();
    // Removing the watched node fires, with the relative path.
    assert_eq!(m.wait_timeout(T).await.unwrap().unwrap().path, rel);
    m.watch("@introduceDomain", "intro").await.unwrap();
    assert_eq!(
        m.wait_timeout(T).await.unwrap().unwrap(),
        ("@introduceDomain", "intro")
    );
}

pub async fn invalid_watch_paths_are_refused<R: Runtime, S: Spawn>() {
    let h = common::setup("bad_watch");
    let m = client::<R>(&h).monitor();
    for bad in ["@foo", "/a//b", "", "/a b"] {
        assert!(
            matches!(m.watch(bad, "t").await, Err(Error::Invalid(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        m.watch("/a", "t\0x").await,
        Err(Error::Invalid(_))
    ));
}

pub async fn wait_for_blocks_until_the_node_exists<R: Runtime, S: Spawn>() {
    let h = common::setup("wait_for");
    let c = client::<R>(&h);
    let p = h.path("late");
    let c2 = c.clone();
    let p2 = p.clone();
    let writer = S::spawn(async move {
        R::timer(std::time::Instant::now() + Duration::from_millis(100)).await;
        c2.write(&p2, "here").await.unwrap();
    });
    assert_eq!(c.wait_for(&p, T).await.unwrap(), b"here");
    writer.await;
    let err = c
        .wait_for(&h.path("never"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
}
