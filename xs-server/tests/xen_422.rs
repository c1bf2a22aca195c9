//! The Xen 4.21/4.22 additions, row by row against the 4.22 text, in both
//! of the server's modes: as C xenstored 4.22 does them, and as a Xen 4.17
//! daemon answers instead (`ENOSYS`, `EINVAL`, nothing).
//!
//! Each row cites what it checks: `xenstore.txt N-M` is a line range of
//! `docs/misc/xenstore.txt` at `RELEASE-4.22.0` in xen-project/xen,
//! `xs_wire.h N` of `xen/include/public/io/xs_wire.h` there, and
//! `domain.c`/`core.c`/`watch.c` name C xenstored 4.22 functions where the
//! text leaves the behaviour open. Each row runs on a fresh server; its
//! outcome is the list of answers and watch events it produced, in order.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use xs_server::{Quota, Server, ServerHandle, XenVersion};
use xs_wire::{Header, Op, Path, PermList, QuotaQuery, Request};

/// A fresh server, its dom0 connection and connections of other domains.
struct World {
    server: ServerHandle,
    conns: BTreeMap<u32, Raw>,
}

/// Domain id of the privileged socket connection in [`World`] calls.
const DOM0: u32 = 0;

impl World {
    fn new(version: XenVersion, quota: Quota) -> World {
        let server = Server::builder()
            .xen_version(version)
            .quota(quota)
            .dom0(true)
            .spawn()
            .unwrap();
        // Every connection watches /sync, readable by all, to collect its
        // events up to a marker instead of waiting for silence.
        let mut setup = Raw::new(server.connect().unwrap());
        assert_eq!(setup.write("/sync", ""), Ans::Ok);
        assert_eq!(setup.set_perms("/sync", &["r0"]), Ans::Ok);
        World {
            server,
            conns: BTreeMap::new(),
        }
    }

    fn conn(&mut self, domid: u32) -> &mut Raw {
        let server = &self.server;
        self.conns.entry(domid).or_insert_with(|| {
            let sock = if domid == DOM0 {
                server.connect()
            } else {
                server.connect_as(domid)
            };
            let mut raw = Raw::new(sock.unwrap());
            assert_eq!(raw.watch("/sync", "sync"), Ans::Ok);
            assert_eq!(raw.event(), ev("/sync", "sync"));
            raw
        })
    }

    /// One request from `domid`'s connection; the answer as text.
    fn call(&mut self, domid: u32, req: Request<'_>) -> String {
        show(self.conn(domid).call(req))
    }

    fn set_perms(&mut self, domid: u32, path: &str, list: &[&str]) -> String {
        show(self.conn(domid).set_perms(path, list))
    }

    fn watch(&mut self, domid: u32, path: &str, depth: Option<u32>) -> String {
        let req = Request::Watch {
            path: p(path),
            token: "t",
            depth,
        };
        self.call(domid, req)
    }

    /// The events `domid` received since the last call, as `path token`.
    fn events(&mut self, domid: u32) -> Vec<String> {
        self.call(
            DOM0,
            Request::Write {
                path: p("/sync"),
                value: b"",
            },
        );
        let conn = self.conn(domid);
        let mut out = Vec::new();
        loop {
            let (path, token) = conn.event();
            if token == "sync" {
                return out;
            }
            out.push(format!("{path} {token}"));
        }
    }

    /// A WATCH with a raw payload from dom0; the reply's type and payload.
    fn raw_watch(&mut self, payload: &[u8]) -> String {
        let conn = self.conn(DOM0);
        let header = Header {
            op: Op::Watch,
            req_id: 99,
            tx_id: 0,
            len: payload.len() as u32,
        };
        conn.send_raw(header, payload);
        let frame = conn.frame().unwrap();
        format!(
            "{} {}",
            frame.header.op,
            String::from_utf8_lossy(&frame.payload)
        )
    }

    fn introduce(&mut self, domid: u32) -> String {
        let req = Request::Introduce {
            domid,
            gfn: 1,
            evtchn: 1,
        };
        self.call(DOM0, req)
    }

    fn release(&mut self, domid: u32) -> String {
        self.call(DOM0, Request::Release { domid })
    }

    /// `/local/domain/<domid>/x`, owned by the domain like its home.
    fn home(&mut self, domid: u32) -> String {
        let home = format!("/local/domain/{domid}");
        let path = format!("{home}/x");
        let req = Request::Write {
            path: Path::new(&path).unwrap(),
            value: b"",
        };
        assert_eq!(self.call(DOM0, req), "OK");
        for node in [&home, &path] {
            assert_eq!(self.set_perms(DOM0, node, &[&format!("n{domid}")]), "OK");
        }
        path
    }
}

/// An answer as the tables write it.
fn show(ans: Ans) -> String {
    match ans {
        Ans::Ok => "OK".into(),
        Ans::Value(v) => format!("={}", String::from_utf8_lossy(&v)),
        Ans::Names(n) | Ans::QuotaNames(n) => n.join(" "),
        Ans::Perms(list) => list.join(" "),
        Ans::Number(n) => n.to_string(),
        Ans::Bool(b) => if b { "T" } else { "F" }.into(),
        Ans::Tx(_) => "tx".into(),
        Ans::Path(path) => path,
        Ans::Chunk(..) => "chunk".into(),
        Ans::Err(name) => name,
    }
}

fn get_feature(domid: Option<u32>) -> Request<'static> {
    Request::GetFeature { domid }
}

fn set_feature(domid: u32, features: u32) -> Request<'static> {
    Request::SetFeature { domid, features }
}

fn get_quota(domid: Option<u32>, name: &str) -> Request<'_> {
    Request::GetQuota(match domid {
        Some(domid) => QuotaQuery::Domain { domid, name },
        None => QuotaQuery::Global(name),
    })
}

fn set_quota(domid: Option<u32>, name: &str, value: u32) -> Request<'_> {
    Request::SetQuota { domid, name, value }
}

fn read(path: &str) -> Request<'_> {
    Request::Read { path: p(path) }
}

/// One row: what it checks, the scenario, and its outcome on a 4.22 and a
/// 4.17 server.
struct Row {
    spec: &'static str,
    scenario: fn(&mut World) -> Vec<String>,
    v4_22: &'static [&'static str],
    v4_17: &'static [&'static str],
}

fn check(rows: &[Row], quota: Quota) {
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        for (version, expected) in [
            (XenVersion::V4_22, row.v4_22),
            (XenVersion::V4_17, row.v4_17),
        ] {
            let mut world = World::new(version, quota);
            let got = (row.scenario)(&mut world);
            if got != expected {
                failures.push(format!(
                    "row {i} ({}), Xen {version}:\n  expected {expected:?}\n  got      {got:?}",
                    row.spec
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn features() {
    let rows = [
        Row {
            spec: "xenstore.txt 431-433: no domid, the caller's own (dom0: all, 2|4|8)",
            scenario: |w| vec![w.call(DOM0, get_feature(None))],
            v4_22: &["14"],
            v4_17: &["ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 431-433, 439-440: a domU may read its own (4.22)",
            scenario: |w| vec![w.call(5, get_feature(None))],
            v4_22: &["14"],
            v4_17: &["ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 439-440: GET_FEATURE with a domid and SET_FEATURE are dom0's",
            scenario: |w| {
                vec![
                    w.call(5, get_feature(Some(5))),
                    w.call(5, set_feature(5, 4)),
                ]
            },
            v4_22: &["EACCES", "EACCES"],
            v4_17: &["ENOSYS", "ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 424-429: SET_FEATURE then GET_FEATURE of a domain",
            scenario: |w| {
                vec![
                    w.call(DOM0, set_feature(5, 4)),
                    w.call(DOM0, get_feature(Some(5))),
                    w.call(DOM0, get_feature(Some(6))),
                ]
            },
            v4_22: &["OK", "4", "14"],
            v4_17: &["ENOSYS", "ENOSYS", "ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 429-431: a bit the daemon lacks (RECONNECTION) is denied",
            scenario: |w| vec![w.call(DOM0, set_feature(5, 1))],
            v4_22: &["EINVAL"],
            v4_17: &["ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 435-437: refused after INTRODUCE; dom0 keeps everything",
            scenario: |w| {
                vec![
                    w.introduce(5),
                    w.call(DOM0, set_feature(5, 0)),
                    w.call(DOM0, set_feature(0, 0)),
                    w.call(DOM0, get_feature(Some(0))),
                ]
            },
            v4_22: &["OK", "EBUSY", "EBUSY", "14"],
            v4_17: &["OK", "ENOSYS", "ENOSYS", "ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 194-199: <domid> 0..65535 (domain.c parse_domid); reserved ids name no domain",
            scenario: |w| {
                vec![
                    w.call(DOM0, get_feature(Some(65536))),
                    w.call(DOM0, get_feature(Some(0x7FF0))),
                ]
            },
            v4_22: &["EINVAL", "ENOENT"],
            v4_17: &["ENOSYS", "ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 269-270: a domain without WATCHDEPTH cannot give a depth",
            scenario: |w| {
                vec![
                    w.call(DOM0, set_feature(6, 8)),
                    w.call(6, get_feature(None)),
                    w.watch(6, "/sync", Some(1)),
                    w.watch(7, "/sync", Some(1)),
                ]
            },
            v4_22: &["OK", "8", "EINVAL", "OK"],
            v4_17: &["ENOSYS", "ENOSYS", "EINVAL", "EINVAL"],
        },
        Row {
            spec: "xs_wire.h 129-130: DOMID_ANY entries need the writer's DOMID_ANY feature",
            scenario: |w| {
                let own = w.home(31);
                vec![
                    w.call(DOM0, set_feature(31, 4)),
                    w.set_perms(31, &own, &["n31", "r32757"]),
                    w.call(32, read("/local/domain/31/x")),
                    w.set_perms(DOM0, &own, &["n31", "r32757"]),
                    w.call(32, read("/local/domain/31/x")),
                ]
            },
            v4_22: &["OK", "OK", "EACCES", "OK", "="],
            v4_17: &["ENOSYS", "OK", "EACCES", "OK", "EACCES"],
        },
    ];
    check(&rows, Quota::default());
}

#[test]
fn quotas() {
    let rows = [
        Row {
            spec: "xenstore.txt 446-451: no arguments, all names separated by blanks",
            scenario: |w| vec![w.call(DOM0, Request::GetQuota(QuotaQuery::Names))],
            v4_22: &["nodes watches transactions node-size permissions transaction-nodes path-max"],
            v4_17: &["ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 444-448: global values; unknown names refused",
            scenario: |w| {
                vec![
                    w.call(DOM0, get_quota(None, "watches")),
                    w.call(DOM0, get_quota(None, "node-permissions")),
                    w.call(DOM0, get_quota(None, "memory")),
                    w.call(DOM0, set_quota(None, "memory", 1)),
                ]
            },
            v4_22: &["100", "5", "EINVAL", "EINVAL"],
            v4_17: &["ENOSYS", "ENOSYS", "ENOSYS", "ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 444-446: a global value is the default for domains, and enforced",
            scenario: |w| {
                vec![
                    w.call(DOM0, set_quota(None, "watches", 3)),
                    w.call(DOM0, get_quota(Some(7), "watches")),
                    w.watch(7, "/a", None),
                    w.watch(7, "/b", None),
                    w.watch(7, "/c", None),
                ]
            },
            v4_22: &["OK", "3", "OK", "OK", "ENOSPC"],
            v4_17: &["ENOSYS", "ENOSYS", "OK", "OK", "OK"],
        },
        Row {
            spec: "xenstore.txt 444-445: a domain's own value leaves the global one alone",
            scenario: |w| {
                vec![
                    w.call(DOM0, set_quota(Some(8), "watches", 2)),
                    w.call(DOM0, get_quota(Some(8), "watches")),
                    w.call(DOM0, get_quota(None, "watches")),
                    w.watch(8, "/a", None),
                    w.watch(8, "/b", None),
                    w.watch(9, "/a", None),
                ]
            },
            v4_22: &["OK", "2", "100", "OK", "ENOSPC", "OK"],
            v4_17: &["ENOSYS", "ENOSYS", "ENOSYS", "OK", "OK", "OK"],
        },
        Row {
            spec: "xenstore.txt 451-453: \"0\" disables the check",
            scenario: |w| {
                vec![
                    w.call(DOM0, set_quota(None, "watches", 1)),
                    w.call(DOM0, set_quota(Some(10), "watches", 0)),
                    w.call(DOM0, get_quota(Some(10), "watches")),
                    w.watch(10, "/a", None),
                    w.watch(10, "/b", None),
                ]
            },
            v4_22: &["OK", "OK", "0", "OK", "OK"],
            v4_17: &["ENOSYS", "ENOSYS", "ENOSYS", "OK", "OK"],
        },
        Row {
            spec: "xenstore.txt 453-454: a domain starts from the global values (copied at INTRODUCE)",
            scenario: |w| {
                vec![
                    w.call(DOM0, set_quota(None, "transactions", 1)),
                    w.introduce(11),
                    w.call(DOM0, set_quota(None, "transactions", 5)),
                    w.call(DOM0, get_quota(Some(11), "transactions")),
                    w.call(DOM0, get_quota(Some(12), "transactions")),
                ]
            },
            v4_22: &["OK", "OK", "OK", "1", "5"],
            v4_17: &["ENOSYS", "OK", "ENOSYS", "ENOSYS", "ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 456-457: GET_QUOTA and SET_QUOTA are dom0's",
            scenario: |w| {
                vec![
                    w.call(5, Request::GetQuota(QuotaQuery::Names)),
                    w.call(5, get_quota(None, "nodes")),
                    w.call(5, set_quota(Some(5), "nodes", 9)),
                ]
            },
            v4_22: &["EACCES", "EACCES", "EACCES"],
            v4_17: &["ENOSYS", "ENOSYS", "ENOSYS"],
        },
        Row {
            spec: "xenstore.txt 447: \"permissions\" limits a node's entries (core.c do_set_perms)",
            scenario: |w| {
                let own = w.home(12);
                vec![
                    w.call(DOM0, set_quota(None, "permissions", 2)),
                    w.set_perms(12, &own, &["n12", "r1", "r2"]),
                    w.set_perms(12, &own, &["n12", "r1"]),
                ]
            },
            v4_22: &["OK", "ENOSPC", "OK"],
            v4_17: &["ENOSYS", "OK", "OK"],
        },
        Row {
            spec: "xenstore.txt 447-448: \"transaction-nodes\" (implementation defined; transaction.c access_node)",
            scenario: |w| {
                w.home(13);
                let tx = match w.conn(13).call(Request::TransactionStart) {
                    Ans::Tx(tx) => tx,
                    other => panic!("{other:?}"),
                };
                let mut out = vec![w.call(DOM0, set_quota(Some(13), "transaction-nodes", 2))];
                for path in ["x", "x", "y", "z"] {
                    let req = Request::Write {
                        path: p(path),
                        value: b"",
                    };
                    out.push(show(w.conn(13).call_tx(tx, req)));
                }
                out
            },
            v4_22: &["OK", "OK", "OK", "OK", "ENOSPC"],
            v4_17: &["ENOSYS", "OK", "OK", "OK", "OK"],
        },
        Row {
            spec: "xenstore.txt 452: a value is a 32-bit decimal; UINT_MAX is C's \"unset\" marker",
            scenario: |w| vec![w.call(DOM0, set_quota(None, "nodes", u32::MAX))],
            v4_22: &["EINVAL"],
            v4_17: &["ENOSYS"],
        },
    ];
    check(&rows, Quota::default());
}

#[test]
fn watch_depth() {
    let rows = [
        Row {
            spec: "xenstore.txt 264-268: depth 0 matches the node only",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "/w", Some(0))];
                w.call(
                    DOM0,
                    Request::Write {
                        path: p("/w"),
                        value: b"",
                    },
                );
                w.call(
                    DOM0,
                    Request::Write {
                        path: p("/w/a"),
                        value: b"",
                    },
                );
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "/w t", "/w t"],
            v4_17: &["EINVAL"],
        },
        Row {
            spec: "xenstore.txt 264-268: depth 1 adds direct children only",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "/w", Some(1))];
                for path in ["/w/a", "/w/a/b", "/v"] {
                    w.call(
                        DOM0,
                        Request::Write {
                            path: p(path),
                            value: b"",
                        },
                    );
                }
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "/w t", "/w/a t"],
            v4_17: &["EINVAL"],
        },
        Row {
            spec: "xenstore.txt 264-268 (watch.c is_child): depth 1 on / is the top level",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "/", Some(1))];
                for path in ["/top", "/top/below"] {
                    w.call(
                        DOM0,
                        Request::Write {
                            path: p(path),
                            value: b"",
                        },
                    );
                }
                let events = w.events(DOM0);
                // /sync is written by the marker itself.
                out.extend(events.into_iter().filter(|e| !e.starts_with("/sync")));
                out
            },
            v4_22: &["OK", "/ t", "/top t"],
            v4_17: &["EINVAL"],
        },
        Row {
            spec: "xenstore.txt 312-314: removing a parent still fires a deep watch below it",
            scenario: |w| {
                w.call(
                    DOM0,
                    Request::Write {
                        path: p("/w/a/b"),
                        value: b"",
                    },
                );
                let mut out = vec![w.watch(DOM0, "/w/a/b", Some(0))];
                w.call(DOM0, Request::Rm { path: p("/w") });
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "/w/a/b t", "/w/a/b t"],
            v4_17: &["EINVAL"],
        },
        Row {
            spec: "xenstore.txt 316-318: relative paths with a depth stay relative",
            scenario: |w| {
                w.home(14);
                let mut out = vec![w.watch(14, "x", Some(1))];
                for path in ["/local/domain/14/x/a", "/local/domain/14/x/a/b"] {
                    w.call(
                        DOM0,
                        Request::Write {
                            path: p(path),
                            value: b"",
                        },
                    );
                }
                out.extend(w.events(14));
                out
            },
            v4_22: &["OK", "x t", "x/a t"],
            v4_17: &["EINVAL"],
        },
        Row {
            spec: "xenstore.txt 264-266: <depth> is a decimal value of 0 or larger",
            scenario: |w| {
                vec![
                    w.raw_watch(b"/w\0a\0-1\0"),
                    w.raw_watch(b"/w\0b\0x\0"),
                    w.raw_watch(b"/w\0c\x003\0\0"),
                    w.raw_watch(b"/w\0d\x003\0"),
                ]
            },
            v4_22: &[
                "ERROR EINVAL\0",
                "ERROR EINVAL\0",
                "ERROR EINVAL\0",
                "WATCH OK\0",
            ],
            v4_17: &[
                "ERROR EINVAL\0",
                "ERROR EINVAL\0",
                "ERROR EINVAL\0",
                "ERROR EINVAL\0",
            ],
        },
        Row {
            spec: "xenstore.txt 320: UNWATCH names path and token, not the depth",
            scenario: |w| {
                vec![
                    w.watch(DOM0, "/w", Some(2)),
                    w.watch(DOM0, "/w", None),
                    w.call(
                        DOM0,
                        Request::Unwatch {
                            path: p("/w"),
                            token: "t",
                        },
                    ),
                ]
            },
            v4_22: &["OK", "EEXIST", "OK"],
            v4_17: &["EINVAL", "OK", "OK"],
        },
    ];
    check(&rows, Quota::default());
}

#[test]
fn special_watches() {
    let rows = [
        Row {
            spec: "xenstore.txt 272-279: a plain @releaseDomain watch gets the bare name",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "@releaseDomain", None)];
                out.extend([w.introduce(20), w.release(20)]);
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "OK", "OK", "@releaseDomain t", "@releaseDomain t"],
            v4_17: &["OK", "OK", "OK", "@releaseDomain t", "@releaseDomain t"],
        },
        Row {
            spec: "xenstore.txt 281-284: depth 1 reports the domid",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "@releaseDomain", Some(1))];
                out.extend([w.introduce(21), w.release(21)]);
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "OK", "OK", "@releaseDomain t", "@releaseDomain/21 t"],
            v4_17: &["EINVAL", "OK", "OK"],
        },
        Row {
            spec: "xenstore.txt 281-284: @introduceDomain with depth 1 too",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "@introduceDomain", Some(1))];
                out.push(w.introduce(22));
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "OK", "@introduceDomain t", "@introduceDomain/22 t"],
            v4_17: &["EINVAL", "OK"],
        },
        Row {
            spec: "xenstore.txt 284-285: other depths are not supported (depth 0 never fires)",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "@releaseDomain", Some(0))];
                out.extend([w.introduce(23), w.release(23)]);
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "OK", "OK", "@releaseDomain t"],
            v4_17: &["EINVAL", "OK", "OK"],
        },
        Row {
            spec: "xenstore.txt 286-289: @releaseDomain/<domid> hears about that domain only",
            scenario: |w| {
                let mut out = vec![w.watch(DOM0, "@releaseDomain/24", None)];
                out.extend([w.introduce(24), w.introduce(25)]);
                out.extend([w.release(25), w.release(24)]);
                out.extend(w.events(DOM0));
                out
            },
            v4_22: &["OK", "OK", "OK", "OK", "OK", "@releaseDomain/24 t", "@releaseDomain/24 t"],
            v4_17: &["OK", "OK", "OK", "OK", "OK", "@releaseDomain/24 t"],
        },
        Row {
            spec: "xenstore.txt 280-281 (core.c setup_structure, 4.22): every domain may watch @releaseDomain",
            scenario: |w| {
                let mut out = vec![w.watch(26, "@releaseDomain", None)];
                out.extend([w.introduce(27), w.release(27)]);
                out.extend(w.events(26));
                out.push(w.call(DOM0, Request::GetPerms { path: p("@releaseDomain") }));
                out
            },
            v4_22: &["OK", "OK", "OK", "@releaseDomain t", "@releaseDomain t", "n0 r32757"],
            v4_17: &["OK", "OK", "OK", "@releaseDomain t", "n0"],
        },
        Row {
            spec: "xenstore.txt 280-281: @introduceDomain stays dom0's unless SET_PERMS allows",
            scenario: |w| {
                let mut out = vec![w.watch(28, "@introduceDomain", None)];
                out.push(w.introduce(29));
                out.push(w.set_perms(DOM0, "@introduceDomain", &["n0", "r28"]));
                out.push(w.introduce(30));
                out.extend(w.events(28));
                out
            },
            v4_22: &["OK", "OK", "OK", "OK", "@introduceDomain t", "@introduceDomain t"],
            v4_17: &["OK", "OK", "OK", "OK", "@introduceDomain t", "@introduceDomain t"],
        },
    ];
    check(&rows, Quota::default());
}

#[test]
fn domid_any_permission() {
    let rows = [Row {
        spec: "xs_wire.h 129-130, xen.h DOMID_ANY 0x7FF5: an entry for every domain",
        scenario: |w| {
            w.call(
                DOM0,
                Request::Write {
                    path: p("/any"),
                    value: b"v",
                },
            );
            let perms = perm_vec(&["n0", "r32757"]);
            let req = Request::SetPerms {
                path: p("/any"),
                perms: PermList::new(&perms).unwrap(),
            };
            vec![
                w.call(DOM0, req),
                w.call(33, read("/any")),
                w.call(
                    33,
                    Request::Write {
                        path: p("/any"),
                        value: b"w",
                    },
                ),
            ]
        },
        v4_22: &["OK", "=v", "EACCES"],
        v4_17: &["OK", "EACCES", "EACCES"],
    }];
    check(&rows, Quota::default());
}

#[test]
fn dom0_tree_is_a_hosts() {
    for version in XenVersion::ALL {
        let mut w = World::new(version, Quota::default());
        let got = [
            w.call(DOM0, read("/local/domain/0/name")),
            w.call(DOM0, read("/local/domain/0/domid")),
            w.call(DOM0, read("/tool/xenstored")),
            w.call(DOM0, Request::IsDomainIntroduced { domid: 0 }),
            w.release(0),
        ];
        assert_eq!(
            got,
            ["=Domain-0", "=0", "=xs-server", "T", "EINVAL"],
            "{version}"
        );
    }
}

/// C xenstored drops events an unprivileged domain has not taken in time
/// (core.c `check_event_timeout`); oxenstored keeps them.
#[test]
fn unread_events_of_a_domain_expire_in_4_22_only() {
    const EVENTS: usize = 400;
    let token = "k".repeat(2000);
    for (version, all_arrive) in [(XenVersion::V4_22, false), (XenVersion::V4_17, true)] {
        let server = Server::builder()
            .xen_version(version)
            .event_timeout(Some(Duration::from_millis(200)))
            .spawn()
            .unwrap();
        let mut c = Raw::new(server.connect().unwrap());
        assert_eq!(c.write("/e", ""), Ans::Ok);
        assert_eq!(c.set_perms("/e", &["r0"]), Ans::Ok);
        let mut d = Raw::new(server.connect_as(40).unwrap());
        assert_eq!(d.watch("/e", &token), Ans::Ok);
        assert_eq!(d.event().0, "/e");
        // Far more than the socket and the server's transport queue hold.
        for _ in 0..EVENTS {
            assert_eq!(c.write("/e", ""), Ans::Ok);
        }
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(c.write("/e/last", ""), Ans::Ok);
        let mut got = 0;
        loop {
            let (path, _) = d.event();
            if path == "/e/last" {
                break;
            }
            got += 1;
        }
        if all_arrive {
            assert_eq!(got, EVENTS, "{version}");
        } else {
            assert!(got < EVENTS, "{version}: {got} of {EVENTS} arrived");
        }
    }
}
