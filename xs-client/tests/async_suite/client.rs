//! Every `Client` operation, against the embedded server or the real daemon.

use std::collections::BTreeSet;

use xs_client::aio::{AsyncClient, Runtime};
use xs_client::{Access, Error, Perm};

use super::{client, common, Spawn};
use xs_wire::{Errno, PathError, WireError};

pub async fn write_then_read_gives_back_the_bytes<R: Runtime, S: Spawn>() {
    let h = common::setup("write_read");
    let c = client::<R>(&h);
    for (name, value) in [
        ("text", b"hello".to_vec()),
        ("empty", Vec::new()),
        ("binary", vec![0, 1, 2, 255, 0]),
        ("large", vec![b'x'; 2048]),
    ] {
        let p = h.path(name);
        c.write(&p, &value).await.unwrap();
        assert_eq!(c.read(&p).await.unwrap(), value, "{name}");
    }
}

pub async fn read_of_a_missing_node_is_not_found_and_the_variants_say_so<R: Runtime, S: Spawn>() {
    let h = common::setup("read_missing");
    let c = client::<R>(&h);
    let p = h.path("nope");
    let err = c.read(&p).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.to_string(), format!("READ {p}: ENOENT"));
    assert_eq!(c.read_opt(&p).await.unwrap(), None);
    assert_eq!(c.read_or(&p, b"dflt").await.unwrap(), b"dflt");
    assert!(!c.exists(&p).await.unwrap());
}

pub async fn write_creates_parents_with_empty_values<R: Runtime, S: Spawn>() {
    let h = common::setup("parents");
    let c = client::<R>(&h);
    c.write(&h.path("a/b/c"), "v").await.unwrap();
    assert_eq!(c.read(&h.path("a")).await.unwrap(), b"");
    assert_eq!(c.read(&h.path("a/b")).await.unwrap(), b"");
    assert_eq!(c.list(&h.path("a")).await.unwrap(), ["b"]);
    assert_eq!(c.list_names(&h.path("a")).await.unwrap(), ["b"]);
    assert!(c.list_names(&h.path("a/b/c")).await.unwrap().is_empty());
}

pub async fn mkdir_creates_and_keeps_existing_values<R: Runtime, S: Spawn>() {
    let h = common::setup("mkdir");
    let c = client::<R>(&h);
    c.mkdir(&h.path("d/e")).await.unwrap();
    assert!(c.exists(&h.path("d/e")).await.unwrap());
    assert_eq!(c.read(&h.path("d/e")).await.unwrap(), b"");
    c.write(&h.path("d"), "keep").await.unwrap();
    c.mkdir(&h.path("d")).await.unwrap();
    assert_eq!(c.read(&h.path("d")).await.unwrap(), b"keep");
}

pub async fn delete_removes_subtrees_and_tolerates_a_missing_leaf<R: Runtime, S: Spawn>() {
    let h = common::setup("delete");
    let c = client::<R>(&h);
    c.write(&h.path("t/x/y"), "1").await.unwrap();
    c.delete(&h.path("t")).await.unwrap();
    assert!(!c.exists(&h.path("t/x/y")).await.unwrap());
    assert!(!c.exists(&h.path("t")).await.unwrap());
    // Missing node, parent present: fine.
    c.mkdir(&h.path("p")).await.unwrap();
    c.delete(&h.path("p/gone")).await.unwrap();
    // Missing node and missing parent: ENOENT.
    assert!(c
        .delete(&h.path("q/gone"))
        .await
        .unwrap_err()
        .is_not_found());
}

pub async fn list_names_children_and_leaves_are_empty<R: Runtime, S: Spawn>() {
    let h = common::setup("list");
    let c = client::<R>(&h);
    for n in ["b", "a", "c"] {
        c.write(&h.path(&format!("dir/{n}")), n).await.unwrap();
    }
    let names: BTreeSet<_> = c.list(&h.path("dir")).await.unwrap().into_iter().collect();
    assert_eq!(names, ["a", "b", "c"].map(String::from).into());
    assert!(c.list(&h.path("dir/a")).await.unwrap().is_empty());
    assert!(c.list(&h.path("missing")).await.unwrap_err().is_not_found());
}

pub async fn permissions_round_trip_with_the_owner_first<R: Runtime, S: Spawn>() {
    let h = common::setup("perms");
    let c = client::<R>(&h);
    let p = h.path("node");
    c.write(&p, "v").await.unwrap();
    let perms = [
        Perm::new(Access::None, 0),
        Perm::new(Access::Read, 5),
        Perm::new(Access::Both, 7),
    ];
    c.set_perms(&p, &perms).await.unwrap();
    assert_eq!(c.get_perms(&p).await.unwrap(), perms);
}

pub async fn special_paths_have_permissions<R: Runtime, S: Spawn>() {
    let h = common::setup("special_perms");
    let c = client::<R>(&h);
    match c.get_perms("@releaseDomain").await {
        Ok(perms) => assert_eq!(perms[0].domid, 0),
        // C xenstored 4.17 refuses GET_PERMS on special paths.
        Err(e) if h.is_real() && e.errno() == Some(Errno::EINVAL) => {}
        Err(e) => panic!("{e:?}"),
    }
}

/// Bad input is refused before anything is sent, with a typed error.
pub async fn invalid_requests_are_refused_before_sending<R: Runtime, S: Spawn>() {
    let h = common::setup("invalid");
    let c = client::<R>(&h);
    let too_long = format!("/{}", "a".repeat(3072));
    let cases: Vec<(&str, Result<(), Error>, WireError)> = vec![
        (
            "empty path",
            c.write("", "v").await,
            WireError::InvalidPath(PathError::Empty),
        ),
        (
            "space",
            c.write("/a b", "v").await,
            WireError::InvalidPath(PathError::BadChar { index: 2 }),
        ),
        (
            "double slash",
            c.write("/a//b", "v").await,
            WireError::InvalidPath(PathError::DoubleSlash),
        ),
        (
            "trailing slash",
            c.mkdir("/a/").await,
            WireError::InvalidPath(PathError::TrailingSlash),
        ),
        (
            "too long",
            c.mkdir(&too_long).await,
            WireError::InvalidPath(PathError::TooLong {
                len: 3073,
                max: 3072,
            }),
        ),
        (
            "@ on write",
            c.write("@releaseDomain", "v").await,
            WireError::InvalidPath(PathError::SpecialNotAllowed),
        ),
        (
            "unknown @",
            c.delete("@foo").await,
            WireError::InvalidPath(PathError::UnknownSpecial),
        ),
        (
            "payload",
            c.write("/big", vec![0u8; 4096]).await,
            WireError::PayloadTooLarge {
                len: 4101,
                // 4096 on a socket, 4080 through the xenbus device.
                max: c.max_payload(),
            },
        ),
        (
            "no perms",
            c.set_perms("/a", &[]).await,
            WireError::InvalidPerm(xs_wire::PermError::NoEntries),
        ),
    ];
    for (what, result, expected) in cases {
        match result {
            Err(Error::Invalid(e)) => assert_eq!(e, expected, "{what}"),
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    // The connection is untouched by all that.
    c.write(&h.path("after"), "ok").await.unwrap();
}

pub async fn domain_paths_are_under_local_domain<R: Runtime, S: Spawn>() {
    let h = common::setup("domain_path");
    let c = client::<R>(&h);
    assert_eq!(c.get_domain_path(0).await.unwrap(), "/local/domain/0");
    assert_eq!(c.get_domain_path(7).await.unwrap(), "/local/domain/7");
}

pub async fn relative_paths_resolve_against_the_home_of_dom0<R: Runtime, S: Spawn>() {
    let h = common::setup("relative");
    let c = client::<R>(&h);
    let rel = h.root.trim_start_matches('/').replace('/', "-");
    c.write(&rel, "r").await.unwrap();
    assert_eq!(
        c.read(&format!("/local/domain/0/{rel}")).await.unwrap(),
        b"r"
    );
    c.delete(&format!("/local/domain/0/{rel}")).await.unwrap();
}

pub async fn unsupported_operations_surface_as_daemon_errors<R: Runtime, S: Spawn>() {
    let h = common::setup("unsupported");
    let c = client::<R>(&h);
    // oxenstored has no quota ops (ENOSYS); xs-server implements them.
    // (A named quota, not the name list: oxenstored leaves a request with
    // an empty payload unanswered until more bytes arrive.)
    match c.get_quota(None, "nodes").await {
        Ok(_) => assert!(!h.is_real()),
        Err(e) => assert_eq!(e.errno(), Some(Errno::ENOSYS), "{e}"),
    }
}

pub async fn clones_share_one_connection_across_tasks<R: Runtime, S: Spawn>() {
    let h = common::setup("tasks");
    let c = client::<R>(&h);
    let root = h.path("");
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let c = c.clone();
            let root = root.clone();
            S::spawn(async move {
                for i in 0..50 {
                    let p = format!("{root}/t{t}/n{i}");
                    c.write(&p, format!("{t}:{i}")).await.unwrap();
                    assert_eq!(c.read(&p).await.unwrap(), format!("{t}:{i}").as_bytes());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert_eq!(c.list(&h.path("")).await.unwrap().len(), 8);
}

pub async fn sixty_four_tasks_pipeline_on_one_connection<R: Runtime, S: Spawn>() {
    let h = common::setup("tasks64");
    let c = client::<R>(&h);
    let p = h.path("shared");
    c.write(&p, "v").await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let c = c.clone();
            let p = p.clone();
            S::spawn(async move {
                for _ in 0..20 {
                    assert_eq!(c.read(&p).await.unwrap(), b"v");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    // And many requests of one task at once.
    let reads = (0..64).map(|_| c.read(&p)).collect();
    for v in super::join_all(reads).await {
        assert_eq!(v.unwrap(), b"v");
    }
}

pub async fn connecting_to_nothing_names_the_path<R: Runtime, S: Spawn>() {
    let err = AsyncClient::<R>::unix("/nonexistent/xs.sock").unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/xs.sock"), "{err}");
}

/// A daemon that accepts and never answers: each request fails with
/// `Timeout` once its own deadline passes, a later one later (the deadline
/// timer follows the requests), and nothing hangs.
pub async fn a_silent_daemon_times_each_request_out_on_its_own_clock<R: Runtime, S: Spawn>() {
    use std::time::{Duration, Instant};
    use xs_client::Error;
    let dir = std::env::temp_dir().join(format!("xs-silent-{}-{}", std::process::id(), line!()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let silent = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // Read and discard until the client goes.
        let mut sink = [0u8; 4096];
        while matches!(std::io::Read::read(&mut conn, &mut sink), Ok(n) if n > 0) {}
    });
    let timeout = Duration::from_millis(300);
    let c = AsyncClient::<R>::builder()
        .unix(&socket)
        .timeout(timeout)
        .connect()
        .unwrap();
    let timed = |start: Instant, r: Result<Vec<u8>, Error>| {
        let took = start.elapsed();
        assert!(matches!(r, Err(Error::Timeout(t)) if t == timeout), "{r:?}");
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(2),
            "{took:?}"
        );
    };
    // One alone, then two overlapping: the second starts 150 ms after the
    // first and must time out 150 ms after it, not with it, not never.
    let t0 = Instant::now();
    timed(t0, c.read("/a").await);
    let (first, second) = futures_lite::future::zip(
        async {
            let t = Instant::now();
            (t, c.read("/b").await)
        },
        async {
            super::pause(Duration::from_millis(150)).await;
            let t = Instant::now();
            (t, c.read("/c").await)
        },
    )
    .await;
    timed(first.0, first.1);
    timed(second.0, second.1);
    drop(c);
    silent.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes the socket does not take at once (the daemon reads late, and
/// answers only once it has them all) wait for room and all go out, whole
/// and in order: the driver's wait for writability.
pub async fn writes_wait_for_room_while_the_daemon_does_not_read<R: Runtime, S: Spawn>() {
    use std::io::{Read, Write};
    use std::time::Duration;
    use xs_wire::{Header, Op, HEADER_SIZE};
    // 100 frames of 4 KB: more than a socket's buffer holds.
    const WRITES: usize = 100;
    let dir = std::env::temp_dir().join(format!("xs-late-{}-{}", std::process::id(), line!()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let late = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut got = Vec::new();
        for _ in 0..WRITES {
            let mut header = [0u8; HEADER_SIZE];
            conn.read_exact(&mut header).unwrap();
            let h = Header::from_bytes(&header);
            let mut payload = vec![0; h.len as usize];
            conn.read_exact(&mut payload).unwrap();
            assert_eq!(h.op, Op::Write);
            let path = payload.split(|&b| b == 0).next().unwrap();
            got.push((h.req_id, String::from_utf8_lossy(path).into_owned()));
        }
        for (req_id, _) in &got {
            let ok = Header {
                op: Op::Write,
                req_id: *req_id,
                tx_id: 0,
                len: 3,
            };
            conn.write_all(&ok.to_bytes()).unwrap();
            conn.write_all(b"OK\0").unwrap();
        }
        got.into_iter().map(|(_, path)| path).collect::<Vec<_>>()
    });
    // Stuck writes would wait for the timeout's timer (not 30 s).
    let c = AsyncClient::<R>::builder()
        .unix(&socket)
        .timeout(Duration::from_secs(5))
        .connect()
        .unwrap();
    let value = vec![b'v'; 4000];
    let paths: Vec<String> = (0..WRITES).map(|i| format!("/late/{i}")).collect();
    let writes = paths.iter().map(|p| c.write(p, &value)).collect();
    let start = std::time::Instant::now();
    for written in super::join_all(writes).await {
        written.unwrap();
    }
    // Not rescued by a timer's wake-up: the daemon reads after 200 ms.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(late.join().unwrap(), paths);
    let _ = std::fs::remove_dir_all(&dir);
}
