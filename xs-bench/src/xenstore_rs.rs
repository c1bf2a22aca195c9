//! The `xenstore-rs` 0.8 crate (crates.io) as a benchmark client, beside
//! ours, libxenstore and pyxs, with the same command-line contract:
//!
//! ```text
//! xs-bench run xenstore-rs       read|write|dir100        secs|ops VALUE WARMUP
//! xs-bench run xenstore-rs-tokio read|write|dir100|watch  secs|ops VALUE WARMUP
//! ```
//!
//! What 0.8 offers decides the workloads: its blocking `XsUnix` has READ,
//! WRITE, DIRECTORY and RM (no transactions, no watches); its tokio
//! `XsTokio` adds watches (a background task multiplexes requests and
//! events); neither has transactions, so `txn` is not measured for it.
//! `XsUnix` writes the frame and waits in a blocking `read_exact` on a
//! blocking socket, like libxenstore; `XsTokio` waits for readiness
//! (tokio's epoll driver). The tokio client runs on a current-thread
//! runtime, the cheapest one for a caller doing one request at a time;
//! each operation is one `block_on`.

use std::io;

use futures::StreamExt;
use xenstore_rs::tokio::XsTokio;
use xenstore_rs::unix::XsUnix;
use xenstore_rs::{AsyncWatch, AsyncXs, Xs};

use crate::workload::{self, timed, Limit, Timing};

/// Watched directory and written node of xenstore-rs (tokio).
pub const WATCH_DIR: &str = "/bench/watch/r";
/// See [`WATCH_DIR`].
pub const WATCH_NODE: &str = "/bench/watch/r/node";

/// The workloads the blocking client has.
pub const SYNC_WORKLOADS: [&str; 3] = ["read", "write", "dir100"];
/// The workloads the tokio client has.
pub const TOKIO_WORKLOADS: [&str; 4] = ["read", "write", "dir100", "watch"];

type Res<T> = Result<T, String>;

fn err(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("xenstore-rs {what}: {e}")
}

fn check_value(v: &str) -> Res<u64> {
    if v.len() == workload::READ_VALUE.len() {
        Ok(1)
    } else {
        Err(format!("unexpected value {v:?}"))
    }
}

fn check_children(names: &[Box<str>]) -> Res<u64> {
    if names.len() == 100 {
        Ok(1)
    } else {
        Err(format!("{} children, expected 100", names.len()))
    }
}

/// One workload of the blocking client (`XsUnix`, socket from
/// `$XENSTORED_PATH`).
pub fn run_sync(name: &str, limit: Limit, warmup: u64) -> Res<Timing> {
    let xs = XsUnix::new().map_err(err("connect"))?;
    match name {
        "read" => timed(limit, warmup, || {
            check_value(&xs.read(workload::READ_PATH).map_err(err("read"))?)
        }),
        "write" => timed(limit, warmup, || {
            xs.write(workload::WRITE_PATH, workload::READ_VALUE)
                .map_err(err("write"))?;
            Ok(1)
        }),
        "dir100" => timed(limit, warmup, || {
            check_children(&xs.directory(workload::DIR_PATH).map_err(err("directory"))?)
        }),
        other => Err(format!(
            "xenstore-rs (blocking) has no {other:?} workload (it has {SYNC_WORKLOADS:?})"
        )),
    }
}

/// One workload of the tokio client (`XsTokio` on a current-thread
/// runtime).
pub fn run_tokio(name: &str, limit: Limit, warmup: u64) -> Res<Timing> {
    if !TOKIO_WORKLOADS.contains(&name) {
        return Err(format!(
            "xenstore-rs (tokio) has no {name:?} workload (it has {TOKIO_WORKLOADS:?})"
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let xs = rt.block_on(XsTokio::new()).map_err(err("connect"))?;
    match name {
        "read" => timed(limit, warmup, || {
            check_value(
                &rt.block_on(xs.read(workload::READ_PATH))
                    .map_err(err("read"))?,
            )
        }),
        "write" => timed(limit, warmup, || {
            rt.block_on(xs.write(workload::WRITE_PATH, workload::READ_VALUE))
                .map_err(err("write"))?;
            Ok(1)
        }),
        "dir100" => timed(limit, warmup, || {
            check_children(
                &rt.block_on(xs.directory(workload::DIR_PATH))
                    .map_err(err("directory"))?,
            )
        }),
        _ => {
            rt.block_on(xs.write(WATCH_NODE, "x"))
                .map_err(err("write"))?;
            let mut events = rt.block_on(xs.watch(WATCH_DIR)).map_err(err("watch"))?;
            // The daemon fires every new watch once.
            rt.block_on(events.next())
                .ok_or("xenstore-rs: watch stream ended before the initial event")?;
            timed(limit, warmup, || {
                rt.block_on(async {
                    xs.write(WATCH_NODE, "x").await.map_err(err("write"))?;
                    events
                        .next()
                        .await
                        .ok_or_else(|| "xenstore-rs: watch stream ended".to_owned())
                })?;
                Ok(1)
            })
        }
    }
}
