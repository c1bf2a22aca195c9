//! Watches through the socket: initial event, node/children, removed
//! subtrees, relative paths, special watches, reset, permissions, quotas.

mod common;

use std::time::Duration;

use common::*;
use xs_server::{Quota, Server, XenVersion};
use xs_wire::{Op, Request};

const QUIET: Duration = Duration::from_millis(100);

#[test]
fn ok_comes_first_then_the_initial_event() {
    let (_server, mut c) = setup();
    let id = c.send(
        0,
        Request::Watch {
            path: p("/not/there"),
            token: "tok",
            depth: None,
        },
    );
    let first = c.frame().unwrap();
    assert_eq!((first.header.op, first.header.req_id), (Op::Watch, id));
    assert_eq!(first.payload, b"OK\0");
    let second = c.frame().unwrap();
    assert_eq!(second.header.op, Op::WatchEvent);
    assert_eq!((second.header.req_id, second.header.tx_id), (0, 0));
    assert_eq!(second.payload, b"/not/there\0tok\0");
}

#[test]
fn registration_errors() {
    let (_server, mut c) = setup_4_17();
    let cases: Vec<(Request<'_>, Ans)> = vec![
        (
            Request::Watch {
                path: p("/a"),
                token: "t",
                depth: None,
            },
            Ans::Ok,
        ),
        (
            Request::Watch {
                path: p("/a"),
                token: "t",
                depth: None,
            },
            err("EEXIST"),
        ),
        (
            Request::Watch {
                path: p("/a"),
                token: "u",
                depth: None,
            },
            Ans::Ok,
        ),
        (
            Request::Watch {
                path: p("/a"),
                token: "",
                depth: None,
            },
            Ans::Ok,
        ),
        (
            Request::Watch {
                path: p("/a"),
                token: "d",
                depth: Some(1),
            },
            err("EINVAL"),
        ),
        (
            Request::Unwatch {
                path: p("/a"),
                token: "t",
            },
            Ans::Ok,
        ),
        (
            Request::Unwatch {
                path: p("/a"),
                token: "t",
            },
            err("ENOENT"),
        ),
        (
            Request::Unwatch {
                path: p("/b"),
                token: "u",
            },
            err("ENOENT"),
        ),
        (
            Request::Watch {
                path: p("rel"),
                token: "t",
                depth: None,
            },
            Ans::Ok,
        ),
        (
            Request::Unwatch {
                path: p("/local/domain/0/rel"),
                token: "t",
            },
            Ans::Ok,
        ),
    ];
    for (i, (req, expected)) in cases.into_iter().enumerate() {
        assert_eq!(c.call(req), expected, "case {i}: {req:?}");
    }
}

#[test]
fn changes_fire_node_and_ancestor_watches() {
    let (server, mut w) = setup();
    let mut c = Raw::new(server.connect().unwrap());
    for (path, token) in [("/", "root"), ("/t", "t"), ("/t/x", "x"), ("/tt", "no")] {
        w.watch(path, token);
        w.event();
    }
    // WRITE (creating parents fires only the path itself)
    c.write("/t/x/deep", "v");
    assert_eq!(
        [w.event(), w.event(), w.event()],
        [
            ev("/t/x/deep", "root"),
            ev("/t/x/deep", "t"),
            ev("/t/x/deep", "x")
        ]
    );
    w.quiet(QUIET);
    // WRITE fires even with the same value
    c.write("/t/x/deep", "v");
    assert_eq!(w.event().0, "/t/x/deep");
    w.event();
    w.event();
    // MKDIR fires only when it creates
    c.call(Request::Mkdir { path: p("/t/x") });
    w.quiet(QUIET);
    c.call(Request::Mkdir { path: p("/t/m") });
    assert_eq!(
        [w.event(), w.event()],
        [ev("/t/m", "root"), ev("/t/m", "t")]
    );
    // SET_PERMS fires
    c.set_perms("/t/m", &["n0"]);
    assert_eq!(
        [w.event(), w.event()],
        [ev("/t/m", "root"), ev("/t/m", "t")]
    );
    // RM of nothing fires nothing
    c.rm("/t/none");
    w.quiet(QUIET);
}

#[test]
fn rm_fires_watches_inside_the_removed_subtree() {
    let (server, mut w) = setup();
    let mut c = Raw::new(server.connect().unwrap());
    c.write("/r/a/b/c", "");
    for (path, token) in [
        ("/r", "r"),
        ("/r/a", "a"),
        ("/r/a/b", "b"),
        ("/r/a/b/c/d", "d"),
    ] {
        w.watch(path, token);
        w.event();
    }
    assert_eq!(c.rm("/r/a"), Ans::Ok);
    let got: Vec<_> = (0..4).map(|_| w.event()).collect();
    assert_eq!(
        got,
        [
            ev("/r/a", "r"),
            ev("/r/a", "a"),
            ev("/r/a/b", "b"),
            ev("/r/a/b/c/d", "d")
        ]
    );
    w.quiet(QUIET);
}

#[test]
fn relative_watches_get_relative_events() {
    let (server, mut w) = setup();
    let mut c = Raw::new(server.connect().unwrap());
    assert_eq!(w.watch("dev", "rel"), Ans::Ok);
    assert_eq!(w.event(), ev("dev", "rel"));
    c.write("/local/domain/0/dev/vif", "1");
    assert_eq!(w.event(), ev("dev/vif", "rel"));
    c.write("dev/vbd", "1");
    assert_eq!(w.event(), ev("dev/vbd", "rel"));
    // A domain's relative watch is relative to its own home.
    let mut d = Raw::new(server.connect_as(4).unwrap());
    c.write("/local/domain/4", "");
    c.set_perms("/local/domain/4", &["n4"]);
    assert_eq!(d.watch("x", "mine"), Ans::Ok);
    assert_eq!(d.event(), ev("x", "mine"));
    c.write("/local/domain/4/x/y", "");
    assert_eq!(d.event(), ev("x/y", "mine"));
}

#[test]
fn transaction_changes_fire_only_on_commit() {
    let (server, mut w) = setup();
    let mut c = Raw::new(server.connect().unwrap());
    w.watch("/txw", "t");
    w.event();
    let tx = c.start();
    c.call_tx(
        tx,
        Request::Write {
            path: p("/txw/a"),
            value: b"1",
        },
    );
    w.quiet(QUIET);
    assert_eq!(c.end(tx, true), Ans::Ok);
    assert_eq!(w.event(), ev("/txw/a", "t"));
    let tx = c.start();
    c.call_tx(
        tx,
        Request::Write {
            path: p("/txw/b"),
            value: b"1",
        },
    );
    c.end(tx, false);
    w.quiet(QUIET);
}

#[test]
fn special_watches() {
    let (server, mut c) = setup();
    let mut d = Raw::new(server.connect_as(5).unwrap());
    assert_eq!(c.watch("@introduceDomain", "in"), Ans::Ok);
    assert_eq!(c.event(), ev("@introduceDomain", "in"));
    assert_eq!(c.watch("@releaseDomain", "out"), Ans::Ok);
    assert_eq!(c.event(), ev("@releaseDomain", "out"));
    assert_eq!(d.watch("@introduceDomain", "din"), Ans::Ok);
    assert_eq!(
        d.event(),
        ev("@introduceDomain", "din"),
        "the initial event is unchecked"
    );

    assert_eq!(
        c.call(Request::IsDomainIntroduced { domid: 3 }),
        Ans::Bool(false)
    );
    assert_eq!(
        c.call(Request::Introduce {
            domid: 3,
            gfn: 0x1000,
            evtchn: 4
        }),
        Ans::Ok
    );
    assert_eq!(c.event(), ev("@introduceDomain", "in"));
    assert_eq!(
        c.call(Request::IsDomainIntroduced { domid: 3 }),
        Ans::Bool(true)
    );
    assert_eq!(
        c.call(Request::IsDomainIntroduced {
            domid: xs_server::DOMID_SELF
        }),
        Ans::Bool(true)
    );
    d.quiet(QUIET);
    // Re-introducing the same way is silent; differently is EINVAL.
    assert_eq!(
        c.call(Request::Introduce {
            domid: 3,
            gfn: 0x1000,
            evtchn: 4
        }),
        Ans::Ok
    );
    assert_eq!(
        c.call(Request::Introduce {
            domid: 3,
            gfn: 0x1000,
            evtchn: 5
        }),
        err("EINVAL")
    );
    c.quiet(QUIET);
    // Granting read on the special node lets a domain see the events.
    c.set_perms("@introduceDomain", &["n0", "r5"]);
    c.call(Request::Introduce {
        domid: 6,
        gfn: 1,
        evtchn: 1,
    });
    assert_eq!(c.event(), ev("@introduceDomain", "in"));
    assert_eq!(d.event(), ev("@introduceDomain", "din"));

    assert_eq!(c.call(Request::Resume { domid: 3 }), Ans::Ok);
    assert_eq!(c.call(Request::Release { domid: 3 }), Ans::Ok);
    assert_eq!(c.event(), ev("@releaseDomain", "out"));
    assert_eq!(c.call(Request::Release { domid: 3 }), err("EINVAL"));
    assert_eq!(c.call(Request::Resume { domid: 3 }), err("EINVAL"));
    assert_eq!(
        c.call(Request::IsDomainIntroduced { domid: 3 }),
        Ans::Bool(false)
    );
    // Tree changes never fire special watches.
    c.write("/@introduceDomain", "x");
    c.quiet(QUIET);
}

#[test]
fn reset_watches_stops_events() {
    let (server, mut w) = setup();
    let mut c = Raw::new(server.connect().unwrap());
    w.watch("/rw", "t");
    w.event();
    assert_eq!(w.call(Request::ResetWatches), Ans::Ok);
    c.write("/rw", "x");
    w.quiet(QUIET);
    assert_eq!(w.unwatch("/rw", "t"), err("ENOENT"));
}

#[test]
fn unprivileged_watchers_only_see_what_they_can_read() {
    let (server, mut c) = setup();
    let mut d = Raw::new(server.connect_as(5).unwrap());
    c.write("/v/secret", "");
    d.watch("/v", "t");
    d.event();
    c.write("/v/secret", "1");
    d.quiet(QUIET);
    c.set_perms("/v/secret", &["n0", "r5"]);
    assert_eq!(d.event(), ev("/v/secret", "t"));
    c.write("/v/secret", "2");
    assert_eq!(d.event(), ev("/v/secret", "t"));
    c.set_perms("/v/secret", &["n0"]);
    assert_eq!(
        d.event(),
        ev("/v/secret", "t"),
        "losing access is still told"
    );
    c.write("/v/secret", "3");
    d.quiet(QUIET);
}

#[test]
fn watch_quota_is_equota_for_domains() {
    // oxenstored says EQUOTA; C xenstored 4.22 ENOSPC.
    for (version, hit) in [(XenVersion::V4_17, "EQUOTA"), (XenVersion::V4_22, "ENOSPC")] {
        watch_quota(version, hit);
    }
}

fn watch_quota(version: XenVersion, hit: &str) {
    let server = Server::builder()
        .xen_version(version)
        .quota(Quota {
            max_watches: Some(2),
            ..Quota::default()
        })
        .spawn()
        .unwrap();
    let mut d = Raw::new(server.connect_as(2).unwrap());
    assert_eq!(d.watch("/a", "1"), Ans::Ok);
    assert_eq!(d.watch("/a", "2"), Ans::Ok);
    assert_eq!(d.watch("/a", "3"), err(hit));
    assert_eq!(server.stats().watches, 2);
    let mut c = Raw::new(server.connect().unwrap());
    for t in ["1", "2", "3", "4"] {
        assert_eq!(c.watch("/a", t), Ans::Ok);
    }
}

#[test]
fn events_go_to_every_watching_connection() {
    let (server, mut c) = setup();
    let mut watchers: Vec<Raw> = (0..5)
        .map(|_| Raw::new(server.connect().unwrap()))
        .collect();
    for (i, w) in watchers.iter_mut().enumerate() {
        w.watch("/fan", &format!("w{i}"));
        w.event();
    }
    c.write("/fan/out", "");
    for (i, w) in watchers.iter_mut().enumerate() {
        assert_eq!(w.event(), ev("/fan/out", &format!("w{i}")));
    }
    assert_eq!(server.stats().watches, 5);
}
