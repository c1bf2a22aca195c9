//! The guest suite's checks through the async client, written once over
//! the [`Runtime`] and run on tokio and on smol (`guest_async_*` in
//! guest.rs): the same facts as the sync `guest_*` tests, seen by a guest
//! agent written with async Rust over the guest's own `/dev/xen/xenbus`.
//! Each asks dom0 for the same writes as its sync twin, through the same
//! request nodes (`REQUESTS_PER_SUITE` in all).

use std::collections::BTreeSet;
use std::time::Duration;

use xs_client::aio::{AsyncClient, Runtime};
use xs_client::{Access, Errno, Error, Perm, TransportKind};
use xs_wire::XENBUS_PAYLOAD_MAX;

use super::join::join_all;
use super::{child_name, env_is, errno, listing_names, xen_version, REQUESTS, T};

/// One async guest test's connection and private subtree.
pub struct AsyncGuest<R: Runtime> {
    pub client: AsyncClient<R>,
    pub id: u32,
    pub home: String,
    /// `data/xs-guest/<runtime>-<test>`, relative to the home.
    pub rel: String,
    /// Prefixes this test's requests to dom0.
    pub name: String,
}

/// The guest connection for one test, or `None` (after a skip line) when
/// not in a guest. Call inside the runtime.
pub async fn guest<R: Runtime>(runtime: &str, name: &str) -> Option<AsyncGuest<R>> {
    if !env_is("XS_TEST_GUEST", "1") {
        println!("skipped {runtime} {name}: needs an unprivileged Xen guest (XS_TEST_GUEST=1, see scripts/xen-qemu)");
        return None;
    }
    let client = AsyncClient::<R>::builder()
        .timeout(Duration::from_secs(30))
        .connect()
        .expect("connect to xenstored (XENSTORED_PATH)");
    assert_eq!(client.kind(), TransportKind::Xenbus);
    let id = client.get_perms("data").await.expect("perms of data")[0].domid;
    assert_ne!(id, 0, "the guest suite must not run in dom0");
    let name = format!("{runtime}-{name}");
    let rel = format!("data/xs-guest/{name}");
    let _ = client.delete(&rel).await;
    Some(AsyncGuest {
        client,
        id,
        home: format!("/local/domain/{id}"),
        rel,
        name,
    })
}

impl<R: Runtime> AsyncGuest<R> {
    fn rel(&self, rel: &str) -> String {
        format!("{}/{rel}", self.rel)
    }
    fn abs(&self, rel: &str) -> String {
        format!("{}/{}", self.home, self.rel(rel))
    }
    /// Removes this test's subtree (what dom0 made there counts against
    /// the guest's quota).
    async fn done(self) {
        self.client.delete(&self.rel).await.unwrap();
    }

    /// [`super::ask_dom0`], asked and awaited through the async client.
    async fn ask_dom0(&self, what: &str, path: &str, len: usize) {
        let req = format!("{REQUESTS}/{}-{what}", self.name);
        self.client
            .write(&req, format!("write {path} {len}"))
            .await
            .unwrap();
        let want = vec![b'd'; len];
        self.client
            .wait_until(path, Duration::from_secs(60), |v| {
                (v == Some(want.as_slice())).then_some(())
            })
            .await
            .unwrap_or_else(|e| panic!("dom0 did not write {path}: {e:?}"));
    }

    /// [`super::ask_dom0_for_listing`], through the async client.
    async fn ask_dom0_for_listing(&self, what: &str, dir: &str, bytes: usize) {
        let req = format!("{REQUESTS}/{}-{what}", self.name);
        self.client
            .write(&req, format!("listing {dir} {bytes}"))
            .await
            .unwrap();
        self.client
            .wait_for(&format!("{dir}-done"), Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("dom0 did not fill {dir}: {e:?}"));
    }
}

pub async fn home_and_relative_paths<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "home").await else {
        return;
    };
    let c = &g.client;
    assert_eq!(c.read_string("domid").await.unwrap(), g.id.to_string());
    assert_eq!(
        c.read_string("name").await.unwrap(),
        c.read_string(&format!("{}/name", g.home)).await.unwrap()
    );
    assert_eq!(c.get_domain_path(g.id).await.unwrap(), g.home);
    assert_eq!(c.get_domain_path(0).await.unwrap(), "/local/domain/0");
    c.write(&g.rel("r"), "relative").await.unwrap();
    assert_eq!(c.read(&g.abs("r")).await.unwrap(), b"relative");
    assert_eq!(c.list(&g.rel).await.unwrap(), ["r"]);
    let tx = c.transaction().await.unwrap();
    assert_eq!(tx.read(&g.rel("r")).await.unwrap(), b"relative");
    assert_eq!(tx.read(&g.abs("r")).await.unwrap(), b"relative");
    assert!(tx.commit().await.unwrap());
    g.done().await;
}

pub async fn dom0_only_nodes_are_refused<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "refused").await else {
        return;
    };
    let c = &g.client;
    let table = [
        (
            "read /local/domain/0/name",
            errno(c.read("/local/domain/0/name").await),
        ),
        ("list /local/domain", errno(c.list("/local/domain").await)),
        ("list /", errno(c.list("/").await)),
        (
            "write /xs-guest-test",
            errno(c.write("/xs-guest-test", "x").await),
        ),
        (
            "get_perms /local/domain/0",
            errno(c.get_perms("/local/domain/0").await),
        ),
    ];
    for (what, got) in table {
        assert_eq!(got, Some(Errno::EACCES), "{what}");
    }
    assert!(c
        .exists("/local/domain/0/name")
        .await
        .unwrap_err()
        .is_permission_denied());
    let missing = c.read(&format!("/local/domain/{}/name", g.id + 100)).await;
    assert_eq!(errno(missing), Some(Errno::EACCES));
    g.done().await;
}

pub async fn creates_where_its_permissions_allow<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "create").await else {
        return;
    };
    let c = &g.client;
    assert_eq!(
        errno(c.write("xs-guest-test", "x").await),
        Some(Errno::EACCES)
    );
    assert_eq!(errno(c.delete("name").await), Some(Errno::EACCES));
    c.write(&g.rel("a/b/c"), "deep").await.unwrap();
    assert_eq!(c.read(&g.rel("a/b")).await.unwrap(), b"");
    c.mkdir(&g.rel("empty")).await.unwrap();
    let mut kids = c.list(&g.rel).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "empty"]);
    c.delete(&g.rel("a")).await.unwrap();
    assert!(!c.exists(&g.rel("a/b/c")).await.unwrap());
    assert_eq!(c.get_perms(&g.rel("empty")).await.unwrap()[0].domid, g.id);
    g.done().await;
}

pub async fn permissions_it_can_and_cannot_set<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "perms").await else {
        return;
    };
    let c = &g.client;
    let p = g.rel("p");
    c.write(&p, "x").await.unwrap();
    let me = |a| Perm::new(a, g.id);
    for perms in [
        vec![me(Access::None), Perm::new(Access::Read, 0)],
        vec![me(Access::Read)],
    ] {
        c.set_perms(&p, &perms).await.unwrap();
        assert_eq!(c.get_perms(&p).await.unwrap(), perms);
        c.write(&p, "still mine").await.unwrap();
    }
    let give_away = errno(c.set_perms(&p, &[Perm::new(Access::None, 0)]).await);
    let dom0s = errno(c.set_perms("name", &[me(Access::Both)]).await);
    assert_eq!(give_away, Some(Errno::EPERM));
    assert_eq!(dom0s, Some(Errno::EACCES));
    g.done().await;
}

pub async fn watches_its_own_subtree<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "watch").await else {
        return;
    };
    let c = &g.client;
    let mut m = c.monitor();
    m.watch(&g.abs("w"), "abs").await.unwrap();
    m.watch(&g.rel("w"), "rel").await.unwrap();
    let mut events = BTreeSet::new();
    for _ in 0..2 {
        let ev = m.wait_timeout(T).await.unwrap().expect("an initial event");
        events.insert((ev.path, ev.token));
    }
    let want: BTreeSet<_> = [
        (g.abs("w"), "abs".to_owned()),
        (g.rel("w"), "rel".to_owned()),
    ]
    .into();
    assert_eq!(events, want, "a relative watch reports relative paths");
    c.write(&g.rel("w/x"), "1").await.unwrap();
    let mut fired = BTreeSet::new();
    for _ in 0..2 {
        let ev = m.wait_timeout(T).await.unwrap().expect("an event");
        fired.insert((ev.path, ev.token));
    }
    let want: BTreeSet<_> = [
        (g.abs("w/x"), "abs".to_owned()),
        (g.rel("w/x"), "rel".to_owned()),
    ]
    .into();
    assert_eq!(fired, want);
    m.unwatch(&g.rel("w"), "rel").await.unwrap();
    m.watch("/local/domain/0/name", "foreign").await.unwrap();
    let ev = m.wait_timeout(T).await.unwrap().expect("the initial event");
    assert_eq!(ev, ("/local/domain/0/name", "foreign"));
    let quiet = m.wait_timeout(Duration::from_millis(500)).await.unwrap();
    assert_eq!(quiet, None);
    drop(m);
    g.done().await;
}

pub async fn special_watches<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "special").await else {
        return;
    };
    let mut m = g.client.monitor();
    m.watch("@releaseDomain", "release").await.unwrap();
    m.watch("@introduceDomain", "intro").await.unwrap();
    let mut initial = Vec::new();
    while let Some(ev) = m.wait_timeout(Duration::from_secs(2)).await.unwrap() {
        initial.push((ev.path, ev.token));
    }
    initial.sort();
    assert_eq!(
        initial,
        [
            ("@introduceDomain".to_owned(), "intro".to_owned()),
            ("@releaseDomain".to_owned(), "release".to_owned()),
        ]
    );
    let perms = errno(g.client.get_perms("@releaseDomain").await);
    match xen_version().as_str() {
        "4.17" => assert_eq!(perms, Some(Errno::EINVAL)),
        "4.20" => assert_eq!(perms, Some(Errno::EACCES)),
        _ => {}
    }
    drop(m);
    g.done().await;
}

pub async fn domain_operations<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "domain_ops").await else {
        return;
    };
    let c = &g.client;
    assert_eq!(
        errno(c.is_domain_introduced(g.id).await),
        Some(Errno::EACCES)
    );
    assert_eq!(errno(c.release_domain(g.id).await), Some(Errno::EACCES));
    assert_eq!(
        errno(c.introduce_domain(g.id + 1, 1, 1).await),
        Some(Errno::EACCES)
    );
    let quota = errno(c.set_quota(Some(g.id), "nodes", 100_000).await);
    if matches!(xen_version().as_str(), "4.17" | "4.20") {
        assert_eq!(quota, Some(Errno::ENOSYS));
    }
    g.done().await;
}

pub async fn transaction_conflict_made_by_dom0<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "conflict").await else {
        return;
    };
    let c = &g.client;
    let counter = g.rel("counter");
    c.write(&counter, "0").await.unwrap();
    let tx = c.transaction().await.unwrap();
    assert_eq!(tx.read_string(&counter).await.unwrap(), "0");
    g.ask_dom0("conflict", &g.abs("counter"), 4).await;
    tx.write(&counter, "1").await.unwrap();
    assert!(
        !tx.commit().await.unwrap(),
        "dom0's write must make the commit fail"
    );
    assert_eq!(c.read(&counter).await.unwrap(), b"dddd");
    // transact() retries once dom0 has interfered.
    let attempts = std::cell::Cell::new(0);
    let (g_ref, counter_ref, attempts_ref) = (&g, &counter, &attempts);
    let n = c
        .transact(|tx| async move {
            attempts_ref.set(attempts_ref.get() + 1);
            let v = tx.read_string(counter_ref).await?;
            if attempts_ref.get() == 1 {
                g_ref.ask_dom0("conflict2", &g_ref.abs("counter"), 6).await;
            }
            tx.write(counter_ref, format!("{v}+1")).await?;
            Ok::<_, Error>(attempts_ref.get())
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(c.read_string(&counter).await.unwrap(), "dddddd+1");
    g.done().await;
}

pub async fn long_listing_uses_directory_part<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "directory_part").await else {
        return;
    };
    let c = &g.client;
    let names = listing_names(4920);
    assert_eq!(names.len(), 120);
    assert_eq!(names[0], child_name(0));
    g.ask_dom0_for_listing("listing", &g.abs("big"), 4920).await;
    let dir = g.rel("big");
    let direct = c.list_many(&[dir.as_str()]).await.pop().unwrap();
    assert_eq!(direct.unwrap_err().errno(), Some(Errno::E2BIG));
    let mut got = c.list(&dir).await.unwrap();
    got.sort();
    assert_eq!(got, names);
    let tx = c.transaction().await.unwrap();
    assert_eq!(tx.list(&g.abs("big")).await.unwrap().len(), 120);
    tx.commit().await.unwrap();
    g.done().await;
}

pub async fn gets_4096_byte_replies_through_the_device<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "reply_4096").await else {
        return;
    };
    let c = &g.client;
    for (dir, bytes) in [("l4096", 4096), ("l4097", 4097)] {
        g.ask_dom0_for_listing(dir, &g.abs(dir), bytes).await;
        let mut want = listing_names(bytes);
        want.sort();
        let direct = c.list_many(&[g.rel(dir).as_str()]).await.pop().unwrap();
        if bytes <= 4096 {
            let mut got = direct.unwrap();
            got.sort();
            assert_eq!(got, want);
        } else {
            assert_eq!(direct.unwrap_err().errno(), Some(Errno::E2BIG));
        }
        let mut got = c.list(&g.rel(dir)).await.unwrap();
        got.sort();
        assert_eq!(got, want, "{bytes}-byte listing");
    }
    assert!(c.is_connected());
    g.done().await;
}

pub async fn values_near_the_device_limit<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "sizes").await else {
        return;
    };
    let c = &g.client;
    assert_eq!(c.max_payload(), XENBUS_PAYLOAD_MAX);
    let p = g.rel("v");
    let ok = match xen_version().as_str() {
        "4.17" => 2015,
        "4.20" => 2024,
        _ => 1024,
    };
    c.write(&p, vec![b'v'; ok]).await.unwrap();
    assert_eq!(
        errno(c.write(&p, vec![b'v'; 2048]).await),
        Some(Errno::ENOSPC)
    );
    let long = g.rel("long");
    let value = vec![b'v'; XENBUS_PAYLOAD_MAX - long.len()];
    assert!(matches!(
        c.write(&long, &value).await,
        Err(Error::Invalid(_))
    ));
    assert!(!c.exists(&long).await.unwrap());
    g.ask_dom0("big", &g.abs("big"), 4000).await;
    assert_eq!(c.read(&g.rel("big")).await.unwrap().len(), 4000);
    assert!(c.is_connected());
    g.done().await;
}

pub async fn many_concurrent_requests_on_one_device_fd<R: Runtime>(rt: &str) {
    let Some(g) = guest::<R>(rt, "concurrent").await else {
        return;
    };
    const WRITERS: usize = 8;
    const OPS: usize = 25;
    let writers = (0..WRITERS)
        .map(|t| {
            let c = g.client.clone();
            let base = g.rel(&format!("t{t}"));
            async move {
                for i in 0..OPS {
                    let p = format!("{base}/n{i}");
                    c.write(&p, format!("{t}:{i}")).await.unwrap();
                    assert_eq!(c.read_string(&p).await.unwrap(), format!("{t}:{i}"));
                }
                assert_eq!(c.list(&base).await.unwrap().len(), OPS);
            }
        })
        .collect();
    join_all(writers).await;
    assert_eq!(g.client.list(&g.rel).await.unwrap().len(), WRITERS);
    g.done().await;
}
