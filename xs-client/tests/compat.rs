//! The `xen.lowlevel.xs`-style handle: every method, with upstream's
//! semantics where pyxs differs.

mod common;

use xs_client::compat::{Xs, XBT_NULL};
use xs_client::{Access, Perm, Store};

#[test]
fn read_write_ls_mkdir_rm_outside_a_transaction() {
    let h = common::setup("compat_basic");
    let xs = Xs::with_client(h.client());
    let p = h.path("k");
    xs.write(XBT_NULL, &p, b"value").unwrap();
    assert_eq!(xs.read(XBT_NULL, &p).unwrap(), Some(b"value".to_vec()));
    // Upstream gives None for a missing node (pyxs raises).
    assert_eq!(xs.read(XBT_NULL, &h.path("missing")).unwrap(), None);
    xs.mkdir(XBT_NULL, &h.path("d/e")).unwrap();
    let mut names = xs.ls(XBT_NULL, &h.path("")).unwrap().unwrap();
    names.sort();
    assert_eq!(names, ["d", "k"]);
    assert_eq!(xs.ls(XBT_NULL, &h.path("missing")).unwrap(), None);
    xs.rm(XBT_NULL, &h.path("d")).unwrap();
    assert_eq!(xs.ls(XBT_NULL, &h.path("")).unwrap().unwrap(), ["k"]);
}

#[test]
fn permissions_come_back_as_values() {
    let h = common::setup("compat_perms");
    let xs = Xs::with_client(h.client());
    let p = h.path("p");
    xs.write(XBT_NULL, &p, b"v").unwrap();
    let perms = [Perm::new(Access::None, 0), Perm::new(Access::Read, 4)];
    xs.set_permissions(XBT_NULL, &p, &perms).unwrap();
    assert_eq!(xs.get_permissions(XBT_NULL, &p).unwrap(), perms);
}

#[test]
fn explicit_transaction_ids_do_not_stick() {
    let h = common::setup("compat_tx");
    let c = h.client();
    let xs = Xs::with_client(c.clone());
    let p = h.path("t");
    let t = xs.transaction_start().unwrap();
    assert_ne!(t, XBT_NULL);
    xs.write(t, &p, b"inside").unwrap();
    // The next call without the id is outside the transaction.
    assert_eq!(xs.read(XBT_NULL, &p).unwrap(), None);
    assert_eq!(xs.read(t, &p).unwrap(), Some(b"inside".to_vec()));
    assert!(xs.transaction_end(t, false).unwrap());
    assert_eq!(c.read(&p).unwrap(), b"inside");
    // A second transaction starts fine (pyxs would say EALREADY).
    let t2 = xs.transaction_start().unwrap();
    xs.write(t2, &p, b"aborted").unwrap();
    assert!(xs.transaction_end(t2, true).unwrap());
    assert_eq!(c.read(&p).unwrap(), b"inside");
}

#[test]
fn transaction_end_reports_a_conflict_as_false() {
    let h = common::setup("compat_conflict");
    let c = h.client();
    let xs = Xs::with_client(c.clone());
    let p = h.path("c");
    c.write(&p, "0").unwrap();
    let t = xs.transaction_start().unwrap();
    xs.read(t, &p).unwrap();
    c.write(&p, "1").unwrap();
    xs.write(t, &p, b"2").unwrap();
    assert!(
        !xs.transaction_end(t, false).unwrap(),
        "EAGAIN is false, not true"
    );
    assert_eq!(c.read(&p).unwrap(), b"1");
}

#[test]
fn watch_read_watch_unwatch() {
    let h = common::setup("compat_watch");
    let c = h.client();
    let xs = Xs::with_client(c.clone());
    let p = h.path("w");
    xs.watch(&p, "tok").unwrap();
    let first = xs.read_watch().unwrap();
    assert_eq!(first, (p.as_str(), "tok"));
    c.write(&format!("{p}/x"), "1").unwrap();
    assert_eq!(xs.read_watch().unwrap().path, format!("{p}/x"));
    xs.unwatch(&p, "tok").unwrap();
}

#[test]
fn domain_calls() {
    let h = common::setup("compat_domains");
    let xs = Xs::with_client(h.client());
    assert_eq!(xs.get_domain_path(3).unwrap(), "/local/domain/3");
    // Unknown domains: the daemon refuses (ENOENT or EINVAL), it does not hang.
    assert!(xs.release_domain(999).is_err());
    assert!(xs.resume_domain(999).is_err());
    xs.close();
}

#[test]
fn embedded_only_introduce_and_release_through_the_handle() {
    let h = common::setup_with("compat_intro", xs_server::Server::builder());
    let c = h.client();
    let xs = Xs::with_client(c.clone());
    xs.watch("@introduceDomain", "intro").unwrap();
    xs.watch("@releaseDomain", "release").unwrap();
    let mut initial: Vec<_> = (0..2).map(|_| xs.read_watch().unwrap().token).collect();
    initial.sort();
    assert_eq!(initial, ["intro", "release"]);
    xs.introduce_domain(7, 1234, 5).unwrap();
    assert_eq!(xs.read_watch().unwrap(), ("@introduceDomain", "intro"));
    assert!(c.is_domain_introduced(7).unwrap());
    xs.set_target(7, 0).unwrap();
    xs.resume_domain(7).unwrap();
    xs.release_domain(7).unwrap();
    assert_eq!(xs.read_watch().unwrap(), ("@releaseDomain", "release"));
    assert!(!c.is_domain_introduced(7).unwrap());
}

/// `ls_with` lists as `ls` does, borrowed: short listings in one reply,
/// long ones (E2BIG from the embedded server, like C xenstored) in
/// DIRECTORY_PART chunks; a missing node is `None`; errors are `ls`'s.
#[test]
fn embedded_only_ls_with_agrees_with_ls_short_long_and_missing() {
    let h = common::setup_with("compat_ls_with", xs_server::Server::builder());
    let xs = Xs::with_client(h.client());
    let c = h.client();
    for i in 0..3 {
        c.write(&h.path(&format!("small/c{i}")), "").unwrap();
    }
    let names: Vec<String> = (0..200)
        .map(|i| format!("child-with-a-long-name-{i:04}"))
        .collect();
    for n in &names {
        c.write(&h.path(&format!("big/{n}")), "").unwrap();
    }
    let owned = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    for node in ["small", "big"] {
        let p = h.path(node);
        let borrowed = xs.ls_with(XBT_NULL, &p, owned).unwrap();
        assert_eq!(borrowed, xs.ls(XBT_NULL, &p).unwrap(), "{node}");
    }
    assert_eq!(
        xs.ls_with(XBT_NULL, &h.path("big"), |n| n.len()).unwrap(),
        Some(200)
    );
    assert_eq!(
        xs.ls_with(XBT_NULL, &h.path("missing"), |n| n.len())
            .unwrap(),
        None
    );
    let bad = xs.ls_with(XBT_NULL, "/a//b", |n| n.len()).unwrap_err();
    assert_eq!(bad.kind(), xs.ls(XBT_NULL, "/a//b").unwrap_err().kind());
}
