//! The client side of the Xen 4.21/4.22 protocol, against xs-server as a
//! 4.22 daemon and as a 4.17 one (which lacks all of it). Each row cites the
//! part of Xen 4.22's `docs/misc/xenstore.txt` (or `xenstore-ring.txt`) it
//! checks.

mod peer;

use std::os::unix::net::UnixStream;
use std::time::Duration;

use xs_client::{Client, Errno, Error, Event, Features, Perm, Refusal, Store, DOMID_ANY};
use xs_server::{Server, ServerHandle, XenVersion};
use xs_wire::{Access, Op};

const WAIT: Duration = Duration::from_secs(5);

fn server(version: XenVersion) -> (ServerHandle, Client) {
    let server = Server::builder()
        .xen_version(version)
        .spawn()
        .expect("xs-server");
    let client = Client::unix(server.socket_path()).expect("connect");
    (server, client)
}

/// Events until none comes for 200 ms.
fn drain(monitor: &xs_client::Monitor) -> Vec<Event> {
    let mut events = Vec::new();
    while let Ok(Some(ev)) = monitor.wait_timeout(Duration::from_millis(200)) {
        events.push(ev);
    }
    events
}

/// xenstore.txt, WATCH: "depth 0 matches only the node itself, 1 adds
/// direct children"; "allowed only when the server feature WATCHDEPTH is
/// available" (4.17 answers EINVAL).
#[test]
fn watch_depth_on_both_versions() {
    for (version, expect_ok) in [(XenVersion::V4_22, true), (XenVersion::V4_17, false)] {
        let (_xs, client) = server(version);
        client.write("/d/a", "1").unwrap();
        let monitor = client.monitor();
        let r = monitor.watch_with_depth("/d", "t", 1);
        if !expect_ok {
            let e = r.unwrap_err();
            assert_eq!(e.errno(), Some(Errno::EINVAL), "{version:?}: {e}");
            assert!(monitor.watched().is_empty(), "a refused watch is undone");
            continue;
        }
        r.unwrap();
        assert_eq!(monitor.wait_timeout(WAIT).unwrap().unwrap().path, "/d");
        client.write("/d/a/b/c", "deep").unwrap(); // 3 levels: no event
        client.write("/d/x", "near").unwrap(); // 1 level
        let paths: Vec<String> = drain(&monitor).into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/d/x"], "{version:?}");
    }
}

/// libxenstore.map VERS_4.2, xs_watch_try_depth: "falls back to a plain
/// watch when the daemon lacks WATCHDEPTH; not for special watches". Here
/// the fallback filters by depth itself, so both versions see the same
/// events.
#[test]
fn watch_try_depth_gives_the_same_events_on_both_versions() {
    for (version, by_daemon) in [(XenVersion::V4_22, true), (XenVersion::V4_17, false)] {
        let (_xs, client) = server(version);
        let monitor = client.monitor();
        assert_eq!(monitor.watch_try_depth("/t", "t", 1).unwrap(), by_daemon);
        assert_eq!(monitor.wait_timeout(WAIT).unwrap().unwrap().path, "/t");
        client.write("/t/a/b", "deep").unwrap(); // fires for /t/a/b only: too deep
        client.write("/t/c", "near").unwrap();
        let paths: Vec<String> = drain(&monitor).into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/t/c"], "{version:?}");
        // Special paths do not fall back.
        let r = monitor.watch_try_depth("@releaseDomain", "rel", 1);
        match version {
            XenVersion::V4_17 => assert!(matches!(
                r,
                Err(Error::Refused(Refusal::DepthFallbackOnSpecial))
            )),
            _ => assert!(r.unwrap()),
        }
    }
}

/// xenstore.txt, WATCH: for special watches "depth 1 reports the domain,
/// i.e. the event path is @releaseDomain/<domid>"; "@releaseDomain/<domid>
/// may be watched directly to hear about one domain only".
#[test]
fn special_watches_carry_the_domid() {
    let (_xs, client) = server(XenVersion::V4_22);
    client.introduce_domain(5, 0xfeffc, 1).unwrap();
    client.introduce_domain(6, 0xfeffd, 2).unwrap();
    let any = client.monitor();
    any.watch_with_depth("@releaseDomain", "any", 1).unwrap();
    let one = client.monitor();
    one.watch("@releaseDomain/6", "six").unwrap();
    drain(&any);
    drain(&one);
    client.release_domain(5).unwrap();
    client.release_domain(6).unwrap();
    let any_domids: Vec<Option<u32>> = drain(&any).iter().map(Event::domid).collect();
    assert_eq!(any_domids, [Some(5), Some(6)]);
    let one_domids: Vec<Option<u32>> = drain(&one).iter().map(Event::domid).collect();
    assert_eq!(one_domids, [Some(6)]);
}

/// xenstore.txt, GET_FEATURE: "without a domid GET_FEATURE answers the
/// features the daemon supports"; xenstore-ring.txt: the bits.
#[test]
fn features_typed_on_both_versions() {
    let (_xs, client) = server(XenVersion::V4_22);
    let own = client.get_features(None).unwrap();
    assert!(
        own.contains(Features::WATCHDEPTH | Features::DOMID_ANY),
        "{own}"
    );
    client.set_features(9, Features::WATCHDEPTH).unwrap();
    assert_eq!(client.get_features(Some(9)).unwrap(), Features::WATCHDEPTH);
    // "SET_FEATURE is refused once the domain is introduced".
    client.introduce_domain(9, 0xfeffc, 1).unwrap();
    assert!(client.set_features(9, Features::NONE).is_err());

    let (_old, client) = server(XenVersion::V4_17);
    assert!(client.get_features(Some(0)).unwrap_err().is_unsupported());
}

/// xenstore.txt, "Unsupported types must be answered with ENOSYS; a client
/// probes for optional types that way". The answer is cached.
#[test]
fn optional_operations_probed_by_enosys() {
    for (version, quotas) in [(XenVersion::V4_22, true), (XenVersion::V4_17, false)] {
        let (_xs, client) = server(version);
        assert_eq!(
            client.supports(Op::GetQuota).unwrap(),
            quotas,
            "{version:?}"
        );
        assert_eq!(
            client.supports(Op::SetQuota).unwrap(),
            quotas,
            "{version:?}"
        );
        assert_eq!(
            client.supports(Op::GetFeature).unwrap(),
            quotas,
            "{version:?}"
        );
        // A plain operation has no probe.
        assert!(matches!(
            client.supports(Op::Read),
            Err(Error::Refused(Refusal::NotProbeable(Op::Read)))
        ));
    }
}

/// xenstore.txt, GET_QUOTA/SET_QUOTA: global values are the defaults for
/// new domains; "value 0 disables the check"; names from GET_QUOTA with no
/// arguments.
#[test]
fn quotas_global_and_per_domain() {
    let (_xs, client) = server(XenVersion::V4_22);
    let names = client.get_quota_names().unwrap();
    assert!(names.iter().any(|n| n == "nodes"), "{names:?}");
    client.set_quota(None, "nodes", 0).unwrap(); // disabled
    assert_eq!(client.get_quota(None, "nodes").unwrap(), 0);
    client.set_quota(Some(3), "watches", 64).unwrap();
    assert_eq!(client.get_quota(Some(3), "watches").unwrap(), 64);
    // A domain id out of range never reaches the daemon.
    assert!(matches!(
        client.set_quota(Some(0x8000), "nodes", 1),
        Err(Error::Refused(Refusal::DomainId(0x8000)))
    ));
}

/// xenstore-ring.txt, DOMID_ANY (bit 8): "a permission entry meaning all
/// domains". The client sends it (other reserved ids are refused).
#[test]
fn domid_any_permission() {
    let (_xs, client) = server(XenVersion::V4_22);
    client.write("/shared", "x").unwrap();
    let perms = [
        Perm {
            domid: 0,
            access: Access::None,
        },
        Perm {
            domid: DOMID_ANY,
            access: Access::Read,
        },
    ];
    client.set_perms("/shared", &perms).unwrap();
    let guest = Client::unix(_xs.socket_for_domain(7)).unwrap();
    assert_eq!(guest.read("/shared").unwrap(), b"x");
    let reserved = Perm {
        domid: 0x7FF2,
        access: Access::Read,
    };
    assert!(matches!(
        client.set_perms("/shared", &[reserved]),
        Err(Error::Refused(Refusal::DomainId(0x7FF2)))
    ));
}

/// The Linux xenbus driver keeps a watch's path and token and drops the
/// rest: a depth there is refused before anything is written.
#[test]
fn depth_over_the_device_is_refused_before_sending() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let conn = xs_transport::Connection::from_xenbus_fd(ours.into()).unwrap();
    let client = Client::with_connection(conn).unwrap();
    let monitor = client.monitor();
    let r = monitor.watch_with_depth("/d", "t", 1);
    assert!(
        matches!(r, Err(Error::Refused(Refusal::DepthOnDevice))),
        "{r:?}"
    );
    theirs.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let read = std::io::Read::read(&mut &theirs, &mut buf);
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing may be written: {read:?}"
    );
}

/// The same against the real oxenstored 4.17, which has none of it: clear
/// errors, the probe says no, and the depth fallback works.
#[test]
fn against_the_real_oxenstored_417() {
    let daemon = peer::Oxenstored::start("xen422", "");
    let client = Client::unix(daemon.socket()).unwrap();
    assert!(!client.supports(Op::GetQuota).unwrap());
    assert!(!client.supports(Op::GetFeature).unwrap());
    assert!(client.get_features(Some(0)).unwrap_err().is_unsupported());
    let monitor = client.monitor();
    let e = monitor.watch_with_depth("/o", "t", 1).unwrap_err();
    assert!(e.errno().is_some(), "a daemon error: {e}");
    assert!(!monitor.watch_try_depth("/o", "t", 1).unwrap(), "fell back");
    assert_eq!(monitor.wait_timeout(WAIT).unwrap().unwrap().path, "/o");
    client.write("/o/a/b", "deep").unwrap();
    client.write("/o/c", "near").unwrap();
    let paths: Vec<String> = drain(&monitor).into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["/o/c"]);
}
