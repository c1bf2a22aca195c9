//! Watches through `Monitor`: initial events, routing, unwatch, overflow.

mod common;

use std::time::Duration;

use xs_client::{Error, MonitorOptions, Store};

const T: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(200);

#[test]
fn the_initial_event_arrives_after_watching() {
    let h = common::setup("initial");
    let c = h.client();
    let m = c.monitor();
    m.watch(&h.path("w"), "tok").unwrap();
    let ev = m.wait_timeout(T).unwrap().expect("initial event");
    assert_eq!(ev, (h.path("w").as_str(), "tok"));
    assert_eq!(m.watched(), [(h.path("w"), "tok".to_owned())]);
}

#[test]
fn events_fire_for_the_node_and_its_children() {
    let h = common::setup("children");
    let c = h.client();
    let m = c.monitor();
    m.watch(&h.path("w"), "tok").unwrap();
    m.wait_timeout(T).unwrap().unwrap();
    c.write(&h.path("w/child/grandchild"), "1").unwrap();
    c.write(&h.path("wx"), "not covered").unwrap();
    let mut paths = Vec::new();
    while let Some(ev) = m.wait_timeout(QUIET).unwrap() {
        paths.push(ev.path);
    }
    assert!(paths.contains(&h.path("w/child/grandchild")), "{paths:?}");
    assert!(!paths.contains(&h.path("wx")), "{paths:?}");
}

#[test]
fn tokens_keep_monitors_apart() {
    let h = common::setup("isolation");
    let c = h.client();
    let (a, b) = (c.monitor(), c.monitor());
    a.watch(&h.path("a"), "ta").unwrap();
    b.watch(&h.path("b"), "tb").unwrap();
    assert_eq!(a.wait_timeout(T).unwrap().unwrap().token, "ta");
    assert_eq!(b.wait_timeout(T).unwrap().unwrap().token, "tb");
    c.write(&h.path("a/x"), "1").unwrap();
    assert_eq!(a.wait_timeout(T).unwrap().unwrap().path, h.path("a/x"));
    assert_eq!(b.wait_timeout(QUIET).unwrap(), None);
}

#[test]
fn two_tokens_on_one_path_both_fire() {
    let h = common::setup("two_tokens");
    let c = h.client();
    let m = c.monitor();
    m.watch(&h.path("p"), "one").unwrap();
    m.watch(&h.path("p"), "two").unwrap();
    // Take both initial events before writing. C xenstored drops an event
    // identical to one still queued for the connection, so a write racing an
    // unsent initial event may legitimately yield one event, not two (seen
    // through the xenbus device in a dom0 under emulation).
    let tokens = |n: usize| -> Vec<String> {
        let mut seen: Vec<String> = (0..n)
            .filter_map(|_| m.wait_timeout(T).unwrap().map(|ev| ev.token))
            .collect();
        seen.sort();
        seen
    };
    assert_eq!(tokens(2), ["one", "two"], "initial events");
    c.write(&h.path("p"), "v").unwrap();
    assert_eq!(
        tokens(2),
        ["one", "two"],
        "one event per token for the write"
    );
    assert_eq!(m.wait_timeout(QUIET).unwrap(), None, "and nothing more");
}

#[test]
fn two_monitors_may_watch_the_same_path_and_token() {
    let h = common::setup("shared_watch");
    let c = h.client();
    let (a, b) = (c.monitor(), c.monitor());
    a.watch(&h.path("s"), "t").unwrap();
    b.watch(&h.path("s"), "t").unwrap();
    assert!(a.wait_timeout(T).unwrap().is_some());
    assert!(
        b.wait_timeout(T).unwrap().is_some(),
        "each gets an initial event"
    );
    drop(a);
    c.write(&h.path("s"), "v").unwrap();
    assert_eq!(b.wait_timeout(T).unwrap().unwrap().path, h.path("s"));
}

#[test]
fn events_left_after_unwatch_are_dropped() {
    let h = common::setup("leftovers");
    let c = h.client();
    let m = c.monitor();
    m.watch(&h.path("u"), "t").unwrap();
    c.write(&h.path("u"), "1").unwrap();
    c.write(&h.path("u"), "2").unwrap();
    m.unwatch(&h.path("u"), "t").unwrap();
    assert!(m.watched().is_empty());
    assert_eq!(m.wait_timeout(QUIET).unwrap(), None);
    // Unwatching again is fine.
    m.unwatch(&h.path("u"), "t").unwrap();
}

#[test]
fn kept_unwatched_events_are_delivered() {
    let h = common::setup("kept");
    let c = h.client();
    let m = c.monitor_with(MonitorOptions {
        keep_unwatched: true,
        ..Default::default()
    });
    m.watch(&h.path("k"), "t").unwrap();
    c.write(&h.path("k"), "1").unwrap();
    // Make sure the write's event is in before unwatching.
    c.read(&h.path("k")).unwrap();
    m.unwatch(&h.path("k"), "t").unwrap();
    let mut n = 0;
    while m.wait_timeout(QUIET).unwrap().is_some() {
        n += 1;
    }
    assert!(n >= 1);
}

#[test]
fn a_slow_consumer_gets_an_overflow_error_and_other_requests_go_on() {
    let h = common::setup("overflow");
    let c = h.client();
    let m = c.monitor_with(MonitorOptions {
        capacity: 4,
        ..Default::default()
    });
    m.watch(&h.path("o"), "t").unwrap();
    for i in 0..50 {
        c.write(&h.path(&format!("o/{i}")), "x").unwrap();
    }
    // Requests kept flowing while the queue was full; now drain.
    c.read(&h.path("o/49")).unwrap();
    match m.wait_timeout(T) {
        Err(Error::Overflow { dropped }) => assert!(dropped >= 40, "{dropped}"),
        other => panic!("expected overflow, got {other:?}"),
    }
    let mut rest = 0;
    while m.wait_timeout(QUIET).unwrap().is_some() {
        rest += 1;
    }
    assert_eq!(rest, 4);
}

#[test]
fn dropping_a_monitor_unwatches_on_the_daemon() {
    let h = common::setup("drop_unwatch");
    let c = h.client();
    {
        let m = c.monitor();
        m.watch(&h.path("d"), "t1").unwrap();
        m.watch(&h.path("e"), "t2").unwrap();
        if let Some(s) = &h.server {
            assert_eq!(s.stats().watches, 2);
        }
    }
    // A round trip after the drop makes sure the UNWATCHes were processed.
    c.read_opt(&h.path("x")).unwrap();
    if let Some(s) = &h.server {
        assert_eq!(s.stats().watches, 0);
    }
}

#[test]
fn relative_and_special_watch_paths() {
    let h = common::setup("relative_watch");
    let c = h.client();
    let m = c.monitor();
    let rel = format!("{}-rel", h.root.trim_start_matches('/').replace('/', "-"));
    m.watch(&rel, "r").unwrap();
    assert_eq!(m.wait_timeout(T).unwrap().unwrap().path, rel);
    c.write(&format!("{rel}/x"), "1").unwrap();
    assert_eq!(m.wait_timeout(T).unwrap().unwrap().path, format!("{rel}/x"));
    c.delete(&format!("/local/domain/0/{rel}")).unwrap();
    // Removing the watched node fires, with the relative path.
    assert_eq!(m.wait_timeout(T).unwrap().unwrap().path, rel);
    m.watch("@introduceDomain", "intro").unwrap();
    assert_eq!(
        m.wait_timeout(T).unwrap().unwrap(),
        ("@introduceDomain", "intro")
    );
}

#[test]
fn invalid_watch_paths_are_refused() {
    let h = common::setup("bad_watch");
    let m = h.client().monitor();
    for bad in ["@foo", "/a//b", "", "/a b"] {
        assert!(
            matches!(m.watch(bad, "t"), Err(Error::Invalid(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(m.watch("/a", "t\0x"), Err(Error::Invalid(_))));
}

#[test]
fn wait_for_blocks_until_the_node_exists() {
    let h = common::setup("wait_for");
    let c = h.client();
    let p = h.path("late");
    std::thread::scope(|s| {
        let c2 = c.clone();
        let p2 = p.clone();
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c2.write(&p2, "here").unwrap();
        });
        assert_eq!(c.wait_for(&p, T).unwrap(), b"here");
    });
    let err = c
        .wait_for(&h.path("never"), Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
}

/// Whether `fd` polls readable within `timeout` (through mio, as an event
/// loop of one's own would).
fn readable(fd: std::os::fd::RawFd, timeout: Duration) -> bool {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(1);
    poll.poll(&mut events, Some(timeout)).unwrap();
    !events.is_empty()
}

#[test]
fn a_poll_loop_sees_readiness_and_takes_events_without_blocking() {
    use std::os::fd::AsRawFd;
    let h = common::setup("readiness");
    let c = h.client();
    let m = c.monitor();
    let fd = m.readiness_fd().unwrap().as_raw_fd();
    assert_eq!(m.as_raw_fd(), fd);
    assert!(!readable(fd, QUIET), "nothing watched yet");
    m.watch(&h.path("p"), "t").unwrap();
    // The initial event arrives with nobody waiting in the monitor.
    assert!(readable(fd, T));
    let got: Vec<_> = m.take_ready().into_iter().map(Result::unwrap).collect();
    assert_eq!(got, [xs_client::Event::new(h.path("p"), "t")]);
    assert!(!readable(fd, QUIET), "taken: not readable any more");
    assert!(m.take_ready().is_empty());
    c.write(&h.path("p/q"), "1").unwrap();
    c.write(&h.path("p/r"), "2").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        assert!(readable(fd, T), "saw {seen:?}");
        seen.extend(m.take_ready().into_iter().map(|e| e.unwrap().path));
    }
    assert_eq!(seen, [h.path("p/q"), h.path("p/r")].into());
}
