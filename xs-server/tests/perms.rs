//! Permissions through the real protocol, with clients acting as other
//! domains on per-domain sockets.

mod common;

use common::*;
use xs_wire::Request;

#[test]
fn another_domain_gets_eacces() {
    let (server, mut dom0) = setup();
    let mut dom5 = Raw::new(server.connect_as(5).unwrap());
    assert_eq!(dom0.write("/secret/x", "s"), Ans::Ok);
    let cases: Vec<(Request<'_>, Ans)> = vec![
        (
            Request::Read {
                path: p("/secret/x"),
            },
            err("EACCES"),
        ),
        (Request::Directory { path: p("/secret") }, err("EACCES")),
        (
            Request::DirectoryPart {
                path: p("/secret"),
                offset: 0,
            },
            err("EACCES"),
        ),
        (Request::GetPerms { path: p("/secret") }, err("EACCES")),
        (
            Request::Write {
                path: p("/secret/x"),
                value: b"w",
            },
            err("EACCES"),
        ),
        (
            Request::Write {
                path: p("/secret/new"),
                value: b"w",
            },
            err("EACCES"),
        ),
        (
            Request::Mkdir {
                path: p("/secret/dir"),
            },
            err("EACCES"),
        ),
        (
            Request::Rm {
                path: p("/secret/x"),
            },
            err("EACCES"),
        ),
        (
            Request::Read {
                path: p("/no/such"),
            },
            err("ENOENT"),
        ),
        // unprivileged ops that need no permission
        (
            Request::GetDomainPath { domid: 5 },
            Ans::Path("/local/domain/5".into()),
        ),
        (
            Request::Control {
                command: "print",
                args: b"x\0",
            },
            Ans::Ok,
        ),
        // privileged ops
        (
            Request::Introduce {
                domid: 9,
                gfn: 1,
                evtchn: 1,
            },
            err("EACCES"),
        ),
        (Request::Release { domid: 9 }, err("EACCES")),
        (Request::Resume { domid: 9 }, err("EACCES")),
        (
            Request::SetTarget {
                domid: 9,
                target: 5,
            },
            err("EACCES"),
        ),
        (Request::IsDomainIntroduced { domid: 0 }, err("EACCES")),
    ];
    for (i, (req, expected)) in cases.into_iter().enumerate() {
        assert_eq!(dom5.call(req), expected, "case {i}: {req:?}");
    }
    // Nothing changed.
    assert_eq!(dom0.read("/secret/x"), val("s"));
    assert_eq!(dom0.dir("/secret"), names(&["x"]));
}

#[test]
fn permission_letters() {
    let (server, mut dom0) = setup();
    let mut d5 = Raw::new(server.connect_as(5).unwrap());
    let mut d6 = Raw::new(server.connect_as(6).unwrap());
    dom0.write("/n", "v");
    // read for 5, nothing for others
    dom0.set_perms("/n", &["n0", "r5"]);
    assert_eq!(d5.read("/n"), val("v"));
    assert_eq!(d5.write("/n", "x"), err("EACCES"));
    assert_eq!(d6.read("/n"), err("EACCES"));
    // write-only for 5
    dom0.set_perms("/n", &["n0", "w5"]);
    assert_eq!(d5.read("/n"), err("EACCES"));
    assert_eq!(d5.write("/n", "five"), Ans::Ok);
    assert_eq!(dom0.read("/n"), val("five"));
    // both for everyone (default letter), none for 6
    dom0.set_perms("/n", &["b0", "n6"]);
    assert_eq!(d5.read("/n"), val("five"));
    assert_eq!(d6.read("/n"), err("EACCES"));
    // the owner has full access whatever the letter
    dom0.set_perms("/n", &["n5"]);
    assert_eq!(d5.read("/n"), val("five"));
    assert_eq!(d5.write("/n", "mine"), Ans::Ok);
    assert_eq!(d5.rm("/n"), Ans::Ok);
    assert_eq!(dom0.read("/n"), err("ENOENT"));
}

#[test]
fn domains_work_in_their_home() {
    let (server, mut dom0) = setup();
    let mut d7 = Raw::new(server.connect_as(7).unwrap());
    // No home yet: the deepest existing node is /local, owned by dom0.
    assert_eq!(d7.write("data", "x"), err("EACCES"));
    dom0.call(Request::Mkdir {
        path: p("/local/domain/7"),
    });
    dom0.set_perms("/local/domain/7", &["n7"]);
    assert_eq!(d7.write("device/vif/0", "up"), Ans::Ok);
    assert_eq!(dom0.read("/local/domain/7/device/vif/0"), val("up"));
    assert_eq!(
        dom0.get_perms("/local/domain/7/device/vif/0"),
        perms(&["n7"])
    );
    assert_eq!(d7.dir("device"), names(&["vif"]));
    // Owners may extend the list but not give nodes away.
    assert_eq!(d7.set_perms("device", &["n7", "r0"]), Ans::Ok);
    assert_eq!(d7.set_perms("device", &["n8"]), err("EACCES"));
    // Not the owner: no SET_PERMS even with write access.
    dom0.write("/shared", "");
    dom0.set_perms("/shared", &["b0"]);
    assert_eq!(d7.set_perms("/shared", &["b0", "n5"]), err("EACCES"));
}

#[test]
fn set_target_lends_rights() {
    let (server, mut dom0) = setup();
    let mut stub = Raw::new(server.connect_as(9).unwrap());
    dom0.write("/guest", "g");
    dom0.set_perms("/guest", &["n3"]);
    assert_eq!(stub.read("/guest"), err("EACCES"));
    assert_eq!(
        dom0.call(Request::SetTarget {
            domid: 9,
            target: 3
        }),
        err("ENOENT")
    );
    assert_eq!(
        dom0.call(Request::Introduce {
            domid: 9,
            gfn: 5,
            evtchn: 1
        }),
        Ans::Ok
    );
    assert_eq!(
        dom0.call(Request::SetTarget {
            domid: 9,
            target: 3
        }),
        Ans::Ok
    );
    assert_eq!(stub.read("/guest"), val("g"));
    assert_eq!(stub.write("/guest", "by stub"), Ans::Ok);
}

#[test]
fn domain_sockets_are_created_on_demand_and_reused() {
    let server = xs_server::Server::builder()
        .domain_socket(4)
        .spawn()
        .unwrap();
    let path = server.socket_for_domain(4);
    assert_eq!(server.socket_for_domain(4), path);
    assert!(path.to_string_lossy().ends_with("socket.dom4"));
    let other = server.socket_for_domain(12);
    assert_ne!(other, path);
    let mut d12 = Raw::new(std::os::unix::net::UnixStream::connect(&other).unwrap());
    assert_eq!(
        d12.call(Request::GetDomainPath { domid: 12 }),
        Ans::Path("/local/domain/12".into())
    );
    assert_eq!(d12.read("/tool/xenstored"), err("EACCES"));
}
