//! The router's protocol state, driven by scripted frames: no socket.

use xs_wire::{Frame, Header, Op};

use super::*;

/// Wakers are plain numbers here; each test records which were woken.
type P = Protocol<u32>;

fn frame(op: Op, req_id: u32, tx_id: u32, payload: &[u8]) -> (Header, Vec<u8>) {
    (
        Header {
            op,
            req_id,
            tx_id,
            len: payload.len() as u32,
        },
        payload.to_vec(),
    )
}

/// Feeds one frame; returns the wakers it woke and the result.
fn feed(p: &mut P, f: &(Header, Vec<u8>)) -> (Vec<u32>, Result<(), Error>) {
    let mut woken = Vec::new();
    let r = p.handle_frame(
        &Frame {
            header: f.0,
            payload: &f.1,
        },
        &mut |w: &u32| woken.push(*w),
    );
    (woken, r)
}

fn reply_payload(p: &mut P, req_id: u32) -> Vec<u8> {
    p.take(req_id).expect("ready").expect("ok").payload
}

#[test]
fn request_ids_start_at_one_and_increase() {
    let mut p = P::new();
    let ids: Vec<u32> = (0..3)
        .map(|i| p.register(Op::Read, 0, i).unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn request_ids_wrap_skipping_zero_and_ids_in_flight() {
    let mut p = P::new();
    let first = p.register(Op::Read, 0, 0).unwrap();
    assert_eq!(first, 1);
    p.next_req_id = u32::MAX;
    assert_eq!(p.register(Op::Read, 0, 0).unwrap(), u32::MAX);
    // 0 is skipped, and 1 is still in flight.
    assert_eq!(p.register(Op::Read, 0, 0).unwrap(), 2);
}

#[test]
fn replies_out_of_order_reach_their_callers() {
    let mut p = P::new();
    let a = p.register(Op::Read, 0, 10).unwrap();
    let b = p.register(Op::Read, 0, 20).unwrap();
    let (woken, r) = feed(&mut p, &frame(Op::Read, b, 0, b"second"));
    assert!(r.is_ok());
    assert_eq!(woken, [20]);
    assert!(!p.is_ready(a));
    let (woken, _) = feed(&mut p, &frame(Op::Read, a, 0, b"first"));
    assert_eq!(woken, [10]);
    assert_eq!(reply_payload(&mut p, a), b"first");
    assert_eq!(reply_payload(&mut p, b), b"second");
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn error_replies_are_delivered_as_responses() {
    let mut p = P::new();
    let a = p.register(Op::Read, 0, 1).unwrap();
    feed(&mut p, &frame(Op::Error, a, 0, b"ENOENT\0"))
        .1
        .unwrap();
    let resp = p.take(a).unwrap().unwrap();
    assert_eq!(resp.header.op, Op::Error);
}

/// Each case: what arrives, and whether the connection must die.
#[test]
fn frames_the_client_cannot_accept_kill_the_connection() {
    struct Case {
        what: &'static str,
        frame: (Header, Vec<u8>),
        fatal: bool,
    }
    // The pending request is READ, req_id 1, tx 7.
    let cases = [
        Case {
            what: "matching reply",
            frame: frame(Op::Read, 1, 7, b"v"),
            fatal: false,
        },
        Case {
            what: "error reply",
            frame: frame(Op::Error, 1, 7, b"EINVAL\0"),
            fatal: false,
        },
        Case {
            what: "unknown req_id",
            frame: frame(Op::Read, 99, 7, b"v"),
            fatal: true,
        },
        Case {
            what: "wrong type",
            frame: frame(Op::Write, 1, 7, b"OK\0"),
            fatal: true,
        },
        Case {
            what: "unknown op",
            frame: frame(Op::Unknown(77), 1, 7, b""),
            fatal: true,
        },
        Case {
            what: "wrong tx_id",
            frame: frame(Op::Read, 1, 8, b"v"),
            fatal: true,
        },
        Case {
            what: "event with one field",
            frame: frame(Op::WatchEvent, 0, 0, b"/a\0"),
            fatal: true,
        },
        Case {
            what: "event with three fields",
            frame: frame(Op::WatchEvent, 0, 0, b"/a\0t\0x\0"),
            fatal: true,
        },
        Case {
            what: "well-formed event",
            frame: frame(Op::WatchEvent, 0, 0, b"/a\0t\0"),
            fatal: false,
        },
        Case {
            what: "WATCH reply id 0, no WATCH waiting",
            frame: frame(Op::Watch, 0, 0, b"OK\0"),
            fatal: true,
        },
    ];
    for case in cases {
        let mut p = P::new();
        let id = p.register(Op::Read, 7, 5).unwrap();
        assert_eq!(id, 1);
        let (woken, r) = feed(&mut p, &case.frame);
        assert_eq!(r.is_err(), case.fatal, "{}", case.what);
        assert_eq!(p.is_dead(), case.fatal, "{}", case.what);
        if case.fatal {
            assert_eq!(woken, [5], "{}: the waiter is woken", case.what);
            let err = p.take(id).unwrap().unwrap_err();
            assert!(err.is_disconnected(), "{}: {err}", case.what);
            assert!(
                p.register(Op::Read, 0, 6).is_err(),
                "{}: later calls fail fast",
                case.what
            );
        }
    }
}

#[test]
fn xenbus_watch_reply_with_req_id_zero_goes_to_the_oldest_watch() {
    let mut p = P::new();
    let read = p.register(Op::Read, 0, 1).unwrap();
    let w1 = p.register(Op::Watch, 0, 2).unwrap();
    let w2 = p.register(Op::Watch, 0, 3).unwrap();
    // The device also leaves tx_id unset on these; accept any.
    let (woken, r) = feed(&mut p, &frame(Op::Watch, 0, 0xdead, b"OK\0"));
    r.unwrap();
    assert_eq!(woken, [2]);
    assert!(p.is_ready(w1));
    assert!(!p.is_ready(w2));
    assert!(!p.is_ready(read));
}

#[test]
fn late_replies_to_abandoned_requests_are_dropped() {
    let mut p = P::new();
    let a = p.register(Op::Read, 0, 1).unwrap();
    p.abandon(a);
    let (woken, r) = feed(&mut p, &frame(Op::Read, a, 0, b"late"));
    r.unwrap();
    assert!(woken.is_empty());
    assert!(!p.is_dead());
    // A second copy is unknown now.
    assert!(feed(&mut p, &frame(Op::Read, a, 0, b"late")).1.is_err());
}

#[test]
fn failing_wakes_every_waiter_and_monitor_once() {
    let mut p = P::new();
    p.register(Op::Read, 0, 1).unwrap();
    p.register(Op::Write, 0, 2).unwrap();
    let m = p.add_monitor(8, false, 3);
    let mut woken = p.fail(Error::Disconnected {
        reason: "eof".into(),
    });
    woken.sort();
    assert_eq!(woken, [1, 2, 3]);
    assert!(p
        .fail(Error::Disconnected {
            reason: "again".into()
        })
        .is_empty());
    assert!(matches!(
        p.next_event(m),
        Some(Err(Error::Disconnected { .. }))
    ));
}

fn event(path: &str, token: &str) -> (Header, Vec<u8>) {
    let mut payload = Vec::new();
    for s in [path, token] {
        payload.extend_from_slice(s.as_bytes());
        payload.push(0);
    }
    frame(Op::WatchEvent, 0, 0, &payload)
}

fn drain(p: &mut P, m: MonitorId) -> Vec<String> {
    std::iter::from_fn(|| p.next_event(m))
        .map(|r| r.map(|e| e.path).unwrap_or_else(|e| format!("error: {e}")))
        .collect()
}

#[test]
fn events_are_routed_by_token_and_covered_path() {
    let mut p = P::new();
    let a = p.add_monitor(16, false, 1);
    let b = p.add_monitor(16, false, 2);
    assert_eq!(p.watch(a, "/vm", "tok").unwrap(), WireAction::Send);
    assert_eq!(p.watch(b, "/local", "tok").unwrap(), WireAction::Send);
    assert_eq!(p.watch(b, "device", "rel").unwrap(), WireAction::Send);
    assert_eq!(
        p.watch(b, "@releaseDomain", "special").unwrap(),
        WireAction::Send
    );
    // Same token, two monitors, different paths: each gets only its own.
    for (path, token) in [
        ("/vm/1", "tok"),
        ("/vmx", "tok"),
        ("/local/domain", "tok"),
        ("/vm", "other-token"),
        ("device/vif/0", "rel"),
        ("@releaseDomain", "special"),
    ] {
        feed(&mut p, &event(path, token)).1.unwrap();
    }
    assert_eq!(drain(&mut p, a), ["/vm/1"]);
    assert_eq!(
        drain(&mut p, b),
        ["/local/domain", "device/vif/0", "@releaseDomain"]
    );
}

#[test]
fn two_tokens_on_one_path_each_fire() {
    let mut p = P::new();
    let m = p.add_monitor(16, false, 1);
    p.watch(m, "/a", "one").unwrap();
    p.watch(m, "/a", "two").unwrap();
    feed(&mut p, &event("/a/x", "one")).1.unwrap();
    feed(&mut p, &event("/a/x", "two")).1.unwrap();
    let tokens: Vec<_> = std::iter::from_fn(|| p.next_event(m))
        .map(|e| e.unwrap().token)
        .collect();
    assert_eq!(tokens, ["one", "two"]);
}

#[test]
fn duplicate_watch_on_one_monitor_is_eexist() {
    let mut p = P::new();
    let m = p.add_monitor(16, false, 1);
    p.watch(m, "/a", "t").unwrap();
    assert_eq!(
        p.watch(m, "/a", "t").unwrap_err().errno(),
        Some(xs_wire::Errno::EEXIST)
    );
}

#[test]
fn shared_registrations_are_sent_once_and_released_by_the_last_user() {
    let mut p = P::new();
    let a = p.add_monitor(16, false, 1);
    let b = p.add_monitor(16, false, 2);
    assert_eq!(p.watch(a, "/a", "t").unwrap(), WireAction::Send);
    // The second user gets the initial event the daemon won't send again.
    assert_eq!(p.watch(b, "/a", "t").unwrap(), WireAction::Nothing);
    assert_eq!(drain(&mut p, b), ["/a"]);
    assert_eq!(p.registration_count(), 1);
    assert_eq!(p.unwatch(a, "/a", "t").unwrap(), WireAction::Nothing);
    assert_eq!(p.remove_monitor(b), [("/a".to_owned(), "t".to_owned())]);
    assert_eq!(p.registration_count(), 0);
}

#[test]
fn events_left_after_unwatch_are_dropped_unless_kept() {
    for keep in [false, true] {
        let mut p = P::new();
        let m = p.add_monitor(16, keep, 1);
        p.watch(m, "/a", "t").unwrap();
        feed(&mut p, &event("/a/queued", "t")).1.unwrap();
        p.unwatch(m, "/a", "t").unwrap();
        feed(&mut p, &event("/a/late", "t")).1.unwrap();
        let expected: &[&str] = if keep { &["/a/queued", "/a/late"] } else { &[] };
        assert_eq!(drain(&mut p, m), expected, "keep_unwatched = {keep}");
    }
}

#[test]
fn overflow_is_reported_with_a_count_before_the_queued_events() {
    let mut p = P::new();
    let m = p.add_monitor(2, false, 1);
    p.watch(m, "/a", "t").unwrap();
    for i in 0..5 {
        feed(&mut p, &event(&format!("/a/{i}"), "t")).1.unwrap();
    }
    assert!(matches!(
        p.next_event(m),
        Some(Err(Error::Overflow { dropped: 3 }))
    ));
    assert_eq!(drain(&mut p, m), ["/a/0", "/a/1"]);
}

#[test]
fn unwatching_what_was_never_watched_is_enoent() {
    let mut p = P::new();
    let m = p.add_monitor(2, false, 1);
    assert!(p.unwatch(m, "/a", "t").unwrap_err().is_not_found());
}

#[test]
fn a_failed_watch_leaves_no_registration() {
    let mut p = P::new();
    let m = p.add_monitor(2, false, 1);
    p.watch(m, "/a", "t").unwrap();
    p.watch_failed(m, "/a", "t");
    assert_eq!(p.registration_count(), 0);
    assert!(p.watched(m).is_empty());
}

#[test]
fn a_late_transaction_start_is_ended() {
    let mut p = P::new();
    let a = p.register(Op::TransactionStart, 0, 1).unwrap();
    p.abandon(a);
    assert!(p.take_cleanups().is_empty());
    let (woken, r) = feed(&mut p, &frame(Op::TransactionStart, a, 0, b"5\0"));
    r.unwrap();
    assert!(woken.is_empty());
    assert_eq!(p.take_cleanups(), [Cleanup::EndTransaction(5)]);
    assert!(p.take_cleanups().is_empty(), "taken once");
}

#[test]
fn a_late_error_reply_needs_no_cleanup() {
    let mut p = P::new();
    let a = p.register(Op::TransactionStart, 0, 1).unwrap();
    let w = p.register(Op::Watch, 0, 2).unwrap();
    p.note_watch(w, "/w", "t");
    p.abandon(a);
    p.abandon(w);
    feed(&mut p, &frame(Op::Error, a, 0, b"EAGAIN\0"))
        .1
        .unwrap();
    feed(&mut p, &frame(Op::Error, w, 0, b"ENOSPC\0"))
        .1
        .unwrap();
    assert!(p.take_cleanups().is_empty());
    assert!(!p.is_dead());
}

#[test]
fn a_reply_racing_the_timeout_is_cleaned_up_too() {
    let mut p = P::new();
    let a = p.register(Op::TransactionStart, 0, 1).unwrap();
    feed(&mut p, &frame(Op::TransactionStart, a, 0, b"9\0"))
        .1
        .unwrap();
    // The caller timed out just as the reply came, and never took it.
    p.abandon(a);
    assert_eq!(p.take_cleanups(), [Cleanup::EndTransaction(9)]);
}

#[test]
fn a_late_watch_is_unwatched_once_nobody_holds_it() {
    let mut p = P::new();
    let m = p.add_monitor(8, false, 10);
    assert_eq!(p.watch(m, "/w", "t").unwrap(), WireAction::Send);
    let w = p.register(Op::Watch, 0, 1).unwrap();
    p.note_watch(w, "/w", "t");
    p.abandon(w);
    feed(&mut p, &frame(Op::Watch, w, 0, b"OK\0")).1.unwrap();
    // The timed-out monitor has not released the registration yet.
    assert!(p.take_cleanups().is_empty());
    p.watch_failed(m, "/w", "t");
    assert_eq!(
        p.take_cleanups(),
        [Cleanup::Unwatch {
            path: "/w".into(),
            token: "t".into()
        }]
    );
}

#[test]
fn a_req_id_zero_watch_reply_goes_to_the_oldest_watch_even_if_abandoned() {
    let mut p = P::new();
    let old = p.register(Op::Watch, 0, 1).unwrap();
    p.note_watch(old, "/old", "t");
    p.abandon(old);
    let new = p.register(Op::Watch, 0, 2).unwrap();
    // The daemon answers in order: the first req_id-0 reply is the old one's.
    let (woken, r) = feed(&mut p, &frame(Op::Watch, 0, 0, b"OK\0"));
    r.unwrap();
    assert!(woken.is_empty());
    assert!(!p.is_ready(new));
    assert_eq!(
        p.take_cleanups(),
        [Cleanup::Unwatch {
            path: "/old".into(),
            token: "t".into()
        }]
    );
    let (woken, r) = feed(&mut p, &frame(Op::Watch, 0, 0, b"OK\0"));
    r.unwrap();
    assert_eq!(woken, [2]);
    assert!(p.is_ready(new));
    // A third has nobody to go to.
    assert!(feed(&mut p, &frame(Op::Watch, 0, 0, b"OK\0")).1.is_err());
}
