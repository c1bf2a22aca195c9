//! `bench/libxenstore_bench.c` (the C side of `scripts/bench`) links
//! against our library and runs every workload: a smoke run of a few
//! operations, not a measurement (the tree is the part of `xs-bench
//! populate` the workloads touch).

mod common;

use std::path::Path;
use std::process::Command;

use common::{compile_file, lib_dir, text, Daemon, DaemonKind};
use xs_client::{Client, Store};

const VALUE: &str = "value-0123456789abcdef";

fn populate(socket: &Path) {
    let c = Client::unix(socket).expect("connect");
    for path in ["/bench/seq/key", "/bench/seq/w", "/bench/txn/key"] {
        c.write(path, VALUE).expect("write");
    }
    c.write("/bench/watch/c/node", "x").expect("write");
    for i in 0..100 {
        c.write(&format!("/bench/dir100/c{i:03}"), "x")
            .expect("write");
    }
    for a in 0..3 {
        for b in 0..3 {
            c.write(&format!("/bench/tree/a{a}/b{b}"), "leaf")
                .expect("write");
        }
    }
}

#[test]
fn the_c_benchmark_runs_every_workload_on_our_library() {
    let lib = lib_dir();
    let bin = lib.join("libxenstore_bench");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/libxenstore_bench.c");
    compile_file(&src, &bin, &lib, &[]);
    let d = Daemon::start(DaemonKind::XsServer).expect("xs-server");
    populate(d.socket());
    for workload in ["read", "write", "dir100", "txn", "watch", "walk"] {
        let out = Command::new(&bin)
            .args([workload, "ops", "50", "5"])
            .env("XENSTORED_PATH", d.socket())
            .env("LD_LIBRARY_PATH", &lib)
            .output()
            .expect("run the benchmark");
        let (stdout, stderr, code) = text(&out);
        assert_eq!(code, Some(0), "{workload}: {stderr}");
        let ops = stdout.split_whitespace().next();
        assert_eq!(ops, Some("50"), "{workload}: {stdout}");
    }
}
