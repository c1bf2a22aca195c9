//! Benchmark driver: xs-client against the C libxenstore and pyxs on one
//! real oxenstored (and the in-tree xs-server, when it builds). See
//! `scripts/bench`, which builds everything and runs `xs-bench suite`.
//!
//! ```text
//! xs-bench run CLIENT WORKLOAD secs|ops VALUE WARMUP     one timed client run
//!     (CLIENT: ours, raw, xenstore-rs, xenstore-rs-tokio, async, xenstore-rs-async)
//! xs-bench populate SOCKET                               write the bench tree
//! xs-bench suite [OPTIONS]                               everything, as a table
//! ```

mod asyncload;
mod latency;
mod loaded_lib;
mod report;
mod suite;
mod workload;
mod xenstore_rs;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  xs-bench run ours|raw|xenstore-rs|xenstore-rs-tokio|async|xenstore-rs-async WORKLOAD secs|ops VALUE WARMUP   (socket from XENSTORED_PATH)\n  \
         xs-bench populate SOCKET\n  xs-bench suite --c-bench BIN --pyxs-script PY [--python BIN] \
         [--xs-server BIN] [--capi-lib DIR] [--out FILE] [--quick]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") if args.len() == 6 => run(&args[1..]),
        Some("populate") if args.len() == 2 => xs_client::Client::unix(&args[1])
            .map_err(|e| format!("connect: {e}"))
            .and_then(|c| workload::populate(&c)),
        Some("suite") => suite::main(&args[1..]),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xs-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let limit = workload::Limit::parse(&args[2], &args[3])?;
    let warmup: u64 = args[4]
        .parse()
        .map_err(|e| format!("bad warm-up {:?}: {e}", args[4]))?;
    let timing = match args[0].as_str() {
        "ours" => workload::run_ours(&args[1], limit, warmup)?,
        "raw" => workload::run_raw(&args[1], limit, warmup)?,
        "xenstore-rs" => xenstore_rs::run_sync(&args[1], limit, warmup)?,
        "xenstore-rs-tokio" => xenstore_rs::run_tokio(&args[1], limit, warmup)?,
        // The async workloads (sequential and 64 concurrent tasks).
        "async" => asyncload::run("async", &args[1], limit, warmup)?,
        "xenstore-rs-async" => asyncload::run("xenstore-rs", &args[1], limit, warmup)?,
        other => {
            return Err(format!(
                "client must be ours, raw, xenstore-rs, xenstore-rs-tokio, async or xenstore-rs-async, not {other:?}"
            ))
        }
    };
    println!("{}", timing.line());
    Ok(())
}
