//! Engine unit tests: requests in, frames out, no sockets.

use super::*;
use crate::XenVersion;
use xs_wire::{decode, Access, Path, QuotaQuery, Status};

/// A decoded output frame, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Ok,
    Value(Vec<u8>),
    Names(Vec<String>),
    Chunk(u64, Vec<String>, bool),
    Perms(Vec<String>),
    Tx(u32),
    Bool(bool),
    Path(String),
    Err(String),
    Event(String, String),
}

struct Harness {
    engine: Engine,
    req_id: u32,
}

fn err(name: &str) -> Out {
    Out::Err(name.to_owned())
}

fn ev(path: &str, token: &str) -> Out {
    Out::Event(path.to_owned(), token.to_owned())
}

fn names(list: &[&str]) -> Out {
    Out::Names(list.iter().map(|s| s.to_string()).collect())
}

fn p(s: &str) -> Path<'_> {
    Path::new(s).unwrap()
}

impl Harness {
    fn new() -> Harness {
        Harness::with(Config::default())
    }

    /// Answers like Xen 4.17's oxenstored.
    fn v4_17() -> Harness {
        Harness::with(Config {
            version: XenVersion::V4_17,
            ..Config::default()
        })
    }

    fn with(config: Config) -> Harness {
        Harness {
            engine: Engine::new(config),
            req_id: 0,
        }
    }

    fn dom0(&mut self) -> ConnId {
        self.engine.connect(ConnInfo::DOM0)
    }

    fn dom(&mut self, domid: u32) -> ConnId {
        self.engine.connect(ConnInfo::domain(domid))
    }

    /// Sends a raw frame and returns everything queued for `conn`.
    fn raw(&mut self, conn: ConnId, header: Header, payload: &[u8]) -> Vec<(Header, Out)> {
        self.engine.handle(conn, &header, payload);
        self.drain(conn, header.op)
    }

    fn drain(&mut self, conn: ConnId, op: Op) -> Vec<(Header, Out)> {
        let mut out = Vec::new();
        while let Some(frame) = self.engine.pop_output(conn) {
            let Status::Complete((frame, used)) = decode(&frame).unwrap() else {
                panic!("partial frame")
            };
            assert_eq!(used, frame.wire_len());
            out.push((frame.header, parse_out(op, &frame)));
        }
        out
    }

    /// Sends `req` in transaction `tx` and returns all output for `conn`.
    fn send(&mut self, conn: ConnId, tx: u32, req: Request<'_>) -> Vec<Out> {
        self.req_id += 1;
        let mut buf = vec![0u8; 8192];
        // Encoded outside any transaction (xs-wire refuses a tx_id on some
        // ops), then the header gets the transaction to test.
        let n = req
            .encode_with_limit(
                Ids::in_transaction(self.req_id, u32::from(req.op() == Op::TransactionEnd)),
                8192,
                &mut buf,
            )
            .unwrap();
        let Status::Complete((frame, _)) = decode(&buf[..n]).unwrap() else {
            unreachable!()
        };
        let header = Header {
            tx_id: tx,
            ..frame.header
        };
        let out = self.raw(conn, header, frame.payload);
        for (h, o) in &out {
            if !matches!(o, Out::Event(..)) {
                assert_eq!(h.req_id, self.req_id);
            } else {
                assert_eq!((h.req_id, h.tx_id), (0, 0));
            }
        }
        out.into_iter().map(|(_, o)| o).collect()
    }

    /// Sends `req` outside transactions and returns the single reply,
    /// asserting there is nothing else.
    fn one(&mut self, conn: ConnId, req: Request<'_>) -> Out {
        self.one_tx(conn, 0, req)
    }

    fn one_tx(&mut self, conn: ConnId, tx: u32, req: Request<'_>) -> Out {
        let mut out = self.send(conn, tx, req);
        assert_eq!(out.len(), 1, "expected one frame, got {out:?}");
        out.remove(0)
    }

    fn write(&mut self, conn: ConnId, path: &str, value: &[u8]) -> Out {
        self.one(
            conn,
            Request::Write {
                path: p(path),
                value,
            },
        )
    }

    fn read(&mut self, conn: ConnId, path: &str) -> Out {
        self.one(conn, Request::Read { path: p(path) })
    }

    fn watch(&mut self, conn: ConnId, path: &str, token: &str) -> Vec<Out> {
        self.send(
            conn,
            0,
            Request::Watch {
                path: p(path),
                token,
                depth: None,
            },
        )
    }

    fn events(&mut self, conn: ConnId) -> Vec<Out> {
        self.drain(conn, Op::WatchEvent)
            .into_iter()
            .map(|(_, o)| o)
            .collect()
    }

    fn start(&mut self, conn: ConnId) -> u32 {
        match self.one(conn, Request::TransactionStart) {
            Out::Tx(id) => id,
            other => panic!("TRANSACTION_START gave {other:?}"),
        }
    }

    fn end(&mut self, conn: ConnId, tx: u32, commit: bool) -> Out {
        self.one_tx(conn, tx, Request::TransactionEnd { commit })
    }

    fn set_perms(&mut self, conn: ConnId, path: &str, perms: &[&str]) -> Out {
        let perms: Vec<Perm> = perms.iter().map(|s| s.parse().unwrap()).collect();
        self.one(
            conn,
            Request::SetPerms {
                path: p(path),
                perms: PermList::new(&perms).unwrap(),
            },
        )
    }
}

fn parse_out(op: Op, frame: &xs_wire::Frame<'_>) -> Out {
    let kind = match op {
        Op::Read => xs_wire::ReplyKind::Value,
        Op::Directory => xs_wire::ReplyKind::Directory,
        Op::DirectoryPart => xs_wire::ReplyKind::DirectoryPart,
        Op::GetPerms => xs_wire::ReplyKind::Perms,
        Op::TransactionStart => xs_wire::ReplyKind::TransactionId,
        Op::IsDomainIntroduced => xs_wire::ReplyKind::Bool,
        Op::GetDomainPath => xs_wire::ReplyKind::DomainPath,
        _ => xs_wire::ReplyKind::Ack,
    };
    match Reply::parse(op, kind, frame).unwrap() {
        Reply::Ack => Out::Ok,
        Reply::Value(v) => Out::Value(v.to_vec()),
        Reply::Directory(n) => Out::Names(n.iter().map(str::to_owned).collect()),
        Reply::DirectoryPart(c) => Out::Chunk(
            c.generation,
            c.names.iter().map(str::to_owned).collect(),
            c.complete,
        ),
        Reply::Perms(l) => Out::Perms(l.iter().map(|p| p.to_string()).collect()),
        Reply::TransactionId(id) => Out::Tx(id),
        Reply::Bool(b) => Out::Bool(b),
        Reply::DomainPath(d) => Out::Path(d.to_owned()),
        Reply::Error(e) => Out::Err(e.name().to_owned()),
        Reply::WatchEvent(e) => Out::Event(e.path.to_owned(), e.token.to_owned()),
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------- tree ops

#[test]
fn read_write_basics() {
    let mut h = Harness::new();
    let c = h.dom0();
    assert_eq!(h.read(c, "/a"), err("ENOENT"));
    assert_eq!(h.write(c, "/a/b/c", b"v\0x"), Out::Ok);
    assert_eq!(h.read(c, "/a/b/c"), Out::Value(b"v\0x".to_vec()));
    assert_eq!(h.read(c, "/a/b"), Out::Value(vec![]));
    assert_eq!(
        h.read(c, "/tool/xenstored"),
        Out::Value(b"xs-server".to_vec())
    );
}

#[test]
fn directory_is_sorted_and_includes_special_nodes() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.write(c, "/z", b"");
    h.write(c, "/b", b"");
    assert_eq!(
        h.one(c, Request::Directory { path: p("/") }),
        names(&[
            "@introduceDomain",
            "@releaseDomain",
            "b",
            "local",
            "tool",
            "z"
        ])
    );
    assert_eq!(h.one(c, Request::Directory { path: p("/z") }), names(&[]));
    assert_eq!(
        h.one(c, Request::Directory { path: p("/nope") }),
        err("ENOENT")
    );
}

#[test]
fn directory_over_the_limit_is_e2big_and_directory_part_chunks_it() {
    let mut h = Harness::new();
    let c = h.dom0();
    let mut expected = Vec::new();
    for i in 0..300 {
        let name = format!("child_with_a_long_name_{i:04}");
        h.write(c, &format!("/big/{name}"), b"");
        expected.push(name);
    }
    assert_eq!(
        h.one(c, Request::Directory { path: p("/big") }),
        err("E2BIG")
    );
    let mut got = Vec::new();
    let mut offset = 0u32;
    let mut generation = None;
    loop {
        let Out::Chunk(gen, names, complete) = h.one(
            c,
            Request::DirectoryPart {
                path: p("/big"),
                offset,
            },
        ) else {
            panic!("not a chunk")
        };
        assert_eq!(*generation.get_or_insert(gen), gen);
        offset += names.iter().map(|n| n.len() as u32 + 1).sum::<u32>();
        got.extend(names);
        if complete {
            break;
        }
    }
    assert_eq!(got, expected);
    // Past the end: an empty, complete chunk.
    assert!(matches!(
        h.one(c, Request::DirectoryPart { path: p("/big"), offset: 999_999 }),
        Out::Chunk(_, ref n, true) if n.is_empty()
    ));
}

#[test]
fn directory_part_generation_changes_with_children() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.write(c, "/d/a", b"");
    let gen = |h: &mut Harness| match h.one(
        c,
        Request::DirectoryPart {
            path: p("/d"),
            offset: 0,
        },
    ) {
        Out::Chunk(g, _, _) => g,
        o => panic!("{o:?}"),
    };
    let g1 = gen(&mut h);
    h.write(c, "/d/a", b"value change");
    assert_eq!(gen(&mut h), g1);
    h.write(c, "/d/b", b"");
    assert_ne!(gen(&mut h), g1);
}

#[test]
fn directory_part_can_be_disabled() {
    let mut h = Harness::with(Config {
        directory_part: false,
        ..Config::default()
    });
    let c = h.dom0();
    assert_eq!(
        h.one(
            c,
            Request::DirectoryPart {
                path: p("/"),
                offset: 0
            }
        ),
        err("ENOSYS")
    );
}

#[test]
fn mkdir_and_rm() {
    let mut h = Harness::new();
    let c = h.dom0();
    assert_eq!(h.one(c, Request::Mkdir { path: p("/m/n") }), Out::Ok);
    assert_eq!(h.one(c, Request::Mkdir { path: p("/m/n") }), Out::Ok);
    assert_eq!(h.read(c, "/m/n"), Out::Value(vec![]));
    assert_eq!(h.one(c, Request::Rm { path: p("/m/x") }), Out::Ok);
    assert_eq!(h.one(c, Request::Rm { path: p("/m/x/y") }), err("ENOENT"));
    assert_eq!(h.one(c, Request::Rm { path: p("/m") }), Out::Ok);
    assert_eq!(h.read(c, "/m/n"), err("ENOENT"));
    assert_eq!(h.one(c, Request::Rm { path: p("/") }), Out::Ok);
    assert_eq!(h.one(c, Request::Directory { path: p("/") }), names(&[]));
}

#[test]
fn relative_paths_resolve_against_the_domain_home() {
    let mut h = Harness::new();
    let c = h.dom0();
    assert_eq!(h.write(c, "rel/x", b"v"), Out::Ok);
    assert_eq!(
        h.read(c, "/local/domain/0/rel/x"),
        Out::Value(b"v".to_vec())
    );
    h.write(c, "/local/domain/5", b"");
    h.set_perms(c, "/local/domain/5", &["n5"]);
    let d = h.dom(5);
    assert_eq!(h.write(d, "mine", b"5"), Out::Ok);
    assert_eq!(h.read(c, "/local/domain/5/mine"), Out::Value(b"5".to_vec()));
    assert_eq!(
        h.one(d, Request::GetDomainPath { domid: 5 }),
        Out::Path("/local/domain/5".into())
    );
}

#[test]
fn special_paths_are_nodes_under_the_root() {
    let mut h = Harness::v4_17();
    let c = h.dom0();
    let out = h.raw(
        c,
        Header {
            op: Op::Read,
            req_id: 1,
            tx_id: 0,
            len: 17,
        },
        b"@introduceDomain\0",
    );
    assert_eq!(out[0].1, err("EINVAL"), "xs-wire refuses @ paths for READ");
    assert_eq!(h.read(c, "/@introduceDomain"), Out::Value(vec![]));
    assert_eq!(
        h.one(
            c,
            Request::GetPerms {
                path: p("@releaseDomain")
            }
        ),
        Out::Perms(vec!["n0".into()])
    );
    assert_eq!(h.set_perms(c, "@releaseDomain", &["n0", "r5"]), Out::Ok);
    assert_eq!(
        h.one(
            c,
            Request::GetPerms {
                path: p("/@releaseDomain")
            }
        ),
        Out::Perms(vec!["n0".into(), "r5".into()])
    );
}

#[test]
fn malformed_payloads_are_einval() {
    let mut h = Harness::new();
    let c = h.dom0();
    let header = |op, len| Header {
        op,
        req_id: 9,
        tx_id: 0,
        len,
    };
    let cases: &[(Op, &[u8])] = &[
        (Op::Read, b"/a"),
        (Op::Read, b"/a\0/b\0"),
        (Op::Read, b"/a//b\0"),
        (Op::Read, b"/a/\0"),
        (Op::Read, b"/a b\0"),
        (Op::Read, b"\0"),
        (Op::Write, b"/nonul"),
        (Op::SetPerms, b"/a\0"),
        (Op::SetPerms, b"/a\0x1\0"),
        (Op::Watch, b"/a\0"),
        (Op::Watch, b"/a\0t\0x\0"),
        (Op::Watch, b"/a\0t\0x\0y\0"),
        (Op::Unwatch, b"/a\0t\0x\0"),
        (Op::TransactionEnd, b"X\0"),
        (Op::GetDomainPath, b"abc\0"),
        (Op::Introduce, b"1\0"),
    ];
    for (op, payload) in cases {
        let out = h.raw(c, header(*op, payload.len() as u32), payload);
        assert_eq!(out.len(), 1, "{op} {payload:?}");
        assert_eq!(out[0].1, err("EINVAL"), "{op} {payload:?}");
        assert_eq!(out[0].0.req_id, 9);
    }
}

#[test]
fn unknown_and_unsupported_ops_are_enosys() {
    let mut h = Harness::v4_17();
    let c = h.dom0();
    for op in [
        Op::Unknown(99),
        Op::Restrict,
        Op::WatchEvent,
        Op::Error,
        Op::Invalid,
        Op::GetFeature,
        Op::SetQuota,
    ] {
        let out = h.raw(
            c,
            Header {
                op,
                req_id: 1,
                tx_id: 0,
                len: 0,
            },
            b"",
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0.op, Op::Error);
        assert_eq!(out[0].1, err("ENOSYS"), "{op}");
    }
    assert_eq!(
        h.one(c, Request::GetQuota(QuotaQuery::Names)),
        err("ENOSYS")
    );
}

#[test]
fn quotas_on_values_and_paths() {
    let mut h = Harness::new();
    let c = h.dom0();
    assert_eq!(h.write(c, "/v", &[b'x'; 2048]), Out::Ok);
    assert_eq!(h.write(c, "/v", &[b'x'; 2049]), err("E2BIG"));
    let long = format!("/{}", "p".repeat(1023));
    assert_eq!(h.write(c, &long, b""), Out::Ok);
    let longer = format!("/{}", "p".repeat(1024));
    assert_eq!(h.write(c, &longer, b""), err("EINVAL"));
    let relative = "q".repeat(1024);
    assert_eq!(h.write(c, &relative, b""), Out::Ok);
}

#[test]
fn control_always_acks() {
    let mut h = Harness::new();
    let c = h.dom0();
    let d = h.dom(3);
    for conn in [c, d] {
        assert_eq!(
            h.one(
                conn,
                Request::Control {
                    command: "print",
                    args: b"hi\0"
                }
            ),
            Out::Ok
        );
    }
}

// ------------------------------------------------------------- permissions

#[test]
fn unprivileged_access_is_checked() {
    let mut h = Harness::new();
    let c = h.dom0();
    let d = h.dom(5);
    h.write(c, "/secret", b"s");
    assert_eq!(h.read(d, "/secret"), err("EACCES"));
    assert_eq!(h.write(d, "/secret", b"x"), err("EACCES"));
    assert_eq!(h.write(d, "/secret/child", b"x"), err("EACCES"));
    assert_eq!(h.one(d, Request::Rm { path: p("/secret") }), err("EACCES"));
    assert_eq!(
        h.one(d, Request::Directory { path: p("/secret") }),
        err("EACCES")
    );
    assert_eq!(
        h.one(d, Request::GetPerms { path: p("/secret") }),
        err("EACCES")
    );
    assert_eq!(h.set_perms(d, "/secret", &["b5"]), err("EACCES"));
    // A missing node is ENOENT before any permission check.
    assert_eq!(h.read(d, "/nothing"), err("ENOENT"));

    h.set_perms(c, "/secret", &["n0", "r5"]);
    assert_eq!(h.read(d, "/secret"), Out::Value(b"s".to_vec()));
    assert_eq!(h.write(d, "/secret", b"x"), err("EACCES"));
    h.set_perms(c, "/secret", &["w0", "n5"]);
    assert_eq!(h.read(d, "/secret"), err("EACCES"));
    let e = h.dom(6);
    assert_eq!(h.write(e, "/secret", b"six"), Out::Ok);
    assert_eq!(h.read(c, "/secret"), Out::Value(b"six".to_vec()));
}

#[test]
fn owners_may_set_perms_but_not_give_nodes_away() {
    let mut h = Harness::new();
    let c = h.dom0();
    let d = h.dom(5);
    h.write(c, "/h", b"");
    h.set_perms(c, "/h", &["n5"]);
    assert_eq!(h.set_perms(d, "/h", &["n5", "r6"]), Out::Ok);
    assert_eq!(h.set_perms(d, "/h", &["n6"]), err("EACCES"));
    assert_eq!(h.set_perms(c, "/h", &["n6"]), Out::Ok);
    assert_eq!(h.set_perms(c, "/nope", &["n0"]), err("ENOENT"));
}

#[test]
fn privileged_ops_need_privilege() {
    let mut h = Harness::new();
    let d = h.dom(5);
    for req in [
        Request::Introduce {
            domid: 7,
            gfn: 1,
            evtchn: 1,
        },
        Request::Release { domid: 7 },
        Request::Resume { domid: 7 },
        Request::SetTarget {
            domid: 7,
            target: 8,
        },
        Request::IsDomainIntroduced { domid: 7 },
    ] {
        assert_eq!(h.one(d, req), err("EACCES"), "{req:?}");
    }
}

#[test]
fn set_target_grants_the_target_rights() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.write(c, "/guest", b"g");
    h.set_perms(c, "/guest", &["n7"]);
    let stub = h.dom(9);
    assert_eq!(h.read(stub, "/guest"), err("EACCES"));
    assert_eq!(
        h.one(
            c,
            Request::SetTarget {
                domid: 9,
                target: 7
            }
        ),
        err("ENOENT")
    );
    h.one(
        c,
        Request::Introduce {
            domid: 9,
            gfn: 1,
            evtchn: 2,
        },
    );
    assert_eq!(
        h.one(
            c,
            Request::SetTarget {
                domid: 9,
                target: 7
            }
        ),
        Out::Ok
    );
    assert_eq!(h.read(stub, "/guest"), Out::Value(b"g".to_vec()));
}

// ------------------------------------------------------------ transactions

#[test]
fn transactions_are_isolated_until_commit() {
    let mut h = Harness::new();
    let c = h.dom0();
    let other = h.dom0();
    h.write(c, "/x", b"1");
    let tx = h.start(c);
    assert_eq!(tx, 1);
    assert_eq!(
        h.one_tx(
            c,
            tx,
            Request::Write {
                path: p("/y"),
                value: b"t"
            }
        ),
        Out::Ok
    );
    assert_eq!(
        h.one_tx(c, tx, Request::Read { path: p("/y") }),
        Out::Value(b"t".to_vec())
    );
    assert_eq!(h.read(other, "/y"), err("ENOENT"));
    // The transaction does not see later outside changes.
    h.write(other, "/x", b"2");
    assert_eq!(
        h.one_tx(c, tx, Request::Read { path: p("/x") }),
        Out::Value(b"1".to_vec())
    );
    assert_eq!(h.engine.open_transactions(), 1);
    // It read /x, which changed: EAGAIN, and the transaction is gone.
    assert_eq!(h.end(c, tx, true), err("EAGAIN"));
    assert_eq!(h.engine.open_transactions(), 0);
    assert_eq!(h.read(other, "/y"), err("ENOENT"));
    assert_eq!(h.end(c, tx, true), err("EIO"));
}

#[test]
fn commit_applies_changes_and_fires_watches_then() {
    let mut h = Harness::new();
    let c = h.dom0();
    let w = h.dom0();
    h.watch(w, "/t", "tok");
    let tx = h.start(c);
    h.one_tx(
        c,
        tx,
        Request::Write {
            path: p("/t/a"),
            value: b"1",
        },
    );
    h.one_tx(c, tx, Request::Rm { path: p("/t/a") });
    h.one_tx(c, tx, Request::Mkdir { path: p("/t/b") });
    assert!(h.events(w).is_empty(), "no events before the commit");
    assert_eq!(h.end(c, tx, true), Out::Ok);
    assert_eq!(h.read(c, "/t/b"), Out::Value(vec![]));
    assert_eq!(h.read(c, "/t/a"), err("ENOENT"));
    assert_eq!(
        h.events(w),
        [ev("/t/a", "tok"), ev("/t/a", "tok"), ev("/t/b", "tok")]
    );
}

#[test]
fn abort_discards_changes() {
    let mut h = Harness::new();
    let c = h.dom0();
    let tx = h.start(c);
    h.one_tx(
        c,
        tx,
        Request::Write {
            path: p("/gone"),
            value: b"1",
        },
    );
    assert_eq!(h.end(c, tx, false), Out::Ok);
    assert_eq!(h.read(c, "/gone"), err("ENOENT"));
}

#[test]
fn blind_writes_merge_and_read_only_transactions_commit() {
    let mut h = Harness::new();
    let c = h.dom0();
    let o = h.dom0();
    h.write(c, "/x", b"1");
    let tx = h.start(c);
    h.one_tx(
        c,
        tx,
        Request::Write {
            path: p("/x"),
            value: b"tx",
        },
    );
    h.write(o, "/x", b"other");
    assert_eq!(h.end(c, tx, true), Out::Ok);
    assert_eq!(h.read(c, "/x"), Out::Value(b"tx".to_vec()));

    let tx = h.start(c);
    h.one_tx(c, tx, Request::Read { path: p("/x") });
    h.write(o, "/x", b"changed");
    assert_eq!(
        h.end(c, tx, true),
        Out::Ok,
        "read-only commits always succeed"
    );
}

#[test]
fn reads_of_missing_nodes_conflict_when_they_appear() {
    let mut h = Harness::new();
    let c = h.dom0();
    let o = h.dom0();
    let tx = h.start(c);
    assert_eq!(
        h.one_tx(c, tx, Request::Read { path: p("/n") }),
        err("ENOENT")
    );
    h.one_tx(
        c,
        tx,
        Request::Write {
            path: p("/n"),
            value: b"mine",
        },
    );
    h.write(o, "/n", b"theirs");
    assert_eq!(h.end(c, tx, true), err("EAGAIN"));
    assert_eq!(h.read(c, "/n"), Out::Value(b"theirs".to_vec()));
}

#[test]
fn directory_reads_conflict_on_new_children() {
    let mut h = Harness::new();
    let c = h.dom0();
    let o = h.dom0();
    h.write(c, "/d/a", b"");
    let tx = h.start(c);
    h.one_tx(c, tx, Request::Directory { path: p("/d") });
    h.one_tx(
        c,
        tx,
        Request::Write {
            path: p("/other"),
            value: b"",
        },
    );
    h.write(o, "/d/b", b"");
    assert_eq!(h.end(c, tx, true), err("EAGAIN"));
}

#[test]
fn replay_failures_are_eagain() {
    let mut h = Harness::new();
    let c = h.dom0();
    let o = h.dom0();
    h.write(c, "/p/q", b"");
    let tx = h.start(c);
    h.one_tx(c, tx, Request::Rm { path: p("/p/q") });
    h.one(o, Request::Rm { path: p("/p") });
    assert_eq!(
        h.end(c, tx, true),
        err("EAGAIN"),
        "RM /p/q fails without /p"
    );
}

#[test]
fn transaction_id_rules() {
    let mut h = Harness::new();
    let c = h.dom0();
    let tx = h.start(c);
    assert_eq!(h.one_tx(c, tx, Request::TransactionStart), err("EBUSY"));
    assert_eq!(h.one_tx(c, 77, Request::TransactionStart), err("EIO"));
    assert_eq!(h.one_tx(c, 77, Request::Read { path: p("/") }), err("EIO"));
    assert_eq!(
        h.one_tx(c, 77, Request::GetDomainPath { domid: 1 }),
        err("EIO")
    );
    assert_eq!(
        h.one(c, Request::TransactionEnd { commit: true }),
        err("ENOENT")
    );
    // Another connection cannot use this connection's transaction.
    let o = h.dom0();
    assert_eq!(h.one_tx(o, tx, Request::Read { path: p("/") }), err("EIO"));
    // A bad END payload does not consume the transaction.
    let out = h.raw(
        c,
        Header {
            op: Op::TransactionEnd,
            req_id: 1,
            tx_id: tx,
            len: 2,
        },
        b"X\0",
    );
    assert_eq!(out[0].1, err("EINVAL"));
    assert_eq!(h.end(c, tx, false), Out::Ok);
    assert_eq!(h.start(c), 2, "ids keep counting");
}

#[test]
fn fail_next_commits_fault() {
    let mut h = Harness::with(Config {
        fail_commits: 1,
        ..Config::default()
    });
    let c = h.dom0();
    let tx = h.start(c);
    assert_eq!(h.end(c, tx, true), err("EAGAIN"));
    let tx = h.start(c);
    assert_eq!(h.end(c, tx, true), Out::Ok);
    h.engine.fail_next_commits(2);
    let tx = h.start(c);
    assert_eq!(h.end(c, tx, false), Out::Ok, "aborts are not commits");
    for _ in 0..2 {
        let tx = h.start(c);
        assert_eq!(h.end(c, tx, true), err("EAGAIN"));
    }
    let tx = h.start(c);
    assert_eq!(h.end(c, tx, true), Out::Ok);
}

#[test]
fn transaction_and_watch_quotas_for_unprivileged_domains() {
    let mut h = Harness::with(Config {
        quota: Quota {
            max_transactions: Some(2),
            max_watches: Some(2),
            max_requests_per_transaction: Some(3),
            ..Quota::default()
        },
        version: XenVersion::V4_17,
        ..Config::default()
    });
    let d = h.dom(4);
    let t1 = h.start(d);
    h.start(d);
    assert_eq!(h.one(d, Request::TransactionStart), err("EQUOTA"));
    h.watch(d, "/a", "1");
    h.watch(d, "/a", "2");
    assert_eq!(h.watch(d, "/a", "3"), [err("EQUOTA")]);
    for _ in 0..3 {
        assert_eq!(
            h.one_tx(d, t1, Request::GetDomainPath { domid: 1 }),
            Out::Path("/local/domain/1".into())
        );
    }
    assert_eq!(
        h.one_tx(d, t1, Request::GetDomainPath { domid: 1 }),
        err("EQUOTA")
    );
    // dom0 is exempt.
    let c = h.dom0();
    for _ in 0..3 {
        h.start(c);
    }
    assert_eq!(h.engine.transactions_of(c), 3);
    assert_eq!(h.engine.watches_of(d), 2);
}

#[test]
fn node_quota_for_domains() {
    let mut h = Harness::with(Config {
        quota: Quota {
            max_nodes_per_domain: Some(3),
            ..Quota::default()
        },
        version: XenVersion::V4_17,
        ..Config::default()
    });
    let c = h.dom0();
    h.write(c, "/local/domain/4", b"");
    h.set_perms(c, "/local/domain/4", &["n4"]);
    let d = h.dom(4);
    assert_eq!(h.write(d, "a", b""), Out::Ok);
    assert_eq!(h.write(d, "b", b""), Out::Ok);
    assert_eq!(h.write(d, "c", b""), err("EQUOTA"));
    assert_eq!(h.write(d, "a", b"still fine"), Out::Ok);
}

#[test]
fn quotas_can_apply_to_dom0() {
    let mut h = Harness::with(Config {
        quota: Quota {
            max_transactions: Some(1),
            apply_to_privileged: true,
            ..Quota::default()
        },
        version: XenVersion::V4_17,
        ..Config::default()
    });
    let c = h.dom0();
    h.start(c);
    assert_eq!(h.one(c, Request::TransactionStart), err("EQUOTA"));
}

#[test]
fn reset_watches_drops_watches_and_transactions() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.watch(c, "/a", "t");
    let tx = h.start(c);
    assert_eq!(h.one_tx(c, tx, Request::ResetWatches), Out::Ok);
    assert_eq!(h.engine.watches_of(c), 0);
    assert_eq!(h.engine.transactions_of(c), 0);
    h.write(c, "/a", b"");
    assert!(h.events(c).is_empty());
}

#[test]
fn disconnect_drops_everything() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.watch(c, "/a", "t");
    h.start(c);
    assert_eq!(h.engine.stats().watches, 1);
    h.engine.disconnect(c);
    let s = h.engine.stats();
    assert_eq!((s.connections, s.watches, s.transactions), (0, 0, 0));
}

// ----------------------------------------------------------------- watches

#[test]
fn watch_sends_ok_then_the_initial_event() {
    let mut h = Harness::new();
    let c = h.dom0();
    assert_eq!(
        h.watch(c, "/nonexistent", "tok"),
        [Out::Ok, ev("/nonexistent", "tok")]
    );
    assert_eq!(h.watch(c, "/nonexistent", "tok"), [err("EEXIST")]);
    assert_eq!(h.watch(c, "/nonexistent", "tok2").len(), 2);
    assert_eq!(
        h.one(
            c,
            Request::Unwatch {
                path: p("/nonexistent"),
                token: "tok"
            }
        ),
        Out::Ok
    );
    assert_eq!(
        h.one(
            c,
            Request::Unwatch {
                path: p("/nonexistent"),
                token: "tok"
            }
        ),
        err("ENOENT")
    );
}

#[test]
fn watch_replies_carry_tx_zero() {
    let mut h = Harness::new();
    let c = h.dom0();
    let payload = b"/w\0t\0";
    let out = h.raw(
        c,
        Header {
            op: Op::Watch,
            req_id: 4,
            tx_id: 99,
            len: payload.len() as u32,
        },
        payload,
    );
    assert_eq!(out[0].0.tx_id, 0);
    assert_eq!(out[0].1, Out::Ok);
}

#[test]
fn events_for_node_ancestors_and_removed_subtrees() {
    let mut h = Harness::new();
    let c = h.dom0();
    let w = h.dom0();
    h.write(c, "/t/a/b/c", b"");
    h.watch(w, "/", "root");
    h.watch(w, "/t", "t");
    h.watch(w, "/t/a/b", "ab");
    h.watch(w, "/t/a/b/c/d", "abcd");
    h.watch(w, "/u", "other");
    h.events(w);
    h.one(c, Request::Rm { path: p("/t/a") });
    assert_eq!(
        h.events(w),
        [
            ev("/t/a", "root"),
            ev("/t/a", "t"),
            ev("/t/a/b", "ab"),
            ev("/t/a/b/c/d", "abcd")
        ]
    );
    // MKDIR of something that exists fires nothing; creating parents fires
    // only for the path itself.
    h.one(c, Request::Mkdir { path: p("/t") });
    assert!(h.events(w).is_empty());
    h.write(c, "/t/p/q", b"");
    assert_eq!(h.events(w), [ev("/t/p/q", "root"), ev("/t/p/q", "t")]);
    // Every WRITE fires, even with the same value.
    h.write(c, "/t/p/q", b"");
    assert_eq!(h.events(w).len(), 2);
    // RM of a missing node fires nothing.
    h.one(c, Request::Rm { path: p("/t/zz") });
    assert!(h.events(w).is_empty());
    h.set_perms(c, "/t", &["n0"]);
    assert_eq!(h.events(w), [ev("/t", "root"), ev("/t", "t")]);
}

#[test]
fn removed_subtree_watch_needs_an_existing_parent() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.write(c, "/r/a/b", b"");
    h.watch(c, "/r/a", "exact");
    h.watch(c, "/r/a/b/c/d", "deep");
    assert_eq!(
        h.send(c, 0, Request::Rm { path: p("/r/a") }),
        [Out::Ok, ev("/r/a", "exact")]
    );
}

#[test]
fn relative_watches_give_relative_events() {
    let mut h = Harness::new();
    let c = h.dom0();
    assert_eq!(h.watch(c, "rel", "r"), [Out::Ok, ev("rel", "r")]);
    let o = h.dom0();
    h.write(o, "/local/domain/0/rel/k", b"");
    assert_eq!(h.events(c), [ev("rel/k", "r")]);
    h.write(o, "rel/k2", b"");
    assert_eq!(h.events(c), [ev("rel/k2", "r")]);
    assert_eq!(
        h.one(
            c,
            Request::Unwatch {
                path: p("rel"),
                token: "r"
            }
        ),
        Out::Ok
    );
}

#[test]
fn unprivileged_watchers_need_read_access() {
    let mut h = Harness::new();
    let c = h.dom0();
    let d = h.dom(5);
    h.write(c, "/v/secret", b"");
    assert_eq!(h.watch(d, "/v", "t"), [Out::Ok, ev("/v", "t")]);
    h.write(c, "/v/secret", b"x");
    assert!(h.events(d).is_empty());
    h.set_perms(c, "/v/secret", &["n0", "r5"]);
    assert_eq!(h.events(d), [ev("/v/secret", "t")]);
    h.write(c, "/v/secret", b"y");
    assert_eq!(h.events(d), [ev("/v/secret", "t")]);
    // Losing access still tells the watcher (old permissions count).
    h.set_perms(c, "/v/secret", &["n0"]);
    assert_eq!(h.events(d), [ev("/v/secret", "t")]);
    h.write(c, "/v/secret", b"z");
    assert!(h.events(d).is_empty());
}

#[test]
fn special_watches_fire_on_introduce_and_release() {
    let mut h = Harness::new();
    let c = h.dom0();
    let d = h.dom(5);
    h.watch(c, "@introduceDomain", "in");
    h.watch(c, "@releaseDomain", "out");
    h.watch(d, "@introduceDomain", "din");
    h.events(c);
    h.events(d);
    assert_eq!(
        h.one(c, Request::IsDomainIntroduced { domid: 7 }),
        Out::Bool(false)
    );
    assert_eq!(
        h.send(
            c,
            0,
            Request::Introduce {
                domid: 7,
                gfn: 10,
                evtchn: 3
            }
        ),
        [Out::Ok, ev("@introduceDomain", "in")]
    );
    assert!(h.events(d).is_empty(), "dom5 may not read @introduceDomain");
    assert_eq!(
        h.one(c, Request::IsDomainIntroduced { domid: 7 }),
        Out::Bool(true)
    );
    assert_eq!(
        h.one(
            c,
            Request::IsDomainIntroduced {
                domid: DOMID_SELF_FOR_TEST
            }
        ),
        Out::Bool(true)
    );
    // Same again: accepted, no event. Different: EINVAL.
    assert_eq!(
        h.send(
            c,
            0,
            Request::Introduce {
                domid: 7,
                gfn: 10,
                evtchn: 3
            }
        ),
        [Out::Ok]
    );
    assert_eq!(
        h.send(
            c,
            0,
            Request::Introduce {
                domid: 7,
                gfn: 11,
                evtchn: 3
            }
        ),
        [err("EINVAL")]
    );
    h.set_perms(c, "@introduceDomain", &["n0", "r5"]);
    assert_eq!(
        h.send(
            c,
            0,
            Request::Introduce {
                domid: 8,
                gfn: 1,
                evtchn: 1
            }
        ),
        [Out::Ok, ev("@introduceDomain", "in")]
    );
    assert_eq!(h.events(d), [ev("@introduceDomain", "din")]);
    assert_eq!(
        h.send(c, 0, Request::Release { domid: 7 }),
        [Out::Ok, ev("@releaseDomain", "out")]
    );
    assert_eq!(h.one(c, Request::Release { domid: 7 }), err("EINVAL"));
    assert_eq!(h.one(c, Request::Resume { domid: 7 }), err("EINVAL"));
    assert_eq!(h.one(c, Request::Resume { domid: 8 }), Out::Ok);
}

const DOMID_SELF_FOR_TEST: u32 = crate::DOMID_SELF;

#[test]
fn release_scrubs_permissions() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.one(
        c,
        Request::Introduce {
            domid: 7,
            gfn: 1,
            evtchn: 1,
        },
    );
    h.write(c, "/n", b"");
    h.set_perms(c, "/n", &["n7", "r8", "b7"]);
    h.one(c, Request::Release { domid: 7 });
    assert_eq!(
        h.one(c, Request::GetPerms { path: p("/n") }),
        Out::Perms(vec!["n0".into(), "r8".into()])
    );
}

#[test]
fn overflowing_event_queues_mark_the_connection() {
    let mut h = Harness::with(Config {
        quota: Quota {
            max_outstanding: 4,
            max_queued_events: 4,
            ..Quota::default()
        },
        ..Config::default()
    });
    let c = h.dom0();
    let w = h.dom0();
    h.watch(w, "/", "t");
    for _ in 0..10 {
        h.write(c, "/x", b"");
    }
    assert!(h.engine.overflowed(w));
    assert!(h.engine.should_pause(w));
    assert!(!h.engine.overflowed(c));
    assert_eq!(h.engine.queued(w), 8);
}

#[test]
fn perm_letters_round_trip() {
    let mut h = Harness::new();
    let c = h.dom0();
    h.write(c, "/pr", b"");
    assert_eq!(h.set_perms(c, "/pr", &["b1", "w2", "r3", "n4"]), Out::Ok);
    assert_eq!(
        h.one(c, Request::GetPerms { path: p("/pr") }),
        Out::Perms(vec!["b1".into(), "w2".into(), "r3".into(), "n4".into()])
    );
    let _ = Access::Both;
}
