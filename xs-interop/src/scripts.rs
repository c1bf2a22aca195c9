//! The differential scripts: raw frames covering every operation and error
//! path. The conformance test plays them against `xs-server` and
//! `oxenstored`; `replay` (the binary) plays them against any daemon's
//! socket, e.g. the C `xenstored` inside a Xen dom0 (`scripts/xen-qemu`).

use xs_wire::Op;

use crate::{Script, Step, Tx};

fn s(op: Op, payload: &'static str) -> Step {
    Script::step(op, payload)
}

/// A payload of `n` bytes: a path under the script's root, padded.
fn long(prefix: &'static str, n: usize) -> &'static str {
    let mut p = prefix.to_owned();
    while p.len() < n {
        p.push('x');
    }
    Box::leak(p.into_boxed_str())
}

/// Every script, in the order the conformance test plays them.
pub fn all() -> Vec<Script> {
    use Op::*;
    let t1 = Tx::Started(1);
    vec![
        Script {
            name: "write_read",
            steps: vec![
                s(Write, "{r}/a\0hello"),
                s(Read, "{r}/a\0"),
                s(Read, "{r}/missing\0"),
                s(Write, "{r}/empty\0"),
                s(Read, "{r}/empty\0"),
                s(Write, "{r}/bin\0a\0b"),
                s(Read, "{r}/bin\0"),
            ],
        },
        Script {
            name: "parents",
            steps: vec![
                s(Write, "{r}/x/y/z\0v"),
                s(Read, "{r}/x\0"),
                s(Directory, "{r}/x\0"),
                s(Directory, "{r}/x/y/z\0"),
                s(Directory, "{r}/nope\0"),
            ],
        },
        Script {
            name: "mkdir",
            steps: vec![
                s(Mkdir, "{r}/d\0"),
                s(Mkdir, "{r}/d\0"),
                s(Read, "{r}/d\0"),
                s(Write, "{r}/d\0v"),
                s(Mkdir, "{r}/d\0"),
                s(Read, "{r}/d\0"),
            ],
        },
        Script {
            name: "rm",
            steps: vec![
                s(Write, "{r}/t/u\0v"),
                s(Rm, "{r}/t\0"),
                s(Read, "{r}/t/u\0"),
                s(Rm, "{r}/t\0"),
                s(Rm, "{r}/nope/deeper\0"),
            ],
        },
        Script {
            name: "directory_order",
            steps: vec![
                s(Write, "{r}/dir/b\0"),
                s(Write, "{r}/dir/a\0"),
                s(Write, "{r}/dir/c\0"),
                s(Directory, "{r}/dir\0"),
            ],
        },
        Script {
            name: "perms",
            steps: vec![
                s(Write, "{r}/p\0v"),
                s(GetPerms, "{r}/p\0"),
                s(SetPerms, "{r}/p\0n0\0r5\0"),
                s(GetPerms, "{r}/p\0"),
                s(SetPerms, "{r}/p\0b0\0"),
                s(GetPerms, "{r}/p\0"),
                s(SetPerms, "{r}/p\0"),
                s(SetPerms, "{r}/p\0x5\0"),
                s(SetPerms, "{r}/p\0r\0"),
                s(GetPerms, "{r}/missing\0"),
                s(SetPerms, "{r}/missing\0n0\0"),
                s(GetPerms, "@releaseDomain\0"),
                s(GetPerms, "@introduceDomain\0"),
            ],
        },
        Script {
            name: "bad_paths",
            steps: vec![
                s(Read, "{r}/a/\0"),
                s(Read, "{r}//a\0"),
                s(Read, "{r}/a b\0"),
                s(Read, "\0"),
                s(Read, "@releaseDomain\0"),
                s(Write, "@releaseDomain\0v"),
                s(Read, "@foo\0"),
                s(Watch, "@foo\0t\0"),
                s(Read, "{r}/a.b\0"),
            ],
        },
        Script {
            name: "nul_counts",
            steps: vec![
                s(Write, "{r}/n\0v"),
                s(Read, "{r}/n"),
                s(Read, "{r}/n\0\0"),
                s(Write, "{r}/n"),
                s(Watch, "{r}/n\0t\0extra\0"),
                s(Watch, "{r}/n\0"),
                s(Unwatch, "{r}/n\0"),
                s(TransactionEnd, "T"),
                s(GetDomainPath, "0"),
                s(Mkdir, "{r}/m\0\0"),
            ],
        },
        Script {
            name: "unknown_ops",
            steps: vec![
                s(Op::Unknown(99), "x\0"),
                s(Restrict, "0\0"),
                s(Error, "EINVAL\0"),
                s(WatchEvent, "{r}\0t\0"),
                s(Invalid, "\0"),
            ],
        },
        Script {
            name: "optional_ops",
            steps: vec![
                s(Write, "{r}/dp/a\0"),
                s(DirectoryPart, "{r}/dp\x000\0"),
                s(GetFeature, "0\0"),
                s(SetFeature, "5\x001\0"),
                s(GetQuota, "nodes\0"),
                s(SetQuota, "nodes\x001000\0"),
            ],
        },
        Script {
            name: "transaction_commit",
            steps: vec![
                s(Write, "{r}/v\0before"),
                s(TransactionStart, "\0"),
                s(Write, "{r}/v\0inside").tx(t1),
                s(Read, "{r}/v\0").tx(t1),
                s(Read, "{r}/v\0"),
                s(Mkdir, "{r}/new\0").tx(t1),
                s(Directory, "{r}\0").tx(t1),
                s(TransactionEnd, "T\0").tx(t1),
                s(Read, "{r}/v\0"),
                s(Directory, "{r}\0"),
            ],
        },
        Script {
            name: "transaction_abort",
            steps: vec![
                s(TransactionStart, "\0"),
                s(Write, "{r}/v\0inside").tx(t1),
                s(TransactionEnd, "F\0").tx(t1),
                s(Read, "{r}/v\0"),
            ],
        },
        Script {
            name: "transaction_conflict",
            steps: vec![
                s(Write, "{r}/c\x000"),
                s(TransactionStart, "\0"),
                s(Read, "{r}/c\0").tx(t1),
                s(Write, "{r}/c\x001").on(1),
                s(Write, "{r}/c\x002").tx(t1),
                s(TransactionEnd, "T\0").tx(t1),
                s(Read, "{r}/c\0"),
                s(TransactionEnd, "T\0").tx(t1),
            ],
        },
        Script {
            name: "transaction_errors",
            steps: vec![
                s(TransactionEnd, "T\0"),
                s(TransactionEnd, "T\0").tx(Tx::Literal(999)),
                s(Read, "{r}\0").tx(Tx::Literal(999)),
                s(TransactionStart, "\0"),
                s(TransactionStart, "\0").tx(t1),
                s(TransactionEnd, "X\0").tx(t1),
                s(TransactionEnd, "F\0").tx(t1),
                s(Read, "{r}\0").tx(t1).on(1),
            ],
        },
        Script {
            name: "watch_basics",
            steps: vec![
                s(Mkdir, "{r}/w\0"),
                s(Watch, "{r}/w\0tok\0"),
                s(Write, "{r}/w/x\0v").on(1),
                s(Write, "{r}/wx\0v").on(1),
                s(Watch, "{r}/w\0tok\0"),
                s(Watch, "{r}/w\0tok2\0"),
                s(Unwatch, "{r}/w\0tok\0"),
                s(Unwatch, "{r}/w\0tok\0"),
                s(Write, "{r}/w/y\0v").on(1),
                s(Unwatch, "{r}/w\0tok2\0"),
            ],
        },
        Script {
            name: "watch_missing_node",
            steps: vec![
                s(Watch, "{r}/later\0t\0"),
                s(Write, "{r}/later/deep\0v").on(1),
                s(Rm, "{r}/later\0").on(1),
            ],
        },
        Script {
            name: "watch_rm_subtree",
            steps: vec![
                s(Write, "{r}/s/child/x\0v"),
                s(Watch, "{r}/s/child\0t\0"),
                s(Rm, "{r}/s\0").on(1),
            ],
        },
        Script {
            name: "watch_what_fires",
            steps: vec![
                s(Write, "{r}/f\0v"),
                s(Watch, "{r}/f\0t\0"),
                s(Write, "{r}/f\0v").on(1),
                s(Mkdir, "{r}/f\0").on(1),
                s(Mkdir, "{r}/f/new\0").on(1),
                s(SetPerms, "{r}/f\0n0\0").on(1),
                s(Read, "{r}/f\0").on(1),
            ],
        },
        Script {
            name: "watch_in_transaction",
            steps: vec![
                s(Watch, "{r}/x\0t\0"),
                s(TransactionStart, "\0").on(1),
                s(Write, "{r}/x/a\0v").tx(t1).on(1),
                s(Write, "{r}/x/b\0v").tx(t1).on(1),
                s(TransactionEnd, "T\0").tx(t1).on(1),
            ],
        },
        Script {
            name: "watch_relative_and_special",
            steps: vec![
                s(Watch, "conformance-rel\0r\0"),
                s(Write, "conformance-rel/x\0v").on(1),
                s(Rm, "/local/domain/0/conformance-rel\0").on(1),
                s(Watch, "@introduceDomain\0i\0"),
                s(Watch, "@releaseDomain\0r\0"),
            ],
        },
        Script {
            name: "reset_watches",
            steps: vec![
                s(Watch, "{r}\0t\0"),
                s(TransactionStart, "\0"),
                s(ResetWatches, "\0"),
                s(Write, "{r}/after\0v").on(1),
                s(TransactionEnd, "T\0").tx(t1),
            ],
        },
        Script {
            name: "domains",
            steps: vec![
                s(GetDomainPath, "0\0"),
                s(GetDomainPath, "5\0"),
                s(GetDomainPath, "abc\0"),
                s(IsDomainIntroduced, "0\0"),
                s(IsDomainIntroduced, "5\0"),
                s(Release, "0\0"),
                s(Release, "999\0"),
                s(Resume, "999\0"),
                s(SetTarget, "5\x006\0"),
                s(Introduce, "5\x001\x002\0"),
            ],
        },
        Script {
            name: "sizes",
            steps: vec![
                s(Write, long("{r}/big\0", 2048 + 9)),
                s(Write, long("{r}/big\0", 4000)),
                s(Read, "{r}/big\0"),
                s(Read, long("{r}/", 3100)),
                s(Read, "{r}\0"),
            ],
        },
        Script {
            name: "oversized_frame_closes",
            steps: vec![
                s(Write, "{r}/o\0v"),
                s(Write, long("{r}/o\0", 5000)),
                s(Read, "{r}/o\0"),
                s(Read, "{r}/o\0").on(1),
            ],
        },
        // Last: on daemons that accept it, this empties the whole tree.
        Script {
            name: "rm_root",
            steps: vec![
                s(Write, "{r}/x\0v"),
                s(Rm, "/\0"),
                s(Read, "{r}/x\0"),
                s(GetPerms, "@releaseDomain\0"),
            ],
        },
    ]
}
