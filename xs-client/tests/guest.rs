//! Tests for an unprivileged Xen guest, in two roles of one binary:
//!
//! - **in the guest** (`XS_TEST_GUEST=1`): a PV domU started by dom0 runs
//!   the `guest_*` tests over its own `/dev/xen/xenbus` (what a guest agent
//!   sees: relative paths, its home, permissions, quotas, watches,
//!   transactions with conflicts made by dom0, DIRECTORY_PART, the device's
//!   payload limit, threads);
//! - **in dom0** (`XS_TEST_GUEST_CONFIG=<xl config>`):
//!   `dom0_sees_a_guest_come_and_go` runs `xl create` on the config and
//!   watches the guest live and die (`@introduceDomain`, `@releaseDomain`,
//!   `is_domain_introduced`, the guest's tree removed), and meanwhile serves
//!   the guest's requests for dom0 writes (see [`ask_dom0`]).
//!
//! With the `tokio` and `smol` features, `guest_async_tokio_*` and
//! `guest_async_smol_*` run the same guest checks through the async client
//! (tests/guest/async_checks.rs).
//!
//! `scripts/xen-qemu/ci` builds the guest's initramfs around this binary and
//! runs the dom0 role. Without either variable every test prints a skip
//! line and passes. `XS_XEN_VERSION` (4.17, 4.20) selects the expectations
//! that differ between releases; docs/conformance.md ("Inside a guest")
//! lists them.

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use xs_client::{Access, Client, Errno, Error, Perm, Store, TransportKind};
use xs_wire::XENBUS_PAYLOAD_MAX;

const T: Duration = Duration::from_secs(20);
/// Where a guest asks dom0 for writes, relative to the guest's home.
const REQUESTS: &str = "data/xs-dom0";

fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == value)
}

fn xen_version() -> String {
    std::env::var("XS_XEN_VERSION").unwrap_or_default()
}

/// The errno of a failed call, for tables of expected outcomes.
fn errno<T: std::fmt::Debug>(r: Result<T, Error>) -> Option<Errno> {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => Some(
            e.errno()
                .unwrap_or_else(|| panic!("not a daemon error: {e:?}")),
        ),
    }
}

// ---------------------------------------------------------------------------
// The guest role

/// One guest test's connection and private subtree.
struct Guest {
    client: Client,
    /// This domain's id, learned from the owner of its `data` node.
    id: u32,
    /// `/local/domain/<id>`.
    home: String,
    /// `data/xs-guest/<test>`, relative to the home.
    rel: String,
}

/// The guest connection for one test, or `None` (after a skip line) when not
/// in a guest.
fn guest(name: &str) -> Option<Guest> {
    if !env_is("XS_TEST_GUEST", "1") {
        println!("skipped {name}: needs an unprivileged Xen guest (XS_TEST_GUEST=1, see scripts/xen-qemu)");
        return None;
    }
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .connect()
        .expect("connect to xenstored (XENSTORED_PATH)");
    assert_eq!(client.router().kind(), TransportKind::Xenbus);
    // libxl makes `data` owned by the guest (and its home owned by dom0).
    let id = client.get_perms("data").expect("perms of data")[0].domid;
    assert_ne!(id, 0, "the guest suite must not run in dom0");
    let home = format!("/local/domain/{id}");
    let rel = format!("data/xs-guest/{name}");
    let _ = client.delete(&rel);
    Some(Guest {
        client,
        id,
        home,
        rel,
    })
}

impl Guest {
    /// This test's subtree, relative to the home.
    fn dir(&self) -> &str {
        &self.rel
    }
    /// `rel` under this test's subtree, relative to the home.
    fn rel(&self, rel: &str) -> String {
        format!("{}/{rel}", self.rel)
    }
    /// `rel` under this test's subtree, absolute.
    fn abs(&self, rel: &str) -> String {
        format!("{}/{}", self.home, self.rel(rel))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.client.delete(&self.rel);
    }
}

/// Asks dom0 to write `len` bytes of `d` to `path` (absolute, somewhere
/// dom0 may write) and waits until the value is there. The request is a
/// node under `<home>/data/xs-dom0` holding `"write <path> <len>"`; dom0's
/// test watches the guest's tree, does it, and removes the request.
fn ask_dom0(g: &Guest, name: &str, path: &str, len: usize) {
    g.client
        .write(&format!("{REQUESTS}/{name}"), format!("write {path} {len}"))
        .unwrap();
    let want = vec![b'd'; len];
    g.client
        .wait_until(path, Duration::from_secs(60), |v| {
            (v == Some(want.as_slice())).then_some(())
        })
        .unwrap_or_else(|e| panic!("dom0 did not write {path}: {e:?}"));
}

/// Asks dom0 to create empty children under `dir` (absolute), named by
/// [`listing_names`] so that DIRECTORY of `dir` answers exactly `bytes`
/// bytes, then `dir-done`, and waits for `dir-done`.
fn ask_dom0_for_listing(g: &Guest, name: &str, dir: &str, bytes: usize) {
    g.client
        .write(
            &format!("{REQUESTS}/{name}"),
            format!("listing {dir} {bytes}"),
        )
        .unwrap();
    g.client
        .wait_for(&format!("{dir}-done"), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("dom0 did not fill {dir}: {e:?}"));
}

/// Child names whose listing (each name and its NUL) is exactly `bytes`
/// long: 40-byte [`child_name`]s, then one shorter name for the rest.
fn listing_names(bytes: usize) -> Vec<String> {
    let full = bytes / 41;
    let rest = bytes % 41;
    assert_ne!(rest, 1, "no name is 0 bytes long");
    let mut names: Vec<String> = (0..full).map(child_name).collect();
    if rest > 0 {
        names.push("z".repeat(rest - 1));
    }
    names
}

/// The name of child `i` of a long listing: 40 bytes.
fn child_name(i: usize) -> String {
    format!("child-{i:03}-{}", "x".repeat(30))
}

#[test]
fn guest_home_and_relative_paths() {
    let Some(g) = guest("home") else { return };
    let c = &g.client;
    println!("guest: domain {} on Xen {}", g.id, xen_version());
    // libxl writes the guest's id and name into its home; the guest reads them.
    assert_eq!(c.read_string("domid").unwrap(), g.id.to_string());
    assert_eq!(
        c.read_string("name").unwrap(),
        c.read_string(&format!("{}/name", g.home)).unwrap()
    );
    assert_eq!(c.get_domain_path(g.id).unwrap(), g.home);
    assert_eq!(c.get_domain_path(0).unwrap(), "/local/domain/0");
    // A relative write lands under the home, and reads back both ways.
    c.write(&g.rel("r"), "relative").unwrap();
    assert_eq!(c.read(&g.abs("r")).unwrap(), b"relative");
    assert_eq!(c.list(g.dir()).unwrap(), ["r"]);
    let (tx_rel, tx_abs) = {
        let tx = c.transaction().unwrap();
        let r = (tx.read(&g.rel("r")).unwrap(), tx.read(&g.abs("r")).unwrap());
        tx.commit().unwrap();
        r
    };
    assert_eq!(
        (tx_rel.as_slice(), tx_abs.as_slice()),
        (&b"relative"[..], &b"relative"[..])
    );
}

#[test]
fn guest_dom0_only_nodes_are_refused() {
    let Some(g) = guest("refused") else { return };
    let c = &g.client;
    let table: [(&str, Option<Errno>); 6] = [
        (
            "read /local/domain/0/name",
            errno(c.read("/local/domain/0/name")),
        ),
        ("list /local/domain", errno(c.list("/local/domain"))),
        ("list /", errno(c.list("/"))),
        (
            "write /xs-guest-test",
            errno(c.write("/xs-guest-test", "x")),
        ),
        (
            "write /local/domain/0/xs-guest-test",
            errno(c.write("/local/domain/0/xs-guest-test", "x")),
        ),
        (
            "get_perms /local/domain/0",
            errno(c.get_perms("/local/domain/0")),
        ),
    ];
    for (what, got) in table {
        println!("guest: {what}: {got:?}");
        assert_eq!(got, Some(Errno::EACCES), "{what}");
    }
    // exists() is a read: a node it may not read is an error, not "absent".
    assert!(c
        .exists("/local/domain/0/name")
        .unwrap_err()
        .is_permission_denied());
    // A node that does not exist, under a home it may not read: refused
    // too, not "not found" (that would tell which domains exist).
    let missing = c.read(&format!("/local/domain/{}/name", g.id + 100));
    assert_eq!(errno(missing), Some(Errno::EACCES));
}

#[test]
fn guest_creates_where_its_permissions_allow() {
    let Some(g) = guest("create") else { return };
    let c = &g.client;
    // Its home belongs to dom0 (the guest may only read it).
    assert_eq!(errno(c.write("xs-guest-test", "x")), Some(Errno::EACCES));
    assert_eq!(errno(c.delete("name")), Some(Errno::EACCES));
    assert!(c.read("name").is_ok());
    // Under the nodes libxl made in its home, a write succeeds exactly
    // where the node's permissions let the guest write.
    for node in c.list(&g.home).unwrap() {
        let Ok(perms) = c.get_perms(&node) else {
            continue;
        };
        let may = perms[0].domid == g.id
            || perms[1..]
                .iter()
                .any(|p| p.domid == g.id && p.access.can_write());
        let child = format!("{node}/xs-guest-test");
        let wrote = c.write(&child, "x");
        let shown: Vec<String> = perms.iter().map(Perm::to_string).collect();
        println!(
            "guest: {node} ({}): write below: {wrote:?}",
            shown.join(" ")
        );
        if may {
            wrote.unwrap();
            c.delete(&child).unwrap();
        } else {
            assert_eq!(errno(wrote), Some(Errno::EACCES), "{node}");
        }
    }
    // Its `data` tree is its own: nested creation, mkdir, delete.
    c.write(&g.rel("a/b/c"), "deep").unwrap();
    assert_eq!(c.read(&g.rel("a/b")).unwrap(), b"");
    c.mkdir(&g.rel("empty")).unwrap();
    let mut kids = c.list(g.dir()).unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "empty"]);
    c.delete(&g.rel("a")).unwrap();
    assert!(!c.exists(&g.rel("a/b/c")).unwrap());
    // New nodes inherit the parent's permissions: owned by the guest.
    assert_eq!(c.get_perms(&g.rel("empty")).unwrap()[0].domid, g.id);
}

#[test]
fn guest_permissions_it_can_and_cannot_set() {
    let Some(g) = guest("perms") else { return };
    let c = &g.client;
    let p = g.rel("p");
    c.write(&p, "x").unwrap();
    let me = |a| Perm::new(a, g.id);
    // Its own node: any access list that keeps it the owner.
    for perms in [
        vec![me(Access::None), Perm::new(Access::Read, 0)],
        vec![me(Access::Read)],
        vec![me(Access::None)],
    ] {
        c.set_perms(&p, &perms).unwrap();
        assert_eq!(c.get_perms(&p).unwrap(), perms);
        // The owner keeps full access whatever the list says.
        c.write(&p, "still mine").unwrap();
    }
    // Giving the node away is refused, and so is changing dom0's nodes.
    let give_away = errno(c.set_perms(&p, &[Perm::new(Access::None, 0)]));
    let dom0s = errno(c.set_perms("name", &[me(Access::Both)]));
    println!("guest: set_perms owner 0: {give_away:?}; set_perms on its name: {dom0s:?}");
    assert_eq!(give_away, Some(Errno::EPERM));
    assert_eq!(dom0s, Some(Errno::EACCES));
    assert_eq!(c.get_perms(&p).unwrap()[0], me(Access::None));
    // Access for a domain that does not exist is accepted.
    let ghost = [me(Access::None), Perm::new(Access::Read, 4242)];
    c.set_perms(&p, &ghost).unwrap();
    assert_eq!(c.get_perms(&p).unwrap(), ghost);
}

#[test]
fn guest_watches_its_own_subtree() {
    let Some(g) = guest("watch") else { return };
    let c = &g.client;
    let m = c.monitor();
    m.watch(&g.abs("w"), "abs").unwrap();
    m.watch(&g.rel("w"), "rel").unwrap();
    let mut initial = BTreeSet::new();
    for _ in 0..2 {
        let ev = m.wait_timeout(T).unwrap().expect("an initial event");
        initial.insert((ev.path, ev.token));
    }
    let want: BTreeSet<_> = [
        (g.abs("w"), "abs".to_owned()),
        (g.rel("w"), "rel".to_owned()),
    ]
    .into();
    assert_eq!(initial, want, "a relative watch reports relative paths");
    c.write(&g.rel("w/x"), "1").unwrap();
    let mut fired = BTreeSet::new();
    for _ in 0..2 {
        let ev = m.wait_timeout(T).unwrap().expect("an event");
        fired.insert((ev.path, ev.token));
    }
    let want: BTreeSet<_> = [
        (g.abs("w/x"), "abs".to_owned()),
        (g.rel("w/x"), "rel".to_owned()),
    ]
    .into();
    assert_eq!(fired, want);
    // A watch on a node it may not read registers, and its initial event
    // fires (the daemon does not check permissions for it).
    m.unwatch(&g.rel("w"), "rel").unwrap();
    m.watch("/local/domain/0/name", "foreign").unwrap();
    let ev = m.wait_timeout(T).unwrap().expect("the initial event");
    assert_eq!(ev, ("/local/domain/0/name", "foreign"));
    assert_eq!(m.wait_timeout(Duration::from_millis(500)).unwrap(), None);
    m.unwatch("/local/domain/0/name", "foreign").unwrap();
    m.unwatch(&g.abs("w"), "abs").unwrap();
}

#[test]
fn guest_special_watches() {
    let Some(g) = guest("special") else { return };
    let m = g.client.monitor();
    // A guest may watch both, and gets their initial events.
    m.watch("@releaseDomain", "release").unwrap();
    m.watch("@introduceDomain", "intro").unwrap();
    let mut initial = Vec::new();
    while let Some(ev) = m.wait_timeout(Duration::from_secs(2)).unwrap() {
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
    // Their permissions: 4.17 refuses GET_PERMS on special nodes (dom0 too),
    // 4.20 answers dom0 only.
    let perms = errno(g.client.get_perms("@releaseDomain"));
    match xen_version().as_str() {
        "4.17" => assert_eq!(perms, Some(Errno::EINVAL)),
        "4.20" => assert_eq!(perms, Some(Errno::EACCES)),
        _ => {}
    }
}

#[test]
fn guest_domain_operations() {
    let Some(g) = guest("domain_ops") else { return };
    let c = &g.client;
    // Every domain operation is dom0's, even asking about itself.
    assert_eq!(errno(c.is_domain_introduced(g.id)), Some(Errno::EACCES));
    assert_eq!(errno(c.is_domain_introduced(0)), Some(Errno::EACCES));
    assert_eq!(errno(c.release_domain(g.id)), Some(Errno::EACCES));
    assert_eq!(
        errno(c.introduce_domain(g.id + 1, 1, 1)),
        Some(Errno::EACCES)
    );
    // SET_QUOTA is new in Xen 4.22: older daemons do not know it.
    let quota = errno(c.set_quota(Some(g.id), "nodes", 100_000));
    if matches!(xen_version().as_str(), "4.17" | "4.20") {
        assert_eq!(quota, Some(Errno::ENOSYS));
    }
}

#[test]
fn guest_transaction_conflict_made_by_dom0() {
    let Some(g) = guest("conflict") else { return };
    let c = &g.client;
    let counter = g.rel("counter");
    c.write(&counter, "0").unwrap();
    let tx = c.transaction().unwrap();
    assert_eq!(tx.read_string(&counter).unwrap(), "0");
    ask_dom0(&g, "conflict", &g.abs("counter"), 4);
    tx.write(&counter, "1").unwrap();
    assert!(
        !tx.commit().unwrap(),
        "dom0's write must make the commit fail"
    );
    assert_eq!(c.read(&counter).unwrap(), b"dddd");
    // transact() retries once dom0 has interfered.
    let mut attempts = 0;
    let n = c
        .transact(|tx| {
            attempts += 1;
            let v = tx.read_string(&counter)?;
            if attempts == 1 {
                ask_dom0(&g, "conflict2", &g.abs("counter"), 6);
            }
            tx.write(&counter, format!("{v}+1"))?;
            Ok::<_, Error>(attempts)
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(c.read_string(&counter).unwrap(), "dddddd+1");
    // A transaction of its own with no interference commits.
    let tx = c.transaction().unwrap();
    tx.write(&g.rel("quiet"), "ok").unwrap();
    assert!(tx.commit().unwrap());
}

#[test]
fn guest_long_listing_uses_directory_part() {
    let Some(g) = guest("directory_part") else {
        return;
    };
    let c = &g.client;
    // A guest cannot make such a listing itself: the children's names count
    // towards the parent node's size quota. Its own children stop there.
    let mut made = 0;
    let refused = loop {
        match c.write(&g.rel(&format!("own/{}", child_name(made))), "") {
            Ok(()) => made += 1,
            Err(e) => break e,
        }
        assert!(
            made < 120,
            "the daemon let a guest make a 4,800-byte listing"
        );
    };
    println!("guest: children it may make under one node: {made} ({refused:?})");
    assert_eq!(refused.errno(), Some(Errno::ENOSPC), "{refused:?}");
    assert_eq!(made, 49, "40-byte names under a 2048-byte node quota");
    // dom0 makes 120 children of 40 bytes: 4,920 bytes of names.
    let names = listing_names(4920);
    assert_eq!(names.len(), 120);
    ask_dom0_for_listing(&g, "listing", &g.abs("big"), 4920);
    let dir = g.rel("big");
    let direct = c.list_many(&[dir.as_str()]).pop().unwrap();
    assert_eq!(direct.unwrap_err().errno(), Some(Errno::E2BIG));
    let mut got = c.list(&dir).unwrap();
    got.sort();
    assert_eq!(got, names);
    let tx = c.transaction().unwrap();
    assert_eq!(tx.list(&g.abs("big")).unwrap().len(), 120);
    tx.commit().unwrap();
}

#[test]
fn guest_gets_4096_byte_replies_through_the_device() {
    let Some(g) = guest("reply_4096") else { return };
    let c = &g.client;
    // Requests through the device stop at 4080 bytes; replies may be as
    // long as the protocol's 4096. A listing of exactly 4096 bytes comes
    // back whole from a plain DIRECTORY, and one byte more needs
    // DIRECTORY_PART.
    for (dir, bytes) in [("l4096", 4096), ("l4097", 4097)] {
        ask_dom0_for_listing(&g, dir, &g.abs(dir), bytes);
        let mut want = listing_names(bytes);
        want.sort();
        let direct = c.list_many(&[g.rel(dir).as_str()]).pop().unwrap();
        if bytes <= 4096 {
            let mut got = direct.unwrap();
            got.sort();
            assert_eq!(got, want);
        } else {
            assert_eq!(direct.unwrap_err().errno(), Some(Errno::E2BIG));
        }
        let mut got = c.list(&g.rel(dir)).unwrap();
        got.sort();
        assert_eq!(got, want, "{bytes}-byte listing");
    }
    assert!(c.is_connected());
}

#[test]
fn guest_values_near_the_device_limit() {
    let Some(g) = guest("sizes") else { return };
    let c = &g.client;
    assert_eq!(c.router().max_payload(), XENBUS_PAYLOAD_MAX);
    // The daemon's per-domain node-size quota (2048 bytes by default) comes
    // first for a guest: find the largest value it accepts.
    let p = g.rel("v");
    let (mut ok, mut refused) = (0usize, 4000usize);
    let quota = errno(c.write(&p, vec![b'v'; refused]));
    while refused - ok > 1 {
        let mid = (ok + refused) / 2;
        match c.write(&p, vec![b'v'; mid]) {
            Ok(()) => ok = mid,
            Err(e) => {
                assert_eq!(e.errno(), quota, "{mid} bytes: {e:?}");
                refused = mid;
            }
        }
    }
    println!("guest: largest value accepted from the guest: {ok} bytes (then {quota:?})");
    // 2048 bytes less the daemon's record overhead (header, permissions).
    assert_eq!(quota, Some(Errno::ENOSPC));
    match xen_version().as_str() {
        "4.17" => assert_eq!(ok, 2015),
        "4.20" => assert_eq!(ok, 2024),
        _ => assert!((1024..2048).contains(&ok), "{ok}"),
    }
    // Over the device's 4080-byte payload: refused before sending.
    let long = g.rel("long");
    let value = vec![b'v'; XENBUS_PAYLOAD_MAX - long.len()];
    assert!(matches!(c.write(&long, &value), Err(Error::Invalid(_))));
    assert!(!c.exists(&long).unwrap());
    // Reading is not limited by the guest's quota: dom0 writes 4,000 bytes
    // into the guest's tree and the guest reads them through the device.
    ask_dom0(&g, "big", &g.abs("big"), 4000);
    assert_eq!(c.read(&g.rel("big")).unwrap().len(), 4000);
    assert!(c.is_connected());
}

#[test]
fn guest_many_threads_on_one_device_fd() {
    let Some(g) = guest("threads") else { return };
    const THREADS: usize = 8;
    const OPS: usize = 25;
    thread::scope(|s| {
        for t in 0..THREADS {
            let c = g.client.clone();
            let base = g.rel(&format!("t{t}"));
            s.spawn(move || {
                for i in 0..OPS {
                    let p = format!("{base}/n{i}");
                    c.write(&p, format!("{t}:{i}")).unwrap();
                    assert_eq!(c.read_string(&p).unwrap(), format!("{t}:{i}"));
                }
                assert_eq!(c.list(&base).unwrap().len(), OPS);
            });
        }
    });
    assert_eq!(g.client.list(g.dir()).unwrap().len(), THREADS);
}

// ---------------------------------------------------------------------------
// The guest role, through the async client

#[cfg(any(feature = "tokio", feature = "smol"))]
#[path = "guest/async_checks.rs"]
mod async_checks;
#[cfg(any(feature = "tokio", feature = "smol"))]
#[path = "async_suite/join.rs"]
mod join;

/// One `#[test]` per async check, named `guest_async_<runtime>_<check>`.
#[cfg(any(feature = "tokio", feature = "smol"))]
macro_rules! async_guest_tests {
    ($runtime:literal, $rt:ty, $run:path; $($check:ident => $test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $run(async_checks::$check::<$rt>($runtime));
            }
        )*
    };
}

/// Every async check, for one runtime.
#[cfg(any(feature = "tokio", feature = "smol"))]
macro_rules! async_guest_suite {
    ($runtime:literal, $rt:ty, $run:path) => {
        use super::async_checks;
        async_guest_tests!($runtime, $rt, $run;
            home_and_relative_paths => guest_async_home_and_relative_paths,
            dom0_only_nodes_are_refused => guest_async_dom0_only_nodes_are_refused,
            creates_where_its_permissions_allow => guest_async_creates_where_its_permissions_allow,
            permissions_it_can_and_cannot_set => guest_async_permissions_it_can_and_cannot_set,
            watches_its_own_subtree => guest_async_watches_its_own_subtree,
            special_watches => guest_async_special_watches,
            domain_operations => guest_async_domain_operations,
            transaction_conflict_made_by_dom0 => guest_async_transaction_conflict_made_by_dom0,
            long_listing_uses_directory_part => guest_async_long_listing_uses_directory_part,
            gets_4096_byte_replies_through_the_device => guest_async_gets_4096_byte_replies_through_the_device,
            values_near_the_device_limit => guest_async_values_near_the_device_limit,
            many_concurrent_requests_on_one_device_fd => guest_async_many_concurrent_requests_on_one_device_fd,
        );
    };
}

#[cfg(feature = "tokio")]
mod on_tokio {
    fn run(f: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(f)
    }
    async_guest_suite!("tokio", xs_client::tokio::Tokio, run);
}

#[cfg(feature = "smol")]
mod on_smol {
    async_guest_suite!("smol", xs_client::smol::Smol, smol::block_on);
}

/// The dom0 writes one run of the guest suite asks for: two conflicting
/// writes, a 4,000-byte value, three listings.
const REQUESTS_PER_SUITE: usize = 6;

/// The runs of the guest suite the guest makes (sync, and each async
/// runtime built in): each asks dom0 for the same writes.
const GUEST_SUITES: usize = 1 + cfg!(feature = "tokio") as usize + cfg!(feature = "smol") as usize;

// ---------------------------------------------------------------------------
// The dom0 role

/// `xl create`s the guest, checks what dom0 sees while it lives and when it
/// dies, and serves its requests for dom0 writes.
#[test]
fn dom0_sees_a_guest_come_and_go() {
    let Some(config) = std::env::var_os("XS_TEST_GUEST_CONFIG") else {
        println!("skipped dom0_sees_a_guest_come_and_go: needs XS_TEST_GUEST_CONFIG (see scripts/xen-qemu)");
        return;
    };
    let c = Client::builder()
        .timeout(Duration::from_secs(30))
        .connect()
        .expect("connect to xenstored");
    let m = c.monitor();
    m.watch("@introduceDomain", "intro").unwrap();
    m.watch("@releaseDomain", "release").unwrap();
    for _ in 0..2 {
        m.wait_timeout(T).unwrap().expect("an initial event");
    }
    let before: BTreeSet<String> = c.list("/local/domain").unwrap().into_iter().collect();

    let status = Command::new("xl")
        .arg("create")
        .arg(&config)
        .status()
        .expect("run xl create");
    assert!(status.success(), "xl create failed: {status}");

    // @introduceDomain fires; the new domain is the new /local/domain entry.
    let ev = m.wait_timeout(T).unwrap().expect("@introduceDomain");
    assert_eq!(ev, ("@introduceDomain", "intro"));
    let id: u32 = c
        .list("/local/domain")
        .unwrap()
        .into_iter()
        .find(|d| !before.contains(d))
        .expect("a new /local/domain entry")
        .parse()
        .expect("a domid");
    let home = format!("/local/domain/{id}");
    println!("dom0: guest {id} introduced");
    assert!(c.is_domain_introduced(id).unwrap());
    m.watch(&home, "home").unwrap();

    // Serve requests until the guest's domain is released.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut served = 0;
    let mut home_events = Vec::new();
    let mut released = false;
    while !released {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = m
            .wait_timeout(left)
            .unwrap()
            .expect("the guest finished within 600 s");
        match ev.token.as_str() {
            "release" => released = !c.is_domain_introduced(id).unwrap(),
            "home" => {
                served += serve_requests(&c, &home);
                home_events.push(ev.path);
            }
            _ => {}
        }
    }
    println!("dom0: guest {id} released after {served} requests served");
    assert_eq!(
        served,
        REQUESTS_PER_SUITE * GUEST_SUITES,
        "requests served for the guest suites"
    );
    // The toolstack removes the guest's home; the home watch sees it go.
    let gone = c.wait_until(&home, T, |v| v.is_none().then_some(()));
    assert!(gone.is_ok(), "{home} still exists after release: {gone:?}");
    while let Some(ev) = m.wait_timeout(Duration::from_secs(2)).unwrap() {
        home_events.push(ev.path);
    }
    assert!(
        home_events.contains(&home),
        "no event for {home} itself: {:?}",
        &home_events[home_events.len().saturating_sub(5)..]
    );
    assert!(!c.is_domain_introduced(id).unwrap());
    m.unwatch(&home, "home").unwrap();
}

/// Writes what the guest's pending requests ask for and removes them.
fn serve_requests(c: &Client, home: &str) -> usize {
    let dir = format!("{home}/{REQUESTS}");
    let Ok(names) = c.list(&dir) else { return 0 };
    let mut served = 0;
    for name in names {
        let req = format!("{dir}/{name}");
        let Ok(text) = c.read_string(&req) else {
            continue;
        };
        let words: Vec<&str> = text.split(' ').collect();
        let number = |w: &str| {
            w.parse::<usize>()
                .unwrap_or_else(|_| panic!("{req}: {text}"))
        };
        match words.as_slice() {
            ["write", path, len] => c.write(path, vec![b'd'; number(len)]).unwrap(),
            ["listing", dir, bytes] => {
                let paths: Vec<String> = listing_names(number(bytes))
                    .iter()
                    .map(|n| format!("{dir}/{n}"))
                    .collect();
                let items: Vec<(&str, &[u8])> =
                    paths.iter().map(|p| (p.as_str(), &b""[..])).collect();
                for r in c.write_many(&items) {
                    r.unwrap();
                }
                c.write(&format!("{dir}-done"), "").unwrap();
            }
            _ => panic!("unknown request {req}: {text}"),
        }
        c.delete(&req).unwrap();
        served += 1;
    }
    served
}
