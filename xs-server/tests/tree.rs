//! Tree operations through the socket: READ, WRITE, MKDIR, RM, DIRECTORY,
//! DIRECTORY_PART, GET/SET_PERMS, GET_DOMAIN_PATH, relative paths, errors.

mod common;

use common::*;
use xs_wire::{Header, Op, PermList, Request};

#[test]
fn table() {
    let (_server, mut c) = setup_4_17();
    let perms_r5 = perm_vec(&["n0", "r5"]);
    let perms_bad_owner = perm_vec(&["b7"]);
    let cases: Vec<(Request<'_>, Ans)> = vec![
        // initial tree (oxenstored --no-domain-init)
        (
            Request::Directory { path: p("/") },
            names(&["@introduceDomain", "@releaseDomain", "local", "tool"]),
        ),
        (
            Request::Read {
                path: p("/tool/xenstored"),
            },
            val("xs-server"),
        ),
        (Request::GetPerms { path: p("/") }, perms(&["n0"])),
        (
            Request::Read {
                path: p("/local/domain"),
            },
            err("ENOENT"),
        ),
        // WRITE creates parents with empty values
        (
            Request::Write {
                path: p("/a/b/c"),
                value: b"hello",
            },
            Ans::Ok,
        ),
        (Request::Read { path: p("/a/b/c") }, val("hello")),
        (Request::Read { path: p("/a/b") }, val("")),
        (
            Request::Write {
                path: p("/a/bin"),
                value: b"\0\x01\xff",
            },
            Ans::Ok,
        ),
        (
            Request::Read { path: p("/a/bin") },
            Ans::Value(vec![0, 1, 255]),
        ),
        (
            Request::Write {
                path: p("/a/empty"),
                value: b"",
            },
            Ans::Ok,
        ),
        (
            Request::Read {
                path: p("/a/empty"),
            },
            val(""),
        ),
        (
            Request::Directory { path: p("/a") },
            names(&["b", "bin", "empty"]),
        ),
        (Request::Directory { path: p("/a/b/c") }, names(&[])),
        (Request::Directory { path: p("/a/zz") }, err("ENOENT")),
        (Request::Read { path: p("/a/zz/y") }, err("ENOENT")),
        // MKDIR
        (Request::Mkdir { path: p("/m/n/o") }, Ans::Ok),
        (Request::Mkdir { path: p("/m/n/o") }, Ans::Ok),
        (Request::Read { path: p("/m/n") }, val("")),
        // RM
        (
            Request::Rm {
                path: p("/m/missing"),
            },
            Ans::Ok,
        ),
        (
            Request::Rm {
                path: p("/m/missing/deeper"),
            },
            err("ENOENT"),
        ),
        (Request::Rm { path: p("/m") }, Ans::Ok),
        (Request::Read { path: p("/m/n/o") }, err("ENOENT")),
        // SET_PERMS / GET_PERMS
        (
            Request::SetPerms {
                path: p("/a"),
                perms: PermList::new(&perms_r5).unwrap(),
            },
            Ans::Ok,
        ),
        (Request::GetPerms { path: p("/a") }, perms(&["n0", "r5"])),
        (
            Request::SetPerms {
                path: p("/nope"),
                perms: PermList::new(&perms_bad_owner).unwrap(),
            },
            err("ENOENT"),
        ),
        (
            Request::SetPerms {
                path: p("@releaseDomain"),
                perms: PermList::new(&perms_r5).unwrap(),
            },
            Ans::Ok,
        ),
        (
            Request::GetPerms {
                path: p("@releaseDomain"),
            },
            perms(&["n0", "r5"]),
        ),
        (
            Request::GetPerms {
                path: p("/@releaseDomain"),
            },
            perms(&["n0", "r5"]),
        ),
        // created nodes copy the parent's permissions
        (
            Request::Write {
                path: p("/a/new/deep"),
                value: b"",
            },
            Ans::Ok,
        ),
        (
            Request::GetPerms {
                path: p("/a/new/deep"),
            },
            perms(&["n0", "r5"]),
        ),
        // relative paths: /local/domain/0 for dom0 on the socket
        (
            Request::Write {
                path: p("rel/x"),
                value: b"v",
            },
            Ans::Ok,
        ),
        (
            Request::Read {
                path: p("/local/domain/0/rel/x"),
            },
            val("v"),
        ),
        (Request::Read { path: p("rel/x") }, val("v")),
        (Request::Directory { path: p("rel") }, names(&["x"])),
        // GET_DOMAIN_PATH
        (
            Request::GetDomainPath { domid: 0 },
            Ans::Path("/local/domain/0".into()),
        ),
        (
            Request::GetDomainPath { domid: 32767 },
            Ans::Path("/local/domain/32767".into()),
        ),
        // quotas: value size (E2BIG) and path length (EINVAL)
        (
            Request::Write {
                path: p("/big"),
                value: &[b'x'; 2048],
            },
            Ans::Ok,
        ),
        (
            Request::Write {
                path: p("/big"),
                value: &[b'x'; 2049],
            },
            err("E2BIG"),
        ),
        // CONTROL answers OK
        (
            Request::Control {
                command: "print",
                args: b"hello\0",
            },
            Ans::Ok,
        ),
        // RM / empties the store (oxenstored)
        (Request::Rm { path: p("/") }, Ans::Ok),
        (Request::Directory { path: p("/") }, names(&[])),
    ];
    for (i, (req, expected)) in cases.into_iter().enumerate() {
        assert_eq!(c.call(req), expected, "case {i}: {req:?}");
    }
}

#[test]
fn path_length_limits() {
    let (_server, mut c) = setup();
    let ok = format!("/{}", "p".repeat(1023));
    let long = format!("/{}", "p".repeat(1024));
    assert_eq!(c.write(&ok, ""), Ans::Ok);
    assert_eq!(c.write(&long, ""), err("EINVAL"));
    assert_eq!(c.read(&long), err("EINVAL"));
    // Relative paths count without the /local/domain/0/ prefix.
    let rel = "q".repeat(1024);
    assert_eq!(c.write(&rel, ""), Ans::Ok);
    assert_eq!(c.write(&format!("/local/domain/0/{rel}"), "x"), Ans::Ok);
}

#[test]
fn invalid_paths_are_einval() {
    let (_server, mut c) = setup();
    for bad in [
        &b"/a/\0"[..],
        b"/a//b\0",
        b"/a b\0",
        b"\0",
        b"/a\xff\0",
        b"@foo\0",
    ] {
        c.send_raw(
            Header {
                op: Op::Read,
                req_id: 3,
                tx_id: 0,
                len: bad.len() as u32,
            },
            bad,
        );
        let (h, ans) = c.reply(&Request::Read { path: p("/") });
        assert_eq!((h.op, h.req_id), (Op::Error, 3));
        assert_eq!(ans, err("EINVAL"), "{bad:?}");
    }
    // Special paths only for watches and permissions.
    c.send_raw(
        Header {
            op: Op::Write,
            req_id: 4,
            tx_id: 0,
            len: 18,
        },
        b"@releaseDomain\0xyz",
    );
    assert_eq!(c.reply(&Request::Read { path: p("/") }).1, err("EINVAL"));
}

#[test]
fn directory_part_lists_big_directories() {
    let (_server, mut c) = setup();
    let mut expected = Vec::new();
    for i in 0..400 {
        let name = format!("entry_number_{i:05}");
        assert_eq!(c.write(&format!("/big/{name}"), ""), Ans::Ok);
        expected.push(name);
    }
    assert_eq!(c.dir("/big"), err("E2BIG"));
    let mut got = Vec::new();
    let mut offset = 0u32;
    let mut chunks = 0;
    let generation = loop {
        let Ans::Chunk(gen, names, complete) = c.call(Request::DirectoryPart {
            path: p("/big"),
            offset,
        }) else {
            panic!("not a chunk")
        };
        chunks += 1;
        offset += names.iter().map(|n| n.len() as u32 + 1).sum::<u32>();
        got.extend(names);
        if complete {
            break gen;
        }
    };
    assert!(chunks >= 2);
    assert_eq!(got, expected);
    // The generation changes when the children do.
    c.write("/big/another", "");
    let Ans::Chunk(gen2, ..) = c.call(Request::DirectoryPart {
        path: p("/big"),
        offset: 0,
    }) else {
        panic!()
    };
    assert_ne!(gen2, generation);
    assert_eq!(
        c.call(Request::DirectoryPart {
            path: p("/nope"),
            offset: 0
        }),
        err("ENOENT")
    );
}

#[test]
fn directory_part_can_answer_enosys_like_oxenstored() {
    let server = xs_server::Server::builder()
        .directory_part(false)
        .spawn()
        .unwrap();
    let mut c = Raw::new(server.connect().unwrap());
    assert_eq!(
        c.call(Request::DirectoryPart {
            path: p("/"),
            offset: 0
        }),
        err("ENOSYS")
    );
}

#[test]
fn clients_share_one_store() {
    let (server, mut a) = setup();
    let mut b = Raw::new(server.connect().unwrap());
    assert_eq!(a.write("/shared", "1"), Ans::Ok);
    assert_eq!(b.read("/shared"), val("1"));
    assert_eq!(b.rm("/shared"), Ans::Ok);
    assert_eq!(a.read("/shared"), err("ENOENT"));
}
