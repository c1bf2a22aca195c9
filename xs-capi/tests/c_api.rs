//! Every function of libxenstore.so.4, called from C through Xen 4.17's
//! `<xenstore.h>` (Debian's libxen-dev) by `tests/c/api_check.c`, on our
//! xs-server and on the real oxenstored, under valgrind. Each line below is
//! what the C library's header and source say the call gives.

mod common;

use std::process::Command;

use common::{compile, daemons, lib_dir, text, DaemonKind, VALGRIND, VALGRIND_FAILED};

/// On every daemon: nodes, permissions, helpers, transactions, watches
/// (fd, filter, fork), threads, domain paths.
const COMMON: &str = r#"socket is XENSTORED_PATH: 1
socket_ro is socket: 1
rundir: /var/run/xenstored
xs_daemon_open: 1
xs_domain_open: 1
xs_daemon_open_readonly: 1
xs_open(READONLY|SOCKETONLY): 1
write: true
read: "hello" len 5 nul 1
read missing: NULL ENOENT
read bad path: NULL EINVAL
write binary: true
read binary: len 3 bytes 1
write 5000 bytes: false E2BIG
mkdir: true
mkdir again: true
directory: 3 [a bin d]
directory of leaf: 0 []
directory missing: NULL ENOENT
rm: true
rm no parent: false ENOENT
restrict: false 0
set_permissions: true
get_permissions: 2 (0,0) (5,1)
get_permissions missing: NULL ENOENT
set_permissions bad bits: false EINVAL
strings_to_perms: true
parsed: (5,1) (16,3)
strings_to_perms bad: false EINVAL
subpath: 1 1 0 0
write_all: true
pipe holds: 3
transaction_start: 1
write in t: true
read in t: "1" len 1 nul 1
read outside t: NULL ENOENT
commit: true
read after commit: "1" len 1 nul 1
abort: true
read after abort: "1" len 1 nul 1
conflicting commit: false EAGAIN
read after conflict: "3" len 1 nul 1
check_watch before any watch: NULL EAGAIN
fileno: 1 same 1
the fd's thread blocks signals: 1
fd readable before watch: 0
watch: true
fd readable: 1
initial event: /capi/w tok (num 2)
then: NULL EAGAIN
fd readable after draining: 0
fd readable after write: 1
read_watch: /capi/w/x tok (num 2)
watch again: false EEXIST
unwatch unknown: false ENOENT
unwatch: true
stale event without filter: /capi/g/1 g (num 2)
filtered handle fd readable: 1
unwatch filtered: true
stale event with filter: NULL EAGAIN
filtered fd readable after unwatch: 0
no fd, stale event without filter: /capi/n/1 n (num 2)
no fd, stale event with filter: NULL EAGAIN
child after destroy_postfork: exit 0
parent's watch after fork: /capi/w/after-fork tok (num 2)
threads: 0 failed
suspend_evtchn_port: 13
suspend_evtchn_port missing: -1
get_domain_path: /local/domain/7
"#;

/// Domain management, where dom0 may introduce a domain without Xen
/// (xs-server; oxenstored needs a real ring page).
const DOMAINS: &str = r#"introduce_domain: true
is_domain_introduced: true
is_domain_introduced unknown: false 0
set_target: true
resume_domain: true
release_domain: true
"#;

/// Control commands, everywhere.
const CONTROL: &str = r#"control_command: reply 
debug_command: reply 
"#;

/// Xen 4.21/4.22 calls against a daemon that answers them with `ENOSYS`
/// (xs-server); `xs_watch_try_depth` falls back to a plain watch. The
/// successful paths are in `c_modern.rs`.
const MODERN: &str = r#"get_features_supported: false ENOSYS
watchdepth feature: 0
get_features_domain: false ENOSYS
set_features_domain dom0: false ENOSYS
get_quota_names: NULL 0
quota names include nodes: 0
get_global_quota: false ENOSYS
set_global_quota: false ENOSYS
get_global_quota unknown: false ENOSYS
get_domain_quota: false ENOSYS
set_domain_quota: false ENOSYS
watch_depth: false ENOSYS
watch_try_depth: true
try_depth's initial event: /capi/depth dep (num 2)
done
"#;

#[test]
fn every_function_from_c_on_both_daemons_under_valgrind() {
    let lib = lib_dir();
    let bin = lib.join("api_check");
    compile("api_check.c", &bin, &lib);
    for d in daemons() {
        let full = d.kind == DaemonKind::XsServer;
        let out = Command::new("valgrind")
            .args(VALGRIND)
            .arg(&bin)
            .args(full.then_some("full"))
            .env("XENSTORED_PATH", d.socket())
            .env("LD_LIBRARY_PATH", &lib)
            .output()
            .expect("valgrind (scripts/install-deps installs it)");
        let (stdout, stderr, code) = text(&out);
        assert_ne!(
            code,
            Some(VALGRIND_FAILED),
            "{:?}: valgrind: {stderr}",
            d.kind
        );
        assert_eq!(code, Some(0), "{:?}: {stderr}", d.kind);
        let expected = if full {
            format!("{COMMON}{DOMAINS}{CONTROL}{MODERN}")
        } else {
            format!("{COMMON}{CONTROL}done\n")
        };
        assert_eq!(stdout, expected, "{:?}", d.kind);
    }
}
