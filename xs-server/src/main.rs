//! `xs-server`: run the in-memory xenstored in the foreground.
//!
//! ```text
//! xs-server --socket PATH [--domain-socket DOMID]... [--no-directory-part]
//!           [--xen-version 4.17|4.20|4.22] [--no-dom0] [--fail-commits N] [--quiet]
//! ```
//!
//! `--xen-version` picks the daemon to answer like (default 4.22, see
//! `XenVersion`). The store starts like a host's after boot
//! (`/local/domain/0` with `name` and `domid`, dom0 introduced);
//! `--no-dom0` starts with an empty `/local` instead.
//!
//! Clients of `PATH` are privileged dom0; clients of `PATH.dom<DOMID>` act
//! as unprivileged domain DOMID. Logs go to stderr. SIGINT and SIGTERM stop
//! the server cleanly (sockets removed).
//!
//! Signals: the main thread blocks SIGINT and SIGTERM *before* the server
//! thread starts (so every thread inherits the mask and no handler ever
//! runs asynchronously), then waits for one with `sigwait(3)` and shuts the
//! server down through its handle. This needs a few libc calls and so
//! `unsafe`, which is confined to [`wait_for_signal`]; the library itself
//! forbids unsafe code.

use std::process::ExitCode;

use xs_server::{Fault, Server, XenVersion};

const USAGE: &str = "usage: xs-server --socket PATH [--domain-socket DOMID]... \
[--no-directory-part] [--xen-version 4.17|4.20|4.22] [--no-dom0] [--fail-commits N] [--quiet]";

fn main() -> ExitCode {
    let mut builder = Server::builder().verbose(true).dom0(true);
    let mut socket = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let parsed: Result<(), String> = (|| {
            match arg.as_str() {
                "--socket" => socket = Some(value("--socket")?),
                "--domain-socket" => {
                    let domid = value("--domain-socket")?
                        .parse()
                        .map_err(|e| format!("--domain-socket: {e}"))?;
                    builder = builder.clone().domain_socket(domid);
                }
                "--fail-commits" => {
                    let n = value("--fail-commits")?
                        .parse()
                        .map_err(|e| format!("--fail-commits: {e}"))?;
                    builder = builder.clone().fault(Fault::FailCommits(n));
                }
                "--xen-version" => {
                    let version: XenVersion = value("--xen-version")?
                        .parse()
                        .map_err(|e| format!("--xen-version: {e}"))?;
                    builder = builder.clone().xen_version(version);
                }
                "--no-dom0" => builder = builder.clone().dom0(false),
                "--no-directory-part" => builder = builder.clone().directory_part(false),
                "--quiet" => builder = builder.clone().verbose(false),
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other}\n{USAGE}")),
            }
            Ok(())
        })();
        if let Err(message) = parsed {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    }
    let Some(socket) = socket else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if let Err(e) = block_signals() {
        eprintln!("xs-server: cannot block signals: {e}");
        return ExitCode::FAILURE;
    }
    let server = match builder.socket_path(&socket).spawn() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("xs-server: cannot listen on {socket}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match wait_for_signal() {
        Ok(signal) => eprintln!("xs-server: signal {signal}, stopping"),
        Err(e) => eprintln!("xs-server: sigwait failed ({e}), stopping"),
    }
    server.shutdown();
    ExitCode::SUCCESS
}

/// The signal set SIGINT + SIGTERM.
#[allow(unsafe_code)]
fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given; sigaddset only
    // writes into that initialised set. Neither can fail for valid signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT and SIGTERM in this thread and every thread it starts.
#[allow(unsafe_code)]
fn block_signals() -> std::io::Result<()> {
    let set = signal_set();
    // SAFETY: `set` is a valid, initialised signal set; the old mask is not
    // wanted (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// Waits (blocked) until SIGINT or SIGTERM is pending, and takes it.
#[allow(unsafe_code)]
fn wait_for_signal() -> std::io::Result<i32> {
    let set = signal_set();
    let mut signal: libc::c_int = 0;
    // SAFETY: `set` is valid and `signal` is a valid place for the result.
    let rc = unsafe { libc::sigwait(&set, &mut signal) };
    if rc == 0 {
        Ok(signal)
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}
